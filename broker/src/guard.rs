//! The request guard around every handler: the size of the request target, cross-site
//! calls to the ceremony API, admission control ([`crate::admission`]) and a deadline on
//! every request, each refused in its surface's shape.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::admission::Overloaded;
use crate::errors::{ApiError, ErrorCode, OAuthError};
use crate::state::AppState;

/// The longest request target (path and query) accepted, in bytes. A real `/authorize`
/// URL is well under 2 KiB; anything near this is an attack or a bug.
pub const MAX_URI: usize = 8 * 1024;

/// The ceremony API's path prefix: same-origin calls of the hosted page only.
const CEREMONY_PREFIX: &str = "/api/v1/flows/";

/// The account page's API prefix (PROTOCOL §9): same-origin calls only (`403 cross_site`).
const ACCOUNT_PREFIX: &str = "/api/v1/account";

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
    code: ErrorCode,
    message: &str,
) -> HttpResponse {
    let path = req.path();
    if is_oauth(path) {
        return actix_web::ResponseError::error_response(&OAuthError::new(status, code, message));
    }
    match state {
        Some(s) if !is_api(path) => {
            crate::pages::error_page(s, status, "This request was refused", message)
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
                    ErrorCode::TemporarilyUnavailable,
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
            ErrorCode::InvalidRequest,
            "The address of this request is too long.",
        );
        return Ok(req.into_response(res).map_into_right_body());
    }
    if let Some(s) = &state
        && req.path().starts_with(CEREMONY_PREFIX)
        && let Some(reason) = cross_site_reason(req.request(), &s.issuer)
    {
        tracing::warn!(reason, "cross-site ceremony call refused");
        s.metrics
            .refusal(&format!("cross_site_{}", reason.replace('-', "_")));
        let res: HttpResponse = ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::CrossSiteRequest,
            "This request did not come from the sign-in page itself, so it was refused.",
        )
        .into();
        return Ok(req.into_response(res).map_into_right_body());
    }
    if let Some(s) = &state
        && req
            .path()
            .strip_prefix(ACCOUNT_PREFIX)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        && let Some(reason) = cross_site_reason(req.request(), &s.issuer)
    {
        tracing::warn!(reason, "cross-site account call refused");
        s.metrics
            .refusal(&format!("cross_site_{}", reason.replace('-', "_")));
        let res: HttpResponse = ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::CrossSite,
            "This request did not come from the account page itself, so it was refused.",
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
                s.metrics.refusal("request_timeout");
            }
            tracing::warn!(route = timed_out.route, "request timed out");
            Err(timed_out.into())
        }
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
                body: json!({"error": ErrorCode::InvalidRequest, "error_description": MESSAGE})
                    .to_string(),
            }
        } else if is_api(path) || state.is_none() {
            Self {
                route: "api",
                content_type: "application/json",
                body: json!({"error": ErrorCode::RequestTimeout, "message": MESSAGE}).to_string(),
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
            res.insert_header((header::CONTENT_SECURITY_POLICY, crate::assets::CSP));
        }
        res.body(body)
    }
}
