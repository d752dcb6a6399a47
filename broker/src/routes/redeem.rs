//! The back channel (PROTOCOL §3–§4): `POST /api/v1/sign-ins/redeem`, `POST /oauth/token`
//! and `/oauth/userinfo`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::entities::access_token;
use crate::domain::{CodeChallenge, CodeVerifier, RedirectUri};
use crate::errors::OAuthError;
use crate::state::AppState;
use crate::store::tenants::Tenant;
use crate::store::{self, flows};
use crate::util::{ct_eq, now, random_token, sha256_b64};

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

/// A redeemed code: the stored sign-in and the tenant it belongs to.
#[derive(Debug)]
pub struct Redeemed {
    tenant: Tenant,
    payload: Value,
    scope: String,
    user_id: String,
}

/// Authenticates the client (RFC 6749 §2.3: Basic or body), then redeems the code in one
/// conditional update, so that under any concurrency exactly one redeem wins.
async fn redeem_code(
    state: &AppState,
    req: &HttpRequest,
    r: RedeemRequest,
    endpoint: &'static str,
) -> Result<Redeemed, OAuthError> {
    if let Err(wait) = crate::web::rate_limit(state, req, "back_channel") {
        return Err(OAuthError::slow_down(wait));
    }
    let basic = basic_credentials(req)?;
    let (client_id, secret) = match (basic, r.client_id.as_deref()) {
        (Some((id, _)), Some(body_id)) if id != body_id => {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            ));
        }
        (Some((id, s)), _) => (id, Some(s)),
        (None, Some(id)) => (id.to_owned(), r.client_secret.clone()),
        (None, None) => return Err(OAuthError::invalid_request("client_id is required")),
    };
    let tenant = store::tenants::get(&state.db, &client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    if let Some(hash) = &tenant.secret_hash {
        let presented = secret.as_deref().map(sha256_b64).unwrap_or_default();
        if !ct_eq(presented.as_bytes(), hash.as_bytes()) {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
    }
    let client_id = tenant.client_id.clone();
    if let Err(wait) = crate::security::redeem_allowed(state, req, &client_id) {
        return Err(OAuthError::slow_down(wait));
    }
    let result = redeem_authenticated(state, tenant, &r, endpoint).await;
    if result.as_ref().is_err_and(|e| e.code() == "invalid_grant") {
        crate::security::redeem_failed(state, req, &client_id).await;
    }
    result
}

/// Redeems a code for an authenticated client: checks the code, its binding and the PKCE
/// verifier, then consumes it in one conditional update.
async fn redeem_authenticated(
    state: &AppState,
    tenant: Tenant,
    r: &RedeemRequest,
    endpoint: &'static str,
) -> Result<Redeemed, OAuthError> {
    let (Some(code), Some(verifier), Some(redirect_uri)) = (
        r.code.as_deref(),
        r.code_verifier.as_deref(),
        r.redirect_uri.as_deref(),
    ) else {
        return Err(OAuthError::invalid_request(
            "code, code_verifier and redirect_uri are required",
        ));
    };
    // RFC 7636 §4.6: a malformed verifier fails like a wrong one.
    let verifier = CodeVerifier::parse(verifier).map_err(|_| {
        OAuthError::invalid_grant("the code_verifier does not match the code_challenge")
    })?;
    let t = now();
    let hash = sha256_b64(code);
    let gone = || OAuthError::invalid_grant("the code is invalid, expired or already used");
    let row = flows::find_code(&state.db, &hash).await?.ok_or_else(gone)?;
    if row.tenant_id != tenant.client_id {
        crate::security::event(
            state,
            "code.wrong_client",
            Some(&row.tenant_id),
            Some(&row.flow_id),
            json!({"presented_by": tenant.client_id, "endpoint": endpoint}),
        )
        .await;
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if row.redeemed_at.is_some() || row.expires_at <= t {
        if row.redeemed_at.is_some() {
            store::audit::record(
                state.writer.conn(),
                store::audit::Event {
                    actor: &format!("client:{}", tenant.client_id),
                    action: "code.replay",
                    tenant_id: Some(&tenant.client_id),
                    subject: Some(&row.flow_id),
                    detail: json!({"endpoint": endpoint}),
                },
            )
            .await;
        }
        return Err(gone());
    }
    if !ct_eq(row.redirect_uri.as_bytes(), redirect_uri.as_bytes()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    // PROTOCOL §3: a redirect URI removed from the tenant since the code was issued
    // redeems nothing (its removal also deleted the code, in its own transaction).
    if !RedirectUri::is_registered(&tenant.redirect_uris, &row.redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "the redirect_uri of this code is no longer registered for the client",
        ));
    }
    let challenge = CodeChallenge::parse(&row.code_challenge).map_err(|_| gone())?;
    if !challenge.is_satisfied_by(&verifier) {
        return Err(OAuthError::invalid_grant(
            "the code_verifier does not match the code_challenge",
        ));
    }
    let code_hash = hash.clone();
    let consumed = state
        .writer
        .run(move |db| async move { flows::consume_code(&db, &code_hash, t).await })
        .await?;
    if !consumed {
        return Err(gone());
    }
    let payload: Value = serde_json::from_str(&row.payload).map_err(|e| {
        tracing::error!(error = %e, "stored sign-in unreadable");
        OAuthError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    })?;
    Ok(Redeemed {
        tenant,
        payload,
        scope: row.scope,
        user_id: row.user_id,
    })
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

/// The id_token of a redeemed sign-in (OpenID Connect Core §2).
fn id_token(state: &AppState, r: &Redeemed) -> Result<String, OAuthError> {
    let t = now();
    let sign_in = &r.payload["sign_in"];
    let mut claims = json!({
        "iss": state.issuer,
        "sub": r.user_id,
        "aud": r.tenant.client_id,
        "iat": t,
        "exp": t + state.settings.access_token_ttl,
        "auth_time": r.payload["auth_time"],
        "amr": r.payload["amr"],
    });
    if let Some(nonce) = r.payload["nonce"].as_str() {
        claims["nonce"] = nonce.into();
    }
    if r.scope.split(' ').any(|s| s == "email") && !sign_in["email"].is_null() {
        claims["email"] = sign_in["email"].clone();
        claims["email_verified"] = sign_in["email_verified"].clone();
    }
    state.keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    })
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
    let result = redeem_code(&state, &req, body.into_inner(), "redeem").await;
    state.metrics.redeem(
        "redeem",
        result.as_ref().map_or_else(|e| e.code(), |_| "ok"),
    );
    let r = result?;
    let token = id_token(&state, &r)?;
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "sign_in": r.payload["sign_in"],
        "id_token": token,
        "verify": r.payload["verify"],
    })))
}

/// `POST /oauth/token` (RFC 6749 §4.1.3)
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Form<RedeemRequest>,
) -> Result<HttpResponse, OAuthError> {
    let body = body.into_inner();
    match body.grant_type.as_deref() {
        Some("authorization_code") => {}
        Some(_) => {
            return Err(OAuthError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only authorization_code is supported",
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    }
    let result = redeem_code(&state, &req, body, "token").await;
    state
        .metrics
        .redeem("token", result.as_ref().map_or_else(|e| e.code(), |_| "ok"));
    let r = result?;
    let id = id_token(&state, &r)?;
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

fn bearer_error(error: &str, description: &str) -> HttpResponse {
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
            "invalid_request",
            "a Bearer access token is required",
        ));
    };
    let Some(row) = store::tokens::find(&state.db, &sha256_b64(token)).await? else {
        return Ok(bearer_error(
            "invalid_token",
            "the access token is unknown or expired",
        ));
    };
    if row.expires_at <= now() {
        return Ok(bearer_error(
            "invalid_token",
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
            "invalid_token",
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
