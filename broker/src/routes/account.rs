//! The account page (PROTOCOL §9): `GET /account`, and the JSON API it calls with its
//! account session. Each handler extracts (the session cookie, a typed body), makes one
//! call to [`crate::signin::account`], and answers its result. Cross-site calls are
//! refused before any handler runs ([`crate::guard`]: `403 cross_site`).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template as _;
use serde::Deserialize;
use serde_json::Value;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::errors::ApiError;
use crate::pages::no_flow_page;
use crate::signin::account::{self, PageRefusal, Session};
use crate::signin::ceremony;
use crate::state::AppState;

/// `GET /account?client_id=…[&return_to=…]`: the hosted account page, with a flow of its
/// own for the passkey sign-in.
pub async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (params, _) = crate::web::read_query(req.query_string());
    let get = |k: &str| params.get(k).map(String::as_str);
    let locale = crate::web::locale(&req, get("ui_locales"));
    let t = locale.error_text();
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return crate::pages::too_many(&state, locale, wait);
    }
    let refused = |title: &str, message: &str, developer: String| {
        no_flow_page(&state, locale, StatusCode::BAD_REQUEST, |p| {
            p.title = title.to_owned();
            p.message = message.to_owned();
            p.advice = t.person_advice.to_owned();
            p.developer = developer;
            p.footnote = String::new();
        })
    };
    let Some(client_id) = get("client_id") else {
        return refused(
            t.incomplete_title,
            t.no_client_id,
            t.no_client_id_fix.into(),
        );
    };
    let binding = crate::web::flow_binding(&req, &state.settings);
    let ip = crate::web::client_ip(&req, &state.settings);
    let opened = account::open_page(&state, client_id, get("return_to"), &binding, ip).await;
    let page = match opened {
        Ok(page) => page,
        Err(PageRefusal::UnknownClient) => {
            return refused(
                t.unknown_site_title,
                t.unknown_site,
                t.unknown_site_fix.into(),
            );
        }
        Err(PageRefusal::ReturnToNotRegistered) => {
            return refused(
                t.unregistered_title,
                t.unregistered,
                locale.return_to_fix(client_id),
            );
        }
        Err(PageRefusal::TooMany(wait)) => return crate::pages::too_many(&state, locale, wait),
        Err(PageRefusal::Failed(e)) => return ApiError::from(e).into(),
    };
    let body = match crate::pages::account_page(&state, locale, &page) {
        Ok(b) => b.render(),
        Err(e) => return e.into(),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return ApiError::internal(e).into(),
    };
    crate::web::flow_page(&state.settings, binding, body)
}

/// The request's account session: the request rate first (`429 rate_limited`), then the
/// cookie (`401 account_session_required`).
async fn session(state: &AppState, req: &HttpRequest) -> Result<Session, ApiError> {
    if let Err(wait) = crate::web::rate_limit(state, req, "ceremony") {
        return Err(ApiError::rate_limited(wait));
    }
    let cookie = req.cookie(account::cookie_name(&state.settings));
    Ok(account::session(state, cookie.as_ref().map(Cookie::value)).await?)
}

/// `GET /api/v1/account`
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    Ok(HttpResponse::Ok().json(account::view(&state, &session).await?))
}

/// `POST /api/v1/account/passkeys/options` (any body, or none)
pub async fn passkey_options(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    Ok(HttpResponse::Ok().json(account::passkey_options(&state, &session).await?))
}

/// The body of `POST /api/v1/account/passkeys`.
#[derive(Debug, Deserialize)]
pub struct AddPasskey {
    /// The attestation, in WebAuthn's JSON form.
    credential: Value,
    /// A name for the new passkey.
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/v1/account/passkeys` `{"credential", "name"?}`
pub async fn add_passkey(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<AddPasskey>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    let AddPasskey { credential, name } = body.into_inner();
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|e| {
            ApiError::invalid_request(format!(
                "The credential is not a WebAuthn attestation in JSON form: {e}"
            ))
            .with("field", "credential")
        })?;
    ceremony::same_id(&credential.id, credential.raw_id.as_ref())?;
    let added = account::add_passkey(&state, &session, credential, name).await?;
    Ok(HttpResponse::Created().json(added))
}

/// The body of `PATCH /api/v1/account/passkeys/{credential_id}`.
#[derive(Debug, Deserialize)]
pub struct Rename {
    /// The new name.
    name: Option<String>,
}

/// `PATCH /api/v1/account/passkeys/{credential_id}` `{"name"}`
pub async fn rename_passkey(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Rename>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    let name = body.into_inner().name.unwrap_or_default();
    let renamed = account::rename_passkey(&state, &session, &path, &name).await?;
    Ok(HttpResponse::Ok().json(renamed))
}

/// `DELETE /api/v1/account/passkeys/{credential_id}`
pub async fn remove_passkey(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    account::remove_passkey(&state, &session, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/account/sign-out`: the session ends, and its cookie with it.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = session(&state, &req).await?;
    account::sign_out(&state, session).await?;
    let mut gone = Cookie::build(account::cookie_name(&state.settings), "")
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Strict)
        .path("/")
        .finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
