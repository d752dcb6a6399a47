//! The admin API (PROTOCOL §7), authorised by `Authorization: Bearer <admin token>` (the
//! bootstrap token or a minted one) or by an admin's dashboard session with its CSRF
//! token. Every change is written to the audit log, naming the token or admin.

use std::collections::HashMap;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::domain::RpMode;
use crate::errors::ApiError;
use crate::store::audit::{self, Event};
use crate::store::tenants::{self, TenantError, TenantInput};
use crate::store::{accounts, admin as admins};
use crate::util::{ct_eq, rfc3339};

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

/// Who is making an admin change, as the audit log names them.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The bootstrap token of `LATCHKEY_ADMIN_TOKEN`.
    Bootstrap,
    /// A minted API token.
    Token {
        /// Its public id.
        id: String,
        /// Its name.
        name: String,
    },
    /// An admin signed in to the dashboard with a passkey.
    Admin {
        /// The admin's user id (in the dashboard's built-in tenant).
        user_id: String,
    },
}

impl Actor {
    /// The audit log's `actor`: `admin:bootstrap`, `token:<id>` or `admin:<user id>`.
    pub fn audit_name(&self) -> String {
        match self {
            Self::Bootstrap => "admin:bootstrap".into(),
            Self::Token { id, .. } => format!("token:{id}"),
            Self::Admin { user_id } => format!("admin:{user_id}"),
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "A valid admin token is required (Authorization: Bearer <token>).",
    )
}

/// `403 csrf_failed`: a state-changing call made with a session cookie lacked its CSRF
/// token or came from another site.
pub fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "This request did not come from the dashboard (missing or wrong CSRF token, or sent from another site). Nothing was changed.",
    )
}

/// Whether `Sec-Fetch-Site` says the request came from another site. Absent (older
/// browsers, programs) is not refused: the CSRF token still is required.
pub fn cross_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "same-origin" | "none"))
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
    let Some(session) = crate::routes::dashboard::session(state, req).await? else {
        return Err(unauthorized());
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let presented = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if cross_site(req) || !ct_eq(presented.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(csrf_failed());
        }
    }
    Ok(Actor::Admin {
        user_id: session.user_id,
    })
}

/// The dashboard's own tenant is managed through invitations, not the tenant API.
fn reserved(client_id: &str) -> bool {
    client_id == crate::routes::dashboard::ADMIN_CLIENT_ID
}

fn tenant_error(e: TenantError) -> ApiError {
    match e {
        TenantError::Invalid(i) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", i.message)
                .with("field", i.field)
        }
        TenantError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        TenantError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        TenantError::Db(db) => db.into(),
    }
}

/// The tenant object, with a new client secret shown this once.
fn with_secret(tenant: &tenants::Tenant, secret: Option<String>) -> Value {
    let mut out = tenant.to_json();
    if let Some(s) = secret {
        out["client_secret"] = s.into();
    }
    out
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No {what} with that id."),
    )
}

/// `422 invalid_field` naming `field`.
fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with("field", field)
}

/// Reads a tenant body; a wrong member is named in `field` (each member is read alone to
/// find which one failed).
fn parse_input(body: Value) -> Result<TenantInput, ApiError> {
    let Value::Object(members) = &body else {
        return Err(invalid_field("body", "the body must be a JSON object"));
    };
    serde_json::from_value(body.clone()).map_err(|e| {
        let field = members
            .iter()
            .find(|(k, v)| {
                let mut one = serde_json::Map::new();
                one.insert((*k).clone(), (*v).clone());
                serde_json::from_value::<TenantInput>(Value::Object(one)).is_err()
            })
            .map_or_else(|| "body".to_owned(), |(k, _)| k.clone());
        let message = if e.to_string().starts_with("unknown field") {
            format!("{field} is not a tenant field")
        } else {
            format!("{field}: {e}")
        };
        invalid_field(&field, message)
    })
}

async fn create_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input = parse_input(body.into_inner())?;
    let (tenant, secret) = create(&state, &actor, input).await.map_err(tenant_error)?;
    let out = with_secret(&tenant, secret);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/tenants/{}", tenant.client_id),
        ))
        .json(out))
}

/// Creates a tenant and records it; shared by the API and the dashboard.
pub async fn create(
    state: &AppState,
    actor: &str,
    input: TenantInput,
) -> Result<(tenants::Tenant, Option<String>), TenantError> {
    if input.client_id.as_deref().is_some_and(reserved) {
        return Err(TenantError::Conflict(
            crate::routes::dashboard::ADMIN_CLIENT_ID.into(),
        ));
    }
    tenants::check_settings(&input, &state.settings)?;
    let (tenant, secret) = tenants::create(&state.db, &state.settings.rp_id, input).await?;
    audit::record(
        &state.db,
        Event {
            actor,
            action: "tenant.create",
            tenant_id: Some(&tenant.client_id),
            subject: Some(&tenant.client_id),
            detail: tenant.to_json(),
        },
    )
    .await;
    Ok((tenant, secret))
}

