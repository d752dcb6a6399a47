//! Email verification and account recovery (PROTOCOL E4).
//!
//! - An address given at registration, on a tenant with `email_recovery`, is proven by a
//!   one-time link (`GET /email/verify` shows a button, `POST` uses the link: mail
//!   scanners that fetch links change nothing).
//! - On the hosted page, "Lost your passkey?" asks for a link to a verified address
//!   (`POST /api/v1/flows/{flow}/recovery`, always `202`: no account enumeration). The
//!   link is bound to the flow, its browser and the account, lives 15 minutes at most,
//!   and enrols a new passkey on the existing account through
//!   `recovery/registration/options` and `recovery/registration`; it is used up in the
//!   transaction that issues the code.
//!
//! Mail goes out after the commit on a spawned task; a failure is logged (without token
//! or address) and audited as `email_send_failed`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template as _;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::db::entities::{flow, user};
use crate::errors::ApiError;
use crate::i18n::Locale;
use crate::mail::Mailer;
use crate::routes::ceremony::{self, Outcome};
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::store::email_tokens::{self, Purpose};
use crate::store::tenants::Tenant;
use crate::store::{accounts, flows};
use crate::templates::EmailLinkPage;
use crate::util::{ct_eq, now, sha256_b64, unb64};

/// Lifetime of an email verification link, seconds.
pub const VERIFY_TTL: i64 = 24 * 3600;
/// Lifetime of a recovery link, seconds (never beyond its flow's).
pub const RECOVER_TTL: i64 = 15 * 60;

/// Whether a tenant's hosted page offers recovery: the tenant opted in and the broker
/// can send email.
pub fn offered(state: &AppState, tenant: &Tenant) -> bool {
    tenant.email_recovery && state.mailer.is_some()
}

/// `410 recovery_link_expired`: the link is unknown, used, expired, or not this flow's.
pub fn link_expired() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "recovery_link_expired",
        "This recovery link has expired or was already used. Ask for a new one.",
    )
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "recovery_unavailable",
        "This site does not offer account recovery by email.",
    )
}

async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    tenant: &str,
    subject: &str,
    detail: Value,
) {
    audit::record(
        &state.db,
        Event {
            actor,
            action,
            tenant_id: Some(tenant),
            subject: Some(subject),
            detail,
        },
    )
    .await;
}

/// Sends `body` to `to`; a failure is logged without the address and audited.
async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    user: &user::Model,
    to: &str,
    purpose: &str,
    subject: &str,
    body: String,
) -> bool {
    match mailer.send(to, subject, body).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(purpose, user = %user.id, error = %e, "email not sent");
            record(
                state,
                "system",
                "email_send_failed",
                &user.tenant_id,
                &user.id,
                json!({"purpose": purpose, "error": e.to_string()}),
            )
            .await;
            false
        }
    }
}

/// Sends the verification link of a new account's address, off the request path.
pub fn send_verification(state: &web::Data<AppState>, user: user::Model, site: String) {
    let (Some(mailer), Some(to)) = (state.mailer.clone(), user.email.clone()) else {
        return;
    };
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let token =
            match email_tokens::create(&state.db, Purpose::Verify, &user, None, now() + VERIFY_TTL)
                .await
            {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => {
                    tracing::warn!(error = %e, "verification link not stored");
                    return;
                }
            };
        let body = format!(
            "Hello,\n\nConfirm the email address of your {site} account by opening this link:\n\n{}/email/verify?token={}\n\nThe link works once, within 24 hours. A confirmed address lets you create a new passkey if you ever lose yours.\n\nIf you did not create an account on {site}, ignore this message.\n\nLatchkey, for {site}\n",
            state.issuer,
            token.as_str()
        );
        deliver(
            &state,
            &mailer,
            &user,
            &to,
            "verify",
            &format!("Confirm your email address for {site}"),
            body,
        )
        .await;
    });
}

