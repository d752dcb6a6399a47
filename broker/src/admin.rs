//! The admin side's operations, shared by the admin API (`routes/admin.rs`), the
//! dashboard (`routes/dashboard/`) and the CLI: who acts ([`Actor`]), the dashboard's
//! own tenant and its invitation-only registration, dashboard sessions, and each change
//! an admin can make, written to the audit log. Routes extract and map; the rules live
//! here.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::db::entities::{admin_session, flow};
use crate::domain::RpMode;
use crate::errors::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::store::tenants::{self, TenantError, TenantInput};
use crate::store::{accounts, admin as admins};
use crate::util::rfc3339;

/// The client id of the dashboard's built-in tenant.
pub const ADMIN_CLIENT_ID: &str = "latchkey-admin";

/// The dashboard's redirect URI.
pub fn callback_uri(issuer: &str) -> String {
    format!("{issuer}/admin/callback")
}

/// The one-time link of an invitation.
pub fn invite_url(issuer: &str, secret: &str) -> String {
    format!("{issuer}/admin/invite/{secret}")
}

/// Creates the dashboard's tenant unless it exists, and keeps its redirect URI on the
/// current issuer. Broker mode, user verification required.
pub async fn ensure_admin_tenant(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<(), sea_orm::DbErr> {
    let callback = callback_uri(&settings.issuer_str());
    let fail = |e: TenantError| match e {
        TenantError::Db(e) => e,
        e => sea_orm::DbErr::Custom(format!("admin tenant: {e}")),
    };
    if let Some(t) = tenants::get(db, ADMIN_CLIENT_ID).await? {
        if t.redirect_uris != [callback.clone()] || t.rp_mode != RpMode::Broker {
            let input = TenantInput {
                redirect_uris: Some(vec![callback]),
                rp_mode: Some("broker".into()),
                user_verification: Some("required".into()),
                ..Default::default()
            };
            tenants::update(db, &settings.rp_id, ADMIN_CLIENT_ID, input)
                .await
                .map_err(fail)?;
        }
        return Ok(());
    }
    let input = TenantInput {
        client_id: Some(ADMIN_CLIENT_ID.into()),
        name: Some("Latchkey admin".into()),
        redirect_uris: Some(vec![callback]),
        rp_mode: Some("broker".into()),
        user_verification: Some("required".into()),
        ..Default::default()
    };
    match tenants::create(db, &settings.rp_id, input).await {
        Ok(_) | Err(TenantError::Conflict(_)) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

/// Only an invitation may create a passkey in the dashboard's tenant: the flow must have
/// been opened by [`accept_invite`] for an invitation that is still open.
pub async fn allow_registration(
    state: &AppState,
    flow: &flow::Model,
) -> Result<(), crate::signin::SignInError> {
    if flow.tenant_id != ADMIN_CLIENT_ID {
        return Ok(());
    }
    if let Some(login) = admins::find_login(&state.db, &flow.state).await?
        && let Some(invite) = &login.invite_id
        && admins::invite_is_open(&state.db, invite).await?
    {
        return Ok(());
    }
    Err(crate::signin::SignInError::RegistrationClosed)
}

pub(crate) fn session_cookie(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-latchkey_admin"
    } else {
        "latchkey_admin"
    }
}

/// The live dashboard session of this request, if any.
pub async fn session(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<admin_session::Model>, sea_orm::DbErr> {
    let Some(c) = req.cookie(session_cookie(state)) else {
        return Ok(None);
    };
    admins::load_session(&state.db, c.value(), state.settings.admin_session_idle).await
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

/// `403 csrf_failed`: a state-changing call made with a session cookie lacked its CSRF
/// token or came from another site.
pub fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::CsrfFailed,
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

/// The dashboard's own tenant is managed through invitations, not the tenant API.
pub(crate) fn reserved(client_id: &str) -> bool {
    client_id == ADMIN_CLIENT_ID
}

pub(crate) fn tenant_error(e: TenantError) -> ApiError {
    match e {
        TenantError::Invalid(i) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidField,
            i.message,
        )
        .with("field", i.field),
        TenantError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
        }
        TenantError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, e.to_string())
        }
        TenantError::Db(db) => db.into(),
    }
}

/// The tenant object, with a new client secret shown this once.
pub(crate) fn with_secret(tenant: &tenants::Tenant, secret: Option<String>) -> Value {
    let mut out = tenant.to_json();
    if let Some(s) = secret {
        out["client_secret"] = s.into();
    }
    out
}

pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("No {what} with that id."),
    )
}

/// `422 invalid_field` naming `field`.
pub(crate) fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::InvalidField,
        message,
    )
    .with("field", field)
}

