//! The demo site example (`examples/demo_site.rs`) as a newcomer uses it, without a
//! browser: its page, "Create a passkey" through the real broker with the software
//! authenticator, the signed-in page (sub, passkey id, backed up, new user), sign out;
//! its icon; and its one host name (`127.0.0.1` is sent to `localhost` first).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::authenticator::{SoftAuthenticator, b64};
use latchkey_tests::harness::{Broker, DemoSite, flow_id_from_html};
use serde_json::{Value, json};

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_demo_site_signs_in_through_the_broker_and_shows_who_is_signed_in() {
    let broker = Broker::start();
    let site = DemoSite::start(&broker, "demo-site").await;
    let base = site.base.clone();

    // One cookie jar for both, as in a browser (localhost resolves to 127.0.0.1).
    let browser = broker.browser();
    let home = browser.get(format!("{base}/")).send().await.unwrap();
    assert!(home.text().await.unwrap().contains("Create a passkey"));

    let login = browser
        .get(format!("{base}/login?create"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 302);
    let authorize = location(&login);
    assert!(authorize.starts_with(&format!("{}/authorize?", broker.issuer)));
    assert!(authorize.contains("prompt=create"));

    let html = browser
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let flow = flow_id_from_html(&html).expect("the hosted page");
    let api = |p: &str| format!("{}/api/v1/flows/{flow}/{p}", broker.issuer);
    let options: Value = browser
        .post(api("registration/options"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut auth = SoftAuthenticator::new();
    let credential = auth.register(&options, &broker.issuer).unwrap();
    let done: Value = browser
        .post(api("registration"))
        .json(&credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = done["redirect_to"].as_str().unwrap();
    assert!(back.starts_with(&format!("{base}/callback?")), "{back}");

    let callback = browser.get(back).send().await.unwrap();
    assert_eq!(callback.status().as_u16(), 302, "the callback signs in");
    assert_eq!(location(&callback), "/");
    let page = browser
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You are signed in with a passkey."), "{page}");
    // The passkey as every page names it: its credential id, the first 10 characters
    // shown and the whole of it in the title.
    let credential_id = b64(&auth.credentials()[0].credential_id);
    assert!(
        page.contains(&format!(
            "<dd id=\"passkey-id\" title=\"{credential_id}\">{}…</dd>",
            &credential_id[..10]
        )),
        "the passkey is shown by its credential id: {page}"
    );
    assert!(page.contains("<dd id=\"new-user\">true</dd>"), "{page}");
    assert!(page.contains("<dd id=\"backed-up\">"));

    // The same callback again: refused, the visitor stays who they were.
    let replay = browser.get(back).send().await.unwrap();
    assert_eq!(replay.status().as_u16(), 400);

    let out = browser.post(format!("{base}/logout")).send().await.unwrap();
    assert_eq!(out.status().as_u16(), 302);
    let page = browser
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with a passkey"), "{page}");
}

#[tokio::test]
async fn the_demo_site_sends_127_0_0_1_to_localhost_before_any_sign_in_starts() {
    let broker = Broker::start();
    let site = DemoSite::start(&broker, "demo-host").await;
    let base = site.base.clone();
    let port = url::Url::parse(&base).unwrap().port().unwrap();
    let browser = broker.browser();

    // Opened as 127.0.0.1: every path goes to the same path on localhost first, and
    // nothing is started (no pending-login cookie, no redirect to the broker).
    for path in [
        "/",
        "/login?create",
        "/login",
        "/callback?code=c&state=s",
        "/favicon.ico",
    ] {
        let res = browser
            .get(format!("http://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 307, "{path}");
        assert_eq!(location(&res), format!("{base}{path}"), "{path}");
        assert!(res.headers().get("set-cookie").is_none(), "{path}");
    }
    let (_, users) = broker
        .admin(reqwest::Method::GET, "/tenants/demo-host/users", None)
        .await;
    assert_eq!(users["users"], json!([]), "no account: {users}");

    // On localhost the same link starts the sign-in.
    let res = browser
        .get(format!("{base}/login?create"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 302);
    assert!(location(&res).starts_with(&format!("{}/authorize?", broker.issuer)));
}

#[tokio::test]
async fn the_demo_site_has_an_icon_of_its_own_that_its_pages_name_and_allow() {
    let broker = Broker::start();
    let site = DemoSite::start(&broker, "demo-icon").await;
    let base = site.base.clone();
    let browser = broker.browser();
    let icon = browser
        .get(format!("{base}/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status().as_u16(), 200);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    assert_eq!(&icon.bytes().await.unwrap()[..4], &[0, 0, 1, 0]);
    let home = browser.get(format!("{base}/")).send().await.unwrap();
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let html = home.text().await.unwrap();
    assert!(
        html.contains("<link rel=\"icon\" href=\"/favicon.ico\""),
        "{html}"
    );
}
