//! HTTP routes by feature: each handler extracts, converts to domain types, makes one
//! domain call and maps the result.

pub mod account;
pub mod admin;
pub mod authorize;
pub mod ceremony;
pub mod dashboard;
pub mod discovery;
pub mod ops;
pub mod recovery;
pub mod redeem;

use actix_web::error::{JsonPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::errors::{ApiError, ErrorCode, OAuthError};

/// Largest JSON body of the ceremony and admin APIs (PROTOCOL §2: 64 KiB).
pub const MAX_JSON: usize = 64 * 1024;

fn api_json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON)
        .error_handler(|err, _req| {
            let e = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "The request body is larger than 64 KiB.",
                ),
                JsonPayloadError::ContentType => ApiError::invalid_request(
                    "The body must be JSON (Content-Type: application/json).",
                ),
                other => ApiError::invalid_request(format!("The body is not valid: {other}")),
            };
            e.into()
        })
}

fn oauth_json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON)
        .error_handler(|err, _req| {
            let e = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => OAuthError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::InvalidRequest,
                    "the request body is larger than 64 KiB",
                ),
                JsonPayloadError::ContentType => OAuthError::invalid_request(
                    "the body must be JSON (Content-Type: application/json)",
                ),
                other => OAuthError::invalid_request(format!("the body is not valid: {other}")),
            };
            e.into()
        })
}

fn oauth_form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_JSON)
        .error_handler(|err, _req| {
            let e = match &err {
                UrlencodedError::Overflow { .. } => OAuthError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::InvalidRequest,
                    "the request body is larger than 64 KiB",
                ),
                other => OAuthError::invalid_request(format!("the body is not valid: {other}")),
            };
            e.into()
        })
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(ops::index))
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/static/latchkey.js", web::get().to(crate::assets::script))
        .route("/static/latchkey.css", web::get().to(crate::assets::style))
        .route(
            "/static/webauthn.js",
            web::get().to(crate::assets::webauthn_script),
        )
        .route(
            "/static/account.js",
            web::get().to(crate::assets::account_script),
        )
        .route("/favicon.ico", web::get().to(crate::assets::favicon))
        .route("/authorize", web::get().to(authorize::authorize))
        .route("/demo", web::get().to(crate::demo::home))
        .route("/demo/start", web::get().to(crate::demo::start))
        .route("/demo/callback", web::get().to(crate::demo::callback))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::openid_configuration),
        )
        .route("/.well-known/webauthn", web::get().to(discovery::webauthn))
        .route("/oauth/jwks", web::get().to(discovery::jwks))
        .service(
            web::scope("/api/v1/flows/{flow}")
                .app_data(api_json_config())
                .route(
                    "/authentication/options",
                    web::post().to(ceremony::authentication_options),
                )
                .route("/authentication", web::post().to(ceremony::authentication))
                .route(
                    "/registration/options",
                    web::post().to(ceremony::registration_options),
                )
                .route("/registration", web::post().to(ceremony::registration))
                .route("/recovery", web::post().to(recovery::request))
                .route(
                    "/recovery/registration/options",
                    web::post().to(recovery::registration_options),
                )
                .route(
                    "/recovery/registration",
                    web::post().to(recovery::registration),
                ),
        )
        // PROTOCOL §9: the account page and its API (account session cookie).
        .route("/account", web::get().to(account::page))
        .service(
            web::scope("/api/v1/account")
                .app_data(api_json_config())
                .route("", web::get().to(account::show))
                .route(
                    "/passkeys/options",
                    web::post().to(account::passkey_options),
                )
                .route("/passkeys", web::post().to(account::add_passkey))
                .route(
                    "/passkeys/{credential_id}",
                    web::patch().to(account::rename_passkey),
                )
                .route(
                    "/passkeys/{credential_id}",
                    web::delete().to(account::remove_passkey),
                )
                .route("/sign-out", web::post().to(account::sign_out)),
        )
        .route("/email/verify", web::get().to(recovery::verify_page))
        .route("/email/verify", web::post().to(recovery::verify))
        .route("/recover", web::get().to(recovery::recover_page))
        .service(
            web::scope("/api/v1/sign-ins")
                .app_data(oauth_json_config())
                .route("/redeem", web::post().to(redeem::redeem)),
        )
        .service(
            web::scope("/oauth")
                .app_data(oauth_form_config())
                .route("/token", web::post().to(redeem::token))
                .route("/userinfo", web::get().to(redeem::userinfo))
                .route("/userinfo", web::post().to(redeem::userinfo)),
        )
        .service(
            web::scope("/api/v1/admin")
                .app_data(api_json_config())
                .configure(admin::configure),
        )
        .configure(dashboard::configure)
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "There is nothing at this address.",
    )
    .into()
}

impl From<ApiError> for HttpResponse {
    fn from(e: ApiError) -> Self {
        actix_web::ResponseError::error_response(&e)
    }
}
