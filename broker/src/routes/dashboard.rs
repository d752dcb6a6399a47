//! The admin dashboard at `/admin`: server-rendered pages, no script. Admins sign in with
//! their own passkeys through the broker's own flow: the dashboard is the built-in tenant
//! [`ADMIN_CLIENT_ID`], and the broker plays its relying party (PKCE, state, redeem) on
//! the server. The first admin registers from a one-time invitation link
//! (`latchkey admin invite`); only such a link may create a passkey in that tenant.
//!
//! Sessions live in the database (any instance serves any request) behind an HttpOnly,
//! `SameSite=Strict` cookie (`__Host-` and `Secure` over HTTPS) with idle and absolute
//! timeouts. Every state-changing form carries the session's CSRF token and is refused
//! from another site (`Sec-Fetch-Site`); destructive actions are confirmed on a page of
//! their own.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha384};

use crate::admin::{self as api, ADMIN_CLIENT_ID, callback_uri};
use crate::db::entities::admin_login;
use crate::domain::RpMode;
use crate::errors::ApiError;
use crate::signin::SignInError;
use crate::signin::redeem;
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::store::tenants::{self, TenantError, TenantInput};
use crate::store::{accounts, admin as admins};
use crate::util::{b64, ct_eq, now, random_token, rfc3339, sha256, sha256_b64};

const STYLE: &str = include_str!("../../static/admin.css");

/// `sha384-…` of the dashboard's style sheet and its cache-busting version.
fn style() -> &'static (String, String) {
    static STYLE_SRI: OnceLock<(String, String)> = OnceLock::new();
    STYLE_SRI.get_or_init(|| {
        let digest = Sha384::digest(STYLE);
        (
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ),
            crate::util::hex(digest)[..12].to_owned(),
        )
    })
}

/// Registers the dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/admin.css", web::get().to(stylesheet))
        .route("/admin", web::get().to(home))
        .route("/admin/", web::get().to(home))
        .route("/admin/login", web::get().to(login))
        .route("/admin/invite/{secret}", web::get().to(accept_invite))
        .route("/admin/callback", web::get().to(callback))
        .route("/admin/logout", web::post().to(logout))
        .route("/admin/tenants", web::get().to(tenant_list))
        .route("/admin/tenants", web::post().to(tenant_create))
        .route("/admin/tenants/new", web::get().to(tenant_new))
        .route("/admin/tenants/{id}", web::get().to(tenant_show))
        .route("/admin/tenants/{id}", web::post().to(tenant_update))
        .route("/admin/tenants/{id}/check", web::post().to(tenant_check))
        .route(
            "/admin/tenants/{id}/rotate",
            web::get().to(tenant_rotate_confirm),
        )
        .route("/admin/tenants/{id}/rotate", web::post().to(tenant_rotate))
        .route(
            "/admin/tenants/{id}/delete",
            web::get().to(tenant_delete_confirm),
        )
        .route("/admin/tenants/{id}/delete", web::post().to(tenant_delete))
        .route("/admin/tenants/{id}/users", web::get().to(user_list))
        .route(
            "/admin/tenants/{id}/users/{user}/delete",
            web::get().to(user_delete_confirm),
        )
        .route(
            "/admin/tenants/{id}/users/{user}/delete",
            web::post().to(user_delete),
        )
        .route(
            "/admin/credentials/{id}/revoke",
            web::get().to(credential_revoke_confirm),
        )
        .route(
            "/admin/credentials/{id}/revoke",
            web::post().to(credential_revoke),
        )
        .route("/admin/audit", web::get().to(audit_page))
        .route("/admin/tokens", web::get().to(token_list))
        .route("/admin/tokens", web::post().to(token_create))
        .route(
            "/admin/tokens/{id}/revoke",
            web::get().to(token_revoke_confirm),
        )
        .route("/admin/tokens/{id}/revoke", web::post().to(token_revoke))
        .route("/admin/admins", web::get().to(admin_list))
        .route("/admin/invites", web::post().to(invite_create))
        .route(
            "/admin/admins/{user}/delete",
            web::get().to(admin_delete_confirm),
        )
        .route("/admin/admins/{user}/delete", web::post().to(admin_delete));
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLE)
}

fn login_cookie(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-latchkey_admin_login"
    } else {
        "latchkey_admin_login"
    }
}

/// What every dashboard page shows around its content.
pub struct Layout {
    /// Cache-busting version of the style sheet.
    pub version: String,
    /// SRI of the style sheet.
    pub integrity: String,
    /// Whether an admin is signed in (navigation and sign-out shown).
    pub signed_in: bool,
    /// The session's CSRF token ("" when signed out).
    pub csrf: String,
    /// The signed-in admin's name.
    pub admin_name: String,
    /// The current section: `tenants`, `audit`, `admins`, `tokens`.
    pub nav: &'static str,
}

impl Layout {
    fn signed_out() -> Self {
        let (integrity, version) = style().clone();
        Self {
            version,
            integrity,
            signed_in: false,
            csrf: String::new(),
            admin_name: String::new(),
            nav: "",
        }
    }
}

