//! Discovery documents: OpenID Connect Discovery, the JWKS, and the broker's own
//! `/.well-known/webauthn` (PROTOCOL §4, §6).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::errors::ApiError;
use crate::keys::Keys;
use crate::state::AppState;

/// `GET /.well-known/openid-configuration`
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let iss = &state.issuer;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
            "jwks_uri": format!("{iss}/oauth/jwks"),
            "latchkey_redeem_endpoint": format!("{iss}/api/v1/sign-ins/redeem"),
            "latchkey_account_endpoint": format!("{iss}/account"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "email", "email_verified"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "prompt_values_supported": ["create", "login"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "claims_parameter_supported": false,
        }))
}

/// `GET /oauth/jwks`: active keys, and retired keys while tokens they signed may live.
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = Keys::jwks(&state.db, state.settings.access_token_ttl * 2)
        .await
        .map_err(|e| match e {
            crate::keys::KeyError::Db(db) => ApiError::from(db),
            other => ApiError::internal(other),
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(keys))
}

/// `GET /.well-known/webauthn`: the related origins of `broker`-mode tenants.
pub async fn webauthn(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let origins = crate::store::tenants::broker_related_origins(&state.db, None).await?;
    let doc = latchkey_well_known::WellKnownDocument::new(origins);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(doc.to_json()))
}
