//! Email verification and account recovery (PROTOCOL E4): the routes and their pages;
//! the rules are in [`crate::signin::email_links`].
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
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::errors::ApiError;
use crate::i18n::Locale;
use crate::signin::ceremony;
use crate::signin::email_links::{self, RecoverPage};
use crate::state::AppState;
use crate::templates::EmailLinkPage;
use crate::util::now;

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
    match email_links::verification_live(&state, token).await {
        Ok(true) => link_page(
            &state,
            locale,
            StatusCode::OK,
            t.verify_title,
            t.verify_lead,
            Some(("/email/verify", token, t.verify_button)),
        ),
        Ok(false) => expired_page(&state, locale, t.expired_lead),
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
    match email_links::verify_address(&state, &token).await {
        Ok(true) => link_page(
            &state,
            locale,
            StatusCode::OK,
            t.verified_title,
            t.verified_lead,
            None,
        ),
        Ok(false) => expired_page(&state, locale, t.expired_lead),
        Err(e) => ApiError::from(e).into(),
    }
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
    let open = crate::web::open_flow(&state, &req, false).await?;
    let ip = crate::web::client_ip(&req, &state.settings);
    email_links::request_recovery(&state, open, body.email.as_deref(), ip).await?;
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
    let (params, _) = crate::web::read_query(req.query_string());
    let flow_id = params.get("flow").map(String::as_str).unwrap_or_default();
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    let cookie = req.cookie(crate::signin::flow::cookie_name(&state.settings));
    let binding = cookie.as_ref().map(|c| c.value());
    let (flow, tenant) = match email_links::recover_page(&state, flow_id, token, binding).await {
        Ok(RecoverPage::Show(open)) => (open.flow, open.tenant),
        Ok(RecoverPage::Expired) => return expired_page(&state, locale, t.recover_expired_lead),
        Ok(RecoverPage::OtherBrowser) => {
            return link_page(
                &state,
                locale,
                StatusCode::FORBIDDEN,
                t.other_browser_title,
                t.other_browser_lead,
                None,
            );
        }
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

/// `POST /api/v1/flows/{flow}/recovery/registration/options` `{"token"}`: creation
/// options for the link's existing account (same user handle, its passkeys excluded).
pub async fn registration_options(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let token = token_of(&body)?;
    let open = crate::web::open_flow(&state, &req, true).await?;
    let ip = crate::web::client_ip(&req, &state.settings);
    let options = email_links::registration_options(&state, &open, &token, ip).await?;
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
    let open = crate::web::open_flow(&state, &req, false).await?;
    let answer = email_links::register(&state, open, &token, &credential).await?;
    Ok(HttpResponse::Ok().json(answer))
}