/// A signed-in admin on a page.
struct Ctx {
    user_id: String,
    name: String,
    csrf: String,
}

impl Ctx {
    fn actor(&self) -> String {
        api::Actor::Admin {
            user_id: self.user_id.clone(),
        }
        .audit_name()
    }

    fn layout(&self, nav: &'static str) -> Layout {
        Layout {
            signed_in: true,
            csrf: self.csrf.clone(),
            admin_name: self.name.clone(),
            nav,
            ..Layout::signed_out()
        }
    }
}

fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => crate::assets::html(status).body(body),
        Err(e) => ApiError::internal(e).into(),
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A page that says what happened, with a way on.
#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    l: Layout,
    title: String,
    message: String,
    /// A command line the message refers to, shown as code below it (empty: none).
    command: String,
    link: String,
    link_text: String,
}

fn message(
    status: StatusCode,
    l: Layout,
    title: &str,
    message: &str,
    link: &str,
    link_text: &str,
) -> HttpResponse {
    message_with_command(status, l, title, message, "", link, link_text)
}

/// [`message`] with a command line that the text refers to ("the command below"), shown
/// as code rather than spelled inside the sentence.
fn message_with_command(
    status: StatusCode,
    l: Layout,
    title: &str,
    message: &str,
    command: &str,
    link: &str,
    link_text: &str,
) -> HttpResponse {
    render(
        status,
        &MessagePage {
            l,
            title: title.into(),
            message: message.into(),
            command: command.into(),
            link: link.into(),
            link_text: link_text.into(),
        },
    )
}

fn failure(e: impl Into<ApiError>) -> HttpResponse {
    let e: ApiError = e.into();
    let status = actix_web::ResponseError::status_code(&e);
    let (title, text) = if status == StatusCode::SERVICE_UNAVAILABLE {
        (
            "Briefly unavailable",
            "The database cannot be reached right now. Nothing was changed; try again in a moment.",
        )
    } else if status == StatusCode::CONFLICT {
        ("Nothing was changed", e.message())
    } else {
        (
            "Something went wrong",
            "The dashboard could not finish this request. Nothing else was changed; try again in a moment.",
        )
    };
    message(
        status,
        Layout::signed_out(),
        title,
        text,
        "/admin",
        "Back to the dashboard",
    )
}

/// The signed-in admin of a page request; otherwise the answer to send (the sign-in page).
async fn page_ctx(state: &AppState, req: &HttpRequest) -> Result<Ctx, HttpResponse> {
    let s = match api::session(state, req).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/admin")),
        Err(e) => return Err(failure(e)),
    };
    let name = accounts::find_user(&state.db, &s.user_id)
        .await
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    Ok(Ctx {
        user_id: s.user_id,
        name,
        csrf: s.csrf_token,
    })
}

/// A state-changing form: the session, then `Sec-Fetch-Site` and the CSRF token, before
/// anything is read or changed. Returns the admin and the form's fields.
async fn form_ctx(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Ctx, HashMap<String, String>), HttpResponse> {
    let s = match api::session(state, req).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(message(
                StatusCode::UNAUTHORIZED,
                Layout::signed_out(),
                "Signed out",
                "Your dashboard session has ended, so nothing was changed. Sign in again and repeat the change.",
                "/admin",
                "Sign in",
            ));
        }
        Err(e) => return Err(failure(e)),
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let presented = form.get("csrf").map(String::as_str).unwrap_or_default();
    if api::cross_site(req) || !ct_eq(presented.as_bytes(), s.csrf_token.as_bytes()) {
        tracing::warn!("dashboard form refused: CSRF token or Sec-Fetch-Site");
        return Err(message(
            StatusCode::FORBIDDEN,
            Layout::signed_out(),
            "Request refused",
            "This form was not sent from the dashboard (its security token is missing or wrong, or it came from another site). Nothing was changed.",
            "/admin",
            "Back to the dashboard",
        ));
    }
    let ctx = page_ctx(state, req).await?;
    Ok((ctx, form))
}

/// A time for people: `2026-11-25 09:56 UTC`.
fn when(secs: i64) -> String {
    let t = rfc3339(secs);
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => t,
    }
}

/// [`when`] of an RFC 3339 string of the API objects.
fn when_str(s: &str) -> String {
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(hm)) if s.len() >= 16 => format!("{d} {hm} UTC"),
        _ => s.to_owned(),
    }
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|s| s.trim()).unwrap_or_default()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "admin/signin.html")]
struct SignInPage {
    l: Layout,
    notice: String,
}

/// `GET /admin`: the tenants for a signed-in admin, otherwise the sign-in page.
async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
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
                    l: Layout::signed_out(),
                    notice: notice.into(),
                },
            )
        }
        Err(e) => failure(e),
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
        return failure(e);
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
async fn login(state: web::Data<AppState>) -> HttpResponse {
    start_sign_in(&state, None).await
}

