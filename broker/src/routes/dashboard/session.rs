//! Signing in and out: the sign-in page, the invitation's landing page, the sign-in
//! through the broker's own `/authorize`, its callback, and signing out.

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;

use super::{Layout, Message, Names, NoFields, Posted, failure, render, see_other, when};
use crate::admin::{self as api, ADMIN_CLIENT_ID, callback_uri};
use crate::db::entities::admin_login;
use crate::signin::SignInError;
use crate::signin::redeem;
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::store::{accounts, admin as admins};
use crate::util::{b64, ct_eq, now, random_token, sha256, sha256_b64};

fn login_cookie(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-latchkey_admin_login"
    } else {
        "latchkey_admin_login"
    }
}

#[derive(Template)]
#[template(path = "admin/signin.html")]
struct SignInPage {
    l: Layout,
    notice: String,
}

/// `GET /admin`: the tenants for a signed-in admin, otherwise the sign-in page.
pub(super) async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match api::session(&state, &req).await {
        Ok(Some(_)) => see_other("/admin/tenants"),
        Ok(None) => {
            let notice = if req.query_string().contains("signed_out") {
                "You are signed out."
            } else {
                ""
            };
            render(
                StatusCode::OK,
                &SignInPage {
                    l: Layout::signed_out(&state),
                    notice: notice.into(),
                },
            )
        }
        Err(e) => failure(&state, e),
    }
}

/// Opens a sign-in through the broker's own `/authorize`: a random state (stored hashed,
/// with the invitation it serves) and a PKCE verifier that stays in the browser's
/// HttpOnly cookie; the database keeps only its SHA-256, which is the code challenge.
async fn start_sign_in(state: &AppState, invite_id: Option<String>) -> HttpResponse {
    let verifier = random_token(32);
    let st = random_token(32);
    let challenge = b64(sha256(verifier.as_bytes()));
    let create = invite_id.is_some();
    let row = admin_login::Model {
        state_hash: sha256_b64(&st),
        binding_hash: challenge.clone(),
        invite_id,
        expires_at: now() + admins::LOGIN_TTL,
    };
    if let Err(e) = admins::put_login(&state.db, row).await {
        return failure(state, e);
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", ADMIN_CLIENT_ID)
        .append_pair("redirect_uri", &callback_uri(&state.issuer))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &st)
        .append_pair("scope", "openid")
        .append_pair("prompt", if create { "create" } else { "login" })
        .finish();
    let cookie = Cookie::build(login_cookie(state), verifier)
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(CookieDuration::seconds(admins::LOGIN_TTL))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/authorize?{query}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish()
}

/// `GET /admin/login`
pub(super) async fn login(state: web::Data<AppState>) -> HttpResponse {
    start_sign_in(&state, None).await
}

fn invitation_gone(state: &AppState) -> HttpResponse {
    Message {
        status: StatusCode::GONE,
        title: "This invitation cannot be used",
        message: "The link has expired (invitations last 15 minutes), was already used, or is not a Latchkey invitation. Ask an admin for a new one; an operator can also make one on the server with this command:",
        command: "latchkey admin invite",
        link: "/admin",
        link_text: "Go to the sign-in page",
    }
    .page(Layout::signed_out(state))
}

/// The landing page of an invitation link.
#[derive(Template)]
#[template(path = "admin/invitation.html")]
struct InvitationPage {
    l: Layout,
    /// Who made the invitation, in words.
    inviter: String,
    /// When it was made.
    created_at: String,
    /// When it stops working.
    expires_at: String,
    /// Whole minutes left.
    minutes_left: i64,
    /// The broker's address.
    issuer: String,
    /// Where the button goes: the sign-in that creates the passkey.
    start: String,
}

/// `GET /admin/invite/{secret}`: says that this is an invitation to become an admin, who
/// made it and until when it works, and offers to create the admin's passkey. Nothing is
/// used until that passkey is made.
pub(super) async fn invitation(
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    let invite = match admins::open_invite(&state.db, &secret).await {
        Ok(Some(invite)) => invite,
        Ok(None) => return invitation_gone(&state),
        Err(e) => return failure(&state, e),
    };
    let names = Names::load(&state).await;
    let inviter = match invite.created_by.as_str() {
        "cli" => "An operator on the server".to_owned(),
        "admin:bootstrap" => "An operator using the bootstrap admin token".to_owned(),
        "demo" => "Latchkey's demo mode".to_owned(),
        by if by.starts_with("token:") => match names.of(by) {
            n if n.is_empty() => "A program using an admin API token".to_owned(),
            n => format!("A program using {n}"),
        },
        by => match names.of(by) {
            n if n.is_empty() => "An admin".to_owned(),
            n => format!("Admin {}", n.strip_prefix("admin ").unwrap_or(&n)),
        },
    };
    render(
        StatusCode::OK,
        &InvitationPage {
            l: Layout::signed_out(&state),
            inviter,
            created_at: when(invite.created_at),
            expires_at: when(invite.expires_at),
            minutes_left: ((invite.expires_at - now()) / 60).max(1),
            issuer: state.issuer.clone(),
            start: format!("/admin/invite/{}/start", super::seg(&secret)),
        },
    )
}

