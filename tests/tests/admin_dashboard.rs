//! The admin dashboard in a real browser: Debian's Chromium, headless, with a WebAuthn
//! virtual authenticator. An invitation link from the CLI registers an admin passkey on
//! the broker's own sign-in page; the admin creates a tenant through the form; that
//! tenant's sign-in works; the admin revokes its passkey, whose next use answers
//! `unknown_credential`; a form posted without its CSRF token is refused and changes
//! nothing. Screenshots of the main pages go to `target/screenshots/`. Set
//! `LATCHKEY_SKIP_BROWSER=1` to skip this suite explicitly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use latchkey_tests::browser::{Authenticator, Browser, Page, skipped};
use latchkey_tests::harness::{Broker, Pkce, binary, redeem};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn screenshots() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

async fn shoot(page: &Page, name: &str) {
    // A tab in the background may never paint: bring it forward first.
    page.call("Page.bringToFront", json!({})).await;
    page.screenshot(
        &screenshots().join(format!("admin-{name}.png")),
        1280,
        900,
        false,
    )
    .await;
    // Back to the size the browser was launched with.
    page.call("Emulation.clearDeviceMetricsOverride", json!({}))
        .await;
}

/// Posts the form `selector` of the current page as a person would, and waits for the
/// next page to load.
async fn submit(page: &Page, selector: &str) {
    let marker = page
        .eval("(() => { window.__before = Math.random(); return true; })()")
        .await;
    assert_eq!(marker, Value::Bool(true));
    let ok = page
        .eval(&format!(
            "(() => {{ const f = document.querySelector({}); if (!f) return false; f.requestSubmit(); return true; }})()",
            json!(selector)
        ))
        .await;
    assert_eq!(ok, Value::Bool(true), "no form {selector}");
    page.wait_for(
        "window.__before === undefined && document.readyState === 'complete'",
        WAIT,
    )
    .await;
}

/// Clicks a link or button found by `selector` and waits for the next page.
async fn follow(page: &Page, selector: &str) {
    page.eval("(() => { window.__before = 1; return true; })()")
        .await;
    let ok = page
        .eval(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
            json!(selector)
        ))
        .await;
    assert_eq!(ok, Value::Bool(true), "nothing at {selector}");
    page.wait_for(
        "window.__before === undefined && document.readyState === 'complete'",
        WAIT,
    )
    .await;
}