/// `GET /admin/invite/{secret}`: an open invitation starts a sign-in that may create a
/// passkey; the invitation is used only when that passkey is made.
async fn accept_invite(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    match admins::open_invite(&state.db, &path).await {
        Ok(Some(invite)) => start_sign_in(&state, Some(invite.id)).await,
        Ok(None) => message_with_command(
            StatusCode::GONE,
            Layout::signed_out(),
            "This invitation cannot be used",
            "The link has expired (invitations last 15 minutes), was already used, or is not a Latchkey invitation. Ask an admin for a new one; an operator can also make one on the server with this command:",
            "latchkey admin invite",
            "/admin",
            "Go to the sign-in page",
        ),
        Err(e) => failure(e),
    }
}

/// `GET /admin/callback`: finishes the dashboard's sign-in and opens a session.
async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let refuse = |status: StatusCode, msg: &str| {
        message(
            status,
            Layout::signed_out(),
            "Sign-in did not complete",
            msg,
            "/admin",
            "Start again",
        )
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
        Err(e) => return failure(e),
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
        Err(SignInError::Db(e)) => return failure(e),
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "The sign-in code is invalid, expired or already used. Start again.",
            );
        }
    };
    let user_id = sign_in["user_id"].as_str().unwrap_or_default().to_owned();
    let actor = api::Actor::Admin {
        user_id: user_id.clone(),
    }
    .audit_name();
    if sign_in["new_user"] == Value::Bool(true) {
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
                        detail: json!({"name": sign_in["email"].as_str().unwrap_or_default(), "credential_id": sign_in["credential_id"]}),
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
            Err(e) => return failure(e),
        }
    }
    let new =
        match admins::create_session(&state.db, &user_id, state.settings.admin_session_max).await {
            Ok(s) => s,
            Err(e) => return failure(e),
        };
    audit::record(
        &state.db,
        Event {
            actor: &actor,
            action: "admin.sign_in",
            tenant_id: None,
            subject: sign_in["credential_id"].as_str(),
            detail: json!({"user_verified": sign_in["user_verified"]}),
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
async fn logout(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(c) = req.cookie(api::session_cookie(&state))
        && let Err(e) = admins::delete_session(&state.db, c.value()).await
    {
        return failure(e);
    }
    audit::record(
        &state.db,
        Event {
            actor: &ctx.actor(),
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

// ---------------------------------------------------------------------------------------
// Confirmation of destructive actions

#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage {
    l: Layout,
    title: String,
    message: String,
    action: String,
    button: String,
    cancel: String,
}

fn confirm(
    ctx: &Ctx,
    nav: &'static str,
    title: &str,
    message: String,
    action: String,
    button: &str,
    cancel: String,
) -> HttpResponse {
    render(
        StatusCode::OK,
        &ConfirmPage {
            l: ctx.layout(nav),
            title: title.into(),
            message,
            action,
            button: button.into(),
            cancel,
        },
    )
}

fn not_found(ctx: &Ctx, nav: &'static str, what: &str, back: &str) -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        ctx.layout(nav),
        "Not found",
        &format!("There is no {what} here; it may have been removed already."),
        back,
        "Back",
    )
}

/// A path segment safe to put back in a URL.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------
// Tenants

/// One row of the tenants table.
struct TenantRow {
    client_id: String,
    name: String,
    rp_mode: String,
    rp_id: String,
    confidential: bool,
    redirect_count: usize,
}

#[derive(Template)]
#[template(path = "admin/tenants.html")]
struct TenantsPage {
    l: Layout,
    tenants: Vec<TenantRow>,
    notice: String,
}

async fn tenant_list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list = match tenants::list(&state.db).await {
        Ok(l) => l,
        Err(e) => return failure(e),
    };
    let notice = if req.query_string().contains("deleted") {
        "The tenant was deleted."
    } else {
        ""
    };
    render(
        StatusCode::OK,
        &TenantsPage {
            l: ctx.layout("tenants"),
            tenants: list
                .into_iter()
                .filter(|t| t.client_id != ADMIN_CLIENT_ID)
                .map(|t| TenantRow {
                    redirect_count: t.redirect_uris.len(),
                    client_id: t.client_id,
                    name: t.name,
                    rp_mode: t.rp_mode.as_str().into(),
                    rp_id: t.rp_id,
                    confidential: t.secret_hash.is_some(),
                })
                .collect(),
            notice: notice.into(),
        },
    )
}

/// The tenant form's values, as typed.
#[derive(Default)]
struct TenantForm {
    client_id: String,
    name: String,
    redirect_uris: String,
    rp_mode: String,
    rp_id: String,
    user_verification: String,
    counter_policy: String,
    related_origins: String,
    confidential: bool,
    email_recovery: bool,
}

impl TenantForm {
    fn from_tenant(t: &tenants::Tenant) -> Self {
        Self {
            client_id: t.client_id.clone(),
            name: t.name.clone(),
            redirect_uris: t.redirect_uris.join("\n"),
            rp_mode: t.rp_mode.as_str().into(),
            rp_id: if t.rp_mode == RpMode::Site {
                t.rp_id.clone()
            } else {
                String::new()
            },
            user_verification: t.user_verification.as_str().into(),
            counter_policy: t.counter_policy.as_str().into(),
            related_origins: t.related_origins.join("\n"),
            confidential: t.secret_hash.is_some(),
            email_recovery: t.email_recovery,
        }
    }

    fn from_form(form: &HashMap<String, String>) -> Self {
        Self {
            client_id: field(form, "client_id").into(),
            name: field(form, "name").into(),
            redirect_uris: field(form, "redirect_uris").into(),
            rp_mode: field(form, "rp_mode").into(),
            rp_id: field(form, "rp_id").into(),
            user_verification: field(form, "user_verification").into(),
            counter_policy: field(form, "counter_policy").into(),
            related_origins: field(form, "related_origins").into(),
            confidential: form.contains_key("confidential"),
            email_recovery: form.contains_key("email_recovery"),
        }
    }

    fn input(&self, new: bool) -> TenantInput {
        let site = self.rp_mode == "site";
        TenantInput {
            client_id: new.then(|| self.client_id.clone()),
            name: Some(self.name.clone()),
            redirect_uris: Some(lines(&self.redirect_uris)),
            rp_mode: Some(self.rp_mode.clone()),
            rp_id: (!self.rp_id.is_empty()).then(|| self.rp_id.clone()),
            user_verification: Some(self.user_verification.clone()),
            counter_policy: Some(self.counter_policy.clone()),
            related_origins: Some(if site {
                Vec::new()
            } else {
                lines(&self.related_origins)
            }),
            confidential: new.then_some(self.confidential),
            rotate_secret: None,
            email_recovery: Some(self.email_recovery),
            // Passkey policy and PRF are set through the admin API; an edit here keeps them.
            ..TenantInput::default()
        }
    }
}

/// The outcome of the site-mode `/.well-known/webauthn` check, for the page.
struct CheckView {
    required: bool,
    ok: bool,
    url: String,
    fetched: String,
    problem: String,
    expected: String,
}

#[derive(Template)]
#[template(path = "admin/tenant.html")]
struct TenantPage {
    l: Layout,
    new: bool,
    f: TenantForm,
    errors: Vec<(String, String)>,
    notice: String,
    secret: String,
    created_at: String,
    broker_rp_id: String,
    labels: Vec<String>,
    max_labels: usize,
    preview: String,
    check: Option<CheckView>,
    passkeys: u64,
}

impl TenantPage {
    /// The error of a field ("" when none).
    fn err(&self, name: &str) -> &str {
        self.errors
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }
}

async fn tenant_page(
    state: &AppState,
    ctx: &Ctx,
    new: bool,
    f: TenantForm,
    fill: impl FnOnce(&mut TenantPage),
) -> HttpResponse {
    let origins = match tenants::broker_related_origins(&state.db, None).await {
        Ok(o) => o,
        Err(e) => return failure(e),
    };
    let passkeys = if new {
        0
    } else {
        accounts::count_credentials(&state.db, &f.client_id)
            .await
            .unwrap_or(0)
    };
    let mut page = TenantPage {
        l: ctx.layout("tenants"),
        new,
        errors: Vec::new(),
        notice: String::new(),
        secret: String::new(),
        created_at: String::new(),
        broker_rp_id: state.settings.rp_id.as_str().into(),
        labels: latchkey_well_known::distinct_labels(&origins),
        max_labels: latchkey_well_known::MAX_LABELS,
        preview: serde_json::from_str::<Value>(
            &latchkey_well_known::WellKnownDocument::new(origins).to_json(),
        )
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default(),
        check: None,
        passkeys,
        f,
    };
    fill(&mut page);
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(status, &page)
}

fn form_errors(e: TenantError) -> Result<Vec<(String, String)>, sea_orm::DbErr> {
    match e {
        TenantError::Invalid(i) => Ok(vec![(i.field.into(), i.message)]),
        TenantError::Conflict(id) => Ok(vec![(
            "client_id".into(),
            format!("A tenant with client id {id:?} already exists."),
        )]),
        TenantError::NotFound(_) => Ok(vec![(
            "client_id".into(),
            "This tenant no longer exists.".into(),
        )]),
        TenantError::Db(e) => Err(e),
    }
}

async fn tenant_new(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let f = TenantForm {
        rp_mode: "broker".into(),
        user_verification: "required".into(),
        counter_policy: "record".into(),
        ..TenantForm::default()
    };
    tenant_page(&state, &ctx, true, f, |_| {}).await
}

async fn tenant_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, form) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let f = TenantForm::from_form(&form);
    match api::create(&state, &ctx.actor(), f.input(true)).await {
        Ok((t, secret)) => {
            tenant_page(&state, &ctx, false, TenantForm::from_tenant(&t), |p| {
                p.notice = "The tenant was created.".into();
                p.secret = secret.unwrap_or_default();
                p.created_at = when(t.created_at);
            })
            .await
        }
        Err(e) => match form_errors(e) {
            Ok(errors) => tenant_page(&state, &ctx, true, f, |p| p.errors = errors).await,
            Err(e) => failure(e),
        },
    }
}

