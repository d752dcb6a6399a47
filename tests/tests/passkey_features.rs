//! Passkey features beyond the contract's core, against the real binary: per-tenant
//! policies (AAGUID lists, synced passkeys, direct attestation, counter regressions),
//! PRF salts in the options, and the hosted page's languages; then, in Chromium with a
//! virtual authenticator, PRF keys end to end through the SDK's demo site, mediation,
//! the Signal API, and the page in English and Japanese.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use latchkey_tests::authenticator::{SoftAuthenticator, Tamper};
use latchkey_tests::browser::{Authenticator, Browser, Page, skipped};
use latchkey_tests::harness::{Broker, DemoSite, Flow, REDIRECT};
use reqwest::Method;
use serde_json::{Value, json};

const GPM: &str = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";
const GPM_BYTES: [u8; 16] = [
    0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4,
];
const YUBIKEY: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
const YUBIKEY_BYTES: [u8; 16] = [
    0xcb, 0x69, 0x48, 0x1e, 0x8f, 0xf7, 0x40, 0x39, 0x93, 0xec, 0x0a, 0x27, 0x29, 0xa1, 0x54, 0xa8,
];

fn assert_refused(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| m.len() > 30),
        "a plain-words message: {}",
        got.1
    );
}

async fn audit_reasons(broker: &Broker, tenant: &str) -> Vec<String> {
    let (_, audit) = broker
        .admin(Method::GET, &format!("/audit?tenant={tenant}"), None)
        .await;
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "ceremony.failed")
        .filter_map(|e| e["detail"]["reason"].as_str().map(str::to_owned))
        .collect()
}

async fn tenant(broker: &Broker, client_id: &str, extra: Value) -> Value {
    let mut body = json!({"client_id": client_id, "name": "Northwind", "redirect_uris": [REDIRECT], "rp_mode": "broker"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    broker.create_tenant(body).await
}

#[tokio::test]
async fn policy_fields_are_set_through_the_admin_api_and_a_bad_one_is_named() {
    let broker = Broker::start();
    let t = tenant(
        &broker,
        "policy",
        json!({"aaguid_deny": [GPM], "synced_passkeys": "refuse", "prf": true}),
    )
    .await;
    assert_eq!(t["aaguid_deny"], json!([GPM]));
    assert_eq!(t["aaguid_allow"], json!([]));
    assert_eq!(t["synced_passkeys"], "refuse");
    assert_eq!(t["attestation"], "none");
    assert_eq!(t["prf"], true);
    assert_eq!(t["prf_rotating"], false);

    for (body, field) in [
        (json!({"aaguid_allow": ["not-an-aaguid"]}), "aaguid_allow"),
        (
            json!({"aaguid_deny": [GPM.replace('-', "")]}),
            "aaguid_deny",
        ),
        (json!({"aaguid_allow": [GPM]}), "aaguid_allow"),
        (json!({"synced_passkeys": "sometimes"}), "synced_passkeys"),
        (json!({"attestation": "indirect"}), "attestation"),
        // direct needs the broker's attestation roots, and this broker has none.
        (
            json!({"attestation": "direct", "aaguid_allow": [YUBIKEY]}),
            "attestation",
        ),
        (json!({"prf_rotation": "later"}), "prf_rotation"),
        // A value of the wrong type is named too.
        (json!({"prf": "yes"}), "prf"),
    ] {
        let (status, err) = broker
            .admin(Method::PATCH, "/tenants/policy", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"], "invalid_field", "{err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    // Nothing changed.
    let (_, now) = broker.admin(Method::GET, "/tenants/policy", None).await;
    assert_eq!(now, t);

    let (status, changed) = broker
        .admin(
            Method::PATCH,
            "/tenants/policy",
            Some(json!({"aaguid_deny": [], "aaguid_allow": [YUBIKEY, GPM], "synced_passkeys": "allow", "prf": false})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["aaguid_allow"], json!([YUBIKEY, GPM]));
    assert_eq!(changed["synced_passkeys"], "allow");
    assert_eq!(changed["prf"], false);
    let (status, err) = broker
        .admin(
            Method::PATCH,
            "/tenants/policy",
            Some(json!({"prf_rotation": "start"})),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("prf_rotation")));
    let (status, err) = broker
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"client_id": "direct", "redirect_uris": [REDIRECT], "attestation": "direct"})),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("attestation")),
        "{err}"
    );
}

