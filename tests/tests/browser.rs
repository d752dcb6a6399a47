//! Real-browser proof: Debian's Chromium, headless, with a WebAuthn virtual authenticator
//! (ctap2, internal transport, resident keys, user verification), signs in through the
//! hosted page in every mode. Needs `chromium` (`apt-get install -y chromium`); set
//! `LATCHKEY_SKIP_BROWSER=1` to skip this suite explicitly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use latchkey_tests::browser::{Authenticator, Browser, Page, skipped};
use latchkey_tests::harness::{Broker, Pkce, redeem};
use latchkey_tests::smtp::SmtpSink;
use latchkey_tests::tls::SiteServer;
use reqwest::Method;
use serde_json::{Value, json};

/// One Chromium at a time: the machine has two cores.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(20);

/// The authorize URL of a tenant, with fresh PKCE.
fn authorize_url(
    broker: &Broker,
    client_id: &str,
    redirect_uri: &str,
    extra: &str,
) -> (String, Pkce) {
    let pkce = Pkce::new();
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=st{extra}",
        broker.issuer,
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>(),
        pkce.challenge
    );
    (url, pkce)
}

/// Waits until the page has left for `redirect_uri` and returns the code.
async fn code_after_redirect(page: &Page, redirect_uri: &str) -> String {
    let href = page
        .wait_for(
            &format!(
                "location.href.startsWith({}) && location.href",
                json!(redirect_uri)
            ),
            WAIT,
        )
        .await;
    let url = url::Url::parse(href.as_str().unwrap()).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code in redirect")
}

/// Where screenshots go: `LATCHKEY_SCREENSHOTS` when set, else `target/screenshots/`.
fn screenshot_dir() -> std::path::PathBuf {
    std::env::var_os("LATCHKEY_SCREENSHOTS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"),
        std::path::PathBuf::from,
    )
}

/// Screenshots of the page as it is, light, on a desktop and on a 390-pixel phone.
async fn screenshots(page: &Page, name: &str) {
    let out = screenshot_dir();
    for (size, w, h) in [("desktop", 1280, 800), ("mobile", 390, 844)] {
        let path = out.join(format!("{name}-{size}.png"));
        page.screenshot(&path, w, h, false).await;
        assert!(path.metadata().unwrap().len() > 5_000, "{}", path.display());
    }
}

