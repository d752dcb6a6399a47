//! The demo tenant, created at start-up with `--demo` (or `LATCHKEY_DEMO=true`), so that a
//! newcomer can sign in with a passkey in a minute.

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::store::tenants::{self, TenantInput};

/// The demo tenant's client id.
pub const DEMO_CLIENT_ID: &str = "demo";

/// Creates the public `demo` tenant (broker mode) unless it exists. Its redirect URIs are
/// the demo site's (`http://localhost:8081/callback`) and the broker's built-in demo page.
pub async fn ensure_demo_tenant(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<(), sea_orm::DbErr> {
    let own_callback = format!("{}/demo/callback", settings.issuer_str());
    if let Some(t) = tenants::get(db, DEMO_CLIENT_ID).await? {
        // The issuer's port may differ from the last run: register its callback too.
        if !t.redirect_uris.contains(&own_callback) {
            let mut uris = t.redirect_uris.clone();
            uris.push(own_callback);
            let input = TenantInput {
                redirect_uris: Some(uris),
                ..Default::default()
            };
            tenants::update(db, &settings.rp_id, DEMO_CLIENT_ID, input)
                .await
                .map_err(|e| sea_orm::DbErr::Custom(format!("demo tenant: {e}")))?;
        }
        return Ok(());
    }
    let input = TenantInput {
        client_id: Some(DEMO_CLIENT_ID.into()),
        name: Some("Latchkey demo".into()),
        redirect_uris: Some(vec!["http://localhost:8081/callback".into(), own_callback]),
        rp_mode: Some("broker".into()),
        ..Default::default()
    };
    match tenants::create(db, &settings.rp_id, input).await {
        Ok(_) | Err(tenants::TenantError::Conflict(_)) => Ok(()),
        Err(tenants::TenantError::Db(e)) => Err(e),
        Err(e) => Err(sea_orm::DbErr::Custom(format!("demo tenant: {e}"))),
    }
}

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template as _;

use crate::state::AppState;
use crate::templates::DemoPage;
use crate::util::{b64, ct_eq, random_token, sha256};

const COOKIE: &str = "latchkey_demo";

/// The demo tenant's account page (PROTOCOL §9), whose link back is this page's callback.
fn account_url(state: &AppState) -> String {
    let mut url = format!("{}/account?", state.issuer);
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "demo")
            .append_pair("return_to", &format!("{}/demo/callback", state.issuer))
            .finish(),
    );
    url
}

fn page(state: &AppState, fill: impl FnOnce(&mut DemoPage)) -> HttpResponse {
    let mut p = DemoPage {
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        script_integrity: state.assets.script_integrity.clone(),
        signed_in: false,
        error: String::new(),
        sub: String::new(),
        passkey_id: String::new(),
        passkey_short: String::new(),
        email: String::new(),
        new_user: false,
        user_verified: false,
        backed_up: false,
        account_url: account_url(state),
    };
    fill(&mut p);
    match p.render() {
        Ok(body) => crate::assets::html(StatusCode::OK).body(body),
        Err(e) => crate::errors::ApiError::internal(e).into(),
    }
}

fn enabled(state: &AppState) -> Option<HttpResponse> {
    (!state.settings.demo).then(|| {
        crate::errors::ApiError::new(
            StatusCode::NOT_FOUND,
            crate::errors::ErrorCode::NotFound,
            "The demo is off. Start the broker with latchkey serve --demo (or LATCHKEY_DEMO=true) to turn it on.",
        )
        .into()
    })
}

/// `GET /demo`: the demo site's home page (also signs out: it clears the demo cookie).
pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    if let Some(off) = enabled(&state) {
        return off;
    }
    let mut res = page(&state, |_| {});
    let _ = res.add_removal_cookie(&Cookie::build(COOKIE, "").path("/demo").finish());
    res
}

/// `GET /demo/start`: what a site does to sign someone in: PKCE, state and nonce kept in
/// an HttpOnly cookie, then a redirect to `/authorize`.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(off) = enabled(&state) {
        return off;
    }
    let verifier = random_token(32);
    let st = random_token(16);
    let nonce = random_token(16);
    let prompt = if req.query_string().contains("prompt=create") {
        "create"
    } else {
        "login"
    };
    let redirect_uri = format!("{}/demo/callback", state.issuer);
    let challenge = b64(sha256(verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("scope", "openid email")
        .append_pair("prompt", prompt)
        .finish();
    let cookie = Cookie::build(COOKIE, format!("{st}.{verifier}"))
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Lax)
        .path("/demo")
        .max_age(CookieDuration::minutes(10))
        .finish();
    HttpResponse::Found()
        .insert_header((header::LOCATION, format!("/authorize?{query}")))
        .cookie(cookie)
        .finish()
}

/// `GET /demo/callback`: checks `state` and `iss`, redeems the code over the real back
/// channel, and shows who signed in.
pub async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(off) = enabled(&state) {
        return off;
    }
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
    let fail = |msg: String| page(&state, |p| p.error = msg);
    // The account page's link back carries neither a code nor an error.
    if !q.contains_key("code") && !q.contains_key("error") {
        return HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, "/demo"))
            .finish();
    }
    if let Some(e) = q.get("error") {
        return fail(format!(
            "{e}: {}",
            q.get("error_description")
                .map(String::as_str)
                .unwrap_or_default()
        ));
    }
    let Some((st, verifier)) = req.cookie(COOKIE).and_then(|c| {
        c.value()
            .split_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    }) else {
        return fail(
            "No sign-in was started from this browser (the demo cookie is missing).".into(),
        );
    };
    if !ct_eq(
        q.get("state").map(String::as_bytes).unwrap_or_default(),
        st.as_bytes(),
    ) {
        return fail("The state does not match the sign-in this browser started.".into());
    }
    if q.get("iss") != Some(&state.issuer) {
        return fail("The answer does not come from this issuer.".into());
    }
    let body = serde_json::json!({
        "client_id": DEMO_CLIENT_ID,
        "code": q.get("code").cloned().unwrap_or_default(),
        "code_verifier": verifier,
        "redirect_uri": format!("{}/demo/callback", state.issuer),
    });
    let url = format!("http://127.0.0.1:{}/api/v1/sign-ins/redeem", state.port);
    let answer = match reqwest::Client::new().post(url).json(&body).send().await {
        Ok(r) => r.json::<serde_json::Value>().await.unwrap_or_default(),
        Err(e) => return fail(format!("The back channel failed: {e}")),
    };
    let s = &answer["sign_in"];
    if s.is_null() {
        return fail(format!(
            "The code could not be redeemed: {}",
            answer["error_description"]
                .as_str()
                .unwrap_or("unknown error")
        ));
    }
    let mut res = page(&state, |p| {
        p.signed_in = true;
        p.sub = s["sub"].as_str().unwrap_or_default().into();
        // One passkey id format everywhere: the credential id, shortened as the
        // dashboard and the account page show it.
        p.passkey_id = s["credential_id"].as_str().unwrap_or_default().into();
        p.passkey_short = crate::util::short_id(&p.passkey_id);
        p.email = s["email"].as_str().unwrap_or_default().into();
        p.new_user = s["new_user"].as_bool().unwrap_or(false);
        p.user_verified = s["user_verified"].as_bool().unwrap_or(false);
        p.backed_up = s["backed_up"].as_bool().unwrap_or(false);
    });
    let _ = res.add_removal_cookie(&Cookie::build(COOKIE, "").path("/demo").finish());
    res
}