/// Signs in on a new flow of `client_id` with `auth`, UV flag cleared when `uv` is false.
async fn sign_in_with_uv(
    broker: &Broker,
    client_id: &str,
    auth: &mut SoftAuthenticator,
    uv: bool,
) -> (Flow, (u16, Value)) {
    let flow = Flow::open(broker, client_id).await;
    let options = flow.authentication_options().await;
    let tamper = Tamper {
        clear_uv: !uv,
        ..Tamper::default()
    };
    let credential = auth
        .authenticate_with(&options, &flow.issuer, &tamper)
        .unwrap();
    let answer = flow.post("authentication", &credential).await;
    (flow, answer)
}

/// Redeems the code of a successful sign-in and returns the sign-in and the id_token's
/// `amr`, checking the `verify` material with the independent verifier on the way.
async fn redeemed(broker: &Broker, flow: &Flow, answer: &(u16, Value)) -> (Value, Value) {
    assert_eq!(answer.0, 200, "{}", answer.1);
    let (status, redeemed) = flow.redeem(broker, &flow.code_from(&answer.1)).await;
    assert_eq!(status, 200, "{redeemed}");
    let origins = [broker.issuer.as_str()];
    let expected = latchkey_tests::verify::Expected {
        code_challenge: &flow.pkce.challenge,
        client_id: &flow.client_id,
        rp_id: "localhost",
        issuer: &broker.issuer,
        origins: &origins,
        user_verification_required: false,
        max_age_secs: 120,
    };
    latchkey_tests::verify::verify_sign_in(&redeemed, &expected).unwrap();
    let (claims, _) = broker
        .verify_id_token(redeemed["id_token"].as_str().unwrap(), &flow.client_id)
        .await;
    (redeemed["sign_in"].clone(), claims["amr"].clone())
}