/// How many accounts the tenant has, through the admin API.
async fn accounts(broker: &Broker, client_id: &str) -> usize {
    let (status, body) = broker
        .admin(Method::GET, &format!("/tenants/{client_id}/users"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["users"].as_array().unwrap().len()
}

/// The text of the element `id`.
async fn text(page: &Page, id: &str) -> String {
    let v = page
        .eval(&format!(
            "(document.getElementById({}) || {{}}).innerText || ''",
            json!(id)
        ))
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Whether the element `id` exists and is shown.
async fn shown(page: &Page, id: &str) -> bool {
    page.eval(&format!(
        "(() => {{ const e = document.getElementById({}); return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; }})()",
        json!(id)
    ))
    .await
        == Value::Bool(true)
}

async fn create_passkey(page: &Page, email: &str) {
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    if page
        .eval("document.getElementById('view-create').hidden")
        .await
        == Value::Bool(true)
    {
        page.click("show-create").await;
    }
    page.fill("email", email).await;
    page.eval("document.getElementById('create-form').requestSubmit()")
        .await;
}

#[tokio::test]
async fn localhost_demo_create_then_sign_in_again_with_the_same_passkey() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start_with(&[("LATCHKEY_DEMO", "true")]);
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    page.goto(&broker.url("/demo")).await;
    page.click("demo-create").await;
    page.wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_passkey(&page, "ada@example.com").await;
    page.wait_for(
        "location.pathname === '/demo/callback' && document.getElementById('identity')",
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('new-user').innerText")
            .await,
        "true"
    );
    let sub = page.eval("document.getElementById('sub').innerText").await;
    assert_eq!(
        page.credentials().await.len(),
        1,
        "the passkey lives in the authenticator"
    );
    assert_eq!(page.credentials().await[0]["isResidentCredential"], true);

    // Sign out, then sign in with the same discoverable passkey.
    page.goto(&broker.url("/demo")).await;
    page.click("demo-signin").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.click("signin-button").await;
    page.wait_for(
        "location.pathname === '/demo/callback' && document.getElementById('identity')",
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('new-user').innerText")
            .await,
        "false"
    );
    assert_eq!(
        page.eval("document.getElementById('sub').innerText").await,
        sub
    );

    // Signal API: a revoked passkey answers unknown_credential, the page signals it, and
    // the authenticator forgets it.
    let id = page.credentials().await[0]["credentialId"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_b64url = id
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned();
    let (status, _) = broker
        .admin(Method::DELETE, &format!("/credentials/{id_b64url}"), None)
        .await;
    assert_eq!(status, 204);
    page.goto(&broker.url("/demo")).await;
    page.click("demo-signin").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.click("signin-button").await;
    page.wait_for("document.body.dataset.error === 'unknown_credential'", WAIT)
        .await;
    let message = page
        .eval("document.getElementById('error-message').innerText")
        .await;
    assert!(
        message.as_str().unwrap().contains("no longer registered")
            || message.as_str().unwrap().contains("not registered"),
        "{message}"
    );
    let start = std::time::Instant::now();
    while !page.credentials().await.is_empty() {
        assert!(
            start.elapsed() < WAIT,
            "signalUnknownCredential removed the passkey from the authenticator"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Closing the browser leaves no process behind.
    let profile = browser.profile().display().to_string();
    assert!(latchkey_tests::browser::process_running(&profile));
    drop(page);
    drop(browser);
    let start = std::time::Instant::now();
    while latchkey_tests::browser::process_running(&profile) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "Chromium processes survived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn site_mode_over_related_origin_requests_in_chromium() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let site =
        SiteServer::start("site.test", r#"{"origins": ["https://unrelated.example"]}"#).await;
    let resolve = format!("site.test={}", site.addr);
    let broker = Broker::start_tls(
        "broker.test",
        &[
            ("LATCHKEY_ISSUER", "https://broker.test"),
            ("LATCHKEY_WELL_KNOWN_RESOLVE", resolve.as_str()),
            ("LATCHKEY_WELL_KNOWN_DANGER_ACCEPT_INVALID_CERTS", "true"),
        ],
    );
    let redirect = "https://site.test/cb";
    broker
        .create_tenant(json!({"client_id": "site", "name": "Site", "redirect_uris": [redirect], "rp_mode": "site", "rp_id": "site.test"}))
        .await;
    let browser = Browser::launch(&[
        ("broker.test", broker.port),
        ("site.test", site.addr.port()),
    ])
    .await;
    let page = browser.new_page(Authenticator::default()).await;

    // Not listed: a clear message on the page, and in the admin check.
    let (url, pkce) = authorize_url(&broker, "site", redirect, "&prompt=create");
    page.goto(&url).await;
    create_passkey(&page, "lin@site.test").await;
    page.wait_for("document.body.dataset.state === 'error'", WAIT)
        .await;
    let message = page
        .eval("document.getElementById('error-message').innerText")
        .await;
    assert!(message.as_str().unwrap().contains("site.test"), "{message}");
    let (_, check) = broker
        .admin(Method::POST, "/tenants/site/well-known-check", None)
        .await;
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["expected"]
            .as_str()
            .unwrap()
            .contains("https://broker.test")
    );

    // Listed: the passkey is created and used under the RP ID site.test.
    site.publish(check["expected"].as_str().unwrap());
    let (_, check) = broker
        .admin(Method::POST, "/tenants/site/well-known-check", None)
        .await;
    assert_eq!(check["ok"], true, "{check}");
    page.click("retry-button").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, first) = redeem(&broker, &json!({"client_id": "site", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["sign_in"]["rp_id"], "site.test");
    assert_eq!(page.credentials().await[0]["rpId"], "site.test");

    let (url, pkce) = authorize_url(&broker, "site", redirect, "");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    page.click("signin-button").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, second) = redeem(&broker, &json!({"client_id": "site", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["sign_in"]["rp_id"], "site.test");
    assert_eq!(second["sign_in"]["new_user"], false);
    assert_eq!(second["sign_in"]["user_id"], first["sign_in"]["user_id"]);
}

#[tokio::test]
async fn broker_mode_related_origins_let_a_listed_site_use_the_brokers_passkeys() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let shop = SiteServer::start("shop.test", "{}").await;
    let broker = Broker::start_tls("broker.test", &[("LATCHKEY_ISSUER", "https://broker.test")]);
    let redirect = "https://shop.test/cb";
    broker
        .create_tenant(json!({"client_id": "shop", "redirect_uris": [redirect], "rp_mode": "broker", "related_origins": ["https://shop.test"]}))
        .await;
    let doc: Value = broker
        .backend()
        .get(broker.url("/.well-known/webauthn"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc, json!({"origins": ["https://shop.test"]}));
    let browser = Browser::launch(&[
        ("broker.test", broker.port),
        ("shop.test", shop.addr.port()),
        ("other.test", shop.addr.port()),
    ])
    .await;
    let page = browser.new_page(Authenticator::default()).await;

    // A passkey for the broker's RP ID, made on the hosted page.
    let (url, _) = authorize_url(&broker, "shop", redirect, "&prompt=create");
    page.goto(&url).await;
    create_passkey(&page, "kim@shop.test").await;
    code_after_redirect(&page, redirect).await;
    assert_eq!(page.credentials().await[0]["rpId"], "broker.test");

    let get = r#"navigator.credentials.get({publicKey: {rpId: 'broker.test', challenge: crypto.getRandomValues(new Uint8Array(32)), userVerification: 'required', timeout: 10000}})
        .then(c => 'ok:' + c.response.authenticatorData.byteLength, e => 'error:' + e.name)"#;
    page.goto("https://shop.test/").await;
    let got = page.eval(get).await;
    assert!(
        got.as_str().unwrap().starts_with("ok:"),
        "a listed origin uses the broker's RP ID: {got}"
    );
    page.goto("https://other.test/").await;
    let got = page.eval(get).await;
    assert!(
        got.as_str().unwrap().starts_with("error:"),
        "an origin not listed is refused: {got}"
    );
}

#[tokio::test]
async fn a_passkey_picked_at_another_tenant_stays_on_the_authenticator_and_signs_in_at_home() {
    // Every broker-mode tenant shares the broker's RP ID, so tenant B's page offers the
    // passkey made at tenant A. B must not tell the authenticator to delete it.
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    let redirect = redirect.as_str();
    for (id, name) in [("home", "Home Site"), ("other", "Other Site")] {
        broker
            .create_tenant(json!({"client_id": id, "name": name, "redirect_uris": [redirect], "rp_mode": "broker"}))
            .await;
    }
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;
    let (url, _) = authorize_url(&broker, "home", redirect, "&prompt=create");
    page.goto(&url).await;
    create_passkey(&page, "ada@example.com").await;
    code_after_redirect(&page, redirect).await;
    assert_eq!(page.credentials().await.len(), 1);

    let (url, _) = authorize_url(&broker, "other", redirect, "&prompt=login");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    page.click("signin-button").await;
    page.wait_for("document.body.dataset.error === 'unknown_credential'", WAIT)
        .await;
    let message = page
        .eval("document.getElementById('error-message').innerText")
        .await;
    assert!(
        message.as_str().unwrap().contains("another site"),
        "{message}"
    );
    screenshots(&page, "another-site").await;
    // A signal would remove it within moments (see the revoked passkey above); give it
    // time to, then check that nothing did.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        page.credentials().await.len(),
        1,
        "the passkey is still on the authenticator"
    );

    let (url, pkce) = authorize_url(&broker, "home", redirect, "&prompt=login");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    page.click("signin-button").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, redeemed) = redeem(&broker, &json!({"client_id": "home", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["new_user"], false);
}

#[tokio::test]
async fn user_verification_is_required_or_preferred_per_tenant() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    let redirect = redirect.as_str();
    broker
        .create_tenant(json!({"client_id": "strict", "redirect_uris": [redirect], "rp_mode": "broker", "user_verification": "required"}))
        .await;
    broker
        .create_tenant(json!({"client_id": "relaxed", "redirect_uris": [redirect], "rp_mode": "broker", "user_verification": "preferred"}))
        .await;
    let browser = Browser::launch(&[]).await;
    let page = browser
        .new_page(Authenticator {
            user_verification: false,
        })
        .await;

    let (url, _) = authorize_url(&broker, "strict", redirect, "&prompt=create");
    page.goto(&url).await;
    create_passkey(&page, "no-uv@example.com").await;
    page.wait_for("document.body.dataset.state === 'error'", WAIT)
        .await;
    let message = page
        .eval("document.getElementById('error-message').innerText")
        .await;
    assert!(
        message.as_str().unwrap().len() > 20,
        "a plain-words message: {message}"
    );
    assert!(page.eval("!document.getElementById('error').hidden").await == Value::Bool(true));

    let (url, pkce) = authorize_url(&broker, "relaxed", redirect, "&prompt=create");
    page.goto(&url).await;
    create_passkey(&page, "no-uv@example.com").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, redeemed) = redeem(&broker, &json!({"client_id": "relaxed", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["user_verified"], false);
}

#[tokio::test]
async fn the_page_explains_itself_without_javascript_and_works_by_keyboard_and_looks_right() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    let redirect = redirect.as_str();
    broker
        .create_tenant(json!({"client_id": "looks", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    let (url, _) = authorize_url(&broker, "looks", redirect, "");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    assert_eq!(page.eval("document.documentElement.lang").await, "en");
    let unlabeled = page
        .eval("[...document.querySelectorAll('input')].filter(i => i.type !== 'hidden' && i.labels.length === 0).map(i => i.id)")
        .await;
    assert_eq!(unlabeled, json!([]), "every input has a label");
    // Keyboard: the first Tab reaches the primary action.
    page.eval("document.activeElement && document.activeElement.blur()")
        .await;
    page.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
    )
    .await;
    page.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
    )
    .await;
    let focused = page
        .wait_for("document.activeElement && document.activeElement.id", WAIT)
        .await;
    assert_eq!(focused, "signin-button");

    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    for (name, w, h, dark) in [
        ("desktop-light", 1280, 800, false),
        ("desktop-dark", 1280, 800, true),
        ("mobile-light", 390, 844, false),
        ("mobile-dark", 390, 844, true),
    ] {
        page.screenshot(&out.join(format!("authorize-{name}.png")), w, h, dark)
            .await;
    }
    assert!(
        out.join("authorize-mobile-dark.png")
            .metadata()
            .unwrap()
            .len()
            > 5_000
    );

    // Without JavaScript the page says why nothing works.
    let plain = browser.new_page(Authenticator::default()).await;
    plain
        .call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        )
        .await;
    let (url, _) = authorize_url(&broker, "looks", redirect, "");
    plain.call("Page.navigate", json!({"url": url})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let doc = plain.call("DOM.getDocument", json!({"depth": -1})).await;
    let html = plain
        .call("DOM.getOuterHTML", json!({"nodeId": doc["root"]["nodeId"]}))
        .await;
    let html = html["outerHTML"].as_str().unwrap().to_lowercase();
    assert!(
        html.contains("<noscript>") && html.contains("javascript"),
        "a noscript explanation"
    );
    plain
        .screenshot(&out.join("authorize-no-javascript.png"), 1280, 800, false)
        .await;
}

/// On the SDK demo site, signed in: signs out, signs in again with the page's passkey,
/// and checks that the site sees the same account (`sub`), not a new one.
async fn signs_in_again_as(page: &Page, sub: &Value) {
    page.click("sign-out").await;
    page.wait_for("document.getElementById('sign-in')", WAIT)
        .await;
    page.click("sign-in").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.click("signin-button").await;
    page.wait_for("document.getElementById('identity')", WAIT)
        .await;
    assert_eq!(
        page.eval("document.getElementById('new-user').innerText")
            .await,
        "false"
    );
    assert_eq!(
        page.eval("document.getElementById('sub').innerText").await,
        *sub
    );
}

#[tokio::test]
async fn the_sdk_demo_site_signs_in_through_the_broker_in_chromium() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    // The demo site of the quickstart, built with the client SDK, on a port of its own.
    let site = latchkey_tests::harness::DemoSite::start(&broker, "sdk-demo").await;
    let base = site.base.clone();
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    page.goto(&format!("{base}/")).await;
    page.click("create").await;
    page.wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_passkey(&page, "ada@example.com").await;
    page.wait_for(
        &format!(
            "location.href === {} && document.getElementById('identity')",
            json!(format!("{base}/"))
        ),
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('new-user').innerText")
            .await,
        "true"
    );
    let sub = page.eval("document.getElementById('sub').innerText").await;

    signs_in_again_as(&page, &sub).await;
}

#[tokio::test]
async fn a_lost_passkey_is_replaced_through_the_emailed_link_in_the_same_browser() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let broker = Broker::start_with(&[
        ("LATCHKEY_SMTP_URL", smtp.as_str()),
        ("LATCHKEY_SMTP_FROM", "Latchkey <no-reply@example.com>"),
    ]);
    let redirect = broker.url("/healthz");
    let redirect = redirect.as_str();
    broker
        .create_tenant(json!({"client_id": "shop", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker", "email_recovery": true}))
        .await;
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    // A new account with an email, through the page.
    let (url, pkce) = authorize_url(
        &broker,
        "shop",
        redirect,
        "&prompt=create&scope=openid%20email",
    );
    page.goto(&url).await;
    create_passkey(&page, "ada@example.com").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, redeemed) = redeem(&broker, &json!({"client_id": "shop", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{redeemed}");
    let sub = redeemed["sign_in"]["sub"].clone();
    assert_eq!(redeemed["sign_in"]["email_verified"], false);

    // The emailed link, confirmed with its button.
    let link = sink
        .next_link(
            "ada@example.com",
            0,
            &format!("{}/email/verify?token=", broker.issuer),
        )
        .await;
    page.goto(&link).await;
    page.click("confirm-button").await;
    page.wait_for("document.title.startsWith('Email address confirmed')", WAIT)
        .await;

    // Every passkey lost: the authenticator goes, another one comes.
    page.call(
        "WebAuthn.removeVirtualAuthenticator",
        json!({"authenticatorId": page.authenticator_id}),
    )
    .await;
    let added = page
        .call(
            "WebAuthn.addVirtualAuthenticator",
            json!({"options": {"protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "internal", "hasResidentKey": true, "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true}}),
        )
        .await;
    let new_authenticator = added["authenticatorId"].as_str().unwrap().to_owned();

    // "Lost your passkey?", the address, the link opened in this browser.
    let (url, pkce) = authorize_url(&broker, "shop", redirect, "&scope=openid%20email");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    page.click("show-recover").await;
    page.wait_for(
        "document.activeElement && document.activeElement.id === 'recover-email'",
        WAIT,
    )
    .await;
    page.fill("recover-email", "ada@example.com").await;
    page.eval("document.getElementById('recover-form').requestSubmit()")
        .await;
    page.wait_for("document.body.dataset.recovery === 'sent'", WAIT)
        .await;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    page.screenshot(&out.join("recovery-request.png"), 1280, 800, false)
        .await;
    let link = sink
        .next_link("ada@example.com", 1, &format!("{}/recover?", broker.issuer))
        .await;
    page.goto(&link).await;
    page.wait_for(
        "document.body.dataset.state === 'ready' && document.body.dataset.view === 'recovery'",
        WAIT,
    )
    .await;
    page.screenshot(&out.join("recovery-new-passkey.png"), 1280, 800, false)
        .await;
    assert!(
        out.join("recovery-new-passkey.png")
            .metadata()
            .unwrap()
            .len()
            > 5_000
    );

    // The new passkey, on the same account.
    page.click("recovery-create-button").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, redeemed) = redeem(&broker, &json!({"client_id": "shop", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{redeemed}");
    let s = &redeemed["sign_in"];
    assert_eq!(
        (
            &s["new_user"],
            &s["new_credential"],
            &s["sub"],
            &s["email_verified"]
        ),
        (&json!(false), &json!(true), &sub, &json!(true))
    );
    let held = page
        .call(
            "WebAuthn.getCredentials",
            json!({"authenticatorId": new_authenticator}),
        )
        .await;
    assert_eq!(held["credentials"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn with_no_passkey_on_this_device_the_page_says_so_and_offers_to_create_one_or_use_another_device()
 {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    let redirect = redirect.as_str();
    broker
        .create_tenant(json!({"client_id": "books", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let browser = Browser::launch(&[]).await;
    // An authenticator that holds no passkey: Chromium refuses get() at once.
    let page = browser.new_page(Authenticator::default()).await;
    let (url, pkce) = authorize_url(&broker, "books", redirect, "");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    // Record the hints of every modal get() the page makes (a browser with immediate
    // mediation is asked that way first).
    page.eval("(() => { const get = navigator.credentials.get.bind(navigator.credentials); window.asked = []; navigator.credentials.get = (o) => { if (!o.mediation) window.asked.push((o.publicKey.hints || []).join()); return get(o); }; return true; })()")
        .await;
    page.click("signin-button").await;
    page.wait_for("document.body.dataset.state === 'error'", WAIT)
        .await;
    assert_eq!(
        page.eval("document.body.dataset.error").await,
        "no_passkey",
        "{}",
        text(&page, "error-message").await
    );
    assert_eq!(
        text(&page, "error-message").await,
        "There is no passkey for Northwind Books on this device. Create one now, or use a passkey from another device, such as your phone."
    );
    assert!(shown(&page, "error-show-create").await);
    assert!(shown(&page, "error-other-device").await);
    assert_eq!(
        text(&page, "error-other-device").await,
        "Use another device"
    );
    assert!(!shown(&page, "retry-button").await);
    screenshots(&page, "no-passkey").await;

    // "Use another device" asks the browser for a passkey of another device (the hybrid
    // hint: a phone's QR code); this browser has none to offer either.
    page.click("error-other-device").await;
    page.wait_for(
        "document.body.dataset.error === 'no_passkey_elsewhere'",
        WAIT,
    )
    .await;
    assert_eq!(page.eval("window.asked").await, json!(["", "hybrid"]));
    assert!(
        text(&page, "error-message")
            .await
            .contains("Create a passkey on this device")
    );
    assert!(shown(&page, "error-show-create").await);
    assert!(!shown(&page, "error-other-device").await);

    // "Create a passkey" opens the create view, which works as ever.
    page.click("error-show-create").await;
    page.wait_for("document.body.dataset.view === 'create'", WAIT)
        .await;
    create_passkey(&page, "ada@example.com").await;
    let code = code_after_redirect(&page, redirect).await;
    let (status, redeemed) = redeem(&broker, &json!({"client_id": "books", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect})).await;
    assert_eq!(status, 200, "{redeemed}");

    // A prompt that a person closes takes them longer than that: it still says so.
    let (url, _) = authorize_url(&broker, "books", redirect, "");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    page.eval("navigator.credentials.get = () => new Promise((_, no) => setTimeout(() => no(new DOMException('closed', 'NotAllowedError')), 1500)), true")
        .await;
    page.click("signin-button").await;
    page.wait_for("document.body.dataset.state === 'error'", WAIT)
        .await;
    assert_eq!(
        page.eval("document.body.dataset.error").await,
        "NotAllowedError"
    );
    assert!(
        text(&page, "error-message")
            .await
            .contains("closed or timed out")
    );

    // In Japanese, with the words of i18n.rs.
    let fresh = browser.new_page(Authenticator::default()).await;
    let (url, _) = authorize_url(&broker, "books", redirect, "&ui_locales=ja");
    fresh.goto(&url).await;
    fresh
        .wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    fresh.click("signin-button").await;
    fresh
        .wait_for("document.body.dataset.error === 'no_passkey'", WAIT)
        .await;
    assert_eq!(
        text(&fresh, "error-message").await,
        "この端末には Northwind Books のパスキーがありません。ここで作成するか、スマートフォンなどほかの端末のパスキーを使ってください。"
    );
    assert_eq!(text(&fresh, "error-other-device").await, "ほかの端末を使う");
    assert_eq!(text(&fresh, "error-show-create").await, "パスキーを作成");
}

/// Runs a whole registration on the page's flow from outside the page's own script, as
/// another copy of the page would: the flow issues its code while this page still
/// shows its form.
const FINISH_THE_FLOW_ELSEWHERE: &str = r#"(async () => {
  const flow = document.querySelector('meta[name="latchkey-flow"]').content;
  const post = (p, b) => fetch('/api/v1/flows/' + flow + p, { method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) }).then((r) => r.json());
  const o = await post('/registration/options', {});
  const json = JSON.parse(JSON.stringify(o.publicKey, (k, v) => (v === null ? undefined : v)));
  const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(json) });
  const done = await post('/registration', cred.toJSON());
  return typeof done.redirect_to === 'string';
})()"#;

#[tokio::test]
async fn a_page_whose_flow_is_finished_or_expired_says_so_with_the_way_back_and_runs_no_ceremony() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let redirect = "https://books.example/cb";
    let browser = Browser::launch(&[]).await;

    // Finished: the flow issued its code elsewhere; the page learns it from the options
    // call, before any ceremony, and says the sign-in is done.
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "books", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let page = browser.new_page(Authenticator::default()).await;
    let (url, _) = authorize_url(&broker, "books", redirect, "");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    assert_eq!(page.eval(FINISH_THE_FLOW_ELSEWHERE).await, true);
    assert_eq!(accounts(&broker, "books").await, 1);
    page.click("signin-button").await;
    page.wait_for("document.body.dataset.error === 'flow_finished'", WAIT)
        .await;
    assert_eq!(
        text(&page, "error-message").await,
        "This sign-in is already finished. To sign in again, or as someone else, start from the site."
    );
    assert!(shown(&page, "error-back").await);
    assert_eq!(text(&page, "error-back").await, "Back to Northwind Books");
    assert_eq!(
        page.eval("document.getElementById('error-back').href")
            .await,
        "https://books.example/"
    );
    for hidden in [
        "signin-button",
        "show-create",
        "create-button",
        "retry-button",
    ] {
        assert!(!shown(&page, hidden).await, "{hidden} is gone");
    }
    // Nothing is left to press: submitting the form by script runs no ceremony either.
    page.eval("document.getElementById('create-form').requestSubmit(), true")
        .await;
    page.eval("document.getElementById('signin-button').click(), true")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(page.credentials().await.len(), 1, "no second passkey");
    assert_eq!(accounts(&broker, "books").await, 1, "no second account");
    screenshots(&page, "hosted-finished").await;

    // Expired: the page says so by itself when its flow's time is up.
    let broker = Broker::start_with(&[("LATCHKEY_FLOW_TTL", "3")]);
    broker
        .create_tenant(json!({"client_id": "books", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let page = browser.new_page(Authenticator::default()).await;
    let (url, _) = authorize_url(&broker, "books", redirect, "&prompt=create");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    assert!(shown(&page, "create-button").await);
    page.wait_for("document.body.dataset.error === 'flow_expired'", WAIT)
        .await;
    assert_eq!(
        text(&page, "error-message").await,
        "This sign-in page has expired. Go back to the site and start again."
    );
    assert!(shown(&page, "error-back").await);
    assert!(!shown(&page, "create-button").await);
    page.eval("document.getElementById('create-form').requestSubmit(), true")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(page.credentials().await.is_empty(), "no passkey");
    assert_eq!(accounts(&broker, "books").await, 0, "no account");

    // Gone on the server while the page still counts: the options call says so and
    // navigator.credentials is never called.
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "books", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let page = browser.new_page(Authenticator::default()).await;
    let (url, _) = authorize_url(&broker, "books", redirect, "&prompt=create");
    page.goto(&url).await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    let (status, _) = broker.admin(Method::DELETE, "/tenants/books", None).await;
    assert_eq!(status, 204);
    create_passkey(&page, "ada@example.com").await;
    page.wait_for("document.body.dataset.error === 'flow_not_found'", WAIT)
        .await;
    assert!(shown(&page, "error-back").await);
    assert!(page.credentials().await.is_empty(), "no passkey was made");
}

/// After `history.back()` from the site to the hosted page of a finished sign-in: the
/// page says it is finished, with the way back to the site, and offers nothing to press.
async fn back_to_a_finished_sign_in(page: &Page, site: &str) {
    page.eval("history.back(), true").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.readyState === 'complete'",
        WAIT,
    )
    .await;
    page.wait_for("document.getElementById('back-to-site')", WAIT)
        .await;
    assert_eq!(
        page.eval("document.querySelector('h1').innerText").await,
        "This sign-in is already finished"
    );
    assert_eq!(
        text(page, "message").await,
        "You already signed in to Demo site from this page. There is nothing more to do here."
    );
    assert_eq!(
        page.eval("document.getElementById('back-to-site').href")
            .await,
        format!("{site}/")
    );
    assert!(
        page.eval("document.querySelector('meta[name=\"latchkey-flow\"]') === null")
            .await
            == Value::Bool(true),
        "no flow was opened"
    );
    // Every button of the hosted page is gone: nothing can start a ceremony.
    for id in [
        "signin-button",
        "create-button",
        "show-create",
        "retry-button",
    ] {
        assert!(
            page.eval(&format!("document.getElementById({}) === null", json!(id)))
                .await
                == Value::Bool(true),
            "{id}"
        );
    }
}

#[tokio::test]
async fn the_back_button_after_signing_in_shows_a_finished_sign_in_and_makes_no_second_account() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let site = latchkey_tests::harness::DemoSite::start(&broker, "back-demo").await;
    let base = site.base.clone();
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    // Create a passkey through the SDK's demo site.
    page.goto(&format!("{base}/")).await;
    page.click("create").await;
    page.wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_passkey(&page, "ada@example.com").await;
    let signed_in = format!(
        "location.href === {} && document.getElementById('identity')",
        json!(format!("{base}/"))
    );
    page.wait_for(&signed_in, WAIT).await;
    assert_eq!(accounts(&broker, "back-demo").await, 1);

    // Back: the same authorize request again.
    back_to_a_finished_sign_in(&page, &base).await;
    screenshots(&page, "authorize-finished").await;
    assert_eq!(accounts(&broker, "back-demo").await, 1, "no second account");
    assert_eq!(page.credentials().await.len(), 1, "no second passkey");
    // Its link leads back to the site, still signed in.
    page.click("back-to-site").await;
    page.wait_for(&signed_in, WAIT).await;

    // The same after signing in with the passkey.
    page.click("sign-out").await;
    page.wait_for("document.getElementById('sign-in')", WAIT)
        .await;
    page.click("sign-in").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.click("signin-button").await;
    page.wait_for(&signed_in, WAIT).await;
    back_to_a_finished_sign_in(&page, &base).await;
    assert_eq!(accounts(&broker, "back-demo").await, 1, "no second account");
    assert_eq!(page.credentials().await.len(), 1, "no second passkey");

    // The error page of a site's broken link, for the record.
    page.goto(&format!(
        "{}/authorize?response_type=code&client_id=no-such-site&redirect_uri=https%3A%2F%2Fshop.example%2Fcb",
        broker.issuer
    ))
    .await;
    page.wait_for("document.getElementById('developer')", WAIT)
        .await;
    screenshots(&page, "authorize-error").await;
}

/// Adds a second virtual authenticator to `page` (a USB security key, device-bound) and
/// returns its id.
async fn add_security_key(page: &Page) -> String {
    let added = page
        .call(
            "WebAuthn.addVirtualAuthenticator",
            json!({"options": {
                "protocol": "ctap2", "ctap2Version": "ctap2_1", "transport": "usb",
                "hasResidentKey": true, "hasUserVerification": true, "isUserVerified": true,
                "automaticPresenceSimulation": true,
            }}),
        )
        .await;
    added["authenticatorId"].as_str().unwrap().to_owned()
}

/// Whether the authenticator `id` answers prompts (user presence).
async fn set_present(page: &Page, id: &str, present: bool) {
    page.call(
        "WebAuthn.setAutomaticPresenceSimulation",
        json!({"authenticatorId": id, "enabled": present}),
    )
    .await;
}

async fn credentials_of(page: &Page, id: &str) -> Vec<Value> {
    page.call("WebAuthn.getCredentials", json!({"authenticatorId": id}))
        .await["credentials"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_person_adds_a_security_key_on_the_account_page_and_retires_the_laptop_passkey() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let site = latchkey_tests::harness::DemoSite::start(&broker, "account-demo").await;
    let base = site.base.clone();
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;
    let laptop = page.authenticator_id.clone();

    // An account made on the demo site with the laptop's passkey.
    page.goto(&format!("{base}/")).await;
    page.click("create").await;
    page.wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_passkey(&page, "ada@example.com").await;
    page.wait_for("document.getElementById('identity')", WAIT)
        .await;
    let sub = page.eval("document.getElementById('sub').innerText").await;

    // "Manage your passkeys" opens the account page, which signs the person in.
    page.click("manage-passkeys").await;
    page.wait_for(
        "location.pathname === '/account' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    screenshots(&page, "account-signed-out").await;
    page.click("signin-button").await;
    page.wait_for(
        "!document.getElementById('view-account').hidden && document.querySelectorAll('#passkeys li').length === 1",
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.querySelector('#passkeys .passkey-here').hidden")
            .await,
        false,
        "the passkey in use on this device is marked"
    );

    // The security key is added (the laptop, excluded, does not answer).
    let key = add_security_key(&page).await;
    set_present(&page, &laptop, false).await;
    page.fill("passkey-name", "Blue key").await;
    page.eval("document.getElementById('add-form').requestSubmit()")
        .await;
    page.wait_for(
        "document.querySelectorAll('#passkeys li').length === 2",
        WAIT,
    )
    .await;
    assert_eq!(credentials_of(&page, &key).await.len(), 1);
    screenshots(&page, "account").await;
    let out = screenshot_dir();
    page.screenshot(&out.join("account-dark-mobile.png"), 390, 844, true)
        .await;

    // The laptop's passkey is removed; the authenticator is told to forget it.
    let first = page
        .eval("[...document.querySelectorAll('#passkeys li')].findIndex((li) => !li.querySelector('.passkey-here').hidden)")
        .await;
    let first = first.as_i64().unwrap();
    page.eval(&format!(
        "document.querySelectorAll('#passkeys li')[{first}].querySelector('.remove-button').click()"
    ))
    .await;
    page.eval(&format!(
        "document.querySelectorAll('#passkeys li')[{first}].querySelector('.confirm-remove-button').click()"
    ))
    .await;
    page.wait_for(
        "document.querySelectorAll('#passkeys li').length === 1",
        WAIT,
    )
    .await;
    assert!(
        page.eval("document.querySelector('#passkeys .passkey-name').innerText")
            .await
            .as_str()
            .unwrap()
            .contains("Blue key")
    );
    assert_eq!(
        page.eval("document.querySelector('#passkeys .remove-button').disabled")
            .await,
        true,
        "the only passkey left cannot be removed from the page"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !credentials_of(&page, &laptop).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "signalAllAcceptedCredentials did not reach the laptop's authenticator"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshots(&page, "account-after-removal").await;

    // Back on the site, signed out, the security key signs in to the same account.
    page.click("back-link").await;
    page.wait_for(
        &format!("location.href === {}", json!(format!("{base}/"))),
        WAIT,
    )
    .await;
    signs_in_again_as(&page, &sub).await;
}