/// Reads a tenant body; a wrong member is named in `field` (each member is read alone to
/// find which one failed).
pub(crate) fn parse_input(body: Value) -> Result<TenantInput, ApiError> {
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

/// Creates a tenant and records it; shared by the API and the dashboard.
pub async fn create(
    state: &AppState,
    actor: &str,
    input: TenantInput,
) -> Result<(tenants::Tenant, Option<String>), TenantError> {
    if input.client_id.as_deref().is_some_and(reserved) {
        return Err(TenantError::Conflict(ADMIN_CLIENT_ID.into()));
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

/// Every field of a tenant change that fails, all at once, for a form: each field's own
/// check, and what the broker's settings must provide for it. `current` is the tenant
/// being changed (`None`: a new one).
pub async fn tenant_field_errors(
    state: &AppState,
    input: &TenantInput,
    current: Option<&tenants::Tenant>,
) -> Result<Vec<crate::domain::Invalid>, sea_orm::DbErr> {
    let mut out = tenants::field_errors(&state.db, &state.settings.rp_id, input, current).await?;
    let one_by_one = [
        TenantInput {
            attestation: input.attestation.clone(),
            ..TenantInput::default()
        },
        TenantInput {
            email_recovery: input.email_recovery,
            ..TenantInput::default()
        },
    ];
    for one in one_by_one {
        if let Err(TenantError::Invalid(i)) = tenants::check_settings(&one, &state.settings)
            && !out.iter().any(|o| o.field == i.field)
        {
            out.push(i);
        }
    }
    Ok(out)
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
pub(crate) async fn visible_tenant(
    state: &AppState,
    client_id: &str,
) -> Result<tenants::Tenant, ApiError> {
    if reserved(client_id) {
        return Err(not_found("tenant"));
    }
    tenants::get(&state.db, client_id)
        .await?
        .ok_or_else(|| not_found("tenant"))
}

/// A tenant's `/.well-known/webauthn` as judged for the broker's origin.
#[derive(Debug, Clone)]
pub enum WellKnownStatus {
    /// Broker mode, or the broker's origin already sits under the tenant's RP ID: no
    /// related-origin document is needed.
    NotNeeded {
        /// The tenant's RP ID.
        rp_id: String,
    },
    /// The document, fetched and judged.
    Checked(latchkey_well_known::Check),
}

impl WellKnownStatus {
    /// The answer of `POST /api/v1/admin/tenants/{client_id}/well-known-check`.
    pub fn to_json(&self) -> Value {
        match self {
            Self::NotNeeded { rp_id } => json!({
                "rp_id": rp_id,
                "required": false,
                "ok": true,
                "problem": null,
                "explanation": "The broker's origin already sits under this RP ID; no related-origin document is needed.",
            }),
            Self::Checked(check) => {
                let mut out = serde_json::to_value(check).unwrap_or_else(|_| json!({}));
                out["required"] = true.into();
                out
            }
        }
    }
}

/// Judges a tenant's `/.well-known/webauthn`: fetched now when `fresh` (the admin is
/// checking a fix), else from the cache when it holds the document. Shared by the API and
/// the dashboard.
pub async fn well_known_status(
    state: &AppState,
    t: &tenants::Tenant,
    fresh: bool,
) -> Result<WellKnownStatus, ApiError> {
    let origin = latchkey_well_known::Origin::parse(&state.issuer).map_err(ApiError::internal)?;
    if t.rp_mode == RpMode::Broker || origin.is_within_rp_id(&t.rp_id) {
        return Ok(WellKnownStatus::NotNeeded {
            rp_id: t.rp_id.clone(),
        });
    }
    if fresh {
        let _ = state.fetcher.fetch_fresh(&t.rp_id).await;
    }
    Ok(WellKnownStatus::Checked(
        state.fetcher.check(&t.rp_id, &origin).await,
    ))
}

/// Fetches and judges a tenant's `/.well-known/webauthn` now: the API's answer.
pub async fn check_well_known(state: &AppState, t: &tenants::Tenant) -> Result<Value, ApiError> {
    Ok(well_known_status(state, t, true).await?.to_json())
}

/// The number in `field` of `q`, if given: an integer of `T`, or `422` naming the field.
pub(crate) fn number<T: std::str::FromStr>(
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
pub(crate) fn limit(q: &HashMap<String, String>) -> Result<u64, ApiError> {
    match number::<u64>(q, "limit")? {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(_) => Err(invalid_field("limit", "limit must be from 1 to 1000")),
    }
}

/// Deletes a user with their passkeys and records it; `false` when there was none. The
/// dashboard's last admin who can sign in is refused with `409` ([`last_admin`]).
pub async fn remove_user(
    state: &AppState,
    actor: &str,
    client_id: &str,
    user_id: &str,
) -> Result<bool, ApiError> {
    if reserved(client_id) {
        let exists = accounts::find_user(&state.db, user_id)
            .await?
            .is_some_and(|u| u.tenant_id == client_id);
        if exists
            && accounts::count_other_credentials(&state.db, client_id, Some(user_id), None).await?
                == 0
        {
            return Err(last_admin(
                "This is the only admin who can sign in to the dashboard: removing them would lock every admin out. Invite another admin first, then remove this one.",
            ));
        }
    }
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

/// `409 conflict` (`reason: last_admin`): the change would leave the dashboard without a
/// passkey that any admin can sign in with. The operator's way back in stays the command
/// `latchkey admin invite`, but an admin is told before locking everyone out.
fn last_admin(message: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message).with("reason", "last_admin")
}

/// Revokes a passkey and records it; `false` when there was none. The dashboard's last
/// admin passkey is refused with `409` ([`last_admin`]).
pub async fn revoke(state: &AppState, actor: &str, credential_id: &str) -> Result<bool, ApiError> {
    if let Some(found) = accounts::find_credential_any(&state.db, credential_id).await?
        && reserved(&found.tenant_id)
        && accounts::count_other_credentials(&state.db, &found.tenant_id, None, Some(credential_id))
            .await?
            == 0
    {
        return Err(last_admin(
            "This is the last passkey with which any admin can sign in to the dashboard: revoking it would lock every admin out. Add another passkey or invite another admin first.",
        ));
    }
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
    let url = invite_url(&state.issuer, &secret);
    Ok((invite_json(&row), url))
}
