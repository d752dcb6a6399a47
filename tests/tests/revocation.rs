//! Revocation reaches what was issued (PROTOCOL §3): once a passkey is revoked, its
//! account deleted, or a redirect URI removed from its tenant, the codes and access tokens
//! issued before stop working at once, on every instance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::authenticator::{SoftAuthenticator, b64};
use latchkey_tests::harness::{Broker, Flow, REDIRECT};
use reqwest::Method;
use serde_json::{Value, json};

const OTHER_REDIRECT: &str = "https://site.example/other-callback";

/// A broker with tenant `acme` (two redirect URIs), a second instance on the same
/// database, and one account with a passkey in `auth`; returns the account's id.
async fn setup() -> (Broker, Broker, SoftAuthenticator, String) {
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "acme", "redirect_uris": [REDIRECT, OTHER_REDIRECT], "rp_mode": "broker"}))
        .await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let (s, answer) = flow.register(&mut auth, json!({})).await;
    assert_eq!(s, 200, "{answer}");
    let user_id = answer["signals"]["user_id"].as_str().unwrap().to_owned();
    let sibling = broker.sibling();
    (broker, sibling, auth, user_id)
}

/// A signed-in flow (redirect URI `redirect`) and its unredeemed code.
async fn issued_code(
    broker: &Broker,
    auth: &mut SoftAuthenticator,
    redirect: &str,
) -> (Flow, String) {
    let flow = Flow::open_with(broker, broker.browser(), "acme", redirect, &[]).await;
    let (s, answer) = flow.sign_in(auth).await;
    assert_eq!(s, 200, "{answer}");
    let code = flow.code_from(&answer);
    (flow, code)
}

async fn userinfo(broker: &Broker, access_token: &str) -> (u16, Value) {
    let res = broker
        .backend()
        .get(broker.url("/oauth/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn assert_invalid_grant(got: (u16, Value)) {
    assert_eq!(
        (got.0, got.1["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn a_code_issued_before_its_passkey_was_revoked_redeems_nothing_on_any_instance() {
    let (broker, sibling, mut auth, _) = setup().await;
    let (flow, code) = issued_code(&broker, &mut auth, REDIRECT).await;
    let credential_id = b64(&auth.credentials()[0].credential_id);
    let (s, v) = broker
        .admin(
            Method::DELETE,
            &format!("/credentials/{credential_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204, "{v}");
    assert_invalid_grant(flow.redeem(&sibling, &code).await);
    assert_invalid_grant(flow.token(&broker, &code).await);
    assert_invalid_grant(flow.redeem(&broker, &code).await);
}

#[tokio::test]
async fn a_code_issued_before_its_account_was_deleted_redeems_nothing() {
    let (broker, sibling, mut auth, user_id) = setup().await;
    let (flow, code) = issued_code(&broker, &mut auth, REDIRECT).await;
    let (s, v) = broker
        .admin(
            Method::DELETE,
            &format!("/tenants/acme/users/{user_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204, "{v}");
    assert_invalid_grant(flow.token(&sibling, &code).await);
    assert_invalid_grant(flow.redeem(&broker, &code).await);
}

#[tokio::test]
async fn an_access_token_of_a_deleted_account_is_invalid_at_userinfo_on_every_instance() {
    let (broker, sibling, mut auth, user_id) = setup().await;
    let (flow, code) = issued_code(&broker, &mut auth, REDIRECT).await;
    let (s, tokens) = flow.token(&broker, &code).await;
    assert_eq!(s, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    for instance in [&broker, &sibling] {
        let (s, v) = userinfo(instance, access).await;
        assert_eq!((s, v["sub"].as_str()), (200, Some(user_id.as_str())), "{v}");
    }
    let (s, _) = broker
        .admin(
            Method::DELETE,
            &format!("/tenants/acme/users/{user_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    for instance in [&sibling, &broker] {
        let (s, v) = userinfo(instance, access).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (401, Some("invalid_token")),
            "{v}"
        );
    }
}

#[tokio::test]
async fn a_removed_redirect_uri_takes_its_flows_and_codes_with_it() {
    let (broker, sibling, mut auth, _) = setup().await;
    let (flow, code) = issued_code(&broker, &mut auth, OTHER_REDIRECT).await;
    // A flow to the same address, still at its ceremony.
    let pending = Flow::open_with(&broker, broker.browser(), "acme", OTHER_REDIRECT, &[]).await;
    let options = pending.authentication_options().await;
    let (s, v) = broker
        .admin(
            Method::PATCH,
            "/tenants/acme",
            Some(json!({"redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_invalid_grant(flow.redeem(&sibling, &code).await);
    assert_invalid_grant(flow.token(&broker, &code).await);
    // The pending flow will never send a code there.
    let credential = auth.authenticate(&options, &pending.issuer).unwrap();
    let (s, v) = pending.post("authentication", &credential).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (404, Some("flow_not_found")),
        "{v}"
    );
    // The address that stayed registered works as before.
    let (flow, code) = issued_code(&sibling, &mut auth, REDIRECT).await;
    let (s, v) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_code_of_an_untouched_passkey_still_redeems_after_another_is_revoked() {
    // Revocation is precise: it reaches only what was issued for the revoked passkey.
    let (broker, sibling, mut auth, _) = setup().await;
    let mut other = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let (s, v) = flow.register(&mut other, json!({})).await;
    assert_eq!(s, 200, "{v}");
    let (flow, code) = issued_code(&broker, &mut auth, REDIRECT).await;
    let other_id = b64(&other.credentials()[0].credential_id);
    let (s, _) = broker
        .admin(Method::DELETE, &format!("/credentials/{other_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, v) = flow.redeem(&sibling, &code).await;
    assert_eq!(s, 200, "{v}");
}
