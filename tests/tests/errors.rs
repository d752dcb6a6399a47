//! One test per error of the contract (PROTOCOL §2–§4): the exact status and `error`
//! code, and that nothing is lost: a failed ceremony leaves the flow usable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use latchkey_proto::ErrorCode;
use latchkey_tests::authenticator::{SoftAuthenticator, Tamper};
use latchkey_tests::harness::{
    Broker, Flow, Pkce, REDIRECT, concurrent_redeems, error_code, redeem,
};
use serde_json::{Value, json};

async fn broker_with_tenant() -> Broker {
    let broker = Broker::start();
    broker.simple_tenant("acme").await;
    broker
}

/// A broker and an account with one passkey in `auth`.
async fn enrolled() -> (Broker, SoftAuthenticator) {
    let broker = broker_with_tenant().await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let (s, v) = flow.register(&mut auth, json!({})).await;
    assert_eq!(s, 200, "{v}");
    (broker, auth)
}

fn assert_error(got: (u16, Value), status: u16, code: ErrorCode) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(error_code(&got.1), Some(code), "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for a person: {}",
        got.1
    );
    got.1
}

fn assert_oauth_error(got: (u16, Value), status: u16, code: ErrorCode) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(error_code(&got.1), Some(code), "{}", got.1);
    assert!(got.1["error_description"].is_string(), "{}", got.1);
}

/// After a failure the same flow still signs in.
async fn flow_still_works(flow: &Flow, auth: &mut SoftAuthenticator) {
    let (s, v) = flow.sign_in(auth).await;
    assert_eq!(s, 200, "the flow survives a failed attempt: {v}");
}

