//! Pages that more than one route renders: the plain-words error page (used where
//! redirecting would be unsafe, and by the request guard) and the hosted sign-in page of
//! a flow (from `/authorize` and from a recovery link).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template as _;

use crate::domain::{RpId, RpMode};
use crate::i18n::Locale;
use crate::state::AppState;
use crate::templates::{AccountPage, AuthorizePage, ErrorPage};

/// Renders a page that opens no flow, in `locale`: `fill` sets what it says; by default
/// it says that nothing was sent to the site.
pub fn no_flow_page(
    state: &AppState,
    locale: Locale,
    status: StatusCode,
    fill: impl FnOnce(&mut ErrorPage),
) -> HttpResponse {
    let t = locale.error_text();
    let mut page = ErrorPage {
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        script_integrity: state.assets.script_integrity.clone(),
        lang: locale.tag(),
        title: String::new(),
        message: String::new(),
        advice: String::new(),
        back_href: String::new(),
        back_label: String::new(),
        developer_title: t.developer_title.to_owned(),
        developer: String::new(),
        footnote: t.not_signed_in.to_owned(),
        footer: locale.text().footer.to_owned(),
    };
    fill(&mut page);
    match page.render() {
        Ok(body) => crate::assets::html(status).body(body),
        Err(e) => crate::errors::ApiError::internal(e).into(),
    }
}

/// The `429` page of a client over a rate limit, with `Retry-After`.
pub fn too_many(state: &AppState, locale: Locale, wait: u64) -> HttpResponse {
    let mut res = no_flow_page(state, locale, StatusCode::TOO_MANY_REQUESTS, |p| {
        p.title = locale.error_text().too_many_title.to_owned();
        p.message = locale.wait_then_retry(wait);
    });
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    res
}

/// Renders the plain-words page of a refused request, in English, when redirecting would
/// be unsafe.
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    no_flow_page(state, Locale::En, status, |p| {
        p.title = title.to_owned();
        p.message = message.to_owned();
    })
}

/// What the hosted page knows of its flow.
pub struct HostedFlow {
    /// The flow id.
    pub id: String,
    /// The site's address ([`crate::domain::RedirectUri::site_url`] of the flow's
    /// redirect URI).
    pub site_url: String,
    /// Seconds until the flow expires.
    pub seconds_left: i64,
}

/// Whether the browser must support Related Origin Requests for `tenant`'s passkeys on
/// the broker's pages: site mode, on an RP ID that does not cover the broker's host.
fn needs_related_origins(state: &AppState, tenant: &crate::store::tenants::Tenant) -> bool {
    tenant.rp_mode == RpMode::Site
        && !RpId::parse("rp_id", &tenant.rp_id)
            .map(|rp| rp.covers_host(state.settings.issuer.host_str().unwrap_or_default()))
            .unwrap_or(false)
}

/// The account page of `page` (PROTOCOL §9), in `locale`.
pub fn account_page(
    state: &AppState,
    locale: Locale,
    page: &crate::signin::account::AccountPage,
) -> Result<AccountPage, crate::errors::ApiError> {
    let tenant = &page.tenant;
    Ok(AccountPage {
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        webauthn_integrity: state.assets.webauthn_integrity.clone(),
        account_integrity: state.assets.account_integrity.clone(),
        lang: locale.tag(),
        t: locale.text(),
        a: locale.account_text(),
        title: locale.account_title(&tenant.name),
        lead: locale.account_lead(&tenant.name),
        flow_id: page.flow_id.clone(),
        rp_id: tenant.rp_id.clone(),
        needs_related_origins: needs_related_origins(state, tenant),
        ror_notice: locale.ror_notice(&tenant.rp_id),
        flow_seconds_left: state.settings.flow_ttl,
        return_to: page
            .return_to
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        back_to_site: locale.back_to_site(&tenant.name),
    })
}

/// Renders the hosted page of a flow in `view` (`login`, `create`, or `recovery` with the
/// recovery link's token).
pub fn hosted_page(
    state: &AppState,
    tenant: &crate::store::tenants::Tenant,
    locale: Locale,
    flow: HostedFlow,
    view: &str,
    login_hint: String,
    recovery_token: String,
) -> Result<String, crate::errors::ApiError> {
    let needs_related_origins = needs_related_origins(state, tenant);
    let page = AuthorizePage {
        webauthn_integrity: state.assets.webauthn_integrity.clone(),
        lang: locale.tag(),
        t: locale.text(),
        words: locale.script_words(),
        title: locale.sign_in_to(&tenant.name),
        ror_notice: locale.ror_notice(&tenant.rp_id),
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        script_integrity: state.assets.script_integrity.clone(),
        tenant_name: tenant.name.clone(),
        flow_id: flow.id,
        rp_id: tenant.rp_id.clone(),
        rp_mode: tenant.rp_mode.as_str().to_owned(),
        needs_related_origins,
        registration_open: tenant.client_id != crate::admin::ADMIN_CLIENT_ID || view == "create",
        initial_view: view.to_owned(),
        login_hint,
        recovery_offered: crate::signin::recovery::offered(state, tenant),
        recovery_token,
        site_url: flow.site_url,
        back_to_site: locale.back_to_site(&tenant.name),
        no_passkey: locale.no_passkey(&tenant.name),
        flow_seconds_left: flow.seconds_left.max(0),
    };
    page.render().map_err(crate::errors::ApiError::internal)
}