/// `GET /admin/invite/{secret}/start`: an open invitation starts a sign-in that may create
/// a passkey; the invitation is used only when that passkey is made.
pub(super) async fn accept_invitation(
    state: web::Data<AppState>,
    secret: web::Path<String>,
) -> HttpResponse {
    match admins::open_invite(&state.db, &secret).await {
        Ok(Some(invite)) => start_sign_in(&state, Some(invite.id)).await,
        Ok(None) => invitation_gone(&state),
        Err(e) => failure(&state, e),
    }
}

/// `GET /admin/callback`: finishes the dashboard's sign-in and opens a session.
pub(super) async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let refuse = |status: StatusCode, msg: &str| {
        Message {
            status,
            title: "Sign-in did not complete",
            message: msg,
            command: "",
            link: "/admin",
            link_text: "Start again",
        }
        .page(Layout::signed_out(&state))
    };
    if let Some(e) = q.get("error") {
        let d = q.get("error_description").map(String::as_str).unwrap_or("");
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("The sign-in page answered {e}: {d}"),
        );
    }
    let (Some(st), Some(code)) = (q.get("state"), q.get("code")) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The answer lacks its code or state.",
        );
    };
    if q.get("iss") != Some(&state.issuer) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The answer does not come from this issuer.",
        );
    }
    let login = match admins::take_login(&state.db, st).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was already finished. Start again.",
            );
        }
        Err(e) => return failure(&state, e),
    };
    let verifier = req
        .cookie(login_cookie(&state))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !ct_eq(
        b64(sha256(verifier.as_bytes())).as_bytes(),
        login.binding_hash.as_bytes(),
    ) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This sign-in was started in another browser. Start again here.",
        );
    }
    // The dashboard is a public client of its own broker: the same redeem as any site's
    // (single use, PKCE, revocation, failure limits, audit and metrics).
    let client = redeem::Client {
        id: ADMIN_CLIENT_ID.to_owned(),
        secret: None,
    };
    let callback = callback_uri(&state.issuer);
    let grant = redeem::Grant {
        code,
        verifier: &verifier,
        redirect_uri: &callback,
    };
    let ip = crate::web::client_ip(&req, &state.settings);
    let sign_in = match redeem::redeem(&state, ip, client, grant, redeem::Door::Dashboard).await {
        Ok(r) => r.stored.sign_in,
        Err(SignInError::Db(e)) => return failure(&state, e),
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "The sign-in code is invalid, expired or already used. Start again.",
            );
        }
    };
    let user_id = sign_in.user_id.clone();
    let actor = api::Actor::Admin {
        user_id: user_id.clone(),
    }
    .audit_name();
    if sign_in.new_user {
        let accepted = match &login.invite_id {
            Some(id) => admins::consume_invite(&state.db, id, &user_id).await,
            None => Ok(false),
        };
        match accepted {
            Ok(true) => {
                audit::record(
                    &state.db,
                    Event {
                        actor: &actor,
                        action: "admin.invite.accept",
                        tenant_id: None,
                        subject: login.invite_id.as_deref(),
                        detail: json!({"name": sign_in.email.as_deref().unwrap_or_default(), "credential_id": sign_in.credential_id}),
                    },
                )
                .await;
            }
            Ok(false) => {
                // The invitation was used meanwhile or expired: the new passkey goes.
                let _ = accounts::delete_user(&state.db, ADMIN_CLIENT_ID, &user_id).await;
                return refuse(
                    StatusCode::GONE,
                    "This invitation expired or was already used, so the passkey was not kept. Ask for a new invitation.",
                );
            }
            Err(e) => return failure(&state, e),
        }
    }
    let new =
        match admins::create_session(&state.db, &user_id, state.settings.admin_session_max).await {
            Ok(s) => s,
            Err(e) => return failure(&state, e),
        };
    audit::record(
        &state.db,
        Event {
            actor: &actor,
            action: "admin.sign_in",
            tenant_id: None,
            subject: Some(&sign_in.credential_id),
            detail: json!({"user_verified": sign_in.user_verified}),
        },
    )
    .await;
    let cookie = Cookie::build(api::session_cookie(&state), new.cookie)
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(state.settings.admin_session_max))
        .finish();
    let mut res = see_other("/admin/tenants");
    let _ = res.add_cookie(&cookie);
    let _ = res.add_removal_cookie(&Cookie::build(login_cookie(&state), "").path("/").finish());
    res
}

/// `POST /admin/logout`
pub(super) async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    if let Some(c) = req.cookie(api::session_cookie(&state))
        && let Err(e) = admins::delete_session(&state.db, c.value()).await
    {
        return admin.failure(e);
    }
    audit::record(
        &state.db,
        Event {
            actor: &admin.actor(),
            action: "admin.sign_out",
            tenant_id: None,
            subject: None,
            detail: json!({}),
        },
    )
    .await;
    let mut res = see_other("/admin?signed_out");
    let _ = res.add_removal_cookie(
        &Cookie::build(api::session_cookie(&state), "")
            .path("/")
            .finish(),
    );
    res
}