fn locale_of(req: &HttpRequest) -> Locale {
    Locale::negotiate(
        None,
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn link_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    title: &str,
    message: &str,
    form: Option<(&str, &str, &str)>,
) -> HttpResponse {
    let (action, token, button) = form.unwrap_or_default();
    let page = EmailLinkPage {
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        lang: locale.tag(),
        title: title.to_owned(),
        message: message.to_owned(),
        action: action.to_owned(),
        token: token.to_owned(),
        button: button.to_owned(),
        footer: locale.link_text().footer.to_owned(),
    };
    match page.render() {
        Ok(body) => crate::web::html(status).body(body),
        Err(e) => ApiError::internal(e).into(),
    }
}

/// `410`: the link is unknown, used or expired; `lead` says what to do next.
fn expired_page(state: &AppState, locale: Locale, lead: &str) -> HttpResponse {
    let title = locale.link_text().expired_title;
    link_page(state, locale, StatusCode::GONE, title, lead, None)
}

fn too_many(state: &AppState, locale: Locale, wait: u64) -> HttpResponse {
    let mut res = link_page(
        state,
        locale,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        &format!("Wait {wait} seconds, then open the link again."),
        None,
    );
    if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// `GET /email/verify?token=…`: a page with a button; changes nothing.
pub async fn verify_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let locale = locale_of(&req);
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return too_many(&state, locale, wait);
    }
    let t = locale.link_text();
    let (params, _) = crate::routes::authorize::read_query(req.query_string());
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    match email_tokens::find_live(&state.db, token, Purpose::Verify).await {
        Ok(Some(_)) => link_page(
            &state,
            locale,
            StatusCode::OK,
            t.verify_title,
            t.verify_lead,
            Some(("/email/verify", token, t.verify_button)),
        ),
        Ok(None) => expired_page(&state, locale, t.expired_lead),
        Err(e) => ApiError::from(e).into(),
    }
}

/// `POST /email/verify` (form `token`): uses the link and marks the address verified.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let locale = locale_of(&req);
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return too_many(&state, locale, wait);
    }
    let t = locale.link_text();
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let expired = || expired_page(&state, locale, t.expired_lead);
    if token.len() != 43 {
        return expired();
    }
    let used =
        match email_tokens::consume(&state.db, &sha256_b64(&token), Purpose::Verify, None, None)
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => return expired(),
            Err(e) => return ApiError::from(e).into(),
        };
    if let Err(e) = email_tokens::mark_verified(&state.db, &used.user_id).await {
        return ApiError::from(e).into();
    }
    record(
        &state,
        &format!("user:{}", used.user_id),
        "email_verified",
        &used.tenant_id,
        &used.user_id,
        json!({}),
    )
    .await;
    link_page(
        &state,
        locale,
        StatusCode::OK,
        t.verified_title,
        t.verified_lead,
        None,
    )
}

/// The body of `recovery`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryRequest {
    email: Option<String>,
}

/// `POST /api/v1/flows/{flow}/recovery`: always `202 {"status": "sent"}`; the account
/// lookup and the email happen off the request path.
pub async fn request(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: RecoveryRequest = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::invalid_request(format!("The body is not valid: {e}")))?;
    let (flow, tenant) = ceremony::open_flow(&state, &req, &path).await?;
    if !offered(&state, &tenant) {
        return Err(unavailable());
    }
    let email = match body
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) => ceremony::check_email(e)?,
        None => {
            return Err(
                ApiError::invalid_request("Enter the email address of your account.")
                    .with("field", "email"),
            );
        }
    };
    if let Err(r) =
        crate::security::recovery_quota(&state, &req, &flow.id, &tenant.client_id, flow.expires_at)
            .await
    {
        // Once per window: a flood of refused requests does not flood the audit log.
        if r.first {
            record(
                &state,
                "anonymous",
                "recovery_rate_limited",
                &tenant.client_id,
                &flow.id,
                json!({"limit": "per_flow"}),
            )
            .await;
        }
        return Err(ApiError::rate_limited(r.retry_after).with_message(
            "Too many recovery requests on this sign-in page. Go back to the site and start again.",
        ));
    }
    record(
        &state,
        "anonymous",
        "recovery_requested",
        &tenant.client_id,
        &flow.id,
        json!({}),
    )
    .await;
    let task_state = state.clone();
    actix_web::rt::spawn(async move { send_recovery(task_state, flow, tenant, email).await });
    Ok(HttpResponse::Accepted().json(json!({"status": "sent"})))
}

