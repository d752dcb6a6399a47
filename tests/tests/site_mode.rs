//! `site` mode over Related Origin Requests (PROTOCOL §1, §6): the broker serves HTTPS
//! directly as `https://broker.test`, the site `https://site.test` publishes its
//! `/.well-known/webauthn`, and passkeys are created and used under the RP ID
//! `site.test`. Until the site lists the broker, no ceremony runs and the admin check
//! says what to publish.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, REDIRECT};
use latchkey_tests::tls::SiteServer;
use latchkey_tests::verify::{Expected, verify_sign_in};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn site_mode_passkeys_live_under_the_sites_rp_id_once_it_lists_the_broker() {
    let site =
        SiteServer::start("site.test", r#"{"origins": ["https://elsewhere.example"]}"#).await;
    let resolve = format!("site.test={}", site.addr);
    let broker = Broker::start_tls(
        "broker.test",
        &[
            ("LATCHKEY_WELL_KNOWN_RESOLVE", resolve.as_str()),
            ("LATCHKEY_WELL_KNOWN_DANGER_ACCEPT_INVALID_CERTS", "true"),
        ],
    );
    assert!(broker.issuer.starts_with("https://broker.test:"));
    broker
        .create_tenant(json!({"client_id": "site", "name": "Site", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "site.test"}))
        .await;

    // The hosted page knows it needs Related Origin Requests; the flow cookie is __Host-.
    let browser = broker.browser();
    let flow = Flow::open_with(&broker, browser, "site", REDIRECT, &[]).await;

    // Not listed yet: a clear refusal, and the admin check says what to publish.
    let (status, body) = flow.post("registration/options", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("site.test"),
        "{body}"
    );
    let (status, check) = broker
        .admin(Method::POST, "/tenants/site/well-known-check", None)
        .await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["ok"], false);
    assert_eq!(check["required"], true);
    assert!(check["problem"].as_str().unwrap().len() > 10, "{check}");
    assert!(
        check["expected"].as_str().unwrap().contains(&broker.issuer),
        "{check}"
    );

    // The site publishes what the check asked for; the check now passes.
    site.publish(check["expected"].as_str().unwrap());
    let (_, check) = broker
        .admin(Method::POST, "/tenants/site/well-known-check", None)
        .await;
    assert_eq!(check["ok"], true, "{check}");

    let mut auth = SoftAuthenticator::new();
    let (status, answer) = flow
        .register(&mut auth, json!({"email": "lin@site.test"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(auth.credentials()[0].rp_id, "site.test");
    assert!(
        answer["signals"]["all_accepted_credential_ids"].is_null(),
        "no accepted-list signal in site mode"
    );
    let (status, first) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["sign_in"]["rp_id"], "site.test");

    let flow = Flow::open(&broker, "site").await;
    let (status, answer) = flow.sign_in(&mut auth).await;
    assert_eq!(status, 200, "{answer}");
    let (status, redeemed) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["rp_id"], "site.test");
    assert_eq!(redeemed["sign_in"]["user_id"], first["sign_in"]["user_id"]);
    let origins = [broker.issuer.as_str()];
    verify_sign_in(
        &redeemed,
        &Expected {
            code_challenge: &flow.pkce.challenge,
            client_id: "site",
            rp_id: "site.test",
            issuer: &broker.issuer,
            origins: &origins,
            user_verification_required: true,
            max_age_secs: 120,
        },
    )
    .unwrap();

    // An assertion made at the site's own origin is not accepted by the broker.
    let flow = Flow::open(&broker, "site").await;
    let options = flow.authentication_options().await;
    let cred = auth.authenticate(&options, "https://site.test").unwrap();
    let (status, body) = flow.post("authentication", &cred).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("verification_failed")),
        "{body}"
    );
    assert!(site.hits() >= 2);
}

#[tokio::test]
async fn a_failed_fetch_shows_the_person_plain_words_and_the_admin_its_cause() {
    // The broker's fetch failure (a DNS error, a redirect to an internal address) is for
    // the site's owner, not for every visitor of the sign-in page.
    let broker = Broker::start_tls("broker.test", &[]);
    broker
        .create_tenant(json!({"client_id": "gone", "name": "Gone", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "unreachable.test"}))
        .await;
    let flow = Flow::open_with(&broker, broker.browser(), "gone", REDIRECT, &[]).await;
    let (status, body) = flow.post("authentication/options", &json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("unreachable.test"), "{body}");
    let (status, check) = broker
        .admin(Method::POST, "/tenants/gone/well-known-check", None)
        .await;
    assert_eq!(status, 200, "{check}");
    let problem = check["problem"].as_str().unwrap();
    assert!(problem.len() > 10, "the admin sees the cause: {check}");
    assert!(!message.contains(problem), "{message} / {problem}");
    for detail in ["dns", "error sending", "https://", "timed out", "connect"] {
        assert!(
            !message.to_lowercase().contains(detail),
            "{detail} in {message}"
        );
    }
}
