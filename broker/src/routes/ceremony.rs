//! The ceremony API called by the hosted page (PROTOCOL §2): each handler extracts the
//! flow ([`open_flow`]: the request rate, the flow cookie, the flow's state) and a typed
//! body, makes one call to [`crate::signin::ceremony`], and answers its result. Every
//! failure answers the contract's error and leaves the flow usable until it expires.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::errors::ApiError;
use crate::signin::account::{self, NewSession};
use crate::signin::ceremony::{self, RegistrationRequest, Verified};
use crate::state::AppState;
use crate::web::{client_ip, open_flow};

/// `POST /api/v1/flows/{flow}/authentication/options`
pub async fn authentication_options(
    req: HttpRequest,
    state: web::Data<AppState>,
    _body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let flow = open_flow(&state, &req, true).await?;
    let ip = client_ip(&req, &state.settings);
    let options = ceremony::authentication_options(&state, &flow, ip).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/flows/{flow}/registration/options`
pub async fn registration_options(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: RegistrationRequest = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::invalid_request(format!("The body is not valid: {e}")))?;
    let flow = open_flow(&state, &req, true).await?;
    let ip = client_ip(&req, &state.settings);
    let options = ceremony::registration_options(&state, &flow, ip, body).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// `POST /api/v1/flows/{flow}/authentication`
pub async fn authentication(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let credential: PublicKeyCredential =
        serde_json::from_value(body.into_inner()).map_err(|e| {
            ApiError::invalid_request(format!(
                "The credential is not a WebAuthn assertion in JSON form: {e}"
            ))
        })?;
    ceremony::same_id(&credential.id, credential.raw_id.as_ref())?;
    let flow = open_flow(&state, &req, false).await?;
    match ceremony::verify_assertion(&state, &flow, credential).await? {
        Verified::Code(answer) => Ok(HttpResponse::Ok().json(answer)),
        // PROTOCOL §9: the account page's sign-in opens an account session.
        Verified::Account(session) => Ok(HttpResponse::Ok()
            .cookie(account_cookie(&state, &session))
            .json(serde_json::json!({"account": true}))),
    }
}

/// The account session cookie (PROTOCOL §9): `HttpOnly`, `SameSite=Strict`, path `/`,
/// `Secure` and `__Host-` over HTTPS.
fn account_cookie(state: &AppState, session: &NewSession) -> Cookie<'static> {
    Cookie::build(
        account::cookie_name(&state.settings),
        session.token.as_str().to_owned(),
    )
    .http_only(true)
    .secure(state.settings.is_https())
    .same_site(SameSite::Strict)
    .path("/")
    .max_age(CookieDuration::seconds(session.max_age))
    .finish()
}

/// `POST /api/v1/flows/{flow}/registration`
pub async fn registration(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let credential: RegisterPublicKeyCredential = serde_json::from_value(body.into_inner())
        .map_err(|e| {
            ApiError::invalid_request(format!(
                "The credential is not a WebAuthn attestation in JSON form: {e}"
            ))
        })?;
    ceremony::same_id(&credential.id, credential.raw_id.as_ref())?;
    let flow = open_flow(&state, &req, false).await?;
    let answer = ceremony::verify_registration(&state, &flow, credential).await?;
    Ok(HttpResponse::Ok().json(answer))
}
