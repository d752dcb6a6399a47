//! `GET /authorize` (PROTOCOL §2): reads the request, has the sign-in domain check it and
//! open a flow bound to this browser by a cookie ([`crate::signin::authorize`]), and
//! renders the hosted sign-in page, or the page or redirect of a refusal.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::RedirectUri;
use crate::errors::ErrorCode;
use crate::i18n::Locale;
use crate::pages::{HostedFlow, hosted_page, no_flow_page};
use crate::signin::authorize::{AuthorizeRequest, Refusal};
use crate::state::AppState;

fn error_redirect(
    state: &AppState,
    redirect: &RedirectUri,
    error: ErrorCode,
    description: &str,
    st: Option<&str>,
) -> HttpResponse {
    let mut pairs = vec![
        ("error", error.as_str()),
        ("error_description", description),
    ];
    if let Some(s) = st {
        pairs.push(("state", s));
    }
    pairs.push(("iss", state.issuer.as_str()));
    HttpResponse::Found()
        .insert_header((header::LOCATION, redirect.with_query(&pairs)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The `400` page of a request that names no usable client or return address (RFC 6749
/// §4.1.2.1: never a redirect): what happened and what the person can do, and in a box
/// of its own what the site's developer should fix.
fn site_error(
    state: &AppState,
    locale: Locale,
    title: &str,
    message: &str,
    developer: String,
) -> HttpResponse {
    no_flow_page(state, locale, StatusCode::BAD_REQUEST, |p| {
        p.title = title.to_owned();
        p.message = message.to_owned();
        p.advice = locale.error_text().person_advice.to_owned();
        p.developer = developer;
    })
}

/// The page of an authorization request that already issued its code: the Back button
/// (or a reload) brought the browser back to it. It opens no flow, so no second account
/// or passkey can come of it, and links to the site (the origin of a redirect URI the
/// tenant registered, so never an open redirect).
fn finished_page(
    state: &AppState,
    locale: Locale,
    tenant_name: &str,
    redirect: &RedirectUri,
) -> HttpResponse {
    let t = locale.error_text();
    no_flow_page(state, locale, StatusCode::OK, |p| {
        p.title = t.finished_title.to_owned();
        p.message = locale.finished_lead(tenant_name);
        p.advice = t.finished_advice.to_owned();
        p.back_href = redirect.site_url();
        p.back_label = locale.back_to_site(tenant_name);
        p.footnote = String::new();
    })
}

/// `GET /authorize`
pub async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (params, duplicate) = crate::web::read_query(req.query_string());
    let locale = crate::web::locale(&req, params.get("ui_locales").map(String::as_str));
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        return crate::pages::too_many(&state, locale, wait);
    }
    // Reuse this browser's binding secret so that several tabs can sign in at once.
    let binding = crate::web::flow_binding(&req, &state.settings);
    let request = AuthorizeRequest {
        params: &params,
        duplicate: duplicate.as_deref(),
        binding: &binding,
        ip: crate::web::client_ip(&req, &state.settings),
    };
    let opened = match crate::signin::authorize::open(&state, request).await {
        Ok(o) => o,
        Err(refusal) => return refused(&state, locale, refusal),
    };
    let body = match hosted_page(
        &state,
        &opened.tenant,
        locale,
        HostedFlow {
            id: opened.flow_id,
            site_url: opened.redirect.site_url(),
            seconds_left: state.settings.flow_ttl,
        },
        opened.view,
        opened.login_hint.unwrap_or_default(),
        String::new(),
    ) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    crate::web::flow_page(&state.settings, binding, body)
}

/// The answer to a refused authorization request: a page of ours when the request names
/// no usable client or return address, a redirect to the site otherwise.
fn refused(state: &AppState, locale: Locale, refusal: Refusal) -> HttpResponse {
    let t = locale.error_text();
    let site =
        |title: &str, message: &str, fix: String| site_error(state, locale, title, message, fix);
    match refusal {
        Refusal::NoClientId => site(
            t.incomplete_title,
            t.no_client_id,
            t.no_client_id_fix.into(),
        ),
        Refusal::UnknownClient => site(
            t.unknown_site_title,
            t.unknown_site,
            t.unknown_site_fix.into(),
        ),
        Refusal::NoRedirectUri => site(
            t.incomplete_title,
            t.no_redirect_uri,
            t.no_redirect_uri_fix.into(),
        ),
        Refusal::Unregistered { client_id } => site(
            t.unregistered_title,
            t.unregistered,
            locale.unregistered_fix(&client_id),
        ),
        Refusal::InvalidRedirect => site(
            t.unregistered_title,
            t.invalid_redirect,
            t.invalid_redirect_fix.into(),
        ),
        Refusal::Redirect {
            redirect,
            error,
            description,
            state: st,
        } => error_redirect(state, &redirect, error, &description, st.as_deref()),
        Refusal::Finished {
            tenant_name,
            redirect,
        } => finished_page(state, locale, &tenant_name, &redirect),
        Refusal::TooMany { retry_after } => crate::pages::too_many(state, locale, retry_after),
        Refusal::Db(e) => crate::errors::ApiError::from(e).into(),
    }
}
