//! The back channel (PROTOCOL §3–§4): `POST /api/v1/sign-ins/redeem`, `POST /oauth/token`
//! and `/oauth/userinfo`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use latchkey_proto::Redemption;
use serde::Deserialize;
use serde_json::json;

use crate::db::entities::access_token;
use crate::errors::{ErrorCode, OAuthError};
use crate::signin::SignInError;
use crate::signin::redeem::{self, Door, Grant, Redeemed};
use crate::state::AppState;
use crate::store;
use crate::util::{now, random_token, sha256_b64};

/// A redeem request, from JSON or the RFC 6749 form. Its secrets (code, verifier,
/// client secret) are zeroized when it is dropped.
#[derive(Default, Deserialize)]
pub struct RedeemRequest {
    client_id: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
    redirect_uri: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
}

impl Drop for RedeemRequest {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.code.zeroize();
        self.code_verifier.zeroize();
        self.client_secret.zeroize();
    }
}

impl std::fmt::Debug for RedeemRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedeemRequest")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("grant_type", &self.grant_type)
            .finish_non_exhaustive()
    }
}

/// The client a request names (RFC 6749 §2.3.1: Basic, or `client_id` and
/// `client_secret` in the body; both at once must agree).
fn client_of(req: &HttpRequest, r: &RedeemRequest) -> Result<redeem::Client, OAuthError> {
    let basic = basic_credentials(req)?;
    let (id, secret) = match (basic, r.client_id.as_deref()) {
        (Some((id, _)), Some(body_id)) if id != body_id => {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            ));
        }
        (Some((id, s)), _) => (id, Some(s)),
        (None, Some(id)) => (id.to_owned(), r.client_secret.clone()),
        (None, None) => return Err(OAuthError::invalid_request("client_id is required")),
    };
    Ok(redeem::Client {
        id,
        secret: secret.map(zeroize::Zeroizing::new),
    })
}

/// Extracts the client and the grant of a redeem request, and redeems it.
async fn redeem_request(
    state: &AppState,
    req: &HttpRequest,
    r: &RedeemRequest,
    door: Door,
) -> Result<Redeemed, OAuthError> {
    if let Err(wait) = crate::web::rate_limit(state, req, "back_channel") {
        return Err(OAuthError::slow_down(wait));
    }
    let client = client_of(req, r)?;
    let (Some(code), Some(verifier), Some(redirect_uri)) = (
        r.code.as_deref(),
        r.code_verifier.as_deref(),
        r.redirect_uri.as_deref(),
    ) else {
        return Err(OAuthError::invalid_request(
            "code, code_verifier and redirect_uri are required",
        ));
    };
    let grant = Grant {
        code,
        verifier,
        redirect_uri,
    };
    let ip = crate::web::client_ip(req, &state.settings);
    Ok(redeem::redeem(state, ip, client, grant, door).await?)
}

fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let bad = || OAuthError::invalid_client("malformed Basic authorization");
    let encoded = crate::web::authorization(req, "Basic").ok_or_else(bad)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded.
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok(Some((
        dec(id).ok_or_else(bad)?,
        dec(secret).ok_or_else(bad)?,
    )))
}

fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    b
}

/// `POST /api/v1/sign-ins/redeem`
pub async fn redeem(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RedeemRequest>,
) -> Result<HttpResponse, OAuthError> {
    let r = redeem_request(&state, &req, &body, Door::Redeem).await?;
    let id_token = redeem::id_token(&state, &r)?;
    Ok(no_store(HttpResponse::Ok()).json(Redemption {
        id_token,
        sign_in: r.stored.sign_in,
        verify: r.stored.verify,
    }))
}

/// `POST /oauth/token` (RFC 6749 §4.1.3)
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Form<RedeemRequest>,
) -> Result<HttpResponse, OAuthError> {
    match body.grant_type.as_deref() {
        Some("authorization_code") => {}
        Some(_) => return Err(SignInError::UnsupportedGrantType.into()),
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    }
    let r = redeem_request(&state, &req, &body, Door::Token).await?;
    let id = redeem::id_token(&state, &r)?;
    let access = zeroize::Zeroizing::new(random_token(32));
    let t = now();
    store::tokens::insert(
        state.writer.conn(),
        access_token::Model {
            token_hash: sha256_b64(access.as_bytes()),
            tenant_id: r.tenant.client_id.clone(),
            user_id: r.user_id.clone(),
            scope: r.scope.clone(),
            created_at: t,
            expires_at: t + state.settings.access_token_ttl,
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "access_token": access.as_str(),
        "token_type": "Bearer",
        "expires_in": state.settings.access_token_ttl,
        "id_token": id,
        "scope": r.scope,
    })))
}

fn bearer_error(error: ErrorCode, description: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!("Bearer error=\"{error}\", error_description=\"{description}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": error, "error_description": description}))
}

/// `GET|POST /oauth/userinfo` (OpenID Connect Core §5.3, RFC 6750 bearer token)
pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let Some(token) = crate::web::authorization(&req, "Bearer") else {
        return Ok(bearer_error(
            ErrorCode::InvalidRequest,
            "a Bearer access token is required",
        ));
    };
    let Some(row) = store::tokens::find(&state.db, &sha256_b64(token)).await? else {
        return Ok(bearer_error(
            ErrorCode::InvalidToken,
            "the access token is unknown or expired",
        ));
    };
    if row.expires_at <= now() {
        return Ok(bearer_error(
            ErrorCode::InvalidToken,
            "the access token is unknown or expired",
        ));
    }
    // PROTOCOL §3: the token of a deleted account answers `invalid_token` at once, on
    // every instance.
    let Some(user) = store::accounts::find_user(&state.db, &row.user_id)
        .await?
        .filter(|u| u.tenant_id == row.tenant_id)
    else {
        return Ok(bearer_error(
            ErrorCode::InvalidToken,
            "the access token is unknown or expired",
        ));
    };
    let mut claims = json!({ "sub": row.user_id });
    if row.scope.split(' ').any(|s| s == "email")
        && let Some(email) = user.email
    {
        claims["email"] = email.into();
        claims["email_verified"] = user.email_verified.into();
    }
    Ok(no_store(HttpResponse::Ok()).json(claims))
}