/// Mails a recovery link to each verified account of the tenant with this address,
/// within the per-account limit.
async fn send_recovery(
    state: web::Data<AppState>,
    flow: flow::Model,
    tenant: Tenant,
    email: String,
) {
    let Some(mailer) = state.mailer.clone() else {
        return;
    };
    let users = match email_tokens::verified_users(&state.db, &tenant.client_id, &email).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "recovery lookup failed");
            return;
        }
    };
    for user in users {
        let Some(to) = user.email.clone() else {
            continue;
        };
        if let Err(r) = crate::security::recovery_mail_quota(&state, &user.id).await {
            if r.first {
                record(
                    &state,
                    "anonymous",
                    "recovery_rate_limited",
                    &tenant.client_id,
                    &user.id,
                    json!({"limit": "per_account", "flow": flow.id}),
                )
                .await;
            }
            continue;
        }
        let expires_at = (now() + RECOVER_TTL).min(flow.expires_at);
        let token = match email_tokens::create(
            &state.db,
            Purpose::Recover,
            &user,
            Some(&flow.id),
            expires_at,
        )
        .await
        {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(e) => {
                tracing::warn!(error = %e, "recovery link not stored");
                continue;
            }
        };
        let minutes = ((expires_at - now()) / 60).max(1);
        let site = &tenant.name;
        let body = format!(
            "Hello,\n\nSomeone, hopefully you, asked to recover your {site} account because its passkeys are lost. Open this link in the same browser, while its sign-in page is still open, to create a new passkey:\n\n{}/recover?flow={}&token={}\n\nThe link works once, within {minutes} minutes.\n\nIf you did not ask for this, ignore this message: nothing changes without the link.\n\nLatchkey, for {site}\n",
            state.issuer,
            flow.id,
            token.as_str()
        );
        if deliver(
            &state,
            &mailer,
            &user,
            &to,
            "recover",
            &format!("Recover your {site} account"),
            body,
        )
        .await
        {
            record(
                &state,
                "system",
                "recovery_email_sent",
                &tenant.client_id,
                &user.id,
                json!({"flow": flow.id, "expires_at": crate::util::rfc3339(expires_at)}),
            )
            .await;
        }
    }
}

/// `GET /recover?flow=…&token=…`: in the browser that holds the flow, the hosted page in
/// recovery mode; elsewhere a page saying where to open it. Changes nothing.
pub async fn recover_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let locale = locale_of(&req);
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return too_many(&state, locale, wait);
    }
    let t = locale.link_text();
    let expired = || expired_page(&state, locale, t.recover_expired_lead);
    let (params, _) = crate::routes::authorize::read_query(req.query_string());
    let flow_id = params.get("flow").map(String::as_str).unwrap_or_default();
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    if !ceremony::is_flow_id(flow_id) {
        return expired();
    }
    let flow = match flows::find_flow(&state.db, flow_id).await {
        Ok(Some(f)) if f.expires_at > now() && f.completed_at.is_none() => f,
        Ok(_) => return expired(),
        Err(e) => return ApiError::from(e).into(),
    };
    if !ceremony::browser_holds(&state, &req, &flow, json!({"via": "recovery_link"})).await {
        return link_page(
            &state,
            locale,
            StatusCode::FORBIDDEN,
            t.other_browser_title,
            t.other_browser_lead,
            None,
        );
    }
    match email_tokens::find_live(&state.db, token, Purpose::Recover).await {
        Ok(Some(link)) if link.flow_id.as_deref() == Some(flow.id.as_str()) => {}
        Ok(_) => return expired(),
        Err(e) => return ApiError::from(e).into(),
    }
    let tenant = match crate::store::tenants::get(&state.db, &flow.tenant_id).await {
        Ok(Some(t)) if offered(&state, &t) => t,
        Ok(_) => return expired(),
        Err(e) => return ApiError::from(e).into(),
    };
    match crate::routes::authorize::hosted_page(
        &state,
        &tenant,
        locale,
        flow.id.clone(),
        "recovery",
        String::new(),
        token.to_owned(),
    ) {
        Ok(body) => crate::web::html(StatusCode::OK).body(body),
        Err(e) => e.into(),
    }
}

/// The recovery link's token in a body; `400 invalid_request` naming `token` without it.
fn token_of(body: &Value) -> Result<String, ApiError> {
    match body.get("token") {
        Some(Value::String(t)) if !t.is_empty() => Ok(t.clone()),
        _ => Err(
            ApiError::invalid_request("The recovery link's token is missing.")
                .with("field", "token"),
        ),
    }
}

/// What a recovery challenge remembers: the account and the link.
#[derive(Debug, serde::Serialize, Deserialize)]
struct PendingRecovery {
    user_id: String,
    link: String,
}