async fn load_tenant(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<tenants::Tenant, HttpResponse> {
    if id == ADMIN_CLIENT_ID {
        return Err(see_other("/admin/admins"));
    }
    match tenants::get(&state.db, id).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(not_found(ctx, "tenants", "tenant", "/admin/tenants")),
        Err(e) => Err(failure(e)),
    }
}

async fn tenant_show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let saved = req.query_string().contains("saved");
    tenant_page(&state, &ctx, false, TenantForm::from_tenant(&t), |p| {
        p.created_at = when(t.created_at);
        if saved {
            p.notice = "Saved.".into();
        }
    })
    .await
}

async fn tenant_update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, form) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut f = TenantForm::from_form(&form);
    f.client_id = t.client_id.clone();
    f.confidential = t.secret_hash.is_some();
    match api::update(&state, &ctx.actor(), &t.client_id, f.input(false)).await {
        Ok(_) => see_other(&format!("/admin/tenants/{}?saved", seg(&t.client_id))),
        Err(e) => match form_errors(e) {
            Ok(errors) => {
                tenant_page(&state, &ctx, false, f, |p| {
                    p.errors = errors;
                    p.created_at = when(t.created_at);
                })
                .await
            }
            Err(e) => failure(e),
        },
    }
}

async fn tenant_check(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let check = match api::check_well_known(&state, &t).await {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let fetched = if check["fetched"].is_null() {
        String::new()
    } else {
        serde_json::to_string_pretty(&check["fetched"]).unwrap_or_default()
    };
    let expected = check["expected"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    let view = CheckView {
        required: check["required"] == Value::Bool(true),
        ok: check["ok"] == Value::Bool(true),
        url: check["url"].as_str().unwrap_or_default().into(),
        fetched,
        problem: check["problem"]
            .as_str()
            .or(check["explanation"].as_str())
            .unwrap_or_default()
            .into(),
        expected,
    };
    tenant_page(&state, &ctx, false, TenantForm::from_tenant(&t), |p| {
        p.created_at = when(t.created_at);
        p.check = Some(view);
    })
    .await
}

async fn tenant_rotate_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = seg(&t.client_id);
    confirm(
        &ctx,
        "tenants",
        "Issue a new client secret?",
        format!(
            "{} ({}) gets a new client secret, shown once. The current secret stops working at once: the site's back channel fails until it uses the new one.",
            t.name, t.client_id
        ),
        format!("/admin/tenants/{id}/rotate"),
        "Issue a new secret",
        format!("/admin/tenants/{id}"),
    )
}

async fn tenant_rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let input = TenantInput {
        rotate_secret: Some(true),
        ..TenantInput::default()
    };
    match api::update(&state, &ctx.actor(), &t.client_id, input).await {
        Ok((t, secret)) => {
            tenant_page(&state, &ctx, false, TenantForm::from_tenant(&t), |p| {
                p.notice = "A new client secret was issued.".into();
                p.secret = secret.unwrap_or_default();
                p.created_at = when(t.created_at);
            })
            .await
        }
        Err(TenantError::Db(e)) => failure(e),
        Err(_) => not_found(&ctx, "tenants", "tenant", "/admin/tenants"),
    }
}

