//! The limits that guard state (open flows per client IP, ceremony attempts per flow,
//! failed redeems per client address and tenant; see [`crate::ratelimit`]), how their
//! refusals are recorded, and the security events of the audit log. The request guard
//! around the handlers is [`crate::guard`].

use std::net::IpAddr;
use std::time::Duration;

use actix_web::web;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::json;

use crate::db::entities::audit_event;
use crate::ratelimit::Refusal;
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::util::now;

/// Records a rate-limit refusal in the audit log: once per client and limit per window
/// (the first refusal), and at most [`crate::ratelimit::AUDIT_EVENTS_PER_MINUTE`] per
/// minute per instance, so a flood cannot flood the table. Every refusal is counted in
/// metrics.
pub fn rate_limit_hit(
    state: &AppState,
    limit: &'static str,
    client: Option<IpAddr>,
    tenant: Option<&str>,
    refusal: Refusal,
) {
    state.metrics.rate_limited(limit);
    if !refusal.first || !state.limiter.audit_budget() {
        return;
    }
    tracing::warn!(limit, client = ?client, tenant, "rate limit reached");
    let db = state.writer.conn().clone();
    let tenant = tenant.map(str::to_owned);
    actix_web::rt::spawn(async move {
        audit::record(
            &db,
            Event {
                actor: "anonymous",
                action: "rate_limit.hit",
                tenant_id: tenant.as_deref(),
                subject: client.map(|c| c.to_string()).as_deref(),
                detail: json!({"limit": limit, "retry_after": refusal.retry_after}),
            },
        )
        .await;
    });
}

/// A shared (database-counted) limit: `Err` once `key` has more than `limit` hits in
/// its window, which opens at the first hit and lasts `length` seconds. A database
/// failure lets the request through: the limit is a brake, and the request will meet
/// the same database next.
async fn shared_limit(state: &AppState, key: &str, limit: u32, length: i64) -> Result<(), Refusal> {
    let t = now();
    let hit = state.signin.rate_hit(key, t, t + length.max(1)).await;
    match hit {
        Ok((count, ends)) if count > i64::from(limit) => Err(Refusal {
            retry_after: (ends - t).max(1) as u64,
            first: count == i64::from(limit) + 1,
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "rate counter unavailable");
            Ok(())
        }
    }
}

/// The cap on flows one client IP may open per flow lifetime
/// (`LATCHKEY_FLOWS_PER_IP`), shared by every instance.
pub async fn open_flow_quota(state: &AppState, ip: IpAddr) -> Result<(), Refusal> {
    if state.settings.is_rate_limit_exempt(ip) {
        return Ok(());
    }
    let r = shared_limit(
        state,
        &format!("flows:{ip}"),
        state.settings.flows_per_ip,
        state.settings.flow_ttl,
    )
    .await;
    if let Err(refusal) = r {
        rate_limit_hit(state, "flows_per_ip", Some(ip), None, refusal);
    }
    r
}

/// The cap on ceremony attempts (options calls, each of which a verification needs) in
/// one flow (`LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW`), shared by every instance.
pub async fn attempt_quota(
    state: &AppState,
    ip: IpAddr,
    flow_id: &str,
    tenant: &str,
    expires_at: i64,
) -> Result<(), Refusal> {
    let limit = state.settings.ceremony_attempts_per_flow;
    per_flow_quota(
        state,
        ip,
        ("attempts", "attempts_per_flow", limit),
        flow_id,
        tenant,
        expires_at,
    )
    .await
}

/// Recovery requests one flow may make (PROTOCOL E4).
pub const RECOVERY_REQUESTS_PER_FLOW: u32 = 3;
/// Recovery emails one account may receive per hour (PROTOCOL E4).
pub const RECOVERY_EMAILS_PER_HOUR: u32 = 3;

/// The cap on recovery requests in one flow ([`RECOVERY_REQUESTS_PER_FLOW`]), shared by
/// every instance.
pub async fn recovery_quota(
    state: &AppState,
    ip: IpAddr,
    flow_id: &str,
    tenant: &str,
    expires_at: i64,
) -> Result<(), Refusal> {
    let limit = RECOVERY_REQUESTS_PER_FLOW;
    per_flow_quota(
        state,
        ip,
        ("recovery", "recovery_per_flow", limit),
        flow_id,
        tenant,
        expires_at,
    )
    .await
}

