//! Shared web plumbing: static assets with their SRI hashes, HTML rendering with the
//! security headers of PROTOCOL §2, client IP, and the request-log middleware.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};

use crate::config::Settings;
use crate::state::AppState;

/// The client's IP: the peer, or the right-most untrusted `X-Forwarded-For` hop when the
/// peer is a trusted proxy.
pub fn client_ip(req: &HttpRequest, settings: &Settings) -> IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    if !settings.trusted_proxies.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !settings.trusted_proxies.iter().any(|n| n.contains(ip)))
        .unwrap_or(peer)
}

/// The credentials of the `Authorization` header when its scheme is `scheme`, compared
/// case-insensitively (RFC 7235 §2.1: `bearer` and `Bearer` are the same scheme);
/// `None` without the header, with another scheme, or with empty credentials.
pub fn authorization<'a>(req: &'a HttpRequest, scheme: &str) -> Option<&'a str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    auth_credentials(value, scheme)
}

fn auth_credentials<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (presented, credentials) = value.trim_start().split_once(' ')?;
    let credentials = credentials.trim();
    (presented.eq_ignore_ascii_case(scheme) && !credentials.is_empty()).then_some(credentials)
}

/// The flow of a ceremony call (the `{flow}` of its path), open for it: the client's
/// request rate first (`429 rate_limited`), then [`crate::signin::flow::open`] with the
/// request's flow cookie. `options` is true for the calls that ask for options.
pub async fn open_flow(
    state: &AppState,
    req: &HttpRequest,
    options: bool,
) -> Result<crate::signin::flow::OpenFlow, crate::errors::ApiError> {
    if let Err(wait) = rate_limit(state, req, "ceremony") {
        return Err(crate::errors::ApiError::rate_limited(wait));
    }
    let cookie = req.cookie(crate::signin::flow::cookie_name(&state.settings));
    let call = crate::signin::flow::FlowCall {
        flow_id: req.match_info().get("flow").unwrap_or_default(),
        binding: cookie.as_ref().map(|c| c.value()),
        options,
    };
    Ok(crate::signin::flow::open(state, &call).await?)
}

/// The language of a page for `req`: `ui_locales` when given, else its
/// `Accept-Language`, else English ([`crate::i18n::Locale::negotiate`]).
pub fn locale(req: &HttpRequest, ui_locales: Option<&str>) -> crate::i18n::Locale {
    crate::i18n::Locale::negotiate(
        ui_locales,
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The value that binds a new flow to this browser: the flow cookie's, when the browser
/// has a well-formed one (a browser keeps one binding for all its flows), else a new one.
pub fn flow_binding(req: &HttpRequest, settings: &Settings) -> String {
    req.cookie(crate::signin::flow::cookie_name(settings))
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43 && crate::util::unb64(v).is_some())
        .unwrap_or_else(|| crate::util::random_token(32))
}

/// A hosted page that opened a flow: `body` with the headers of every page and the flow
/// cookie (PROTOCOL §2: `HttpOnly; SameSite=Lax; Path=/`, `Secure` and `__Host-` over
/// HTTPS) holding `binding`.
pub fn flow_page(settings: &Settings, binding: String, body: String) -> actix_web::HttpResponse {
    use actix_web::cookie::{Cookie, SameSite, time::Duration};
    let cookie = Cookie::build(crate::signin::flow::cookie_name(settings), binding)
        .http_only(true)
        .secure(settings.is_https())
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(Duration::seconds(settings.flow_ttl))
        .finish();
    crate::assets::html(actix_web::http::StatusCode::OK)
        .cookie(cookie)
        .body(body)
}

/// The parameters of an `/authorize` query, form-decoded, and the first one given more
/// than once (RFC 6749 §3.1: parameters must not be repeated).
pub fn read_query(query: &str) -> (HashMap<String, String>, Option<String>) {
    let mut params: HashMap<String, String> = HashMap::new();
    let mut duplicate: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            duplicate.get_or_insert_with(|| k.to_string());
        }
    }
    (params, duplicate)
}

/// Applies a rate-limit bucket to this request's client, unless it is exempt; the first
/// refusal of a client in a window is an audit event (`rate_limit.hit`).
pub fn rate_limit(state: &AppState, req: &HttpRequest, bucket: &'static str) -> Result<(), u64> {
    let ip = client_ip(req, &state.settings);
    if state.settings.is_rate_limit_exempt(ip) {
        return Ok(());
    }
    state.limiter.count(bucket, ip).map_err(|refusal| {
        crate::security::rate_limit_hit(state, bucket, Some(ip), None, refusal);
        refusal.retry_after
    })
}

/// Middleware: common security headers on every answer, and one structured log line per
/// request. The line carries the route pattern, never the query string, so codes, states
/// and tokens never reach the log.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let https = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.is_https())
        .unwrap_or(false);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let ip = state
        .as_ref()
        .map(|s| client_ip(req.request(), &s.settings).to_string())
        .unwrap_or_default();
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    let elapsed = start.elapsed();
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Some(s) = &state {
        s.metrics.request(&route, status, elapsed.as_secs_f64());
    }
    tracing::info!(
        target: "latchkey::http",
        method,
        route,
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
        client = ip,
        "request"
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_schemes_are_case_insensitive() {
        assert_eq!(auth_credentials("Bearer abc", "Bearer"), Some("abc"));
        assert_eq!(auth_credentials("bearer abc", "Bearer"), Some("abc"));
        assert_eq!(auth_credentials("BASIC  x:y ", "Basic"), Some("x:y"));
        assert_eq!(auth_credentials("Bearer ", "Bearer"), None);
        assert_eq!(auth_credentials("Bearerabc", "Bearer"), None);
        assert_eq!(auth_credentials("Basic abc", "Bearer"), None);
    }
}