/// `POST /api/v1/flows/{flow}/recovery/registration/options` `{"token"}`: creation
/// options for the link's existing account (same user handle, its passkeys excluded).
pub async fn registration_options(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let token = token_of(&body)?;
    let (flow, tenant) = ceremony::open_flow(&state, &req, &path).await?;
    if !offered(&state, &tenant) {
        return Err(unavailable());
    }
    ceremony::attempt_quota(&state, &req, &flow).await?;
    let link = email_tokens::find_live(&state.db, &token, Purpose::Recover)
        .await?
        .filter(|l| {
            l.flow_id.as_deref() == Some(flow.id.as_str()) && l.tenant_id == tenant.client_id
        })
        .ok_or_else(link_expired)?;
    let user = accounts::find_user(&state.db, &link.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or_else(link_expired)?;
    ceremony::ensure_related_origin(&state, &tenant).await?;
    let handle = unb64(&user.id)
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| ApiError::internal("a user handle is not 16 bytes"))?;
    let exclude: Vec<Vec<u8>> = accounts::credential_ids_of_user(&state.db, &user.id)
        .await?
        .iter()
        .filter_map(|id| unb64(id))
        .collect();
    let pending = PendingRecovery {
        user_id: user.id.clone(),
        link: link.token_hash,
    };
    let who = (handle, user.name.as_str(), user.display_name.as_str());
    ceremony::start_creation(&state, &flow, &tenant, "recover", who, &exclude, &pending).await
}

/// `POST /api/v1/flows/{flow}/recovery/registration` `{"token", "credential"}`: adds the
/// new passkey to the account and issues the code, using up the link in the same
/// transaction.
pub async fn registration(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    let token = token_of(&body)?;
    let credential: RegisterPublicKeyCredential =
        match body.get_mut("credential").map(Value::take) {
            Some(c) => serde_json::from_value(c).map_err(|e| {
                ApiError::invalid_request(format!(
                    "The credential is not a WebAuthn attestation in JSON form: {e}"
                ))
                .with("field", "credential")
            })?,
            None => {
                return Err(ApiError::invalid_request("The credential is missing.")
                    .with("field", "credential"));
            }
        };
    ceremony::same_id(&credential.id, credential.raw_id.as_ref())?;
    let (flow, tenant) = ceremony::open_flow(&state, &req, &path).await?;
    if !offered(&state, &tenant) {
        return Err(unavailable());
    }
    let ch = ceremony::take_challenge(&state, &flow, "recover").await?;
    let pending: PendingRecovery = ch
        .registration
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| ApiError::internal("recovery challenge without account"))?;
    if !ct_eq(sha256_b64(&token).as_bytes(), pending.link.as_bytes()) {
        return Err(link_expired());
    }
    let user = accounts::find_user(&state.db, &pending.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or_else(link_expired)?;
    let (stored, attested) = ceremony::verify_new_passkey(
        &state,
        &tenant,
        &flow,
        &ch,
        &credential,
        &user.id,
        "recover",
    )
    .await?;
    let outcome = Outcome {
        user: &user,
        credential: &stored,
        new_user: false,
        new_credential: true,
        user_verified: attested.flags.user_verified,
        backup_eligible: attested.flags.backup_eligible,
        backed_up: attested.flags.backed_up,
        verify: ceremony::creation_evidence(
            &ch.signed_message,
            &credential,
            &attested.authenticator_data,
            &user.id,
        ),
        insert_user: None,
        insert_credential: Some(stored.clone()),
        recovery_link: Some(pending.link),
        used: None,
    };
    let answer = ceremony::complete(&state, &flow, &tenant, outcome).await?;
    state.metrics.ceremony("recover", "ok");
    record(
        &state,
        &format!("user:{}", user.id),
        "recovery_completed",
        &tenant.client_id,
        &user.id,
        json!({"credential_id": stored.id, "flow": flow.id}),
    )
    .await;
    send_notice(&state, user, tenant.name.clone());
    Ok(HttpResponse::Ok().json(answer))
}

/// Tells the account's address that a passkey was added through a recovery link.
fn send_notice(state: &web::Data<AppState>, user: user::Model, site: String) {
    let (Some(mailer), Some(to)) = (state.mailer.clone(), user.email.clone()) else {
        return;
    };
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let body = format!(
            "Hello,\n\nA new passkey was just added to your {site} account through a recovery link sent to this address. Your other passkeys are unchanged.\n\nIf this was you, there is nothing to do. If it was not, someone who can read your email has added a passkey to your account: contact {site} at once so that it can be removed.\n\nLatchkey, for {site}\n"
        );
        deliver(
            &state,
            &mailer,
            &user,
            &to,
            "notice",
            &format!("A new passkey was added to your {site} account"),
            body,
        )
        .await;
    });
}