/// At most `limit` uses of `counter` in one flow, counted in the database (shared by every
/// instance) until the flow expires; a refusal is recorded under `reason`. Addresses
/// exempt from rate limits are not counted.
async fn per_flow_quota(
    state: &AppState,
    ip: IpAddr,
    (counter, reason, limit): (&str, &'static str, u32),
    flow_id: &str,
    tenant: &str,
    expires_at: i64,
) -> Result<(), Refusal> {
    if state.settings.is_rate_limit_exempt(ip) {
        return Ok(());
    }
    let key = format!("{counter}:{flow_id}");
    let r = shared_limit(state, &key, limit, expires_at - now()).await;
    if let Err(refusal) = r {
        rate_limit_hit(state, reason, Some(ip), Some(tenant), refusal);
    }
    r
}

/// The cap on recovery emails to one account ([`RECOVERY_EMAILS_PER_HOUR`]), shared by
/// every instance. Its refusals are never told to the requester (no enumeration).
pub async fn recovery_mail_quota(state: &AppState, user_id: &str) -> Result<(), Refusal> {
    shared_limit(
        state,
        &format!("recovery_mail:{user_id}"),
        RECOVERY_EMAILS_PER_HOUR,
        3600,
    )
    .await
}

/// The two failed-redeem limits: per client address within a tenant
/// (`LATCHKEY_REDEEM_FAILURES_PER_IP`), and a much higher ceiling per tenant
/// (`LATCHKEY_REDEEM_FAILURES_PER_MINUTE`), so one client's failures do not block the
/// tenant's other clients. Each is `(database counter, audit name, limit)`.
fn redeem_limits(state: &AppState, ip: IpAddr, tenant: &str) -> [(String, &'static str, u32); 2] {
    [
        (
            format!("redeem_failures:{tenant}:{ip}"),
            "redeem_failures_per_ip",
            state.settings.redeem_failures_per_ip,
        ),
        (
            format!("redeem_failures:{tenant}"),
            "redeem_failures_per_tenant",
            state.settings.redeem_failures_per_minute,
        ),
    ]
}

/// Before a redeem: `Err(seconds)` while this client, or `tenant` as a whole, is over
/// its failed-redeem limit.
pub fn redeem_allowed(state: &AppState, ip: IpAddr, tenant: &str) -> Result<(), u64> {
    if state.settings.is_rate_limit_exempt(ip) {
        return Ok(());
    }
    for (key, limit, _) in redeem_limits(state, ip, tenant) {
        if let Some(wait) = state.limiter.blocked(&key) {
            rate_limit_hit(
                state,
                limit,
                Some(ip),
                Some(tenant),
                Refusal {
                    retry_after: wait,
                    first: false,
                },
            );
            return Err(wait);
        }
    }
    Ok(())
}

/// After a failed redeem of an authenticated client: counts it against this client's
/// and the tenant's per-minute limits, shared by every instance. Past a limit, that
/// client's (or, past the ceiling, every) redeem of the tenant answers `429 slow_down`
/// until the minute ends; successful redeems cost nothing here.
pub async fn redeem_failed(state: &AppState, ip: IpAddr, tenant: &str) {
    if state.settings.is_rate_limit_exempt(ip) {
        return;
    }
    for (key, limit, max) in redeem_limits(state, ip, tenant) {
        if let Err(refusal) = shared_limit(state, &key, max, 60).await {
            state
                .limiter
                .block(&key, now() + refusal.retry_after as i64);
            rate_limit_hit(state, limit, Some(ip), Some(tenant), refusal);
        }
    }
}

/// Whether a credential id was revoked by an administrator (its revocation is in the
/// audit log), to tell revoked-credential use from an unknown credential.
pub async fn was_revoked(state: &AppState, credential_id: &str) -> bool {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("credential.revoke"))
        .filter(audit_event::Column::Subject.eq(credential_id))
        .count(&state.db)
        .await
        .is_ok_and(|n| n > 0)
}

/// Records a security event (`assertion.replay`, `flow.binding_mismatch`,
/// `code.wrong_client`, `credential.revoked_use`, …) from an anonymous actor.
pub async fn event(
    state: &AppState,
    action: &str,
    tenant: Option<&str>,
    subject: Option<&str>,
    detail: serde_json::Value,
) {
    state.metrics.security_event(action);
    audit::record(
        state.writer.conn(),
        Event {
            actor: "anonymous",
            action,
            tenant_id: tenant,
            subject,
            detail,
        },
    )
    .await;
}

/// Removes finished rate counters every minute; safe with many instances running it.
pub fn spawn_counter_janitor(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = crate::ratelimit::purge_expired(&state.db, now()).await {
                tracing::warn!(error = %e, "rate counter purge failed");
            }
        }
    });
}
