//! Whole sign-ins against the real broker: registration, discoverable sign-in, redeem
//! through both back-channel endpoints, id_token checked against the JWKS, and the
//! `verify` material re-checked independently of the broker (PROTOCOL §5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, REDIRECT};
use latchkey_tests::verify::{Expected, verify_sign_in};
use serde_json::{Value, json};

fn expected<'a>(flow: &'a Flow, broker: &'a Broker, origins: &'a [&'a str]) -> Expected<'a> {
    Expected {
        code_challenge: &flow.pkce.challenge,
        client_id: &flow.client_id,
        rp_id: "localhost",
        issuer: &broker.issuer,
        origins,
        user_verification_required: true,
        max_age_secs: 120,
    }
}

#[tokio::test]
async fn a_new_passkey_then_a_discoverable_sign_in_give_verified_identities() {
    let broker = Broker::start();
    broker.simple_tenant("shop").await;
    let mut auth = SoftAuthenticator::new();

    // Registration: a new account.
    let flow = Flow::open_with(
        &broker,
        broker.browser(),
        "shop",
        REDIRECT,
        &[
            ("nonce", "n-0S6_WzA2Mj"),
            ("scope", "openid email"),
            ("prompt", "create"),
        ],
    )
    .await;
    let (status, answer) = flow
        .register(
            &mut auth,
            json!({"email": "ada@example.com", "display_name": "Ada"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["signals"]["rp_id"], "localhost");
    assert_eq!(answer["signals"]["name"], "ada@example.com");
    let code = flow.code_from(&answer);
    let (status, redeemed) = flow.redeem(&broker, &code).await;
    assert_eq!(status, 200, "{redeemed}");
    let sign_in = &redeemed["sign_in"];
    assert_eq!(sign_in["new_user"], true);
    assert_eq!(sign_in["new_credential"], true);
    assert_eq!(sign_in["client_id"], "shop");
    assert_eq!(sign_in["rp_id"], "localhost");
    assert_eq!(sign_in["email"], "ada@example.com");
    assert_eq!(sign_in["user_verified"], true);
    assert_eq!(sign_in["flow_id"], flow.id);
    assert_eq!(sign_in["public_key_alg"], -7);
    assert_eq!(redeemed["verify"]["ceremony"], "webauthn.create");
    assert_eq!(answer["signals"]["user_id"], sign_in["user_id"]);
    assert_eq!(
        answer["signals"]["all_accepted_credential_ids"],
        json!([sign_in["credential_id"]])
    );
    let origins = [broker.issuer.as_str()];
    verify_sign_in(&redeemed, &expected(&flow, &broker, &origins)).unwrap();
    let claims = verify_claims(&broker, redeemed["id_token"].as_str().unwrap(), "shop").await;
    assert_eq!(claims["sub"], sign_in["sub"]);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["amr"], json!(["swk", "user", "mfa"]));
    let user_id = sign_in["user_id"].clone();
    let credential_id = sign_in["credential_id"].clone();

    // Sign-in with the discoverable credential, redeemed through the OAuth token endpoint.
    let flow = Flow::open(&broker, "shop").await;
    let (status, answer) = flow.sign_in(&mut auth).await;
    assert_eq!(status, 200, "{answer}");
    let code = flow.code_from(&answer);
    let res = broker
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
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let token: Value = res.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "openid");
    let claims = verify_claims(&broker, token["id_token"].as_str().unwrap(), "shop").await;
    assert_eq!(claims["sub"], user_id);
    assert!(claims.get("email").is_none(), "email only with scope email");
    let info: Value = broker
        .backend()
        .get(broker.url("/oauth/userinfo"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], user_id);
    // RFC 7235 §2.1: the scheme is case-insensitive.
    let info: Value = broker
        .backend()
        .get(broker.url("/oauth/userinfo"))
        .header(
            "authorization",
            format!("bearer {}", token["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], user_id, "{info}");

    // And the JSON redeem of a third sign-in re-verifies as webauthn.get.
    let flow = Flow::open(&broker, "shop").await;
    let (_, answer) = flow.sign_in(&mut auth).await;
    let (status, redeemed) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    assert_eq!(redeemed["sign_in"]["new_user"], false);
    assert_eq!(redeemed["sign_in"]["new_credential"], false);
    assert_eq!(redeemed["sign_in"]["user_id"], user_id);
    assert_eq!(redeemed["sign_in"]["credential_id"], credential_id);
    assert_eq!(redeemed["verify"]["ceremony"], "webauthn.get");
    assert_eq!(redeemed["verify"]["user_handle"], user_id);
    verify_sign_in(&redeemed, &expected(&flow, &broker, &origins)).unwrap();
}

#[tokio::test]
async fn restarting_on_the_same_data_directory_keeps_tenants_passkeys_and_keys() {
    let broker = Broker::start();
    broker.simple_tenant("keep").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "keep").await;
    let (status, answer) = flow.register(&mut auth, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (_, first) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    let kid_before = jsonwebtoken::decode_header(first["id_token"].as_str().unwrap())
        .unwrap()
        .kid;

    let broker = broker.restart();
    let (status, tenant) = broker
        .admin(reqwest::Method::GET, "/tenants/keep", None)
        .await;
    assert_eq!(status, 200, "{tenant}");
    let flow = Flow::open(&broker, "keep").await;
    let (status, answer) = flow.sign_in(&mut auth).await;
    assert_eq!(status, 200, "{answer}");
    let (status, redeemed) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200);
    assert_eq!(redeemed["sign_in"]["user_id"], first["sign_in"]["user_id"]);
    let kid_after = jsonwebtoken::decode_header(redeemed["id_token"].as_str().unwrap())
        .unwrap()
        .kid;
    assert_eq!(kid_before, kid_after, "the signing key survives a restart");
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut broker = Broker::start();
    let res = broker
        .backend()
        .get(broker.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(broker.stop(), "exit status 0 after SIGTERM");
}

#[tokio::test]
async fn the_logs_of_a_full_run_hold_no_code_verifier_token_or_secret() {
    let broker = Broker::start();
    let tenant = broker
        .create_tenant(json!({"client_id": "secretive", "redirect_uris": [REDIRECT], "rp_mode": "broker", "confidential": true}))
        .await;
    let secret = tenant["client_secret"].as_str().unwrap().to_owned();
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "secretive").await;
    let (_, answer) = flow
        .register(&mut auth, json!({"email": "grace@example.com"}))
        .await;
    let code = flow.code_from(&answer);
    let (status, redeemed) = latchkey_tests::harness::redeem(
        &broker,
        &json!({"client_id": "secretive", "client_secret": secret, "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT}),
    )
    .await;
    assert_eq!(status, 200, "{redeemed}");
    let logs = broker.logs();
    assert!(logs.contains("request"), "the broker logs requests");
    for needle in [
        code.as_str(),
        flow.pkce.verifier.as_str(),
        flow.pkce.challenge.as_str(),
        flow.state.as_str(),
        secret.as_str(),
        redeemed["id_token"].as_str().unwrap(),
        latchkey_tests::harness::ADMIN_TOKEN,
        "grace@example.com",
    ] {
        assert!(
            !logs.contains(needle),
            "the log contains a secret value: {needle}"
        );
    }
}

#[tokio::test]
async fn the_embedded_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    // Embedded SQLite whatever the suite's backend: the files under test are SQLite's.
    let dir = latchkey_tests::harness::temp_dir("latchkey-modes");
    let url = format!("sqlite://{}/latchkey.db?mode=rwc", dir.display());
    let broker = Broker::start_with(&[("LATCHKEY_DATABASE_URL", url.as_str())]);
    broker.simple_tenant("shop").await;
    let flow = Flow::open(&broker, "shop").await;
    let (status, answer) = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    for name in ["latchkey.db", "latchkey.db-wal", "latchkey.db-shm"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
    }
}

#[tokio::test]
async fn logs_written_to_a_file_or_a_pipe_carry_no_colour_escapes() {
    // The test broker's standard error goes to a file (broker.log).
    let broker = Broker::start();
    broker.simple_tenant("plain").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "plain").await;
    let (status, answer) = flow.register(&mut auth, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = flow.redeem(&broker, "not-a-code").await;
    assert_eq!(status, 400);
    let logs = broker.logs();
    assert!(logs.contains("request"), "the broker logs requests");
    assert_no_escape("the broker's log file", &logs);

    // The command line's, read through a pipe, even when asked for every line.
    let dir = latchkey_tests::harness::temp_dir("latchkey-nocolour");
    let out = std::process::Command::new(latchkey_tests::harness::binary())
        .arg("migrate")
        .env("LATCHKEY_DATA_DIR", &dir)
        .env("LATCHKEY_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(!logs.trim().is_empty(), "migrate logs at debug");
    assert_no_escape("migrate's standard error", &logs);
}

/// Fails, quoting the first such line, when `logs` hold an ESC byte (ANSI escapes).
fn assert_no_escape(what: &str, logs: &str) {
    if let Some(line) = logs.lines().find(|l| l.contains('\u{1b}')) {
        panic!("{what} carries ANSI escapes: {line:?}");
    }
}

async fn verify_claims(broker: &Broker, token: &str, client_id: &str) -> Value {
    broker.verify_id_token(token, client_id).await.0
}
