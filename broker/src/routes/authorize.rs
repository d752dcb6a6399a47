//! `GET /authorize` (PROTOCOL §2): validates the request, opens a flow bound to this
//! browser by a cookie, and renders the hosted sign-in page.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::db::entities::flow;
use crate::domain::{CodeChallenge, RedirectUri, State};
use crate::errors::ErrorCode;
use crate::i18n::Locale;
use crate::pages::{HostedFlow, hosted_page, no_flow_page};
use crate::state::AppState;
use crate::util::{now, random_token, sha256_b64};

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
    if let Err(wait) = crate::web::rate_limit(&state, &req, "authorize") {
        let (params, _) = crate::web::read_query(req.query_string());
        let locale = crate::web::locale(&req, params.get("ui_locales").map(String::as_str));
        return crate::pages::too_many(&state, locale, wait);
    }
    let (params, duplicate) = crate::web::read_query(req.query_string());
    let get = |k: &str| params.get(k).map(String::as_str);
    let locale = crate::web::locale(&req, get("ui_locales"));
    let t = locale.error_text();

    // RFC 6749 §4.1.2.1: without a known client and an exactly registered redirect URI,
    // never redirect.
    let Some(client_id) = get("client_id") else {
        return site_error(
            &state,
            locale,
            t.incomplete_title,
            t.no_client_id,
            t.no_client_id_fix.into(),
        );
    };
    let tenant = match state.signin.tenant(client_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return site_error(
                &state,
                locale,
                t.unknown_site_title,
                t.unknown_site,
                t.unknown_site_fix.into(),
            );
        }
        Err(e) => return crate::errors::ApiError::from(e).into(),
    };
    let Some(redirect_raw) = get("redirect_uri") else {
        return site_error(
            &state,
            locale,
            t.incomplete_title,
            t.no_redirect_uri,
            t.no_redirect_uri_fix.into(),
        );
    };
    if !RedirectUri::is_registered(&tenant.redirect_uris, redirect_raw) {
        return site_error(
            &state,
            locale,
            t.unregistered_title,
            t.unregistered,
            locale.unregistered_fix(&tenant.client_id),
        );
    }
    let Ok(redirect) = RedirectUri::parse(redirect_raw) else {
        return site_error(
            &state,
            locale,
            t.unregistered_title,
            t.invalid_redirect,
            t.invalid_redirect_fix.into(),
        );
    };

    let state_param = get("state").and_then(|s| State::parse(s).ok());
    let st = state_param.as_ref().map(State::as_str);
    let bad = |d: &str| error_redirect(&state, &redirect, ErrorCode::InvalidRequest, d, st);
    if let Some(k) = duplicate {
        return bad(&format!("parameter {k} was given more than once"));
    }
    if get("response_type") != Some("code") {
        return bad("response_type must be code");
    }
    // OpenID Connect Core §6: request objects are not supported, and say so rather than
    // ignore parameters that the client expects to be honoured.
    if get("request").is_some() {
        return error_redirect(
            &state,
            &redirect,
            ErrorCode::RequestNotSupported,
            "request objects (the request parameter) are not supported",
            st,
        );
    }
    if get("request_uri").is_some() {
        return error_redirect(
            &state,
            &redirect,
            ErrorCode::RequestUriNotSupported,
            "the request_uri parameter is not supported",
            st,
        );
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return bad("response_mode must be query (the code is returned in the query string)");
    }
    match get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") => return bad("code_challenge_method plain is not supported; use S256"),
        _ => return bad("code_challenge_method=S256 is required"),
    }
    let Some(Ok(challenge)) = get("code_challenge").map(CodeChallenge::parse) else {
        return bad("code_challenge must be 43 characters of base64url (S256)");
    };
    let Some(flow_state) = state_param.clone() else {
        return bad("state is required: 1 to 512 printable ASCII characters");
    };
    let nonce = match get("nonce") {
        Some(n)
            if n.is_empty() || n.len() > 512 || !n.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            return bad("nonce must be 1 to 512 printable ASCII characters");
        }
        n => n.map(str::to_owned),
    };
    let scope = granted_scope(get("scope").unwrap_or("openid"));
    let view = match get("prompt") {
        None | Some("") | Some("login") | Some("select_account") | Some("consent") => "login",
        Some("create") => "create",
        Some("none") => {
            return error_redirect(
                &state,
                &redirect,
                ErrorCode::LoginRequired,
                "a passkey sign-in needs the person; prompt=none cannot be satisfied",
                st,
            );
        }
        Some(_) => return bad("prompt must be create or login"),
    };
    let login_hint = match get("login_hint") {
        Some(h) if h.len() > 254 || h.chars().any(char::is_control) => {
            return bad("login_hint must be an email address of at most 254 characters");
        }
        h => h.filter(|h| !h.is_empty()).map(str::to_owned),
    };

    // Reuse this browser's binding secret so that several tabs can sign in at once.
    let binding = crate::web::flow_binding(&req, &state.settings);
    let t = now();
    let flow_id = random_token(16);
    let model = flow::Model {
        id: flow_id.clone(),
        tenant_id: tenant.client_id.clone(),
        redirect_uri: redirect.as_str().to_owned(),
        state: flow_state.as_str().to_owned(),
        code_challenge: challenge.as_str().to_owned(),
        nonce,
        scope,
        prompt: view.to_owned(),
        login_hint: login_hint.clone(),
        binding_hash: sha256_b64(&binding),
        created_at: t,
        expires_at: t + state.settings.flow_ttl,
        completed_at: None,
        purpose: crate::signin::flow::SIGN_IN.to_owned(),
    };
    // RFC 7636 §4.1: a client makes a new code_challenge for every authorization
    // request, so one that already issued its code can only come back from the
    // browser's history; the site has used up what it kept for it, and a ceremony here
    // would end on the site's callback with nothing to match (and, for a registration,
    // leave an account behind). Say that this sign-in is finished instead.
    match state
        .signin
        .challenge_completed(&tenant.client_id, challenge.as_str())
        .await
    {
        Ok(false) => {}
        Ok(true) => return finished_page(&state, locale, &tenant.name, &redirect),
        Err(e) => return crate::errors::ApiError::from(e).into(),
    }
    if let Err(refusal) =
        crate::security::open_flow_quota(&state, crate::web::client_ip(&req, &state.settings)).await
    {
        return crate::pages::too_many(&state, locale, refusal.retry_after);
    }
    let created = state.signin.create_flow(model).await;
    if let Err(e) = created {
        return crate::errors::ApiError::from(e).into();
    }

    let body = match hosted_page(
        &state,
        &tenant,
        locale,
        HostedFlow {
            id: flow_id,
            site_url: redirect.site_url(),
            seconds_left: state.settings.flow_ttl,
        },
        view,
        login_hint.unwrap_or_default(),
        String::new(),
    ) {
        Ok(b) => b,
        Err(e) => return e.into(),
    };
    crate::web::flow_page(&state.settings, binding, body)
}

/// The scopes granted: `openid` always, `email` when asked; others are ignored
/// (RFC 6749 §3.3 lets the server grant less than asked).
pub fn granted_scope(asked: &str) -> String {
    if asked.split(' ').any(|s| s == "email") {
        "openid email".into()
    } else {
        "openid".into()
    }
}