async fn tenant_delete_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let n = accounts::count_credentials(&state.db, &t.client_id)
        .await
        .unwrap_or(0);
    let id = seg(&t.client_id);
    confirm(
        &ctx,
        "tenants",
        "Delete this tenant?",
        format!(
            "{} ({}) and all its users and their {n} passkeys are deleted. Its sign-ins stop at once. This cannot be undone.",
            t.name, t.client_id
        ),
        format!("/admin/tenants/{id}/delete"),
        "Delete the tenant",
        format!("/admin/tenants/{id}"),
    )
}

async fn tenant_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match api::remove(&state, &ctx.actor(), &path).await {
        Ok(true) => see_other("/admin/tenants?deleted"),
        Ok(false) => not_found(&ctx, "tenants", "tenant", "/admin/tenants"),
        Err(e) => failure(e),
    }
}

// ---------------------------------------------------------------------------------------
// Users and passkeys

struct PasskeyView {
    id: String,
    passkey_id: String,
    aaguid: String,
    storage: String,
    user_verified: bool,
    created_at: String,
    last_used_at: String,
}

struct UserView {
    id: String,
    name: String,
    display_name: String,
    email: String,
    created_at: String,
    passkeys: Vec<PasskeyView>,
}

fn user_views(users: &[Value]) -> Vec<UserView> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    users
        .iter()
        .map(|u| UserView {
            id: s(&u["user_id"]),
            name: s(&u["name"]),
            display_name: s(&u["display_name"]),
            email: s(&u["email"]),
            created_at: when_str(&s(&u["created_at"])),
            passkeys: u["passkeys"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|p| PasskeyView {
                            id: s(&p["id"]),
                            passkey_id: s(&p["passkey_id"]),
                            aaguid: s(&p["aaguid"]),
                            storage: if p["backed_up"] == Value::Bool(true) {
                                "synced (backed up)".into()
                            } else if p["backup_eligible"] == Value::Bool(true) {
                                "can sync, not backed up yet".into()
                            } else {
                                "device-bound".into()
                            },
                            user_verified: p["user_verified"] == Value::Bool(true),
                            created_at: when_str(&s(&p["created_at"])),
                            last_used_at: p["last_used_at"]
                                .as_str()
                                .map_or_else(|| "never".into(), when_str),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    l: Layout,
    client_id: String,
    tenant_name: String,
    q: String,
    users: Vec<UserView>,
    notice: String,
}

async fn user_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = match load_tenant(&state, &ctx, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let q = query
        .get("q")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let found = if q.is_empty() {
        accounts::list_users(&state.db, &t.client_id, 200).await
    } else {
        accounts::search_users(&state.db, &t.client_id, &q, 200).await
    };
    let users = match found {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("revoked") => "The passkey was revoked: its next use answers unknown_credential.",
        Some("deleted") => "The user and their passkeys were deleted.",
        _ => "",
    };
    render(
        StatusCode::OK,
        &UsersPage {
            l: ctx.layout("tenants"),
            client_id: t.client_id,
            tenant_name: t.name,
            q,
            users: user_views(&users),
            notice: notice.into(),
        },
    )
}

async fn user_delete_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (tenant, user) = path.into_inner();
    let t = match load_tenant(&state, &ctx, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let u = match accounts::find_user(&state.db, &user).await {
        Ok(Some(u)) if u.tenant_id == t.client_id => u,
        Ok(_) => return not_found(&ctx, "tenants", "user", "/admin/tenants"),
        Err(e) => return failure(e),
    };
    let (tid, uid) = (seg(&t.client_id), seg(&u.id));
    confirm(
        &ctx,
        "tenants",
        "Delete this user?",
        format!(
            "{} and all their passkeys are deleted from {}. They can create a new account, but not sign in to this one again. This cannot be undone.",
            u.name, t.name
        ),
        format!("/admin/tenants/{tid}/users/{uid}/delete"),
        "Delete the user",
        format!("/admin/tenants/{tid}/users"),
    )
}

async fn user_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (tenant, user) = path.into_inner();
    let t = match load_tenant(&state, &ctx, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match api::remove_user(&state, &ctx.actor(), &t.client_id, &user).await {
        Ok(true) => see_other(&format!(
            "/admin/tenants/{}/users?done=deleted",
            seg(&t.client_id)
        )),
        Ok(false) => not_found(&ctx, "tenants", "user", "/admin/tenants"),
        Err(e) => failure(e),
    }
}

async fn credential_revoke_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(Some(c)) = accounts::find_credential_any(&state.db, &path).await else {
        return not_found(&ctx, "tenants", "passkey", "/admin/tenants");
    };
    let user = accounts::find_user(&state.db, &c.user_id)
        .await
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    confirm(
        &ctx,
        if c.tenant_id == ADMIN_CLIENT_ID {
            "admins"
        } else {
            "tenants"
        },
        "Revoke this passkey?",
        format!(
            "The passkey {} of {user} stops working at once: its next use answers unknown_credential, and the sign-in page asks the browser to forget it. This cannot be undone.",
            &c.passkey_id[..c.passkey_id.len().min(16)]
        ),
        format!("/admin/credentials/{}/revoke", seg(&c.id)),
        "Revoke the passkey",
        if c.tenant_id == ADMIN_CLIENT_ID {
            "/admin/admins".into()
        } else {
            format!("/admin/tenants/{}/users", seg(&c.tenant_id))
        },
    )
}

async fn credential_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tenant = match accounts::find_credential_any(&state.db, &path).await {
        Ok(Some(c)) => c.tenant_id,
        Ok(None) => return not_found(&ctx, "tenants", "passkey", "/admin/tenants"),
        Err(e) => return failure(e),
    };
    match api::revoke(&state, &ctx.actor(), &path).await {
        Ok(true) if tenant == ADMIN_CLIENT_ID => see_other("/admin/admins?done=revoked"),
        Ok(true) => see_other(&format!(
            "/admin/tenants/{}/users?done=revoked",
            seg(&tenant)
        )),
        Ok(false) => not_found(&ctx, "tenants", "passkey", "/admin/tenants"),
        Err(e) => failure(e),
    }
}

// ---------------------------------------------------------------------------------------
// Audit log

struct EventView {
    at: String,
    actor: String,
    actor_label: String,
    action: String,
    tenant: String,
    subject: String,
    detail: String,
    failure: bool,
}

/// One bar of the sign-ins chart, in SVG user units.
struct Bar {
    x: i64,
    y: i64,
    h: i64,
    day: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    l: Layout,
    action: String,
    tenant: String,
    actor: String,
    events: Vec<EventView>,
    next: String,
    bars: Vec<Bar>,
    total: i64,
    peak: i64,
    first_day: String,
    last_day: String,
}

/// Chart geometry: 30 bars of 20 units in a 600 × 120 plot.
const CHART_DAYS: i64 = 30;
const CHART_HEIGHT: i64 = 120;

async fn audit_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| api::AuditQuery::parse(&q).ok())
        .unwrap_or_default();
    let filter = q.filter();
    let limit = 50;
    let events = match audit::list_filtered(&state.db, &filter, limit).await {
        Ok(e) => e,
        Err(e) => return failure(e),
    };
    let per_day =
        match audit::sign_ins_per_day(&state.db, filter.tenant.as_deref(), CHART_DAYS).await {
            Ok(d) => d,
            Err(e) => return failure(e),
        };
    // Who the actors are, by name.
    let mut names: HashMap<String, String> = HashMap::new();
    if let Ok(tokens) = admins::list_tokens(&state.db).await {
        for t in tokens {
            names.insert(format!("token:{}", t.id), format!("API token “{}”", t.name));
        }
    }
    if let Ok(list) = accounts::list_users(&state.db, ADMIN_CLIENT_ID, 1000).await {
        for u in list {
            if let (Some(id), Some(name)) = (u["user_id"].as_str(), u["name"].as_str()) {
                names.insert(format!("admin:{id}"), format!("admin {name}"));
            }
        }
    }
    names.insert("admin:bootstrap".into(), "bootstrap token".into());
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let next = if events.len() as u64 == limit {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("action", &filter.action),
            ("tenant", &filter.tenant),
            ("actor", &filter.actor),
        ] {
            if let Some(v) = v {
                pairs.append_pair(k, v);
            }
        }
        if let Some(id) = events.last().and_then(|e| e["id"].as_i64()) {
            pairs.append_pair("after", &id.to_string());
        }
        format!("/admin/audit?{}", pairs.finish())
    } else {
        String::new()
    };
    let views = events
        .iter()
        .map(|e| {
            let action = s(&e["action"]);
            let actor = s(&e["actor"]);
            EventView {
                at: s(&e["at"]).replace('T', " ").replace('Z', " UTC"),
                actor_label: names.get(&actor).cloned().unwrap_or_default(),
                failure: action.contains("fail")
                    || action.contains("replay")
                    || action.contains("regression")
                    || action.contains("rate"),
                action,
                actor,
                tenant: s(&e["tenant_id"]),
                subject: s(&e["subject"]),
                detail: if e["detail"].as_object().is_some_and(|o| o.is_empty()) {
                    String::new()
                } else {
                    e["detail"].to_string()
                },
            }
        })
        .collect();
    let peak = per_day.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let bars = per_day
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let h = if peak == 0 {
                0
            } else {
                (n * CHART_HEIGHT / peak).max(i64::from(*n > 0) * 2)
            };
            Bar {
                x: i as i64 * 20 + 2,
                y: CHART_HEIGHT - h,
                h,
                day: rfc3339(*day).get(..10).unwrap_or_default().to_owned(),
                count: *n,
            }
        })
        .collect::<Vec<_>>();
    render(
        StatusCode::OK,
        &AuditPage {
            l: ctx.layout("audit"),
            action: filter.action.unwrap_or_default(),
            tenant: filter.tenant.unwrap_or_default(),
            actor: filter.actor.unwrap_or_default(),
            events: views,
            next,
            total: per_day.iter().map(|(_, n)| n).sum(),
            peak,
            first_day: bars.first().map(|b| b.day.clone()).unwrap_or_default(),
            last_day: bars.last().map(|b| b.day.clone()).unwrap_or_default(),
            bars,
        },
    )
}