async fn text(page: &Page) -> String {
    page.eval("document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_invited_admin_creates_a_tenant_and_revokes_a_passkey_in_chromium() {
    if skipped() {
        return;
    }
    let broker = Broker::start();
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    // The signed-out dashboard offers to sign in; its sign-in page offers no new
    // passkey (admins come from invitations).
    page.goto(&broker.url("/admin")).await;
    assert!(text(&page).await.contains("Sign in with a passkey"));
    shoot(&page, "sign-in").await;
    follow(&page, "#admin-sign-in").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('show-create').checkVisibility()")
            .await,
        Value::Bool(false),
        "{}",
        text(&page).await
    );
    assert!(!text(&page).await.contains("New here?"));

    // `latchkey admin invite` prints a one-time link.
    let out = std::process::Command::new(binary())
        .args(["admin", "invite"])
        .envs(broker.env().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCHKEY_DATA_DIR", &broker.dir)
        .env("LATCHKEY_ISSUER", &broker.issuer)
        .env("LATCHKEY_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // The link opens a page that says it is an invitation; its button opens the broker's
    // own sign-in page, ready to create a passkey.
    page.goto(&broker.url(&link[broker.issuer.len()..])).await;
    let landing = text(&page).await;
    assert!(
        landing.contains("You are invited to be an admin"),
        "{landing}"
    );
    assert!(landing.contains("works once, until"), "{landing}");
    shoot(&page, "invitation").await;
    page.click("accept-invitation").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('view-create').hidden")
            .await,
        Value::Bool(false)
    );
    page.fill("email", "root@example.com").await;
    page.eval("document.getElementById('create-form').requestSubmit()")
        .await;
    page.wait_for(
        "location.pathname === '/admin/tenants' && document.readyState === 'complete'",
        WAIT,
    )
    .await;
    assert!(text(&page).await.contains("root@example.com"));
    assert_eq!(page.credentials().await.len(), 1, "the admin passkey");

    // Create a tenant through the form; a bad redirect URI is shown beside its field
    // first, and nothing is created.
    follow(&page, "#new-tenant").await;
    let redirect = broker.url("/landing");
    page.fill("client_id", "shop").await;
    page.fill("name", "Shop").await;
    page.fill("redirect_uris", "http://shop.example/cb").await;
    submit(&page, "#tenant-form").await;
    let error = page
        .eval("document.getElementById('redirect_uris-error')?.innerText")
        .await;
    assert!(
        error.as_str().is_some_and(|e| e.contains("https")),
        "{error}"
    );
    assert_eq!(
        page.eval("document.getElementById('client_id').value")
            .await,
        "shop",
        "what was typed is kept"
    );
    shoot(&page, "tenant-form-error").await;
    let (s, _) = broker.admin(Method::GET, "/tenants/shop", None).await;
    assert_eq!(s, 404);
    page.fill("redirect_uris", &redirect).await;
    page.fill("related_origins", "https://www.shop.example")
        .await;
    submit(&page, "#tenant-form").await;
    assert!(
        text(&page).await.contains("The tenant was created"),
        "{}",
        text(&page).await
    );
    // Reloading the page shows the tenant, and posts nothing again.
    page.eval("(() => { window.__before = 1; location.reload(); return true; })()")
        .await;
    page.wait_for(
        "window.__before === undefined && document.readyState === 'complete'",
        WAIT,
    )
    .await;
    let reloaded = text(&page).await;
    assert!(reloaded.contains("Shop"), "{reloaded}");
    assert!(!reloaded.contains("already exists"), "{reloaded}");
    assert!(!reloaded.contains("The tenant was created"), "{reloaded}");
    assert_eq!(
        page.eval("document.getElementById('label-count').innerText")
            .await,
        "1 of 5"
    );
    let preview = page
        .eval("document.getElementById('well-known-preview').innerText")
        .await;
    assert!(
        preview
            .as_str()
            .unwrap()
            .contains("https://www.shop.example"),
        "{preview}"
    );
    shoot(&page, "tenant").await;
    let (s, tenant) = broker.admin(Method::GET, "/tenants/shop", None).await;
    assert_eq!(s, 200);
    assert_eq!(tenant["redirect_uris"], json!([redirect]));

    // That tenant's sign-in works, in another tab with an authenticator of its own.
    let user = browser.new_page(Authenticator::default()).await;
    let pkce = Pkce::new();
    let authorize = format!(
        "{}/authorize?response_type=code&client_id=shop&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=st&prompt=create",
        broker.issuer,
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        pkce.challenge
    );
    user.goto(&authorize).await;
    user.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    user.fill("email", "ada@example.com").await;
    user.eval("document.getElementById('create-form').requestSubmit()")
        .await;
    let href = user
        .wait_for(
            &format!(
                "location.href.startsWith({}) && location.href",
                json!(redirect)
            ),
            WAIT,
        )
        .await;
    let code = url::Url::parse(href.as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let (s, signed_in) = redeem(
        &broker,
        &json!({"client_id": "shop", "code": code, "code_verifier": pkce.verifier, "redirect_uri": redirect}),
    )
    .await;
    assert_eq!(s, 200, "{signed_in}");
    let credential_id = signed_in["sign_in"]["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The admin finds the passkey and revokes it, after confirming.
    page.goto(&broker.url("/admin/tenants/shop/users")).await;
    let listed = page
        .eval("[...document.querySelectorAll('tr.passkey')].map(r => r.dataset.credentialId)")
        .await;
    assert_eq!(listed, json!([credential_id]));
    shoot(&page, "users").await;
    follow(
        &page,
        &format!("tr[data-credential-id='{credential_id}'] a.revoke"),
    )
    .await;
    assert!(text(&page).await.contains("Revoke this passkey?"));
    shoot(&page, "confirm-revoke").await;
    let (_, users) = broker.admin(Method::GET, "/tenants/shop/users", None).await;
    assert_eq!(
        users["users"][0]["passkeys"].as_array().unwrap().len(),
        1,
        "nothing happens before the confirmation"
    );
    follow(&page, "#confirm").await;
    assert!(text(&page).await.contains("The passkey was revoked"));

    // Its next use answers unknown_credential (a new authorization request, with a
    // code_challenge of its own: the first one has issued its code).
    let again = Pkce::new();
    user.goto(&format!(
        "{}&prompt=login",
        authorize
            .replace("&prompt=create", "")
            .replace(&pkce.challenge, &again.challenge)
    ))
    .await;
    user.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    user.click("signin-button").await;
    user.wait_for("document.body.dataset.error === 'unknown_credential'", WAIT)
        .await;
    let (_, audit) = broker
        .admin(
            Method::GET,
            "/audit?action=ceremony.failed&tenant=shop",
            None,
        )
        .await;
    assert_eq!(audit["events"][0]["subject"], credential_id.as_str());
    assert_eq!(audit["events"][0]["detail"]["reason"], "unknown_credential");

    // A form posted without its CSRF token is refused, and the tenant stays.
    page.goto(&broker.url("/admin/tenants/shop/delete")).await;
    let removed = page
        .eval("(() => { const f = document.getElementById('confirm').form; f.querySelector('input[name=csrf]').remove(); return f.querySelectorAll('input[name=csrf]').length; })()")
        .await;
    assert_eq!(removed, 0, "the form goes without its token");
    follow(&page, "#confirm").await;
    assert!(
        text(&page).await.contains("Nothing was changed"),
        "{}",
        text(&page).await
    );
    let status = page
        .eval("performance.getEntriesByType('navigation')[0].responseStatus")
        .await;
    assert_eq!(status, 403);
    let (s, _) = broker.admin(Method::GET, "/tenants/shop", None).await;
    assert_eq!(s, 200, "the tenant is still there");

    // The other pages, with what they show.
    page.goto(&broker.url("/admin/tenants")).await;
    shoot(&page, "tenants").await;
    page.goto(&broker.url("/admin/audit")).await;
    // A bar per day over 30 days (the wait panics with the page's text otherwise).
    page.wait_for(
        "document.querySelectorAll('#sign-in-chart rect.bar').length === 30",
        WAIT,
    )
    .await;
    let today = page
        .eval("document.querySelector('#sign-in-chart rect.bar:last-of-type title').textContent")
        .await;
    assert!(
        today.as_str().unwrap().ends_with(": 2"),
        "the admin's and Ada's sign-ups today: {today}"
    );
    shoot(&page, "audit").await;
    page.goto(&broker.url("/admin/tokens")).await;
    page.fill("token-name", "deploy").await;
    submit(&page, "form[action='/admin/tokens']").await;
    let token = page
        .eval("document.getElementById('new-token').innerText")
        .await;
    assert!(token.as_str().unwrap().starts_with("lkadm_"));
    shoot(&page, "tokens").await;
    page.goto(&broker.url("/admin/admins")).await;
    submit(&page, "form[action='/admin/invites']").await;
    let link = page
        .eval("document.getElementById('invite-link').innerText")
        .await;
    assert!(
        link.as_str()
            .unwrap()
            .starts_with(&format!("{}/admin/invite/", broker.issuer))
    );
    shoot(&page, "admins").await;
    page.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await;
    page.goto(&broker.url("/admin/tenants/shop")).await;
    page.call("Page.bringToFront", json!({})).await;
    page.screenshot(
        &screenshots().join("admin-tenant-dark.png"),
        1280,
        900,
        true,
    )
    .await;
    page.screenshot(
        &screenshots().join("admin-tenant-mobile.png"),
        390,
        844,
        false,
    )
    .await;

    // Signing out ends the session.
    page.goto(&broker.url("/admin/tenants")).await;
    follow(&page, "#sign-out").await;
    assert!(text(&page).await.contains("You are signed out"));
}

/// Signs `page` in as a new admin, from an invitation made through the admin API.
async fn invited_admin(broker: &Broker, page: &Page) {
    let (s, invite) = broker.admin(Method::POST, "/invites", None).await;
    assert_eq!(s, 201, "{invite}");
    let link = invite["url"].as_str().unwrap();
    page.goto(&broker.url(&link[broker.issuer.len()..])).await;
    page.click("accept-invitation").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.fill("email", "a.rather.long.admin.address@example.com")
        .await;
    page.eval("document.getElementById('create-form').requestSubmit()")
        .await;
    page.wait_for(
        "location.pathname === '/admin/tenants' && document.readyState === 'complete'",
        WAIT,
    )
    .await;
}

/// Whether the page is no wider than its viewport.
async fn fits(page: &Page) -> Value {
    // With what sticks out, when something does.
    page.eval("JSON.stringify({scroll: document.documentElement.scrollWidth, inner: window.innerWidth, fits: document.documentElement.scrollWidth <= window.innerWidth, wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(-3).map(e => e.tagName + '.' + e.className + ' ' + (e.innerText || '').slice(0, 60))})")
        .await
}

/// Sets the viewport to `width` CSS pixels exactly (a 390 px phone, a 1280 px desktop).
/// Not as a mobile device: a mobile browser widens its layout viewport to the content,
/// which would hide the very overflow the checks look for.
async fn viewport(page: &Page, width: u32, height: u32) {
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    )
    .await;
}

/// A screenshot at the viewport's size, to `target/screenshots/admin-{name}.png`.
async fn capture(page: &Page, name: &str, width: u32, height: u32) {
    page.call("Page.bringToFront", json!({})).await;
    page.screenshot(
        &screenshots().join(format!("admin-{name}.png")),
        width,
        height,
        false,
    )
    .await;
}

#[tokio::test]
async fn on_a_phone_the_users_and_tenants_pages_fit_the_screen_and_revoke_is_in_reach() {
    if skipped() {
        return;
    }
    let broker = Broker::start();
    // Long values, as real tenants and users have them.
    for id in ["a-rather-long-client-identifier.for-the-shop", "blog"] {
        broker
            .create_tenant(json!({
                "client_id": id,
                "name": "The Very Long Name of an Online Shop",
                "redirect_uris": ["https://checkout.a-rather-long-domain-name.example/callback", latchkey_tests::harness::REDIRECT],
                "related_origins": ["https://www.a-rather-long-domain-name.example"],
            }))
            .await;
    }
    let shop = "a-rather-long-client-identifier.for-the-shop";
    for _ in 0..2 {
        let flow = latchkey_tests::harness::Flow::open(&broker, shop).await;
        let mut auth = latchkey_tests::authenticator::SoftAuthenticator::new();
        let (s, v) = flow
            .register(
                &mut auth,
                json!({"email": "someone.with.a.long.address@subdomain.example.com", "display_name": "Someone With A Long Name"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;
    invited_admin(&broker, &page).await;

    for (width, height, device) in [(390, 844, "phone"), (1280, 900, "desktop")] {
        viewport(&page, width, height).await;
        page.goto(&broker.url("/admin/tenants")).await;
        assert_eq!(page.eval("window.innerWidth").await, json!(width));
        let fit = fits(&page).await;
        assert!(
            fit.as_str().unwrap().contains("\"fits\":true"),
            "tenants on a {device}: {fit}"
        );
        capture(&page, &format!("tenants-{width}"), width, height).await;

        page.goto(&broker.url(&format!("/admin/tenants/{shop}/users")))
            .await;
        let fit = fits(&page).await;
        assert!(
            fit.as_str().unwrap().contains("\"fits\":true"),
            "users on a {device}: {fit}"
        );
        let reach = page
            .eval("(() => { const r = document.querySelector('a.revoke').getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; })()")
            .await;
        assert_eq!(reach, Value::Bool(true), "Revoke on a {device}");
        capture(&page, &format!("users-{width}"), width, height).await;

        // The tenant form with every field's error at once.
        page.goto(&broker.url("/admin/tenants/new")).await;
        page.fill("redirect_uris", "http://shop.example/cb").await;
        submit(&page, "#tenant-form").await;
        let errors = page
            .eval("[...document.querySelectorAll('.field-error')].map(e => e.id)")
            .await;
        assert_eq!(
            errors,
            json!(["client_id-error", "name-error", "redirect_uris-error"]),
            "{}",
            text(&page).await
        );
        let fit = fits(&page).await;
        assert!(
            fit.as_str().unwrap().contains("\"fits\":true"),
            "form on a {device}: {fit}"
        );
        capture(&page, &format!("tenant-form-errors-{width}"), width, height).await;

        page.goto(&broker.url("/admin/audit")).await;
        let fit = fits(&page).await;
        assert!(
            fit.as_str().unwrap().contains("\"fits\":true"),
            "audit on a {device}: {fit}"
        );
        let sentence = page
            .eval("document.querySelector('#audit .sentence').innerText")
            .await;
        assert!(
            sentence.as_str().is_some_and(|s| !s.contains('{')),
            "{sentence}"
        );
        capture(&page, &format!("audit-{width}"), width, height).await;

        page.goto(&broker.url("/admin/admins")).await;
        let fit = fits(&page).await;
        assert!(
            fit.as_str().unwrap().contains("\"fits\":true"),
            "admins on a {device}: {fit}"
        );
        capture(&page, &format!("admins-{width}"), width, height).await;
    }
}