fn query(
    challenge: &str,
    change: &[(&str, Option<&str>)],
    add: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "acme"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in change {
        q.retain(|(qk, _)| qk != k);
        if let Some(v) = v {
            q.push((k.to_string(), v.to_string()));
        }
    }
    q.extend(add.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    q
}

async fn authorize(broker: &Broker, q: &[(String, String)]) -> reqwest::Response {
    broker
        .browser()
        .get(broker.url("/authorize"))
        .query(q)
        .send()
        .await
        .unwrap()
}

async fn error_redirect(broker: &Broker, q: &[(String, String)]) -> HashMap<String, String> {
    let res = authorize(broker, q).await;
    assert_eq!(res.status().as_u16(), 302, "{q:?}");
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(REDIRECT));
    loc.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_a_400_page_and_never_a_redirect() {
    let broker = broker_with_tenant().await;
    let pkce = Pkce::new();
    let res = authorize(
        &broker,
        &query(&pkce.challenge, &[("client_id", Some("nobody"))], &[]),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("not registered"));

    for bad in [
        "https://site.example/cb/",
        "https://site.example/cb?x=1",
        "https://evil.example/cb",
        "HTTPS://site.example/cb",
        "https://site.example/CB",
    ] {
        let res = authorize(
            &broker,
            &query(&pkce.challenge, &[("redirect_uri", Some(bad))], &[]),
        )
        .await;
        assert_eq!(res.status().as_u16(), 400, "{bad}");
        assert!(res.headers().get("location").is_none(), "{bad}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    }
    let res = authorize(
        &broker,
        &query(&pkce.challenge, &[("redirect_uri", None)], &[]),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
}

#[tokio::test]
async fn other_bad_authorize_parameters_redirect_with_invalid_request_state_and_iss() {
    let broker = broker_with_tenant().await;
    let c = Pkce::new().challenge;
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "plain method",
            query(&c, &[("code_challenge_method", Some("plain"))], &[]),
        ),
        (
            "missing method",
            query(&c, &[("code_challenge_method", None)], &[]),
        ),
        (
            "short challenge",
            query(&c, &[("code_challenge", Some("abc"))], &[]),
        ),
        (
            "missing challenge",
            query(&c, &[("code_challenge", None)], &[]),
        ),
        (
            "response type",
            query(&c, &[("response_type", Some("token"))], &[]),
        ),
        (
            "duplicate parameter",
            query(&c, &[], &[("code_challenge", "x")]),
        ),
        ("bad prompt", query(&c, &[], &[("prompt", "sideways")])),
        (
            "fragment response mode",
            query(&c, &[], &[("response_mode", "fragment")]),
        ),
        (
            "form_post response mode",
            query(&c, &[], &[("response_mode", "form_post")]),
        ),
    ];
    for (name, q) in cases {
        let got = error_redirect(&broker, &q).await;
        assert_eq!(
            got.get("error").map(String::as_str),
            Some("invalid_request"),
            "{name}"
        );
        assert!(got.contains_key("error_description"), "{name}");
        assert_eq!(got.get("iss"), Some(&broker.issuer), "{name}");
        assert_eq!(got.get("state").map(String::as_str), Some("st-1"), "{name}");
    }
    let got = error_redirect(&broker, &query(&c, &[("state", None)], &[])).await;
    assert_eq!(
        got.get("error").map(String::as_str),
        Some("invalid_request")
    );
    assert!(!got.contains_key("state"), "no state to echo");
}

#[tokio::test]
async fn request_objects_are_refused_with_the_codes_of_openid_connect_core_6() {
    // OpenID Connect Core §6.1–6.2: a client sending a request object expects it to be
    // honoured; the broker says it does not support it instead of ignoring it.
    let broker = broker_with_tenant().await;
    let c = Pkce::new().challenge;
    let cases = [
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "request_not_supported",
        ),
        (
            "request_uri",
            "https://site.example/req/1",
            "request_uri_not_supported",
        ),
    ];
    for (param, value, code) in cases {
        let got = error_redirect(&broker, &query(&c, &[], &[(param, value)])).await;
        assert_eq!(got.get("error").map(String::as_str), Some(code), "{param}");
        assert_eq!(got.get("state").map(String::as_str), Some("st-1"));
        assert_eq!(got.get("iss"), Some(&broker.issuer));
    }
    // `response_mode=query` is what the broker does anyway: accepted.
    let res = authorize(&broker, &query(&c, &[], &[("response_mode", "query")])).await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn a_missing_or_foreign_flow_cookie_is_flow_binding_mismatch() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let stranger = Flow {
        browser: broker.browser(),
        ..flow.clone()
    };
    assert_error(
        stranger.post("authentication/options", &json!({})).await,
        403,
        ErrorCode::FlowBindingMismatch,
    );
    // A browser with a cookie of its own flow cannot drive this one either.
    let _own = Flow::open_with(&broker, stranger.browser.clone(), "acme", REDIRECT, &[]).await;
    assert_error(
        stranger.post("authentication/options", &json!({})).await,
        403,
        ErrorCode::FlowBindingMismatch,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn an_unknown_flow_is_flow_not_found() {
    let broker = broker_with_tenant().await;
    let flow = Flow::open(&broker, "acme").await;
    let ghost = Flow {
        id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        ..flow.clone()
    };
    assert_error(
        ghost.post("authentication/options", &json!({})).await,
        404,
        ErrorCode::FlowNotFound,
    );
    let junk = Flow {
        id: "not-a-flow".into(),
        ..flow
    };
    assert_error(
        junk.post("authentication/options", &json!({})).await,
        404,
        ErrorCode::FlowNotFound,
    );
}

#[tokio::test]
async fn an_expired_flow_is_flow_expired() {
    let broker = Broker::start_with(&[("LATCHKEY_FLOW_TTL", "1")]);
    broker.simple_tenant("acme").await;
    let flow = Flow::open(&broker, "acme").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_error(
        flow.post("authentication/options", &json!({})).await,
        410,
        ErrorCode::FlowExpired,
    );
}

async fn tampered_sign_in(
    flow: &Flow,
    auth: &mut SoftAuthenticator,
    tamper: Tamper,
) -> (u16, Value) {
    let options = flow.authentication_options().await;
    let cred = auth
        .authenticate_with(&options, &flow.issuer, &tamper)
        .unwrap();
    flow.post("authentication", &cred).await
}

#[tokio::test]
async fn a_wrong_origin_fails_verification_and_keeps_the_flow() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let t = Tamper {
        origin: Some("https://evil.example".into()),
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, t).await,
        400,
        ErrorCode::VerificationFailed,
    );
    let t = Tamper {
        origin: Some(format!("{}9", flow.issuer)),
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, t).await,
        400,
        ErrorCode::VerificationFailed,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn a_wrong_rp_id_hash_fails_verification() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let t = Tamper {
        rp_id_for_hash: Some("evil.example".into()),
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, t).await,
        400,
        ErrorCode::VerificationFailed,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn a_missing_user_verification_is_user_verification_required() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let t = Tamper {
        clear_uv: true,
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, t).await,
        400,
        ErrorCode::UserVerificationRequired,
    );
    flow_still_works(&flow, &mut auth).await;

    // And at registration.
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.registration_options(json!({})).await;
    let cred = SoftAuthenticator::new()
        .register_with(
            &options,
            &flow.issuer,
            &Tamper {
                clear_uv: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_error(
        flow.post("registration", &cred).await,
        400,
        ErrorCode::UserVerificationRequired,
    );
}

#[tokio::test]
async fn a_bad_signature_fails_verification() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let t = Tamper {
        wrong_key: true,
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, t).await,
        400,
        ErrorCode::VerificationFailed,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn a_challenge_of_another_flow_fails_verification() {
    let (broker, mut auth) = enrolled().await;
    let flow_a = Flow::open(&broker, "acme").await;
    let flow_b = Flow {
        ..Flow::open_with(&broker, flow_a.browser.clone(), "acme", REDIRECT, &[]).await
    };
    let options_b = flow_b.authentication_options().await;
    let _options_a = flow_a.authentication_options().await;
    // An assertion over B's challenge, posted to A.
    let cred = auth.authenticate(&options_b, &flow_a.issuer).unwrap();
    assert_error(
        flow_a.post("authentication", &cred).await,
        400,
        ErrorCode::VerificationFailed,
    );
    flow_still_works(&flow_a, &mut auth).await;
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.authentication_options().await;
    let cred = auth.authenticate(&options, &flow.issuer).unwrap();
    let (s, _) = flow.post("authentication", &cred).await;
    assert_eq!(s, 200);
    // The same assertion again, on the completed flow.
    assert_error(
        flow.post("authentication", &cred).await,
        410,
        ErrorCode::FlowExpired,
    );
    assert_error(
        flow.post("authentication/options", &json!({})).await,
        410,
        ErrorCode::FlowExpired,
    );

    // On a live flow, a consumed challenge answers challenge_expired.
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.authentication_options().await;
    let bad = auth
        .authenticate_with(
            &options,
            &flow.issuer,
            &Tamper {
                wrong_key: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_error(
        flow.post("authentication", &bad).await,
        400,
        ErrorCode::VerificationFailed,
    );
    let good = auth.authenticate(&options, &flow.issuer).unwrap();
    assert_error(
        flow.post("authentication", &good).await,
        410,
        ErrorCode::ChallengeExpired,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn an_unknown_credential_answers_its_id() {
    let (broker, _) = enrolled().await;
    let mut stranger = SoftAuthenticator::new();
    // A passkey for the same RP ID that this broker never registered.
    let other = Broker::start();
    other.simple_tenant("acme").await;
    let f = Flow::open(&other, "acme").await;
    let options = f.registration_options(json!({})).await;
    let _ = stranger.register(&options, &broker.issuer).unwrap();
    let flow = Flow::open(&broker, "acme").await;
    let body = assert_error(
        flow.sign_in(&mut stranger).await,
        404,
        ErrorCode::UnknownCredential,
    );
    assert_eq!(
        body["credential_id"],
        latchkey_tests::authenticator::b64(&stranger.credentials()[0].credential_id)
    );
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies_are_refused() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let url = format!("{}/api/v1/flows/{}/authentication", broker.issuer, flow.id);
    let res = flow
        .browser
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(
        (res.status().as_u16(), res.json().await.unwrap()),
        400,
        ErrorCode::InvalidRequest,
    );
    let res = flow
        .browser
        .post(&url)
        .json(&json!({"id": 5}))
        .send()
        .await
        .unwrap();
    assert_error(
        (res.status().as_u16(), res.json().await.unwrap()),
        400,
        ErrorCode::InvalidRequest,
    );
    let big = format!("{{\"pad\":\"{}\"}}", "a".repeat(1024 * 1024));
    let res = flow
        .browser
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(
        (res.status().as_u16(), res.json().await.unwrap()),
        413,
        ErrorCode::PayloadTooLarge,
    );
    flow_still_works(&flow, &mut auth).await;
}

/// A code from a fresh sign-in.
async fn fresh_code(broker: &Broker, auth: &mut SoftAuthenticator) -> (Flow, String) {
    let flow = Flow::open(broker, "acme").await;
    let (s, answer) = flow.sign_in(auth).await;
    assert_eq!(s, 200, "{answer}");
    let code = flow.code_from(&answer);
    (flow, code)
}

#[tokio::test]
async fn a_code_is_single_use_and_a_wrong_verifier_does_not_consume_it() {
    let (broker, mut auth) = enrolled().await;
    let (flow, code) = fresh_code(&broker, &mut auth).await;
    let body = |verifier: &str| json!({"client_id": "acme", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT});
    assert_oauth_error(
        redeem(&broker, &body(&Pkce::new().verifier)).await,
        400,
        ErrorCode::InvalidGrant,
    );
    assert_oauth_error(
        redeem(&broker, &body("short")).await,
        400,
        ErrorCode::InvalidGrant,
    );
    assert_oauth_error(
        redeem(&broker, &body(&format!("{}!", &flow.pkce.verifier[..43]))).await,
        400,
        ErrorCode::InvalidGrant,
    );
    let (s, _) = redeem(&broker, &body(&flow.pkce.verifier)).await;
    assert_eq!(
        s, 200,
        "the rightful holder still redeems after failed attempts"
    );
    assert_oauth_error(
        redeem(&broker, &body(&flow.pkce.verifier)).await,
        400,
        ErrorCode::InvalidGrant,
    );
    assert_oauth_error(redeem(&broker, &json!({"client_id": "acme", "code": "made-up", "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT})).await, 400, ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn a_redirect_uri_or_client_mismatch_at_redeem_is_invalid_grant() {
    let (broker, mut auth) = enrolled().await;
    broker
        .create_tenant(
            json!({"client_id": "other", "redirect_uris": [REDIRECT], "rp_mode": "broker"}),
        )
        .await;
    let (flow, code) = fresh_code(&broker, &mut auth).await;
    assert_oauth_error(
        redeem(&broker, &json!({"client_id": "acme", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": "https://site.example/other"})).await,
        400,
        ErrorCode::InvalidGrant,
    );
    assert_oauth_error(
        redeem(&broker, &json!({"client_id": "other", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT})).await,
        400,
        ErrorCode::InvalidGrant,
    );
    assert_oauth_error(
        redeem(&broker, &json!({"client_id": "ghost", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT})).await,
        401,
        ErrorCode::InvalidClient,
    );
    assert_oauth_error(
        redeem(&broker, &json!({"client_id": "acme", "code": code})).await,
        400,
        ErrorCode::InvalidRequest,
    );
    let (s, _) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "mismatches did not consume the code");
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let broker = Broker::start_with(&[("LATCHKEY_CODE_TTL", "1")]);
    broker.simple_tenant("acme").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let (_, answer) = flow.register(&mut auth, json!({})).await;
    let code = flow.code_from(&answer);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_oauth_error(
        flow.redeem(&broker, &code).await,
        400,
        ErrorCode::InvalidGrant,
    );
}

#[tokio::test]
async fn fifty_concurrent_redeems_of_one_code_yield_exactly_one_success() {
    let (broker, mut auth) = enrolled().await;
    let (flow, code) = fresh_code(&broker, &mut auth).await;
    let body = json!({"client_id": "acme", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
    let statuses = concurrent_redeems(&[&broker], &body, 50).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        49,
        "{statuses:?}"
    );
}

/// Standard base64 with padding, as HTTP Basic authentication encodes credentials.
fn b64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_confidential_client_must_authenticate() {
    let broker = Broker::start();
    let t = broker
        .create_tenant(json!({"client_id": "vault", "redirect_uris": [REDIRECT], "rp_mode": "broker", "confidential": true}))
        .await;
    let secret = t["client_secret"].as_str().unwrap().to_owned();
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "vault").await;
    let (_, answer) = flow.register(&mut auth, json!({})).await;
    let code = flow.code_from(&answer);
    let base = json!({"client_id": "vault", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
    assert_oauth_error(redeem(&broker, &base).await, 401, ErrorCode::InvalidClient);
    let mut wrong = base.clone();
    wrong["client_secret"] = "nope".into();
    assert_oauth_error(redeem(&broker, &wrong).await, 401, ErrorCode::InvalidClient);
    // Basic authentication on the token endpoint (RFC 6749 §2.3.1), its scheme in any
    // case (RFC 7235 §2.1).
    let basic = b64_std(format!("vault:{secret}").as_bytes());
    let res = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .header("authorization", format!("basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", flow.pkce.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn counter_regressions_are_audited_and_refused_under_the_reject_policy() {
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "strict", "redirect_uris": [REDIRECT], "rp_mode": "broker", "counter_policy": "reject"}))
        .await;
    broker.simple_tenant("lenient").await;
    for (tenant, expect_ok) in [("lenient", true), ("strict", false)] {
        let mut auth = SoftAuthenticator::new().device_bound();
        let flow = Flow::open(&broker, tenant).await;
        let (s, v) = flow.register(&mut auth, json!({})).await;
        assert_eq!(s, 200, "{v}");
        let flow = Flow::open(&broker, tenant).await;
        let (s, _) = flow.sign_in(&mut auth).await;
        assert_eq!(s, 200);
        let flow = Flow::open(&broker, tenant).await;
        let got = tampered_sign_in(
            &flow,
            &mut auth,
            Tamper {
                counter: Some(1),
                ..Default::default()
            },
        )
        .await;
        if expect_ok {
            assert_eq!(got.0, 200, "{}", got.1);
        } else {
            assert_error(got, 400, ErrorCode::VerificationFailed);
        }
        let (_, audit) = broker
            .admin(
                reqwest::Method::GET,
                &format!("/audit?tenant={tenant}"),
                None,
            )
            .await;
        assert!(
            audit["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "counter_regression"),
            "{audit}"
        );
    }
}

#[tokio::test]
async fn passkeys_of_one_tenant_are_unknown_at_another_without_an_id_to_signal() {
    // PROTOCOL §2: broker-mode tenants share the broker's RP ID, so a tenant's page offers
    // another tenant's passkeys. Picking one must not make the page tell the
    // authenticator to delete it, and must tell this tenant nothing about the other.
    let (broker, mut auth) = enrolled().await;
    broker.simple_tenant("elsewhere").await;
    let flow = Flow::open(&broker, "elsewhere").await;
    let body = assert_error(
        flow.sign_in(&mut auth).await,
        404,
        ErrorCode::UnknownCredential,
    );
    assert!(
        body.get("credential_id").is_none(),
        "nothing to signal: {body}"
    );
    assert_eq!(body["reason"], "another_site", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("another site"),
        "{body}"
    );
    for leak in ["acme", "user_id", "rp_id"] {
        assert!(!body.to_string().contains(leak), "{leak} in {body}");
    }
    // The same flow still signs in with a passkey of its own, and the first passkey still
    // signs in where it belongs.
    let (s, v) = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    let home = Flow::open(&broker, "acme").await;
    let (s, v) = home.sign_in(&mut auth).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_display_name_with_controls_or_bidi_overrides_is_refused_saying_so() {
    let broker = broker_with_tenant().await;
    let flow = Flow::open(&broker, "acme").await;
    for bad in ["Ada\u{202E}regnol", "Ada\u{2066}x", "Ada\u{0007}"] {
        let body = assert_error(
            flow.post("registration/options", &json!({"display_name": bad}))
                .await,
            400,
            ErrorCode::InvalidRequest,
        );
        assert_eq!(body["field"], "display_name", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("control characters"),
            "{body}"
        );
    }
    let (s, v) = flow
        .register(
            &mut SoftAuthenticator::new(),
            json!({"display_name": "Ada"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_ceremony_in_a_cross_origin_frame_fails_verification() {
    // The hosted page cannot be framed (frame-ancestors 'none'): client data saying it ran
    // in a frame of another origin was not made by it, at authentication as at
    // registration.
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let framed = Tamper {
        framed_by: Some("https://evil.example".into()),
        ..Default::default()
    };
    assert_error(
        tampered_sign_in(&flow, &mut auth, framed.clone()).await,
        400,
        ErrorCode::VerificationFailed,
    );
    let options = flow.registration_options(json!({})).await;
    let cred = SoftAuthenticator::new()
        .register_with(&options, &flow.issuer, &framed)
        .unwrap();
    assert_error(
        flow.post("registration", &cred).await,
        400,
        ErrorCode::VerificationFailed,
    );
    flow_still_works(&flow, &mut auth).await;
}

#[tokio::test]
async fn a_credential_whose_id_is_not_its_raw_id_is_refused_before_anything_is_used() {
    let (broker, mut auth) = enrolled().await;
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.authentication_options().await;
    let cred = auth.authenticate(&options, &flow.issuer).unwrap();
    let mut forged = cred.clone();
    forged["id"] = json!(latchkey_tests::authenticator::b64(&[7u8; 16]));
    let body = assert_error(
        flow.post("authentication", &forged).await,
        400,
        ErrorCode::InvalidRequest,
    );
    assert_eq!(body["field"], "id", "{body}");
    // The challenge was not consumed: the genuine credential still verifies.
    let (s, v) = flow.post("authentication", &cred).await;
    assert_eq!(s, 200, "{v}");

    let flow = Flow::open(&broker, "acme").await;
    let options = flow.registration_options(json!({})).await;
    let mut cred = SoftAuthenticator::new()
        .register(&options, &flow.issuer)
        .unwrap();
    cred["id"] = json!(latchkey_tests::authenticator::b64(&[9u8; 16]));
    assert_error(
        flow.post("registration", &cred).await,
        400,
        ErrorCode::InvalidRequest,
    );
}

#[tokio::test]
async fn a_revoked_passkey_is_an_unknown_credential() {
    let (broker, mut auth) = enrolled().await;
    let id = latchkey_tests::authenticator::b64(&auth.credentials()[0].credential_id);
    let (s, _) = broker
        .admin(reqwest::Method::DELETE, &format!("/credentials/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let flow = Flow::open(&broker, "acme").await;
    let body = assert_error(
        flow.sign_in(&mut auth).await,
        404,
        ErrorCode::UnknownCredential,
    );
    assert_eq!(body["credential_id"], id);
}

#[tokio::test]
async fn an_expired_challenge_is_challenge_expired_and_a_new_one_works() {
    let broker = Broker::start_with(&[("LATCHKEY_CHALLENGE_TTL", "1")]);
    broker.simple_tenant("acme").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.registration_options(json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let cred = auth.register(&options, &flow.issuer).unwrap();
    assert_error(
        flow.post("registration", &cred).await,
        410,
        ErrorCode::ChallengeExpired,
    );
    let (s, v) = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_eq!(s, 200, "a fresh challenge on the same flow works: {v}");
}

#[tokio::test]
async fn too_many_requests_are_429_with_retry_after_unless_exempt() {
    let broker = Broker::start_with(&[("LATCHKEY_RATE_LIMIT_PER_MINUTE", "3")]);
    broker.simple_tenant("acme").await;
    let flow = Flow::open(&broker, "acme").await;
    let url = format!(
        "{}/api/v1/flows/{}/authentication/options",
        broker.issuer, flow.id
    );
    let mut last = None;
    for _ in 0..4 {
        last = Some(
            flow.browser
                .post(&url)
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        );
    }
    let res = last.unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    let mut limited = false;
    for _ in 0..4 {
        let (s, v) = redeem(&broker, &json!({"client_id": "acme", "code": "x", "code_verifier": Pkce::new().verifier, "redirect_uri": REDIRECT})).await;
        if s == 429 {
            assert_eq!(v["error"], "slow_down");
            limited = true;
        }
    }
    assert!(limited, "the back channel is limited too");

    let exempt = Broker::start_with(&[
        ("LATCHKEY_RATE_LIMIT_PER_MINUTE", "3"),
        ("LATCHKEY_RATE_LIMIT_EXEMPT", "127.0.0.0/8"),
    ]);
    exempt.simple_tenant("acme").await;
    let flow = Flow::open(&exempt, "acme").await;
    for _ in 0..6 {
        let (s, v) = flow.post("authentication/options", &json!({})).await;
        assert_eq!(s, 200, "{v}");
    }
}