// ---------------------------------------------------------------------------------------
// API tokens

struct TokenView {
    id: String,
    name: String,
    created_by: String,
    created_at: String,
    last_used_at: String,
    revoked_at: String,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    l: Layout,
    tokens: Vec<TokenView>,
    new_token: String,
    new_name: String,
    name_error: String,
    notice: String,
}

async fn tokens_page(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    fill: impl FnOnce(&mut TokensPage),
) -> HttpResponse {
    let list = match admins::list_tokens(&state.db).await {
        Ok(l) => l,
        Err(e) => return failure(e),
    };
    let mut page = TokensPage {
        l: ctx.layout("tokens"),
        tokens: list
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                created_by: t.created_by,
                created_at: when(t.created_at),
                last_used_at: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                revoked_at: t.revoked_at.map(when).unwrap_or_default(),
            })
            .collect(),
        new_token: String::new(),
        new_name: String::new(),
        name_error: String::new(),
        notice: String::new(),
    };
    fill(&mut page);
    render(status, &page)
}

async fn token_list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let revoked = req.query_string().contains("revoked");
    tokens_page(&state, &ctx, StatusCode::OK, |p| {
        if revoked {
            p.notice = "The token was revoked.".into();
        }
    })
    .await
}

async fn token_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, form) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let name = field(&form, "name").to_owned();
    if let Err(e) = admins::check_token_name(&name) {
        return tokens_page(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, |p| {
            p.new_name = name;
            p.name_error = format!(
                "The name must be 1 to 64 printable characters ({}).",
                e.message
            );
        })
        .await;
    }
    match api::mint_token(&state, &ctx.actor(), &name).await {
        Ok((_, token)) => {
            tokens_page(&state, &ctx, StatusCode::OK, |p| {
                p.new_token = token;
                p.new_name = name;
            })
            .await
        }
        Err(e) => failure(e),
    }
}

