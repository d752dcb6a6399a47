//! Email verification and account recovery (PROTOCOL E4) against the real broker, over
//! real HTTP, with a real SMTP server of the suite's own (`tests/src/smtp.rs`) and the
//! software authenticator: links are verified by a POST only, used once, bound to the
//! flow, its browser and the account; a recovery enrols a new passkey on the same
//! account; nothing tells who has an account; sending never blocks a registration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, REDIRECT};
use latchkey_tests::smtp::SmtpSink;
use latchkey_tests::verify::{Expected, verify_sign_in};
use reqwest::Method;
use serde_json::{Value, json};

const FROM: &str = "Latchkey <no-reply@example.com>";

fn start(smtp_url: &str) -> Broker {
    Broker::start_with(&[
        ("LATCHKEY_SMTP_URL", smtp_url),
        ("LATCHKEY_SMTP_FROM", FROM),
    ])
}

async fn recovery_tenant(broker: &Broker, client_id: &str) {
    let t = broker
        .create_tenant(json!({"client_id": client_id, "name": "Shop", "redirect_uris": [REDIRECT], "rp_mode": "broker", "email_recovery": true}))
        .await;
    assert_eq!(t["email_recovery"], true, "{t}");
}

async fn open(broker: &Broker, client_id: &str, browser: reqwest::Client) -> Flow {
    Flow::open_with(
        broker,
        browser,
        client_id,
        REDIRECT,
        &[("scope", "openid email")],
    )
    .await
}

/// Registers a new account with `email` and returns its authenticator and `sub`.
async fn register(broker: &Broker, client_id: &str, email: &str) -> (SoftAuthenticator, String) {
    let mut auth = SoftAuthenticator::new();
    let flow = open(broker, client_id, broker.browser()).await;
    let (status, answer) = flow.register(&mut auth, json!({"email": email})).await;
    assert_eq!(status, 200, "{answer}");
    let (status, redeemed) = flow.redeem(broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["email_verified"], false);
    let sub = redeemed["sign_in"]["sub"].as_str().unwrap().to_owned();
    (auth, sub)
}