/// Changes a tenant and records it; shared by the API and the dashboard.
pub async fn update(
    state: &AppState,
    actor: &str,
    client_id: &str,
    input: TenantInput,
) -> Result<(tenants::Tenant, Option<String>), TenantError> {
    if reserved(client_id) {
        return Err(TenantError::NotFound(client_id.to_owned()));
    }
    tenants::check_settings(&input, &state.settings)?;
    let rotated = input.rotate_secret.unwrap_or(false);
    let (tenant, secret) =
        tenants::update(&state.db, &state.settings.rp_id, client_id, input).await?;
    audit::record(
        &state.db,
        Event {
            actor,
            action: "tenant.update",
            tenant_id: Some(&tenant.client_id),
            subject: Some(&tenant.client_id),
            detail: json!({"tenant": tenant.to_json(), "secret_rotated": rotated}),
        },
    )
    .await;
    Ok((tenant, secret))
}

/// Removes a tenant and records it; `false` when there was none.
pub async fn remove(state: &AppState, actor: &str, client_id: &str) -> Result<bool, ApiError> {
    if reserved(client_id) || !tenants::remove(&state.db, client_id).await? {
        return Ok(false);
    }
    audit::record(
        &state.db,
        Event {
            actor,
            action: "tenant.delete",
            tenant_id: Some(client_id),
            subject: Some(client_id),
            detail: json!({}),
        },
    )
    .await;
    Ok(true)
}

/// Loads a tenant the admin API may show (not the dashboard's own).
async fn visible_tenant(state: &AppState, client_id: &str) -> Result<tenants::Tenant, ApiError> {
    if reserved(client_id) {
        return Err(not_found("tenant"));
    }
    tenants::get(&state.db, client_id)
        .await?
        .ok_or_else(|| not_found("tenant"))
}

async fn list_tenants(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let list: Vec<Value> = tenants::list(&state.db)
        .await?
        .iter()
        .filter(|t| !reserved(&t.client_id))
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
    let t = visible_tenant(&state, &path).await?;
    Ok(HttpResponse::Ok().json(t.to_json()))
}

async fn update_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input = parse_input(body.into_inner())?;
    let (tenant, secret) = update(&state, &actor, &path, input)
        .await
        .map_err(tenant_error)?;
    Ok(HttpResponse::Ok().json(with_secret(&tenant, secret)))
}