async fn token_revoke_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(list) = admins::list_tokens(&state.db).await else {
        return failure(ApiError::internal("token list"));
    };
    let Some(t) = list.into_iter().find(|t| t.id == *path) else {
        return not_found(&ctx, "tokens", "API token", "/admin/tokens");
    };
    confirm(
        &ctx,
        "tokens",
        "Revoke this API token?",
        format!(
            "The token “{}” stops working at once; programs using it get 401. This cannot be undone.",
            t.name
        ),
        format!("/admin/tokens/{}/revoke", seg(&t.id)),
        "Revoke the token",
        "/admin/tokens".into(),
    )
}

async fn token_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match api::withdraw_token(&state, &ctx.actor(), &path).await {
        Ok(true) => see_other("/admin/tokens?revoked"),
        Ok(false) => not_found(&ctx, "tokens", "API token", "/admin/tokens"),
        Err(e) => failure(e),
    }
}

// ---------------------------------------------------------------------------------------
// Admins and invitations

struct InviteView {
    id: String,
    created_by: String,
    created_at: String,
    expires_at: String,
    status: String,
}

#[derive(Template)]
#[template(path = "admin/admins.html")]
struct AdminsPage {
    l: Layout,
    me: String,
    admins: Vec<UserView>,
    invites: Vec<InviteView>,
    new_link: String,
    notice: String,
}

