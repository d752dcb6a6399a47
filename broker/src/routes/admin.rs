//! The admin API (PROTOCOL §7), authorised by `Authorization: Bearer <admin token>` (the
//! bootstrap token or a minted one) or by an admin's dashboard session with its CSRF
//! token. Every change is written to the audit log, naming the token or admin.

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{self, Actor, AuditQuery};
use crate::errors::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::audit;
use crate::store::tenants;
use crate::store::{accounts, admin as admins};
use crate::util::ct_eq;

/// Registers the admin routes under `/api/v1/admin`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::post().to(create_tenant))
        .route("/tenants", web::get().to(list_tenants))
        .route("/tenants/{client_id}", web::get().to(get_tenant))
        .route("/tenants/{client_id}", web::patch().to(update_tenant))
        .route("/tenants/{client_id}", web::delete().to(delete_tenant))
        .route(
            "/tenants/{client_id}/well-known-check",
            web::post().to(well_known_check),
        )
        .route("/tenants/{client_id}/users", web::get().to(list_users))
        .route(
            "/tenants/{client_id}/users/{user_id}",
            web::delete().to(delete_user),
        )
        .route(
            "/credentials/{credential_id}",
            web::delete().to(revoke_credential),
        )
        .route("/audit", web::get().to(list_audit))
        .route("/tokens", web::post().to(create_token))
        .route("/tokens", web::get().to(list_tokens))
        .route("/tokens/{id}", web::delete().to(revoke_token))
        .route("/invites", web::post().to(create_invite))
        .route("/invites", web::get().to(list_invites));
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "A valid admin token is required (Authorization: Bearer <token>).",
    )
}

/// Authorises an admin call: a bearer token (bootstrap, compared in constant time, or a
/// minted live token), or else a dashboard session, which must also present its CSRF
/// token in `X-CSRF-Token` and not come from another site for anything but a read.
pub async fn authorise(state: &AppState, req: &HttpRequest) -> Result<Actor, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let presented = crate::web::authorization(req, "Bearer").ok_or_else(unauthorized)?;
        if let Some(token) = &state.settings.admin_token
            && token.matches(presented)
        {
            return Ok(Actor::Bootstrap);
        }
        return match admins::authenticate_token(&state.db, presented).await? {
            Some(t) => Ok(Actor::Token {
                id: t.id,
                name: t.name,
            }),
            None => Err(unauthorized()),
        };
    }
    let Some(session) = admin::session(state, req).await? else {
        return Err(unauthorized());
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let presented = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if admin::cross_site(req) || !ct_eq(presented.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(admin::csrf_failed());
        }
    }
    Ok(Actor::Admin {
        user_id: session.user_id,
    })
}

async fn create_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input = admin::parse_input(body.into_inner())?;
    let (tenant, secret) = admin::create(&state, &actor, input)
        .await
        .map_err(admin::tenant_error)?;
    let out = admin::with_secret(&tenant, secret);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/tenants/{}", tenant.client_id),
        ))
        .json(out))
}

async fn list_tenants(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let list: Vec<Value> = tenants::list(&state.db)
        .await?
        .iter()
        .filter(|t| !admin::reserved(&t.client_id))
        .map(|t| t.to_json())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tenants": list })))
}

async fn get_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let t = admin::visible_tenant(&state, &path).await?;
    Ok(HttpResponse::Ok().json(t.to_json()))
}

async fn update_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input = admin::parse_input(body.into_inner())?;
    let (tenant, secret) = admin::update(&state, &actor, &path, input)
        .await
        .map_err(admin::tenant_error)?;
    Ok(HttpResponse::Ok().json(admin::with_secret(&tenant, secret)))
}

async fn delete_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !admin::remove(&state, &actor, &path).await? {
        return Err(admin::not_found("tenant"));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn well_known_check(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let t = admin::visible_tenant(&state, &path).await?;
    Ok(HttpResponse::Ok().json(admin::check_well_known(&state, &t).await?))
}

/// A query string read as text: each value is parsed by its handler with its field's
/// name, so a bad value answers `422 invalid_field` naming it (PROTOCOL §7) instead of
/// a deserializer's plain-text 400.
type QueryText = web::Query<HashMap<String, String>>;

async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: QueryText,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    admin::visible_tenant(&state, &path).await?;
    let limit = admin::limit(&q)?;
    let users = match q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(search) => accounts::search_users(&state.db, &path, search, limit).await?,
        None => accounts::list_users(&state.db, &path, limit).await?,
    };
    let users: Vec<Value> = users
        .iter()
        .map(accounts::UserWithPasskeys::to_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let (client_id, user_id) = path.into_inner();
    admin::visible_tenant(&state, &client_id).await?;
    if !admin::remove_user(&state, &actor, &client_id, &user_id).await? {
        return Err(admin::not_found("user"));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !admin::revoke(&state, &actor, &path).await? {
        return Err(admin::not_found("passkey"));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn list_audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: QueryText,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let q = AuditQuery::parse(&q)?;
    let limit = q.limit.unwrap_or(100);
    let events = audit::list_filtered(&state.db, &q.filter(), limit).await?;
    let next = (events.len() as u64 == limit)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let events: Vec<Value> = events.iter().map(audit::to_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_after": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    name: Option<String>,
}

async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input: TokenInput = serde_json::from_value(body.into_inner())
        .map_err(|e| admin::invalid_field("name", format!("name: {e}")))?;
    let (mut out, token) =
        admin::mint_token(&state, &actor, input.name.as_deref().unwrap_or("")).await?;
    out["token"] = token.into();
    Ok(HttpResponse::Created().json(out))
}

async fn list_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let list: Vec<Value> = admins::list_tokens(&state.db)
        .await?
        .iter()
        .map(admin::token_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": list })))
}

async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !admin::withdraw_token(&state, &actor, &path).await? {
        return Err(admin::not_found("token"));
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn create_invite(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let (mut out, url) = admin::invite(&state, &actor).await?;
    out["url"] = url.into();
    Ok(HttpResponse::Created().json(out))
}

async fn list_invites(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let list: Vec<Value> = admins::list_invites(&state.db)
        .await?
        .iter()
        .map(admin::invite_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "invites": list })))
}