async fn delete_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !remove(&state, &actor, &path).await? {
        return Err(not_found("tenant"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Fetches and judges a tenant's `/.well-known/webauthn` now (not from the cache: the
/// admin is checking a fix). Shared by the API and the dashboard.
pub async fn check_well_known(state: &AppState, t: &tenants::Tenant) -> Result<Value, ApiError> {
    let origin = latchkey_well_known::Origin::parse(&state.issuer).map_err(ApiError::internal)?;
    if t.rp_mode == RpMode::Broker || origin.is_within_rp_id(&t.rp_id) {
        return Ok(json!({
            "rp_id": t.rp_id,
            "required": false,
            "ok": true,
            "problem": null,
            "explanation": "The broker's origin already sits under this RP ID; no related-origin document is needed.",
        }));
    }
    let _ = state.fetcher.fetch_fresh(&t.rp_id).await;
    let check = state.fetcher.check(&t.rp_id, &origin).await;
    let mut out = serde_json::to_value(&check).map_err(ApiError::internal)?;
    out["required"] = true.into();
    Ok(out)
}

async fn well_known_check(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    let t = visible_tenant(&state, &path).await?;
    Ok(HttpResponse::Ok().json(check_well_known(&state, &t).await?))
}

/// A query string read as text: each value is parsed by its handler with its field's
/// name, so a bad value answers `422 invalid_field` naming it (PROTOCOL §7) instead of
/// a deserializer's plain-text 400.
type QueryText = web::Query<HashMap<String, String>>;

/// The number in `field` of `q`, if given: an integer of `T`, or `422` naming the field.
fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    field: &'static str,
) -> Result<Option<T>, ApiError> {
    q.get(field)
        .map(|v| {
            v.trim().parse().map_err(|_| {
                invalid_field(field, format!("{field} must be a whole number, not {v:?}"))
            })
        })
        .transpose()
}

/// `limit` of a listing: 1 to 1000, default 100.
fn limit(q: &HashMap<String, String>) -> Result<u64, ApiError> {
    match number::<u64>(q, "limit")? {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(invalid_field("limit", "limit must be from 1 to 1000")),
    }
}

async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: QueryText,
) -> Result<HttpResponse, ApiError> {
    authorise(&state, &req).await?;
    visible_tenant(&state, &path).await?;
    let limit = limit(&q)?;
    let users = match q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(search) => accounts::search_users(&state.db, &path, search, limit).await?,
        None => accounts::list_users(&state.db, &path, limit).await?,
    };
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

/// Deletes a user with their passkeys and records it; `false` when there was none.
pub async fn remove_user(
    state: &AppState,
    actor: &str,
    client_id: &str,
    user_id: &str,
) -> Result<bool, ApiError> {
    let Some(removed) = accounts::delete_user(&state.db, client_id, user_id).await? else {
        return Ok(false);
    };
    audit::record(
        &state.db,
        Event {
            actor,
            action: if reserved(client_id) {
                "admin.remove"
            } else {
                "user.delete"
            },
            tenant_id: Some(client_id),
            subject: Some(user_id),
            detail: json!({"name": removed.name, "passkeys": removed.passkeys}),
        },
    )
    .await;
    Ok(true)
}

async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let (client_id, user_id) = path.into_inner();
    visible_tenant(&state, &client_id).await?;
    if !remove_user(&state, &actor, &client_id, &user_id).await? {
        return Err(not_found("user"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a passkey and records it; `false` when there was none.
pub async fn revoke(state: &AppState, actor: &str, credential_id: &str) -> Result<bool, ApiError> {
    let Some(removed) = accounts::delete_credential(&state.db, credential_id).await? else {
        return Ok(false);
    };
    audit::record(
        &state.db,
        Event {
            actor,
            action: "credential.revoke",
            tenant_id: Some(&removed.tenant_id),
            subject: Some(&removed.id),
            detail: json!({"user_id": removed.user_id}),
        },
    )
    .await;
    Ok(true)
}

async fn revoke_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !revoke(&state, &actor, &path).await? {
        return Err(not_found("passkey"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The query of `GET /api/v1/admin/audit`.
#[derive(Debug, Default)]
pub struct AuditQuery {
    /// Events older than this id (the last id of the previous page).
    pub after: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<u64>,
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this action, or a prefix ending in `.` or `*`.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
}

impl AuditQuery {
    /// Reads the query; a bad `after` or `limit` is `422 invalid_field` naming it.
    pub fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        Ok(Self {
            after: number(q, "after")?,
            limit: Some(limit(q)?),
            tenant: q.get("tenant").cloned(),
            action: q.get("action").cloned(),
            actor: q.get("actor").cloned(),
        })
    }

    /// The store's filter; blank values mean "any".
    pub fn filter(&self) -> audit::Filter {
        let keep = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        audit::Filter {
            before: self.after,
            tenant: keep(&self.tenant),
            action: keep(&self.action),
            actor: keep(&self.actor),
        }
    }
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
        .then(|| events.last().and_then(|e| e["id"].as_i64()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_after": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    name: Option<String>,
}

/// The API token object (never the token itself, nor its hash).
pub fn token_json(t: &crate::db::entities::admin_token::Model) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "created_by": t.created_by,
        "created_at": rfc3339(t.created_at),
        "last_used_at": t.last_used_at.map(rfc3339),
        "revoked_at": t.revoked_at.map(rfc3339),
    })
}

/// Mints an API token and records it; the token is returned this once.
pub async fn mint_token(
    state: &AppState,
    actor: &str,
    name: &str,
) -> Result<(Value, String), ApiError> {
    let name = admins::check_token_name(name).map_err(|i| invalid_field(i.field, i.message))?;
    let (row, token) = admins::create_token(&state.db, &name, actor).await?;
    audit::record(
        &state.db,
        Event {
            actor,
            action: "token.create",
            tenant_id: None,
            subject: Some(&row.id),
            detail: json!({"name": row.name}),
        },
    )
    .await;
    Ok((token_json(&row), token))
}

async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let input: TokenInput = serde_json::from_value(body.into_inner())
        .map_err(|e| invalid_field("name", format!("name: {e}")))?;
    let (mut out, token) = mint_token(&state, &actor, input.name.as_deref().unwrap_or("")).await?;
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
        .map(token_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": list })))
}

/// Revokes an API token and records it; `false` when there was none.
pub async fn withdraw_token(state: &AppState, actor: &str, id: &str) -> Result<bool, ApiError> {
    let Some(row) = admins::revoke_token(&state.db, id).await? else {
        return Ok(false);
    };
    audit::record(
        &state.db,
        Event {
            actor,
            action: "token.revoke",
            tenant_id: None,
            subject: Some(&row.id),
            detail: json!({"name": row.name}),
        },
    )
    .await;
    Ok(true)
}

async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    if !withdraw_token(&state, &actor, &path).await? {
        return Err(not_found("token"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The invitation object; `url` only when just created.
pub fn invite_json(i: &crate::db::entities::admin_invite::Model) -> Value {
    json!({
        "id": i.id,
        "created_by": i.created_by,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
        "used_at": i.used_at.map(rfc3339),
        "used_by": i.used_by,
    })
}

/// Creates an invitation and records it; returns it and its one-time link.
pub async fn invite(state: &AppState, actor: &str) -> Result<(Value, String), ApiError> {
    let (row, secret) = admins::create_invite(&state.db, actor).await?;
    audit::record(
        &state.db,
        Event {
            actor,
            action: "admin.invite",
            tenant_id: None,
            subject: Some(&row.id),
            detail: json!({"expires_at": rfc3339(row.expires_at)}),
        },
    )
    .await;
    let url = crate::routes::dashboard::invite_url(&state.issuer, &secret);
    Ok((invite_json(&row), url))
}

async fn create_invite(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorise(&state, &req).await?.audit_name();
    let (mut out, url) = invite(&state, &actor).await?;
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
        .map(invite_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "invites": list })))
}
