//! Defences that sit around the handlers: the request guard (URI size, cross-site
//! requests to the ceremony API, a deadline on every request), the limits that guard
//! state (open flows per client IP, ceremony attempts per flow, failed redeems per
//! tenant; see [`crate::ratelimit`]), and the security events of the audit log.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::json;

use crate::db::entities::audit_event;
use crate::errors::{ApiError, OAuthError};
use crate::ratelimit::{Refusal, shared_hit};
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::util::now;

/// The longest request target (path and query) accepted, in bytes. A real `/authorize`
/// URL is well under 2 KiB; anything near this is an attack or a bug.
pub const MAX_URI: usize = 8 * 1024;

/// The ceremony API's path prefix: same-origin calls of the hosted page only.
const CEREMONY_PREFIX: &str = "/api/v1/flows/";

/// Whether `path` belongs to a JSON API (answered `{"error","message"}`).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Whether `path` belongs to the OAuth back channel (answered RFC 6749 errors).
fn is_oauth(path: &str) -> bool {
    path.starts_with("/oauth/")
}

/// An error in the shape of the surface `req` belongs to: a JSON error for the APIs, an
/// RFC 6749 error for the back channel, an HTML page otherwise.
fn refuse(
    state: Option<&AppState>,
    req: &HttpRequest,
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> HttpResponse {
    let path = req.path();
    if is_oauth(path) {
        return actix_web::ResponseError::error_response(&OAuthError::new(status, code, message));
    }
    match state {
        Some(s) if !is_api(path) => {
            crate::pages::error_page(s, status, "This request was refused", message, "")
        }
        _ => ApiError::new(status, code, message).into(),
    }
}

/// Why a ceremony call looks cross-site, if it does. Browsers send `Sec-Fetch-Site` and
/// `Origin` on every `fetch` POST; the hosted page calls the API from the broker's own
/// origin, so anything else is a forged cross-site request. Clients that send neither
/// header (not a browser) are judged by the flow cookie alone.
pub fn cross_site_reason(req: &HttpRequest, issuer: &str) -> Option<&'static str> {
    let h = req.headers();
    if h.get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() != b"same-origin")
    {
        return Some("sec-fetch-site");
    }
    if h.get("sec-fetch-mode").is_some_and(|mode| {
        matches!(
            mode.as_bytes(),
            b"navigate" | b"nested-navigate" | b"websocket"
        )
    }) {
        return Some("sec-fetch-mode");
    }
    if h.get(header::ORIGIN)
        .is_some_and(|origin| origin.as_bytes() != issuer.as_bytes())
    {
        return Some("origin");
    }
    None
}

/// Middleware: refuses oversize request targets (`414`) and cross-site calls of the
/// ceremony API (`403 cross_site_request`), and gives every request a deadline
/// (`LATCHKEY_REQUEST_TIMEOUT`): a client that sends its body too slowly gets `408` and
/// its connection closed, however it trickles.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Admission first: an overloaded instance spends as little as possible on what it
    // cannot serve. The permit is held until the answer is ready, durability wait included.
    let _permit = match &state {
        Some(s) => match s.admission.admit(req.method(), req.path()) {
            Ok(permit) => permit,
            Err(Overloaded) => {
                s.metrics.refusal("overloaded");
                tracing::debug!(path = req.path(), "overloaded: request refused");
                let mut res = refuse(
                    Some(s),
                    req.request(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The sign-in service is busy. Please try again in a moment.",
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                return Ok(req.into_response(res).map_into_right_body());
            }
        },
        None => None,
    };
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI {
        let res = refuse(
            state.as_ref().map(|s| s.get_ref()),
            req.request(),
            StatusCode::URI_TOO_LONG,
            "invalid_request",
            "The address of this request is too long.",
        );
        return Ok(req.into_response(res).map_into_right_body());
    }
    if let Some(s) = &state
        && req.path().starts_with(CEREMONY_PREFIX)
        && let Some(reason) = cross_site_reason(req.request(), &s.issuer)
    {
        tracing::warn!(reason, "cross-site ceremony call refused");
        s.metrics.inc(
            "latchkey_refusals_total",
            format!("reason=\"cross_site_{}\"", reason.replace('-', "_")),
        );
        let res: HttpResponse = ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "This request did not come from the sign-in page itself, so it was refused.",
        )
        .into();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let deadline = Duration::from_secs(state.as_ref().map_or(30, |s| s.settings.request_timeout));
    // The answer to a timeout is prepared before the request is handed on: the request
    // itself goes with the handler's future, which the timeout drops.
    let timed_out = TimedOut::for_request(state.as_ref().map(|s| s.get_ref()), req.request());
    match actix_web::rt::time::timeout(deadline, next.call(req)).await {
        Ok(res) => Ok(res?.map_into_left_body()),
        Err(_) => {
            if let Some(s) = &state {
                s.metrics.inc(
                    "latchkey_refusals_total",
                    "reason=\"request_timeout\"".into(),
                );
            }
            tracing::warn!(route = timed_out.route, "request timed out");
            Err(timed_out.into())
        }
    }
}

/// Admission control: a bound on the requests this instance handles at once.
///
/// Past its capacity a server that accepts every request only queues them: each waits
/// longer, holds its connection and buffers longer, and memory grows with the queue
/// while nothing is served faster. So a request that arrives when `max` requests are
/// already in progress is answered `503` with `Retry-After: 1` at once, without touching
/// the database. New sign-ins (`GET /authorize`) are admitted only below half of `max`:
/// under overload the flows already started (their ceremony calls and redeems) keep the
/// capacity and finish, and people are turned away at the first step, where a retry
/// costs them nothing. Health, readiness, metrics and the static assets are never
/// refused nor counted, so that an operator and the hosted page still work.
pub struct Admission {
    in_flight: Arc<AtomicU32>,
    max: u32,
}

/// A request refused by [`Admission`]: the instance is at its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

/// One admitted request; its drop gives the place back.
#[derive(Debug)]
pub struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A bound of `max` requests at once (`LATCHKEY_MAX_IN_FLIGHT`).
    pub fn new(max: u32) -> Self {
        Self {
            in_flight: Arc::new(AtomicU32::new(0)),
            max,
        }
    }

    /// Requests in progress now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Admits a request (`Ok(Some(permit))`), lets an exempt one through uncounted
    /// (`Ok(None)`), or refuses it.
    pub fn admit(
        &self,
        method: &actix_web::http::Method,
        path: &str,
    ) -> Result<Option<Permit>, Overloaded> {
        if matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/static/") {
            return Ok(None);
        }
        let limit = if method == actix_web::http::Method::GET && path == "/authorize" {
            self.max / 2
        } else {
            self.max
        };
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Overloaded);
        }
        Ok(Some(Permit(self.in_flight.clone())))
    }
}