#[tokio::test]
async fn user_verification_preferred_accepts_a_sign_in_without_uv_from_a_passkey_made_with_it() {
    let broker = Broker::start();
    tenant(
        &broker,
        "relaxed",
        json!({"user_verification": "preferred"}),
    )
    .await;
    let mut auth = SoftAuthenticator::new().with_uv(true);
    let flow = Flow::open(&broker, "relaxed").await;
    let answer = flow.register(&mut auth, json!({})).await;
    let (made, amr) = redeemed(&broker, &flow, &answer).await;
    assert_eq!(made["user_verified"], true);
    assert_eq!(amr, json!(["swk", "user", "mfa"]));

    // The same passkey without UV: accepted, and reported as such.
    let (flow, answer) = sign_in_with_uv(&broker, "relaxed", &mut auth, false).await;
    let (sign_in, amr) = redeemed(&broker, &flow, &answer).await;
    assert_eq!(sign_in["user_id"], made["user_id"]);
    assert_eq!(sign_in["credential_id"], made["credential_id"]);
    assert_eq!(sign_in["user_verified"], false);
    assert_eq!(amr, json!(["swk", "user"]), "no mfa without UV");

    // The tenant turns to `required`: the same passkey without UV is refused, with UV
    // it still signs in.
    let (s, changed) = broker
        .admin(
            Method::PATCH,
            "/tenants/relaxed",
            Some(json!({"user_verification": "required"})),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    let (flow, got) = sign_in_with_uv(&broker, "relaxed", &mut auth, false).await;
    assert_refused(&got, 400, "user_verification_required");
    let options = flow.authentication_options().await;
    let credential = auth.authenticate(&options, &flow.issuer).unwrap();
    let answer = flow.post("authentication", &credential).await;
    let (sign_in, _) = redeemed(&broker, &flow, &answer).await;
    assert_eq!(sign_in["user_verified"], true);
}

#[tokio::test]
async fn user_verification_required_refuses_a_sign_in_without_uv_until_the_tenant_prefers_it() {
    let broker = Broker::start();
    tenant(&broker, "strict", json!({"user_verification": "required"})).await;
    let mut auth = SoftAuthenticator::new().with_uv(true);
    let flow = Flow::open(&broker, "strict").await;
    let answer = flow.register(&mut auth, json!({})).await;
    let (made, _) = redeemed(&broker, &flow, &answer).await;

    let (_, got) = sign_in_with_uv(&broker, "strict", &mut auth, false).await;
    assert_refused(&got, 400, "user_verification_required");
    assert_eq!(
        audit_reasons(&broker, "strict").await,
        ["user_verification"]
    );

    // The policy is the tenant's as it is now, not as it was when the passkey was made.
    let (s, changed) = broker
        .admin(
            Method::PATCH,
            "/tenants/strict",
            Some(json!({"user_verification": "preferred"})),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    let (flow, answer) = sign_in_with_uv(&broker, "strict", &mut auth, false).await;
    let (sign_in, amr) = redeemed(&broker, &flow, &answer).await;
    assert_eq!(sign_in["credential_id"], made["credential_id"]);
    assert_eq!(sign_in["user_verified"], false);
    assert_eq!(amr, json!(["swk", "user"]));
}

#[tokio::test]
async fn a_denied_authenticator_is_refused_by_name_and_the_flow_stays_usable() {
    let broker = Broker::start();
    tenant(&broker, "deny", json!({"aaguid_deny": [GPM]})).await;
    let flow = Flow::open(&broker, "deny").await;
    let mut gpm = SoftAuthenticator::new().with_aaguid(GPM_BYTES);
    let got = flow.register(&mut gpm, json!({})).await;
    assert_refused(&got, 400, "authenticator_not_allowed");
    assert_eq!(got.1["reason"], "authenticator_denied");
    assert_eq!(got.1["authenticator"], "Google Password Manager");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("Google Password Manager")
    );
    // The page can tell the password manager to forget the passkey it just made.
    assert_eq!(
        got.1["credential_id"],
        latchkey_tests::authenticator::b64(&gpm.credentials()[0].credential_id)
    );
    assert_eq!(
        audit_reasons(&broker, "deny").await,
        ["authenticator_denied"]
    );

    // Same flow, another authenticator: accepted.
    let mut other = SoftAuthenticator::new();
    let (status, answer) = flow.register(&mut other, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (status, redeemed) = flow.redeem(&broker, &flow.code_from(&answer)).await;
    assert_eq!(status, 200, "{redeemed}");
    // Nothing of the refused passkey was stored.
    let (_, users) = broker.admin(Method::GET, "/tenants/deny/users", None).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "{users}");
}

#[tokio::test]
async fn an_allow_list_holds_at_registration_and_at_every_sign_in_and_names_the_model() {
    let broker = Broker::start();
    tenant(&broker, "allow", json!({"aaguid_allow": [YUBIKEY]})).await;
    let flow = Flow::open(&broker, "allow").await;
    let got = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_refused(&got, 400, "authenticator_not_allowed");
    assert_eq!(got.1["reason"], "authenticator_not_allowed");
    assert!(got.1.get("authenticator").is_none(), "{}", got.1);

    let mut key = SoftAuthenticator::new().with_aaguid(YUBIKEY_BYTES);
    let (status, answer) = flow.register(&mut key, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (_, users) = broker
        .admin(Method::GET, "/tenants/allow/users", None)
        .await;
    let passkey = &users["users"][0]["passkeys"][0];
    assert_eq!(passkey["aaguid"], YUBIKEY);
    assert_eq!(passkey["authenticator"], "YubiKey 5 Series");
    assert_eq!(passkey["aaguid_verified"], false);

    let flow = Flow::open(&broker, "allow").await;
    assert_eq!(flow.sign_in(&mut key).await.0, 200);
    // The list changes: the stored passkey is refused at its next sign-in.
    let (status, _) = broker
        .admin(
            Method::PATCH,
            "/tenants/allow",
            Some(json!({"aaguid_allow": [GPM]})),
        )
        .await;
    assert_eq!(status, 200);
    let flow = Flow::open(&broker, "allow").await;
    let got = flow.sign_in(&mut key).await;
    assert_refused(&got, 400, "authenticator_not_allowed");
    assert_eq!(got.1["authenticator"], "YubiKey 5 Series");
    assert_eq!(
        audit_reasons(&broker, "allow").await,
        ["authenticator_not_allowed", "authenticator_not_allowed"]
    );
}

#[tokio::test]
async fn device_bound_only_refuses_synced_passkeys_when_made_and_when_used() {
    let broker = Broker::start();
    tenant(&broker, "bound", json!({"synced_passkeys": "refuse"})).await;
    let flow = Flow::open(&broker, "bound").await;
    let got = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_refused(&got, 400, "synced_passkey_not_allowed");
    assert_eq!(got.1["reason"], "synced_passkey");
    let mut key = SoftAuthenticator::new().device_bound();
    let (status, answer) = flow.register(&mut key, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let flow = Flow::open(&broker, "bound").await;
    assert_eq!(flow.sign_in(&mut key).await.0, 200);

    // A synced passkey made before the policy is refused at its next use.
    tenant(&broker, "later", json!({})).await;
    let mut synced = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "later").await;
    assert_eq!(flow.register(&mut synced, json!({})).await.0, 200);
    let (status, _) = broker
        .admin(
            Method::PATCH,
            "/tenants/later",
            Some(json!({"synced_passkeys": "refuse"})),
        )
        .await;
    assert_eq!(status, 200);
    let flow = Flow::open(&broker, "later").await;
    let got = flow.sign_in(&mut synced).await;
    assert_refused(&got, 400, "synced_passkey_not_allowed");
    assert_eq!(audit_reasons(&broker, "later").await, ["synced_passkey"]);
}

#[tokio::test]
async fn a_counter_regression_under_reject_keeps_its_contract_code_and_says_why() {
    let broker = Broker::start();
    tenant(&broker, "counter", json!({"counter_policy": "reject"})).await;
    let mut key = SoftAuthenticator::new().device_bound();
    let flow = Flow::open(&broker, "counter").await;
    assert_eq!(flow.register(&mut key, json!({})).await.0, 200);
    let flow = Flow::open(&broker, "counter").await;
    assert_eq!(flow.sign_in(&mut key).await.0, 200);
    let flow = Flow::open(&broker, "counter").await;
    let options = flow.authentication_options().await;
    let assertion = key
        .authenticate_with(
            &options,
            &flow.issuer,
            &Tamper {
                counter: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    let got = flow.post("authentication", &assertion).await;
    assert_refused(&got, 400, "verification_failed");
    assert_eq!(got.1["reason"], "counter_regression");
    assert!(got.1["message"].as_str().unwrap().contains("copied"));
    assert_eq!(
        audit_reasons(&broker, "counter").await,
        ["counter_regression"]
    );
}

#[tokio::test]
async fn direct_attestation_proves_the_aaguid_against_the_operators_roots() {
    let (root_pem, attestation) = latchkey_tests::tls::attestation_root(YUBIKEY_BYTES);
    let (other_root, foreign) = latchkey_tests::tls::attestation_root(YUBIKEY_BYTES);
    let (_, wrong_model) = {
        // The right root, but a model the allow list does not name.
        let (pem, a) = latchkey_tests::tls::attestation_root(GPM_BYTES);
        (pem, a)
    };
    let dir = latchkey_tests::harness::temp_dir("latchkey-roots");
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, &root_pem).unwrap();
    let broker = Broker::start_with(&[("LATCHKEY_ATTESTATION_ROOTS", roots.to_str().unwrap())]);
    tenant(
        &broker,
        "direct",
        json!({"attestation": "direct", "aaguid_allow": [YUBIKEY]}),
    )
    .await;
    let flow = Flow::open(&broker, "direct").await;
    let options = flow.registration_options(json!({})).await;
    assert_eq!(options["publicKey"]["attestation"], "direct");

    // Self-reported AAGUIDs are not proof.
    let mut claims = SoftAuthenticator::new().with_aaguid(YUBIKEY_BYTES);
    let got = flow.register(&mut claims, json!({})).await;
    assert_refused(&got, 400, "attestation_not_verified");
    // A chain to another root.
    let mut other = SoftAuthenticator::new()
        .with_aaguid(YUBIKEY_BYTES)
        .with_packed_attestation(foreign);
    assert_refused(
        &flow.register(&mut other, json!({})).await,
        400,
        "attestation_not_verified",
    );
    let _ = other_root;
    // A chain to the root, for a model the list does not name.
    let mut unlisted = SoftAuthenticator::new()
        .with_aaguid(GPM_BYTES)
        .with_packed_attestation(wrong_model);
    assert_refused(
        &flow.register(&mut unlisted, json!({})).await,
        400,
        "attestation_not_verified",
    );
    // A packed attestation under the root, for the listed model.
    let mut key = SoftAuthenticator::new()
        .device_bound()
        .with_aaguid(YUBIKEY_BYTES)
        .with_packed_attestation(attestation);
    let (status, answer) = flow.register(&mut key, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (_, users) = broker
        .admin(Method::GET, "/tenants/direct/users", None)
        .await;
    assert_eq!(
        users["users"][0]["passkeys"][0]["aaguid_verified"], true,
        "{users}"
    );
    let flow = Flow::open(&broker, "direct").await;
    assert_eq!(flow.sign_in(&mut key).await.0, 200);
    assert_eq!(
        audit_reasons(&broker, "direct").await,
        [
            "attestation_not_verified",
            "attestation_not_verified",
            "attestation_not_verified"
        ]
    );
}

#[tokio::test]
async fn prf_salts_are_in_the_options_only_when_on_and_a_rotation_adds_a_second() {
    let broker = Broker::start();
    tenant(&broker, "plain", json!({})).await;
    let flow = Flow::open(&broker, "plain").await;
    let options = flow.authentication_options().await;
    assert!(
        options["publicKey"]["extensions"]["prf"].is_null(),
        "{options}"
    );

    tenant(&broker, "prf", json!({"prf": true})).await;
    let salt = |o: &Value, which: &str| {
        o["publicKey"]["extensions"]["prf"]["eval"][which]
            .as_str()
            .map(str::to_owned)
    };
    let flow = Flow::open(&broker, "prf").await;
    let first = salt(&flow.authentication_options().await, "first").unwrap();
    assert_eq!(first.len(), 43, "32 bytes, base64url");
    let reg = flow.registration_options(json!({})).await;
    assert_eq!(salt(&reg, "first").as_deref(), Some(first.as_str()));
    assert_eq!(salt(&reg, "second"), None);

    let (status, t) = broker
        .admin(
            Method::PATCH,
            "/tenants/prf",
            Some(json!({"prf_rotation": "start"})),
        )
        .await;
    assert_eq!((status, &t["prf_rotating"]), (200, &json!(true)), "{t}");
    let flow = Flow::open(&broker, "prf").await;
    let options = flow.authentication_options().await;
    assert_eq!(salt(&options, "first").as_deref(), Some(first.as_str()));
    let second = salt(&options, "second").unwrap();
    assert_ne!(second, first);
    let (status, _) = broker
        .admin(
            Method::PATCH,
            "/tenants/prf",
            Some(json!({"prf_rotation": "finish"})),
        )
        .await;
    assert_eq!(status, 200);
    let flow = Flow::open(&broker, "prf").await;
    let options = flow.authentication_options().await;
    assert_eq!(salt(&options, "first"), Some(second));
    assert_eq!(salt(&options, "second"), None);
    // A sign-in with a PRF tenant works without any PRF output (it is opportunistic).
    let mut auth = SoftAuthenticator::new();
    assert_eq!(flow.register(&mut auth, json!({})).await.0, 200);
}

async fn page_html(broker: &Broker, query: &str, accept_language: Option<&str>) -> String {
    let pkce = latchkey_tests::harness::Pkce::new();
    let mut req = broker.browser().get(format!(
        "{}/authorize?response_type=code&client_id=words&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s{query}",
        broker.base,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        pkce.challenge
    ));
    if let Some(l) = accept_language {
        req = req.header("Accept-Language", l);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

#[tokio::test]
async fn the_hosted_page_speaks_english_or_japanese_from_ui_locales_then_accept_language() {
    let broker = Broker::start();
    tenant(&broker, "words", json!({})).await;
    let en = page_html(&broker, "", None).await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Sign in to Northwind"));
    let ja = page_html(&broker, "", Some("ja-JP,ja;q=0.9,en;q=0.8")).await;
    assert!(ja.contains("<html lang=\"ja\">"));
    assert!(ja.contains("Northwind にサインイン"));
    assert!(ja.contains("パスキーでサインイン"));
    assert!(!ja.contains("Sign in with a passkey"));
    let ja = page_html(&broker, "&ui_locales=ja", Some("en")).await;
    assert!(ja.contains("<html lang=\"ja\">"));
    let en = page_html(&broker, "&ui_locales=fr%20en", Some("ja")).await;
    assert!(en.contains("<html lang=\"en\">"));
    let en = page_html(&broker, "", Some("de, fr;q=0.8")).await;
    assert!(en.contains("<html lang=\"en\">"));
}

// ---- In Chromium ----

static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const WAIT: Duration = Duration::from_secs(20);

fn authorize_url(broker: &Broker, client_id: &str, redirect_uri: &str, extra: &str) -> String {
    let pkce = latchkey_tests::harness::Pkce::new();
    format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=st{extra}",
        broker.issuer,
        url::form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>(),
        pkce.challenge
    )
}

async fn create_on_page(page: &Page, email: &str) {
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

/// Records the demo site's URL fragment at each document start, before any script of
/// the page reads (and clears) it.
async fn record_fragments(page: &Page) {
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "try { if (location.hash) { const l = JSON.parse(sessionStorage.getItem('fragments') || '[]'); l.push(location.hash); sessionStorage.setItem('fragments', JSON.stringify(l)); } } catch (e) {}"}),
    )
    .await;
}

/// The PRF outputs (base64url) the hosted page handed to the demo site so far.
async fn recorded_prf_outputs(page: &Page) -> Vec<String> {
    let list = page
        .eval("JSON.parse(sessionStorage.getItem('fragments') || '[]')")
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|h| {
            url::form_urlencoded::parse(h.as_str()?.trim_start_matches('#').as_bytes())
                .find(|(k, _)| k == "latchkey_prf")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

async fn sign_in_on_demo(page: &Page, base: &str) {
    page.goto(&format!("{base}/")).await;
    if page.eval("!!document.getElementById('sign-out')").await == Value::Bool(true) {
        page.click("sign-out").await;
        page.wait_for("document.getElementById('sign-in')", WAIT)
            .await;
    }
    page.click("sign-in").await;
    page.wait_for(
        "location.pathname === '/authorize' && document.body.dataset.state === 'ready'",
        WAIT,
    )
    .await;
    page.click("signin-button").await;
    page.wait_for(
        "document.getElementById('identity') && document.body.dataset.note",
        WAIT,
    )
    .await;
}

#[tokio::test]
async fn prf_gives_the_site_a_key_only_the_passkey_opens_and_the_broker_never_sees_it() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start_with(&[("LATCHKEY_LOG", "debug")]);
    let site = DemoSite::start(&broker, "notes").await;
    let (status, t) = broker
        .admin(Method::PATCH, "/tenants/notes", Some(json!({"prf": true})))
        .await;
    assert_eq!(status, 200, "{t}");
    let base = site.base.clone();
    let browser = Browser::launch(&[]).await;
    let page = browser
        .new_page_with(Authenticator::default(), json!({"hasPrf": true}))
        .await;
    record_fragments(&page).await;

    // Create a passkey: the site gets a key, and keeps only the note's ciphertext.
    page.goto(&format!("{base}/")).await;
    page.click("create").await;
    page.wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_on_page(&page, "ada@example.com").await;
    page.wait_for(
        "document.getElementById('identity') && document.body.dataset.note === 'empty'",
        WAIT,
    )
    .await;
    assert_eq!(page.eval("document.body.dataset.prf").await, "available");
    assert_eq!(
        page.eval("location.hash").await,
        "",
        "the helper cleared the fragment"
    );
    let key_id = page
        .eval("document.getElementById('key-id').innerText")
        .await;
    assert_eq!(key_id.as_str().unwrap().len(), 32, "{key_id}");
    page.fill("note-text", "the cellar code is 4711").await;
    page.click("note-save").await;
    page.wait_for("document.body.dataset.note === 'saved'", WAIT)
        .await;

    // Same passkey, new sign-in: same key, the note opens.
    sign_in_on_demo(&page, &base).await;
    assert_eq!(page.eval("document.body.dataset.note").await, "opened");
    assert_eq!(
        page.eval("document.getElementById('note-text').value")
            .await,
        "the cellar code is 4711"
    );
    assert_eq!(
        page.eval("document.getElementById('key-id').innerText")
            .await,
        key_id
    );

    // Another passkey (another authenticator, another account): another key.
    let other = browser
        .new_page_with(Authenticator::default(), json!({"hasPrf": true}))
        .await;
    record_fragments(&other).await;
    other.goto(&format!("{base}/")).await;
    if other.eval("!!document.getElementById('sign-out')").await == Value::Bool(true) {
        other.click("sign-out").await;
        other
            .wait_for("document.getElementById('create')", WAIT)
            .await;
    }
    other.click("create").await;
    other
        .wait_for("location.pathname === '/authorize'", WAIT)
        .await;
    create_on_page(&other, "bo@example.com").await;
    other
        .wait_for(
            "document.getElementById('identity') && document.body.dataset.note",
            WAIT,
        )
        .await;
    let other_key_id = other
        .eval("document.getElementById('key-id').innerText")
        .await;
    assert_eq!(other_key_id.as_str().unwrap().len(), 32);
    assert_ne!(other_key_id, key_id);

    // The outputs the page handed over: one per sign-in, equal for the same passkey.
    let mut outputs = recorded_prf_outputs(&page).await;
    outputs.extend(recorded_prf_outputs(&other).await);
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(outputs[0], outputs[2]);

    // Never in the broker's logs or database, in any encoding.
    drop(other);
    drop(page);
    drop(browser);
    let logs = broker.logs();
    assert!(logs.len() > 1000, "debug logs were written");
    let mut haystack: Vec<u8> = logs.into_bytes();
    let mut sqlite = false;
    for entry in std::fs::read_dir(&broker.dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("latchkey.db") {
            sqlite = true;
            haystack.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    assert!(
        sqlite || std::env::var("LATCHKEY_TEST_DATABASE").as_deref() == Ok("postgres"),
        "the SQLite files were searched"
    );
    for out in &outputs {
        let raw = latchkey_tests::authenticator::unb64(out).unwrap();
        assert_eq!(raw.len(), 32);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        use base64::Engine as _;
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        for needle in [
            out.as_bytes(),
            hex.as_bytes(),
            std_b64.trim_end_matches('=').as_bytes(),
            &raw[..],
        ] {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle),
                "a PRF output reached the broker"
            );
        }
    }
}

fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

#[tokio::test]
async fn the_page_in_japanese_explains_a_policy_refusal_and_both_languages_look_right() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    broker
        .create_tenant(json!({"client_id": "strict", "name": "Northwind Books", "redirect_uris": [redirect], "rp_mode": "broker", "synced_passkeys": "refuse"}))
        .await;
    let browser = Browser::launch(&[]).await;
    // A synced passkey provider (BE set): the tenant accepts device-bound passkeys only.
    let page = browser
        .new_page_with(
            Authenticator::default(),
            json!({"defaultBackupEligibility": true, "defaultBackupState": true}),
        )
        .await;

    for (lang, query) in [("en", "&ui_locales=en"), ("ja", "&ui_locales=ja")] {
        page.goto(&authorize_url(&broker, "strict", &redirect, query))
            .await;
        page.wait_for("document.body.dataset.state === 'ready'", WAIT)
            .await;
        assert_eq!(page.eval("document.documentElement.lang").await, lang);
        for (name, w, h, dark) in [
            ("desktop-light", 1280, 800, false),
            ("mobile-dark", 390, 844, true),
        ] {
            page.screenshot(
                &screenshots().join(format!("authorize-{lang}-{name}.png")),
                w,
                h,
                dark,
            )
            .await;
        }
        page.click("show-create").await;
        create_on_page(&page, "ken@example.com").await;
        page.wait_for(
            "document.body.dataset.error === 'synced_passkey_not_allowed'",
            WAIT,
        )
        .await;
        let message = page
            .eval("document.getElementById('error-message').innerText")
            .await;
        let message = message.as_str().unwrap().to_owned();
        if lang == "ja" {
            assert!(message.contains("同期"), "{message}");
            assert!(message.contains("Northwind Books"), "{message}");
        } else {
            assert!(message.contains("synced between devices"), "{message}");
        }
        page.screenshot(
            &screenshots().join(format!("authorize-{lang}-policy-refusal.png")),
            390,
            844,
            false,
        )
        .await;
        // The refused passkey was dropped from the authenticator (signalUnknownCredential).
        let start = std::time::Instant::now();
        while !page.credentials().await.is_empty() {
            assert!(start.elapsed() < WAIT, "the refused passkey was forgotten");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (_, audit) = broker
        .admin(Method::GET, "/audit?tenant=strict", None)
        .await;
    assert_eq!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["detail"]["reason"] == "synced_passkey")
            .count(),
        2
    );
}

#[tokio::test]
async fn mediation_autofill_and_immediate_fall_back_cleanly_and_signals_keep_the_manager_in_step() {
    if skipped() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let broker = Broker::start();
    let redirect = broker.url("/healthz");
    broker
        .create_tenant(json!({"client_id": "signals", "name": "Signals", "redirect_uris": [redirect], "rp_mode": "broker"}))
        .await;
    let browser = Browser::launch(&[]).await;
    let page = browser.new_page(Authenticator::default()).await;

    page.goto(&authorize_url(
        &broker,
        "signals",
        &redirect,
        "&prompt=create",
    ))
    .await;
    create_on_page(&page, "mia@example.com").await;
    page.wait_for(
        &format!("location.href.startsWith({})", json!(redirect)),
        WAIT,
    )
    .await;
    let real = page.credentials().await;
    assert_eq!(real.len(), 1);
    let real = real[0].clone();

    // The password manager holds the passkey under a stale name.
    page.call(
        "WebAuthn.removeCredential",
        json!({"authenticatorId": page.authenticator_id, "credentialId": real["credentialId"]}),
    )
    .await;
    let mut stale = real.clone();
    stale["userName"] = "old@example.com".into();
    stale["userDisplayName"] = "Old name".into();
    page.call(
        "WebAuthn.addCredential",
        json!({"authenticatorId": page.authenticator_id, "credential": stale}),
    )
    .await;
    assert_eq!(page.credentials().await[0]["userName"], "old@example.com");

    // The login view: autofill where the browser has it, the button either way.
    page.goto(&authorize_url(&broker, "signals", &redirect, ""))
        .await;
    page.wait_for("document.body.dataset.state === 'ready'", WAIT)
        .await;
    let conditional = page.eval("document.body.dataset.conditional").await;
    let available = page
        .eval("PublicKeyCredential.isConditionalMediationAvailable ? PublicKeyCredential.isConditionalMediationAvailable() : false")
        .await;
    assert_eq!(
        conditional,
        if available == Value::Bool(true) {
            "on"
        } else {
            "off"
        }
    );
    assert_eq!(
        page.eval("document.getElementById('username').getAttribute('autocomplete')")
            .await,
        "username webauthn"
    );
    assert_eq!(
        page.eval("document.getElementById('username-field').hidden")
            .await,
        Value::Bool(conditional != "on")
    );
    let immediate = page
        .eval("PublicKeyCredential.getClientCapabilities ? PublicKeyCredential.getClientCapabilities().then(c => c.immediateGet === true) : false")
        .await;
    assert_eq!(
        page.eval("document.body.dataset.immediate").await,
        if immediate == Value::Bool(true) {
            "on"
        } else {
            "off"
        }
    );
    page.screenshot(
        &screenshots().join("authorize-autofill.png"),
        1280,
        800,
        false,
    )
    .await;
    if conditional == "on" {
        // Reaching the field starts the autofill request; the virtual authenticator
        // picks its passkey, and the page signs in without the button.
        page.eval("document.getElementById('username').focus()")
            .await;
    } else {
        page.click("signin-button").await;
    }
    page.wait_for(
        &format!("location.href.startsWith({})", json!(redirect)),
        WAIT,
    )
    .await;

    // signalCurrentUserDetails brought the password manager's name up to date.
    let start = std::time::Instant::now();
    loop {
        let creds = page.credentials().await;
        assert_eq!(creds.len(), 1);
        if creds[0]["userName"] == "mia@example.com" {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the name was not updated: {creds:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