/// Signs in with `auth` and returns the redeemed answer.
async fn sign_in(broker: &Broker, client_id: &str, auth: &mut SoftAuthenticator) -> Value {
    let flow = open(broker, client_id, broker.browser()).await;
    let (status, answer) = flow.sign_in(auth).await;
    assert_eq!(status, 200, "{answer}");
    let (status, redeemed) = flow.redeem(broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    redeemed
}

fn token_of(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token in link")
}

/// GETs `url` in `client`: status and body.
async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let res = client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// POSTs the verification form.
async fn post_verify(broker: &Broker, token: &str) -> (u16, String) {
    let res = broker
        .browser()
        .post(broker.url("/email/verify"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Opens the verification link of the `n`th message to `email` and confirms it.
async fn verify(broker: &Broker, sink: &SmtpSink, email: &str, n: usize) -> String {
    let link = sink
        .next_link(email, n, &format!("{}/email/verify?token=", broker.issuer))
        .await;
    let token = token_of(&link);
    assert_eq!(post_verify(broker, &token).await.0, 200);
    token
}

async fn audit(broker: &Broker, tenant: &str) -> Vec<Value> {
    let (status, body) = broker
        .admin(
            Method::GET,
            &format!("/audit?tenant={tenant}&limit=200"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

async fn count_action(broker: &Broker, tenant: &str, action: &str) -> usize {
    audit(broker, tenant)
        .await
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

/// Waits until the audit log holds `action` for `tenant`.
async fn wait_for_action(broker: &Broker, tenant: &str, action: &str) -> Value {
    for _ in 0..200 {
        if let Some(e) = audit(broker, tenant)
            .await
            .into_iter()
            .find(|e| e["action"] == action)
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {action} in the audit log of {tenant}");
}

/// Asks for a recovery link on `flow`: status, body and `Retry-After`.
async fn ask(flow: &Flow, email: &str) -> (u16, Value, Option<String>) {
    let res = flow
        .browser
        .post(format!("{}/api/v1/flows/{}/recovery", flow.base, flow.id))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap_or(Value::Null), retry)
}

/// Enrols `auth` on `flow` through a recovery link's token.
async fn recover(flow: &Flow, auth: &mut SoftAuthenticator, token: &str) -> (u16, Value) {
    let (status, options) = flow
        .post("recovery/registration/options", &json!({ "token": token }))
        .await;
    if status != 200 {
        return (status, options);
    }
    let credential = auth.register(&options, &flow.issuer).unwrap();
    flow.post(
        "recovery/registration",
        &json!({"token": token, "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn an_address_given_at_registration_is_verified_by_a_posted_link_and_sign_ins_say_so() {
    let sink = SmtpSink::start().await;
    let broker = start(&sink.url());
    recovery_tenant(&broker, "shop").await;
    let (mut auth, sub) = register(&broker, "shop", "ada@example.com").await;

    let mail = sink
        .nth_to("ada@example.com", 0, Duration::from_secs(20))
        .await;
    assert_eq!(mail.from, "no-reply@example.com");
    assert!(
        mail.header("Subject").unwrap().contains("Confirm"),
        "{mail:?}"
    );
    let link = mail
        .link(&format!("{}/email/verify?token=", broker.issuer))
        .expect("a verification link");
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "a 256-bit token");

    // GET shows a form that posts the token, and changes nothing (mail scanners fetch
    // links): twice, and a sign-in still says unverified.
    for _ in 0..2 {
        let (status, html) = get(&broker.browser(), &link).await;
        assert_eq!(status, 200, "{html}");
        assert!(
            html.contains(r#"<form method="post" action="/email/verify""#),
            "{html}"
        );
        assert!(html.contains(&token));
    }
    assert_eq!(count_action(&broker, "shop", "email_verified").await, 0);
    let redeemed = sign_in(&broker, "shop", &mut auth).await;
    assert_eq!(redeemed["sign_in"]["email_verified"], false);

    // POST uses the link: the address is verified, audited, and sign-ins say so, in the
    // redeem and in the id_token.
    let (status, html) = post_verify(&broker, &token).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Email address confirmed"), "{html}");
    let event = wait_for_action(&broker, "shop", "email_verified").await;
    assert_eq!(event["subject"], sub.as_str());
    let redeemed = sign_in(&broker, "shop", &mut auth).await;
    assert_eq!(redeemed["sign_in"]["email_verified"], true);
    assert_eq!(redeemed["sign_in"]["email"], "ada@example.com");
    let (claims, _) = broker
        .verify_id_token(redeemed["id_token"].as_str().unwrap(), "shop")
        .await;
    assert_eq!(claims["email_verified"], true);

    // And userinfo, after the OAuth token endpoint.
    let flow = open(&broker, "shop", broker.browser()).await;
    let (_, answer) = flow.sign_in(&mut auth).await;
    let code = flow.code_from(&answer);
    let grant: Value = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "shop"),
            ("code_verifier", flow.pkce.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let info: Value = broker
        .backend()
        .get(broker.url("/oauth/userinfo"))
        .bearer_auth(grant["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&info["email"], &info["email_verified"]),
        (&json!("ada@example.com"), &json!(true)),
        "{info}"
    );

    // The link works once.
    let (status, html) = post_verify(&broker, &token).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("expired or was already used"), "{html}");
    assert_eq!(get(&broker.browser(), &link).await.0, 410);
    assert_eq!(count_action(&broker, "shop", "email_verified").await, 1);

    // The log holds neither the token nor the address.
    let logs = broker.logs();
    assert!(!logs.contains(&token), "a link's token reached the log");
    assert!(
        !logs.contains("ada@example.com"),
        "an address reached the log"
    );
}

#[tokio::test]
async fn a_lost_passkey_is_replaced_through_a_link_bound_to_the_flow_the_browser_and_the_account() {
    let sink = SmtpSink::start().await;
    let broker = start(&sink.url());
    recovery_tenant(&broker, "shop").await;
    let (mut old_auth, sub) = register(&broker, "shop", "ada@example.com").await;
    verify(&broker, &sink, "ada@example.com", 0).await;
    let old_redeemed = sign_in(&broker, "shop", &mut old_auth).await;
    let old_credential = old_redeemed["sign_in"]["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The page offers recovery on this tenant.
    let browser = broker.browser();
    let flow = open(&broker, "shop", browser.clone()).await;
    let (_, page) = get(
        &browser,
        &broker.url(&format!(
            "/authorize?response_type=code&client_id=shop&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            flow.pkce.challenge
        )),
    )
    .await;
    assert!(page.contains(r#"id="show-recover""#), "{page}");

    // Unknown and known addresses get the same answer; only the known one gets mail.
    let (status, body, _) = ask(&flow, "nobody@example.com").await;
    assert_eq!((status, &body), (202, &json!({"status": "sent"})));
    let (status, body, _) = ask(&flow, "ADA@example.com").await;
    assert_eq!((status, &body), (202, &json!({"status": "sent"})));
    let prefix = format!("{}/recover?flow={}&token=", broker.issuer, flow.id);
    let link = sink.next_link("ada@example.com", 1, &prefix).await;
    let token = token_of(&link);

    // Missing token: 400 naming it.
    let (status, body) = flow.post("recovery/registration/options", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (&body["error"], &body["field"]),
        (&json!("invalid_request"), &json!("token"))
    );

    // Another browser: a page saying where to open it, and the API refuses it.
    let (status, html) = get(&broker.browser(), &link).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("browser where you asked for it"), "{html}");
    let cookieless = Flow {
        browser: broker.backend(),
        ..flow.clone()
    };
    let (status, body) = cookieless
        .post("recovery/registration/options", &json!({"token": token}))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("flow_binding_mismatch"))
    );

    // Another flow, even in the same browser: refused.
    let other = open(&broker, "shop", browser.clone()).await;
    let (status, body) = other
        .post("recovery/registration/options", &json!({"token": token}))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (410, &json!("recovery_link_expired"))
    );

    // The browser that asked: the hosted page in recovery mode.
    let (status, html) = get(&browser, &link).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"id="view-recovery""#), "{html}");
    assert!(html.contains(r#"name="latchkey-recovery-token""#), "{html}");
    let res = browser
        .get(&link)
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("新しいパスキーを作成"));

    // Options for the existing account: same user handle, its passkey excluded.
    let (status, options) = flow
        .post("recovery/registration/options", &json!({"token": token}))
        .await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(options["publicKey"]["user"]["id"], sub.as_str());
    let excluded: Vec<&str> = options["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, vec![old_credential.as_str()]);

    // A new authenticator enrols on the same account.
    let mut new_auth = SoftAuthenticator::new();
    let (status, answer) = recover(&flow, &mut new_auth, &token).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["signals"]["user_id"], sub.as_str());
    let (status, redeemed) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    let s = &redeemed["sign_in"];
    assert_eq!(
        (
            &s["new_user"],
            &s["new_credential"],
            &s["sub"],
            &s["email_verified"]
        ),
        (&json!(false), &json!(true), &json!(sub), &json!(true))
    );
    let new_credential = s["credential_id"].as_str().unwrap().to_owned();
    assert_ne!(new_credential, old_credential);
    // The material re-verifies independently of the broker (PROTOCOL §5), as a
    // registration: the new key, signed over this flow's message.
    assert_eq!(redeemed["verify"]["ceremony"], "webauthn.create");
    assert_eq!(redeemed["verify"]["user_handle"], sub.as_str());
    let origins = [broker.issuer.as_str()];
    verify_sign_in(
        &redeemed,
        &Expected {
            code_challenge: &flow.pkce.challenge,
            client_id: "shop",
            rp_id: "localhost",
            issuer: &broker.issuer,
            origins: &origins,
            user_verification_required: true,
            max_age_secs: 120,
        },
    )
    .unwrap();

    // The account's address is told.
    let notice = sink
        .nth_to("ada@example.com", 2, Duration::from_secs(20))
        .await;
    assert!(
        notice.header("Subject").unwrap().contains("new passkey"),
        "{notice:?}"
    );

    // The link is used up: its page and the API answer 410, on this flow and on a new one.
    assert_eq!(get(&browser, &link).await.0, 410);
    let (status, _) = recover(&flow, &mut SoftAuthenticator::new(), &token).await;
    assert_eq!(status, 410);
    let again = open(&broker, "shop", browser.clone()).await;
    let (status, body) = recover(&again, &mut SoftAuthenticator::new(), &token).await;
    assert_eq!(
        (status, &body["error"]),
        (410, &json!("recovery_link_expired"))
    );

    // The new passkey signs in normally, and the old one is left as it was.
    let redeemed = sign_in(&broker, "shop", &mut new_auth).await;
    assert_eq!(redeemed["sign_in"]["sub"], sub.as_str());
    assert_eq!(
        redeemed["sign_in"]["credential_id"],
        new_credential.as_str()
    );
    assert_eq!(redeemed["sign_in"]["new_credential"], false);
    let redeemed = sign_in(&broker, "shop", &mut old_auth).await;
    assert_eq!(redeemed["sign_in"]["sub"], sub.as_str());

    // Audited; no mail for the unknown address; nothing secret in the log.
    let events = audit(&broker, "shop").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "recovery_requested",
        "recovery_email_sent",
        "recovery_completed",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let completed = events
        .iter()
        .find(|e| e["action"] == "recovery_completed")
        .unwrap();
    assert_eq!(
        completed["detail"]["credential_id"],
        new_credential.as_str()
    );
    assert_eq!(completed["subject"], sub.as_str());
    assert!(sink.to("nobody@example.com").is_empty());
    let logs = broker.logs();
    assert!(!logs.contains(&token), "a recovery token reached the log");
    assert!(
        !logs.contains("ada@example.com"),
        "an address reached the log"
    );
}

#[tokio::test]
async fn unverified_addresses_and_tenants_without_recovery_get_no_message() {
    let sink = SmtpSink::start().await;
    let broker = start(&sink.url());
    recovery_tenant(&broker, "shop").await;
    broker.simple_tenant("plain").await;

    // An address never confirmed cannot recover.
    register(&broker, "shop", "bob@example.com").await;
    sink.nth_to("bob@example.com", 0, Duration::from_secs(20))
        .await;
    let flow = open(&broker, "shop", broker.browser()).await;
    let (status, _, _) = ask(&flow, "bob@example.com").await;
    assert_eq!(status, 202);

    // A tenant without email_recovery: no verification message, no "Lost your
    // passkey?", and the recovery call answers 403 recovery_unavailable.
    register(&broker, "plain", "carol@example.com").await;
    let flow = open(&broker, "plain", broker.browser()).await;
    let (status, body, _) = ask(&flow, "carol@example.com").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "recovery_unavailable");
    let (status, body) = flow
        .post(
            "recovery/registration/options",
            &json!({"token": "x".repeat(43)}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("recovery_unavailable"))
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.to("bob@example.com").len(), 1, "only the verification");
    assert!(sink.to("carol@example.com").is_empty());

    // The tenant setting is typed: a wrong type names the field.
    let (status, body) = broker
        .admin(
            Method::PATCH,
            "/tenants/plain",
            Some(json!({"email_recovery": "yes"})),
        )
        .await;
    assert_eq!(
        (status, &body["field"]),
        (422, &json!("email_recovery")),
        "{body}"
    );
    let (status, body) = broker
        .admin(
            Method::PATCH,
            "/tenants/plain",
            Some(json!({"email_recovery": true})),
        )
        .await;
    assert_eq!(
        (status, &body["email_recovery"]),
        (200, &json!(true)),
        "{body}"
    );
    let (_, shown) = broker.admin(Method::GET, "/tenants/plain", None).await;
    assert_eq!(shown["email_recovery"], true, "{shown}");
}

#[tokio::test]
async fn a_broker_without_smtp_refuses_email_recovery_on_a_tenant() {
    let broker = Broker::start();
    let (status, body) = broker
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"client_id": "shop", "redirect_uris": [REDIRECT], "email_recovery": true})),
        )
        .await;
    assert_eq!(
        (status, &body["field"]),
        (422, &json!("email_recovery")),
        "{body}"
    );
}

#[tokio::test]
async fn recovery_requests_are_limited_per_flow_and_per_account() {
    let sink = SmtpSink::start().await;
    let broker = start(&sink.url());
    recovery_tenant(&broker, "shop").await;
    register(&broker, "shop", "ada@example.com").await;
    verify(&broker, &sink, "ada@example.com", 0).await;

    // Per flow: three requests, then 429 with Retry-After.
    let flow = open(&broker, "shop", broker.browser()).await;
    for _ in 0..3 {
        assert_eq!(ask(&flow, "ada@example.com").await.0, 202);
    }
    let (status, body, retry) = ask(&flow, "ada@example.com").await;
    assert_eq!(
        (status, &body["error"]),
        (429, &json!("rate_limited")),
        "{body}"
    );
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    sink.nth_to("ada@example.com", 3, Duration::from_secs(20))
        .await;

    // Per account: three emails an hour. Another flow is still answered 202 (nothing
    // tells the requester), but nothing is sent, and the refusal is audited.
    let flow = open(&broker, "shop", broker.browser()).await;
    assert_eq!(ask(&flow, "ada@example.com").await.0, 202);
    let event = wait_for_action(&broker, "shop", "recovery_rate_limited").await;
    let limited: Vec<Value> = audit(&broker, "shop")
        .await
        .into_iter()
        .filter(|e| e["action"] == "recovery_rate_limited")
        .map(|e| e["detail"]["limit"].clone())
        .collect();
    assert!(limited.contains(&json!("per_flow")), "{limited:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let limited: Vec<Value> = audit(&broker, "shop")
        .await
        .into_iter()
        .filter(|e| e["action"] == "recovery_rate_limited")
        .map(|e| e["detail"]["limit"].clone())
        .collect();
    assert!(
        limited.contains(&json!("per_account")),
        "{limited:?} {event}"
    );
    assert_eq!(
        sink.to("ada@example.com").len(),
        4,
        "one verification and three recovery emails"
    );
}

#[tokio::test]
async fn ten_concurrent_completions_of_one_link_give_exactly_one_code() {
    let sink = SmtpSink::start().await;
    let broker = start(&sink.url());
    recovery_tenant(&broker, "shop").await;
    let (_, sub) = register(&broker, "shop", "ada@example.com").await;
    verify(&broker, &sink, "ada@example.com", 0).await;
    let flow = open(&broker, "shop", broker.browser()).await;
    assert_eq!(ask(&flow, "ada@example.com").await.0, 202);
    let prefix = format!("{}/recover?flow={}&token=", broker.issuer, flow.id);
    let token = token_of(&sink.next_link("ada@example.com", 1, &prefix).await);

    let (status, options) = flow
        .post("recovery/registration/options", &json!({"token": token}))
        .await;
    assert_eq!(status, 200, "{options}");
    let credential = SoftAuthenticator::new()
        .register(&options, &flow.issuer)
        .unwrap();
    let body = json!({"token": token, "credential": credential});
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (flow, body) = (flow.clone(), body.clone());
            tokio::spawn(async move { flow.post("recovery/registration", &body).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        match status {
            200 => ok += 1,
            410 => assert!(
                ["challenge_expired", "flow_expired", "recovery_link_expired"]
                    .contains(&answer["error"].as_str().unwrap()),
                "{answer}"
            ),
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(ok, 1, "exactly one completion");
    let (_, users) = broker
        .admin(Method::GET, &format!("/tenants/shop/users?q={sub}"), None)
        .await;
    assert_eq!(users["users"][0]["user_id"], sub.as_str(), "{users}");
    assert_eq!(
        users["users"][0]["passkeys"].as_array().unwrap().len(),
        2,
        "the old passkey and exactly one new one: {users}"
    );
    assert_eq!(count_action(&broker, "shop", "recovery_completed").await, 1);
}

#[tokio::test]
async fn a_registration_succeeds_while_the_smtp_server_is_down_and_the_failure_is_audited() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let broker = start(&format!("smtp://127.0.0.1:{port}"));
    recovery_tenant(&broker, "shop").await;
    let start = std::time::Instant::now();
    let (_, sub) = register(&broker, "shop", "ada@example.com").await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the registration did not wait for the mail"
    );
    let event = wait_for_action(&broker, "shop", "email_send_failed").await;
    assert_eq!(event["subject"], sub.as_str());
    assert_eq!(event["detail"]["purpose"], "verify");
    let logs = broker.logs();
    assert!(logs.contains("email not sent"), "the failure is logged");
    assert!(
        !logs.contains("ada@example.com"),
        "an address reached the log"
    );
}