/// The `408` answer of a request that outlived its deadline, in its surface's shape,
/// closing the connection.
#[derive(Debug)]
struct TimedOut {
    route: &'static str,
    content_type: &'static str,
    body: String,
}

impl TimedOut {
    fn for_request(state: Option<&AppState>, req: &HttpRequest) -> Self {
        const MESSAGE: &str = "The request took too long to arrive or to answer.";
        let path = req.path();
        if is_oauth(path) {
            Self {
                route: "oauth",
                content_type: "application/json",
                body: json!({"error": "invalid_request", "error_description": MESSAGE}).to_string(),
            }
        } else if is_api(path) || state.is_none() {
            Self {
                route: "api",
                content_type: "application/json",
                body: json!({"error": "request_timeout", "message": MESSAGE}).to_string(),
            }
        } else {
            // Pages: the plain HTML error page is rendered only if it is needed.
            Self {
                route: "page",
                content_type: "text/html; charset=utf-8",
                body: String::new(),
            }
        }
    }
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request timed out")
    }
}

impl actix_web::ResponseError for TimedOut {
    fn status_code(&self) -> StatusCode {
        StatusCode::REQUEST_TIMEOUT
    }

    fn error_response(&self) -> HttpResponse {
        let body = if self.body.is_empty() {
            "<!doctype html><title>Request timed out</title><p>The request took too long. Go back to the site and try again.</p>".to_owned()
        } else {
            self.body.clone()
        };
        let mut res = HttpResponse::build(StatusCode::REQUEST_TIMEOUT);
        res.content_type(self.content_type)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONNECTION, "close"));
        if self.content_type.starts_with("text/html") {
            res.insert_header((header::CONTENT_SECURITY_POLICY, crate::web::CSP));
        }
        res.body(body)
    }
}

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
    state
        .metrics
        .inc("latchkey_rate_limited_total", format!("limit=\"{limit}\""));
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
    let key = key.to_owned();
    let hit = state
        .writer
        .run(move |db| async move { shared_hit(&db, &key, t, t + length.max(1)).await })
        .await;
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
pub async fn open_flow_quota(state: &AppState, req: &HttpRequest) -> Result<(), Refusal> {
    let ip = crate::web::client_ip(req, &state.settings);
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
    state.metrics.inc(
        "latchkey_security_events_total",
        format!("action=\"{action}\""),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

    #[test]
    fn admission_keeps_half_the_places_for_flows_already_started() {
        let a = Admission::new(4);
        let first = a.admit(&Method::GET, "/authorize").unwrap();
        let second = a.admit(&Method::GET, "/authorize").unwrap();
        assert!(first.is_some() && second.is_some());
        // Two in flight: a third new sign-in is refused, a ceremony call is not.
        assert!(a.admit(&Method::GET, "/authorize").is_err());
        let call = a
            .admit(&Method::POST, "/api/v1/flows/x/authentication")
            .unwrap();
        let redeem = a.admit(&Method::POST, "/api/v1/sign-ins/redeem").unwrap();
        assert_eq!(a.in_flight(), 4);
        assert!(
            a.admit(&Method::POST, "/api/v1/sign-ins/redeem").is_err(),
            "the fifth request is over the bound"
        );
        // Exempt paths pass uncounted even now.
        assert!(matches!(a.admit(&Method::GET, "/readyz"), Ok(None)));
        assert!(matches!(
            a.admit(&Method::GET, "/static/latchkey.js"),
            Ok(None)
        ));
        assert_eq!(a.in_flight(), 4, "a refusal gives its place back at once");
        drop((call, redeem, first));
        assert_eq!(a.in_flight(), 1);
        let again = a.admit(&Method::GET, "/authorize").unwrap();
        assert!(again.is_some());
        assert_eq!(a.in_flight(), 2);
    }
}
