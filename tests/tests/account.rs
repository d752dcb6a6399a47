//! The account page (PROTOCOL §9) against the real binary: a person signs in on the
//! page's own flow, lists, adds, renames and removes their passkeys; the session's
//! rules (cross-site, missing, stale, idle), the last passkey, other accounts' and
//! tenants' passkeys, the single-use creation challenge and the tenant's policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::authenticator::{SoftAuthenticator, Tamper, b64};
use latchkey_tests::harness::{Broker, Flow, REDIRECT, flow_id_from_html};
use reqwest::Method;
use serde_json::{Value, json};

const YUBIKEY: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const YUBIKEY_BYTES: [u8; 16] = [
    0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8,
];

/// One browser on the account page of a tenant.
struct AccountPage {
    browser: reqwest::Client,
    base: String,
    issuer: String,
    flow: String,
}

impl AccountPage {
    /// Opens `/account?client_id=…` in a new browser.
    async fn open(broker: &Broker, client_id: &str) -> AccountPage {
        Self::open_in(broker, broker.browser(), client_id).await
    }

    async fn open_in(broker: &Broker, browser: reqwest::Client, client_id: &str) -> AccountPage {
        let res = browser
            .get(broker.url("/account"))
            .query(&[("client_id", client_id), ("return_to", REDIRECT)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "the account page opens");
        let html = res.text().await.unwrap();
        AccountPage {
            browser,
            base: broker.url(""),
            issuer: broker.issuer.clone(),
            flow: flow_id_from_html(&html).expect("the page carries its flow"),
        }
    }

    /// The same browser, talking to another instance.
    fn on(&self, other: &Broker) -> AccountPage {
        AccountPage {
            browser: self.browser.clone(),
            base: other.url(""),
            issuer: self.issuer.clone(),
            flow: self.flow.clone(),
        }
    }

    async fn flow_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .browser
            .post(format!("{}/api/v1/flows/{}/{path}", self.base, self.flow))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Signs in on the page's flow with `auth`: the answer of `authentication`.
    async fn sign_in(&self, auth: &mut SoftAuthenticator) -> (u16, Value) {
        let (s, options) = self.flow_post("authentication/options", &json!({})).await;
        assert_eq!(s, 200, "{options}");
        let credential = auth.authenticate(&options, &self.issuer).unwrap();
        self.flow_post("authentication", &credential).await
    }

    /// A call of the account API, with the session cookie of this browser.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .browser
            .request(method, format!("{}/api/v1/account{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn account(&self) -> Value {
        let (s, v) = self.call(Method::GET, "", None).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Creation options, then the new passkey made by `auth` (not yet sent).
    async fn new_passkey(&self, auth: &mut SoftAuthenticator) -> (Value, Value) {
        let (s, options) = self.call(Method::POST, "/passkeys/options", None).await;
        assert_eq!(s, 200, "{options}");
        let credential = auth.register(&options, &self.issuer).unwrap();
        (options, credential)
    }

    /// Adds a passkey made by `auth`, named `name`.
    async fn add(&self, auth: &mut SoftAuthenticator, name: &str) -> (u16, Value) {
        let (_, credential) = self.new_passkey(auth).await;
        self.call(
            Method::POST,
            "/passkeys",
            Some(json!({"credential": credential, "name": name})),
        )
        .await
    }
}

/// A broker with tenant `acme` and one account made with a passkey of `auth`; returns
/// the account's id.
async fn setup(env: &[(&str, &str)]) -> (Broker, SoftAuthenticator, String) {
    let broker = Broker::start_with(env);
    broker
        .create_tenant(
            json!({"client_id": "acme", "redirect_uris": [REDIRECT], "rp_mode": "broker"}),
        )
        .await;
    let mut auth = SoftAuthenticator::new();
    let user_id = register(&broker, "acme", &mut auth).await;
    (broker, auth, user_id)
}

async fn register(broker: &Broker, client_id: &str, auth: &mut SoftAuthenticator) -> String {
    let flow = Flow::open(broker, client_id).await;
    let (s, answer) = flow
        .register(auth, json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(s, 200, "{answer}");
    answer["signals"]["user_id"].as_str().unwrap().to_owned()
}

fn error(got: &(u16, Value)) -> (u16, Option<&str>) {
    (got.0, got.1["error"].as_str())
}

fn id_of(auth: &SoftAuthenticator, i: usize) -> String {
    b64(&auth.credentials()[i].credential_id)
}

#[tokio::test]
async fn a_person_adds_a_backup_passkey_renames_it_and_removes_the_first() {
    let (broker, mut laptop, user_id) = setup(&[]).await;
    let sibling = broker.sibling();
    let page = AccountPage::open(&broker, "acme").await;

    let (s, v) = page.sign_in(&mut laptop).await;
    assert_eq!((s, &v), (200, &json!({"account": true})));
    let account = page.account().await;
    assert_eq!(account["user_id"], user_id.as_str());
    assert_eq!(account["email"], "ada@example.com");
    let passkeys = account["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert_eq!(passkeys[0]["credential_id"], id_of(&laptop, 0).as_str());
    assert_eq!(passkeys[0]["this_device"], true);
    for field in [
        "name",
        "authenticator",
        "backed_up",
        "created_at",
        "last_used_at",
    ] {
        assert!(passkeys[0].get(field).is_some(), "{field} in {account}");
    }

    // The creation options are for this account: its user handle, its passkeys excluded.
    let mut key = SoftAuthenticator::new().device_bound();
    let (options, credential) = page.new_passkey(&mut key).await;
    let public_key = &options["publicKey"];
    assert_eq!(public_key["user"]["id"], user_id.as_str());
    let excluded: Vec<&str> = public_key["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, vec![id_of(&laptop, 0)]);
    let (s, added) = page
        .call(
            Method::POST,
            "/passkeys",
            Some(json!({"credential": credential, "name": "  Drawer key "})),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["credential_id"], id_of(&key, 0).as_str());
    assert_eq!(added["name"], "Drawer key");
    assert_eq!(added["backed_up"], false);
    assert_eq!(
        page.account().await["passkeys"].as_array().unwrap().len(),
        2
    );

    let (s, renamed) = page
        .call(
            Method::PATCH,
            &format!("/passkeys/{}", id_of(&key, 0)),
            Some(json!({"name": "Blue key"})),
        )
        .await;
    assert_eq!(
        (s, renamed["name"].as_str()),
        (200, Some("Blue key")),
        "{renamed}"
    );

    let (s, v) = page
        .call(
            Method::DELETE,
            &format!("/passkeys/{}", id_of(&laptop, 0)),
            None,
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let left = page.account().await;
    let left = left["passkeys"].as_array().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "Blue key");

    // The added passkey signs in at once at /authorize, to the same account, on any
    // instance; the removed one is unknown at once, on every instance.
    let flow = Flow::open(&sibling, "acme").await;
    let (s, answer) = flow.sign_in(&mut key).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(answer["signals"]["user_id"], user_id.as_str());
    let code = flow.code_from(&answer);
    let (s, redeemed) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["user_id"], user_id.as_str());
    assert_eq!(redeemed["sign_in"]["new_user"], false);
    for instance in [&broker, &sibling] {
        let flow = Flow::open(instance, "acme").await;
        let got = flow.sign_in(&mut laptop).await;
        assert_eq!(error(&got), (404, Some("unknown_credential")), "{}", got.1);
        assert_eq!(got.1["credential_id"], id_of(&laptop, 0).as_str());
    }

    // Every change is in the audit log.
    let (_, audit) = broker.admin(Method::GET, "/audit?limit=50", None).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "account.sign_in",
        "account.passkey_added",
        "account.passkey_renamed",
        "account.passkey_removed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn the_last_passkey_of_an_account_is_never_removed() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    let got = page
        .call(
            Method::DELETE,
            &format!("/passkeys/{}", id_of(&auth, 0)),
            None,
        )
        .await;
    assert_eq!(error(&got), (409, Some("last_passkey")), "{}", got.1);
    assert_eq!(
        page.account().await["passkeys"].as_array().unwrap().len(),
        1
    );
    // It still signs in.
    let flow = Flow::open(&broker, "acme").await;
    assert_eq!(flow.sign_in(&mut auth).await.0, 200);
}

#[tokio::test]
async fn without_a_session_or_after_signing_out_every_call_answers_401() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    let calls = [
        (Method::GET, "".to_owned(), None),
        (Method::POST, "/passkeys/options".to_owned(), None),
        (
            Method::POST,
            "/passkeys".to_owned(),
            Some(json!({"credential": {}})),
        ),
        (
            Method::PATCH,
            format!("/passkeys/{}", id_of(&auth, 0)),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!("/passkeys/{}", id_of(&auth, 0)),
            None,
        ),
        (Method::POST, "/sign-out".to_owned(), None),
    ];
    for (method, path, body) in calls.clone() {
        let got = page.call(method, &path, body).await;
        assert_eq!(
            error(&got),
            (401, Some("account_session_required")),
            "{path}: {}",
            got.1
        );
    }
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    page.account().await;
    let (s, _) = page.call(Method::POST, "/sign-out", None).await;
    assert_eq!(s, 204);
    for (method, path, body) in calls {
        let got = page.call(method, &path, body).await;
        assert_eq!(
            error(&got),
            (401, Some("account_session_required")),
            "{path} after sign-out: {}",
            got.1
        );
    }
    assert_eq!(
        broker
            .admin(Method::GET, "/tenants/acme/users", None)
            .await
            .1["users"][0]["passkeys"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing changed"
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_a_session_ends_when_idle() {
    let (broker, mut auth, _) = setup(&[("LATCHKEY_ACCOUNT_SESSION_IDLE", "2")]).await;
    let page = AccountPage::open(&broker, "acme").await;
    let (s, options) = page.flow_post("authentication/options", &json!({})).await;
    assert_eq!(s, 200);
    let credential = auth.authenticate(&options, &page.issuer).unwrap();
    let res = page
        .browser
        .post(format!(
            "{}/api/v1/flows/{}/authentication",
            page.base, page.flow
        ))
        .json(&credential)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("latchkey_account="))
        .expect("an account session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert_eq!(page.call(Method::GET, "", None).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let got = page.call(Method::GET, "", None).await;
    assert_eq!(
        error(&got),
        (401, Some("account_session_required")),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn adding_a_passkey_needs_a_sign_in_at_most_as_old_as_the_setting() {
    let (broker, mut auth, _) = setup(&[("LATCHKEY_ACCOUNT_REAUTH", "1")]).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Reading and naming stay open; adding asks for a fresh sign-in.
    assert_eq!(page.call(Method::GET, "", None).await.0, 200);
    let got = page.call(Method::POST, "/passkeys/options", None).await;
    assert_eq!(
        error(&got),
        (401, Some("reauthentication_required")),
        "{}",
        got.1
    );
    // The page signs the person in again on its flow, and the passkey is added.
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    let mut other = SoftAuthenticator::new();
    let (s, v) = page.add(&mut other, "Phone").await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn cross_site_calls_are_refused_before_the_session_is_looked_at() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    let url = format!("{}/api/v1/account/passkeys/{}", page.base, id_of(&auth, 0));
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let res = page
            .browser
            .delete(&url)
            .header(header, value)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            (status, v["error"].as_str()),
            (403, Some("cross_site")),
            "{header}: {v}"
        );
        // Without a session too: the cross-site check comes first.
        let res = broker
            .browser()
            .get(broker.url("/api/v1/account"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403);
    }
    // Same-origin calls work.
    let res = page
        .browser
        .get(format!("{}/api/v1/account", page.base))
        .header("sec-fetch-site", "same-origin")
        .header("origin", page.issuer.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        page.account().await["passkeys"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn another_accounts_or_another_tenants_passkey_is_not_found() {
    let (broker, mut auth, _) = setup(&[]).await;
    broker.simple_tenant("other").await;
    let mut neighbour = SoftAuthenticator::new();
    register(&broker, "acme", &mut neighbour).await;
    let mut stranger = SoftAuthenticator::new();
    register(&broker, "other", &mut stranger).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    // Two passkeys of our own, so that "last passkey" is not the answer.
    let mut second = SoftAuthenticator::new();
    assert_eq!(page.add(&mut second, "Second").await.0, 201);
    for id in [
        id_of(&neighbour, 0),
        id_of(&stranger, 0),
        "bm8tc3VjaC1wYXNza2V5".into(),
    ] {
        let got = page
            .call(
                Method::PATCH,
                &format!("/passkeys/{id}"),
                Some(json!({"name": "Mine now"})),
            )
            .await;
        assert_eq!(error(&got), (404, Some("not_found")), "{}", got.1);
        let got = page
            .call(Method::DELETE, &format!("/passkeys/{id}"), None)
            .await;
        assert_eq!(error(&got), (404, Some("not_found")), "{}", got.1);
    }
    // Theirs still sign in.
    assert_eq!(
        Flow::open(&broker, "acme")
            .await
            .sign_in(&mut neighbour)
            .await
            .0,
        200
    );
    assert_eq!(
        Flow::open(&broker, "other")
            .await
            .sign_in(&mut stranger)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_creation_challenge_is_used_up_by_its_first_attempt() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    // A failed attempt uses it up.
    let mut key = SoftAuthenticator::new();
    let (options, _) = page.new_passkey(&mut key).await;
    let bad = key
        .register_with(&options, "https://evil.example", &Tamper::default())
        .unwrap();
    let got = page
        .call(Method::POST, "/passkeys", Some(json!({"credential": bad})))
        .await;
    assert_eq!(error(&got), (400, Some("verification_failed")), "{}", got.1);
    let good = key.register(&options, &page.issuer).unwrap();
    let got = page
        .call(Method::POST, "/passkeys", Some(json!({"credential": good})))
        .await;
    assert_eq!(error(&got), (410, Some("challenge_expired")), "{}", got.1);
    // A successful one too.
    let mut other = SoftAuthenticator::new();
    let (_, credential) = page.new_passkey(&mut other).await;
    let body = json!({"credential": credential});
    assert_eq!(
        page.call(Method::POST, "/passkeys", Some(body.clone()))
            .await
            .0,
        201
    );
    let got = page.call(Method::POST, "/passkeys", Some(body)).await;
    assert_eq!(error(&got), (410, Some("challenge_expired")), "{}", got.1);
    assert_eq!(
        page.account().await["passkeys"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn names_are_one_to_64_characters_without_control_characters() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut auth).await.0, 200);
    let path = format!("/passkeys/{}", id_of(&auth, 0));
    for name in ["", "   ", &"x".repeat(65), "evil\u{202e}name", "two\nlines"] {
        let got = page
            .call(Method::PATCH, &path, Some(json!({"name": name})))
            .await;
        assert_eq!(
            error(&got),
            (422, Some("invalid_field")),
            "{name:?}: {}",
            got.1
        );
        assert_eq!(got.1["field"], "name");
    }
    let got = page
        .call(Method::PATCH, &path, Some(json!({"name": "é".repeat(64)})))
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
}

#[tokio::test]
async fn the_tenants_policy_refuses_a_disallowed_authenticator_with_the_registration_codes() {
    let broker = Broker::start();
    broker
        .create_tenant(json!({
            "client_id": "acme", "redirect_uris": [REDIRECT], "rp_mode": "broker",
            "synced_passkeys": "refuse", "aaguid_deny": [YUBIKEY],
        }))
        .await;
    let mut key = SoftAuthenticator::new().device_bound();
    register(&broker, "acme", &mut key).await;
    let page = AccountPage::open(&broker, "acme").await;
    assert_eq!(page.sign_in(&mut key).await.0, 200);

    let mut synced = SoftAuthenticator::new();
    let got = page.add(&mut synced, "Phone").await;
    assert_eq!(
        error(&got),
        (400, Some("synced_passkey_not_allowed")),
        "{}",
        got.1
    );
    assert_eq!(got.1["credential_id"], id_of(&synced, 0).as_str());

    let mut denied = SoftAuthenticator::new()
        .device_bound()
        .with_aaguid(YUBIKEY_BYTES);
    let got = page.add(&mut denied, "Denied").await;
    assert_eq!(
        error(&got),
        (400, Some("authenticator_not_allowed")),
        "{}",
        got.1
    );
    assert_eq!(
        page.account().await["passkeys"].as_array().unwrap().len(),
        1
    );
    let mut allowed = SoftAuthenticator::new().device_bound();
    assert_eq!(page.add(&mut allowed, "Spare").await.0, 201);
}

#[tokio::test]
async fn the_page_refuses_unknown_sites_and_unregistered_return_addresses_without_redirecting() {
    let (broker, _, _) = setup(&[]).await;
    for query in [
        vec![("client_id", "nobody")],
        vec![
            ("client_id", "acme"),
            ("return_to", "https://evil.example/cb"),
        ],
        vec![
            ("client_id", "acme"),
            ("return_to", "https://site.example/cb/"),
        ],
        vec![],
    ] {
        let res = broker
            .browser()
            .get(broker.url("/account"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400, "{query:?}");
        assert!(res.headers().get("location").is_none());
        let html = res.text().await.unwrap();
        assert!(flow_id_from_html(&html).is_none(), "no flow for {query:?}");
    }
    // Without return_to the page opens and has no link back.
    let res = broker
        .browser()
        .get(broker.url("/account?client_id=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(!res.text().await.unwrap().contains("id=\"back-link\""));
}

#[tokio::test]
async fn the_account_pages_flow_signs_in_only_and_issues_no_code() {
    let (broker, mut auth, _) = setup(&[]).await;
    let page = AccountPage::open(&broker, "acme").await;
    let got = page
        .flow_post("registration/options", &json!({"email": "eve@example.com"}))
        .await;
    assert_eq!(error(&got), (400, Some("invalid_request")), "{}", got.1);
    // The sign-in answer carries no code, and its challenge is not a §5 signed message.
    let (s, options) = page.flow_post("authentication/options", &json!({})).await;
    assert_eq!(s, 200);
    let challenge = options["publicKey"]["challenge"].as_str().unwrap();
    assert_eq!(
        latchkey_tests::authenticator::unb64(challenge)
            .unwrap()
            .len(),
        32
    );
    let credential = auth.authenticate(&options, &page.issuer).unwrap();
    let (s, v) = page.flow_post("authentication", &credential).await;
    assert_eq!((s, v.get("redirect_to")), (200, None), "{v}");
    // A second instance serves the same session.
    let sibling = broker.sibling();
    let other = page.on(&sibling);
    assert_eq!(
        other.account().await["passkeys"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn the_built_in_demo_links_to_its_account_page_which_links_back() {
    let broker = Broker::start_with(&[("LATCHKEY_DEMO", "true")]);
    let return_to = format!("{}/demo/callback", broker.issuer);
    let res = broker
        .browser()
        .get(broker.url("/account"))
        .query(&[("client_id", "demo"), ("return_to", return_to.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // The link back carries neither a code nor an error: the demo page, not an error.
    let res = broker
        .browser()
        .get(broker.url("/demo/callback"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/demo");
}