async fn admins_page(
    state: &AppState,
    ctx: &Ctx,
    fill: impl FnOnce(&mut AdminsPage),
) -> HttpResponse {
    let users = match accounts::list_users(&state.db, ADMIN_CLIENT_ID, 1000).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    let invites = match admins::list_invites(&state.db).await {
        Ok(i) => i,
        Err(e) => return failure(e),
    };
    let t = now();
    let mut page = AdminsPage {
        l: ctx.layout("admins"),
        me: ctx.user_id.clone(),
        admins: user_views(&users),
        invites: invites
            .into_iter()
            .take(20)
            .map(|i| InviteView {
                status: match (i.used_at, i.expires_at > t) {
                    (Some(at), _) => format!("used {}", when(at)),
                    (None, true) => "open".into(),
                    (None, false) => "expired".into(),
                },
                id: i.id,
                created_by: i.created_by,
                created_at: when(i.created_at),
                expires_at: when(i.expires_at),
            })
            .collect(),
        new_link: String::new(),
        notice: String::new(),
    };
    fill(&mut page);
    render(StatusCode::OK, &page)
}

async fn admin_list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match req.query_string() {
        q if q.contains("removed") => "The admin was removed.",
        q if q.contains("revoked") => "The passkey was revoked.",
        _ => "",
    };
    admins_page(&state, &ctx, |p| p.notice = notice.into()).await
}

async fn invite_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match api::invite(&state, &ctx.actor()).await {
        Ok((_, url)) => admins_page(&state, &ctx, |p| p.new_link = url).await,
        Err(e) => failure(e),
    }
}

async fn admin_delete_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let ctx = match page_ctx(&state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let u = match accounts::find_user(&state.db, &path).await {
        Ok(Some(u)) if u.tenant_id == ADMIN_CLIENT_ID => u,
        Ok(_) => return not_found(&ctx, "admins", "admin", "/admin/admins"),
        Err(e) => return failure(e),
    };
    let yourself = if u.id == ctx.user_id {
        " This is you: you are signed out at once."
    } else {
        ""
    };
    confirm(
        &ctx,
        "admins",
        "Remove this admin?",
        format!(
            "{} loses access to the dashboard: their passkeys and sessions are deleted.{yourself} This cannot be undone.",
            u.name
        ),
        format!("/admin/admins/{}/delete", seg(&u.id)),
        "Remove the admin",
        "/admin/admins".into(),
    )
}

async fn admin_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (ctx, _) = match form_ctx(&state, &req, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match api::remove_user(&state, &ctx.actor(), ADMIN_CLIENT_ID, &path).await {
        Ok(true) if *path == ctx.user_id => see_other("/admin?signed_out"),
        Ok(true) => see_other("/admin/admins?removed"),
        Ok(false) => not_found(&ctx, "admins", "admin", "/admin/admins"),
        Err(e) => failure(e),
    }
}
