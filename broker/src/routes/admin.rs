//! The admin API (PROTOCOL §7), authorised by `Authorization: Bearer <admin token>`.
//! Every change is written to the audit log.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::domain::RpMode;
use crate::errors::ApiError;
use crate::store::accounts;
use crate::store::audit::{self, Event};
use crate::store::tenants::{self, TenantError, TenantInput};

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
            "/credentials/{credential_id}",
            web::delete().to(revoke_credential),
        )
        .route("/audit", web::get().to(list_audit));
}

/// Checks the bearer token; returns the actor name for the audit log.
fn admin(state: &AppState, req: &HttpRequest) -> Result<&'static str, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid admin token is required (Authorization: Bearer <token>).",
        )
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(unauthorized)?;
    match &state.settings.admin_token {
        Some(token) if token.matches(presented) => Ok("admin:bootstrap"),
        _ => Err(unauthorized()),
    }
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

fn parse_input(body: Value) -> Result<TenantInput, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field"))
            .unwrap_or("body")
            .to_owned();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg).with("field", field)
    })
}

async fn create_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&state, &req)?;
    let input = parse_input(body.into_inner())?;
    tenants::check_settings(&input, &state.settings).map_err(tenant_error)?;
    let (tenant, secret) = tenants::create(&state.db, &state.settings.rp_id, input)
        .await
        .map_err(tenant_error)?;
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
    let out = with_secret(&tenant, secret);
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
    admin(&state, &req)?;
    let list: Vec<Value> = tenants::list(&state.db)
        .await?
        .iter()
        .map(|t| t.to_json())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "tenants": list })))
}

async fn get_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&state, &req)?;
    let t = tenants::get(&state.db, &path)
        .await?
        .ok_or_else(|| not_found("tenant"))?;
    Ok(HttpResponse::Ok().json(t.to_json()))
}

async fn update_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&state, &req)?;
    let input = parse_input(body.into_inner())?;
    tenants::check_settings(&input, &state.settings).map_err(tenant_error)?;
    let rotated = input.rotate_secret.unwrap_or(false);
    let (tenant, secret) = tenants::update(&state.db, &state.settings.rp_id, &path, input)
        .await
        .map_err(tenant_error)?;
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
    let out = with_secret(&tenant, secret);
    Ok(HttpResponse::Ok().json(out))
}

async fn delete_tenant(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&state, &req)?;
    if !tenants::remove(&state.db, &path).await? {
        return Err(not_found("tenant"));
    }
    audit::record(
        &state.db,
        Event {
            actor,
            action: "tenant.delete",
            tenant_id: Some(&path),
            subject: Some(&path),
            detail: json!({}),
        },
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

async fn well_known_check(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&state, &req)?;
    let t = tenants::get(&state.db, &path)
        .await?
        .ok_or_else(|| not_found("tenant"))?;
    let origin = latchkey_well_known::Origin::parse(&state.issuer).map_err(ApiError::internal)?;
    if t.rp_mode == RpMode::Broker || origin.is_within_rp_id(&t.rp_id) {
        return Ok(HttpResponse::Ok().json(json!({
            "rp_id": t.rp_id,
            "required": false,
            "ok": true,
            "problem": null,
            "explanation": "The broker's origin already sits under this RP ID; no related-origin document is needed.",
        })));
    }
    // Fetch now, not from the cache: the admin is checking a fix.
    let _ = state.fetcher.fetch_fresh(&t.rp_id).await;
    let check = state.fetcher.check(&t.rp_id, &origin).await;
    let mut out = serde_json::to_value(&check).map_err(ApiError::internal)?;
    out["required"] = true.into();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u64>,
}

async fn list_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    admin(&state, &req)?;
    tenants::get(&state.db, &path)
        .await?
        .ok_or_else(|| not_found("tenant"))?;
    let users =
        accounts::list_users(&state.db, &path, q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

async fn revoke_credential(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin(&state, &req)?;
    let removed = accounts::delete_credential(&state.db, &path)
        .await?
        .ok_or_else(|| not_found("passkey"))?;
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
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<u64>,
    tenant: Option<String>,
}

async fn list_audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    admin(&state, &req)?;
    let events = audit::list(
        &state.db,
        q.after,
        q.tenant.as_deref(),
        q.limit.unwrap_or(100).clamp(1, 1000),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "events": events })))
}
