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

use crate::errors::ApiError;
use crate::i18n::Locale;
use crate::signin::code::Outcome;
use crate::signin::flow::OpenFlow;
use crate::signin::recovery::{offered, record, send_notice, send_recovery};
use crate::signin::{SignInError, ceremony};
use crate::state::AppState;
use crate::store::email_tokens::{self, Purpose};
use crate::store::{accounts, flows};
use crate::templates::EmailLinkPage;
use crate::util::{ct_eq, now, sha256_b64, unb64};

fn locale_of(req: &HttpRequest) -> Locale {
    crate::web::locale(req, None)
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
        Ok(body) => crate::assets::html(status).body(body),
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
    let (params, _) = crate::web::read_query(req.query_string());
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
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: RecoveryRequest = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::invalid_request(format!("The body is not valid: {e}")))?;
    let OpenFlow { flow, tenant } = crate::web::open_flow(&state, &req, false).await?;
    ceremony::refuse_on_account_page(&flow)?;
    if !offered(&state, &tenant) {
        return Err(SignInError::RecoveryUnavailable.into());
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
    if let Err(r) = crate::security::recovery_quota(
        &state,
        crate::web::client_ip(&req, &state.settings),
        &flow.id,
        &tenant.client_id,
        flow.expires_at,
    )
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

/// `GET /recover?flow=…&token=…`: in the browser that holds the flow, the hosted page in
/// recovery mode; elsewhere a page saying where to open it. Changes nothing.
pub async fn recover_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let locale = locale_of(&req);
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return too_many(&state, locale, wait);
    }
    let t = locale.link_text();
    let expired = || expired_page(&state, locale, t.recover_expired_lead);
    let (params, _) = crate::web::read_query(req.query_string());
    let flow_id = params.get("flow").map(String::as_str).unwrap_or_default();
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    if !crate::signin::flow::is_flow_id(flow_id) {
        return expired();
    }
    let flow = match flows::find_flow(&state.db, flow_id).await {
        Ok(Some(f)) if f.expires_at > now() && f.completed_at.is_none() => f,
        Ok(_) => return expired(),
        Err(e) => return ApiError::from(e).into(),
    };
    let cookie = req.cookie(crate::signin::flow::cookie_name(&state.settings));
    let binding = cookie.as_ref().map(|c| c.value());
    if !crate::signin::flow::holds_binding(&state, &flow, binding, json!({"via": "recovery_link"}))
        .await
    {
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
    match crate::pages::hosted_page(
        &state,
        &tenant,
        locale,
        crate::pages::HostedFlow {
            id: flow.id.clone(),
            site_url: crate::domain::RedirectUri::parse(&flow.redirect_uri)
                .map(|r| r.site_url())
                .unwrap_or_default(),
            seconds_left: flow.expires_at - now(),
        },
        "recovery",
        String::new(),
        token.to_owned(),
    ) {
        Ok(body) => crate::assets::html(StatusCode::OK).body(body),
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
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let token = token_of(&body)?;
    let OpenFlow { flow, tenant } = crate::web::open_flow(&state, &req, true).await?;
    ceremony::refuse_on_account_page(&flow)?;
    if !offered(&state, &tenant) {
        return Err(SignInError::RecoveryUnavailable.into());
    }
    crate::signin::flow::attempt_quota(&state, crate::web::client_ip(&req, &state.settings), &flow)
        .await?;
    let link = email_tokens::find_live(&state.db, &token, Purpose::Recover)
        .await?
        .filter(|l| {
            l.flow_id.as_deref() == Some(flow.id.as_str()) && l.tenant_id == tenant.client_id
        })
        .ok_or(SignInError::RecoveryLinkExpired)?;
    let user = accounts::find_user(&state.db, &link.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or(SignInError::RecoveryLinkExpired)?;
    crate::signin::passkey::ensure_related_origin(&state, &tenant).await?;
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
    let options =
        ceremony::start_creation(&state, &flow, &tenant, "recover", who, &exclude, &pending)
            .await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/flows/{flow}/recovery/registration` `{"token", "credential"}`: adds the
/// new passkey to the account and issues the code, using up the link in the same
/// transaction.
pub async fn registration(
    req: HttpRequest,
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
    let OpenFlow { flow, tenant } = crate::web::open_flow(&state, &req, false).await?;
    ceremony::refuse_on_account_page(&flow)?;
    if !offered(&state, &tenant) {
        return Err(SignInError::RecoveryUnavailable.into());
    }
    let ch = ceremony::take_challenge(&state, &flow, "recover").await?;
    let pending: PendingRecovery = ch
        .registration
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| ApiError::internal("recovery challenge without account"))?;
    if !ct_eq(sha256_b64(&token).as_bytes(), pending.link.as_bytes()) {
        return Err(SignInError::RecoveryLinkExpired.into());
    }
    let user = accounts::find_user(&state.db, &pending.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or(SignInError::RecoveryLinkExpired)?;
    let (stored, attested) = crate::signin::passkey::verify_new_passkey(
        &state,
        &tenant,
        &flow.id,
        &ch.state,
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
    let answer = crate::signin::code::complete(&state, &flow, &tenant, outcome).await?;
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
