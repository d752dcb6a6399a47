//! The client SDK against the real broker: a whole login → callback → session, each
//! tampering of the `verify` material rejected with what failed, a stolen code useless
//! without the verifier, a replayed callback refused, and a callback with a wrong state
//! refused without creating a session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, test, web};
use latchkey_client::actix::{Integration, PENDING_COOKIE, SESSION_COOKIE};
use latchkey_client::{
    AuthorizeOptions, Callback, Client, Config, Error, PendingLogin, Prompt, Redemption,
    VerifyError,
};
use latchkey_tests::authenticator::{SoftAuthenticator, b64, unb64};
use latchkey_tests::harness::{Broker, REDIRECT, flow_id_from_html};
use serde_json::{Value, json};

/// Plays the browser: opens `url` on the broker, runs the ceremony with `auth`, and
/// returns the query of the redirect back to the site.
async fn browser_round_trip(broker: &Broker, url: &str, auth: &mut SoftAuthenticator) -> String {
    let browser = broker.browser();
    let html = browser.get(url).send().await.unwrap().text().await.unwrap();
    let flow = flow_id_from_html(&html).expect("hosted page");
    let api = |p: &str| format!("{}/api/v1/flows/{flow}/{p}", broker.base);
    let create = auth.credentials().is_empty();
    let (opts_path, path) = if create {
        ("registration/options", "registration")
    } else {
        ("authentication/options", "authentication")
    };
    let options: Value = browser
        .post(api(opts_path))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = if create {
        auth.register(&options, &broker.issuer).unwrap()
    } else {
        auth.authenticate(&options, &broker.issuer).unwrap()
    };
    let answer: Value = browser
        .post(api(path))
        .json(&credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let to = url::Url::parse(answer["redirect_to"].as_str().expect("redirect_to")).unwrap();
    assert!(to.as_str().starts_with(REDIRECT));
    to.query().unwrap().to_owned()
}

async fn setup() -> (Broker, Client) {
    let broker = Broker::start();
    broker.simple_tenant("sdk").await;
    let client = Client::discover(Config::new(&broker.issuer, "sdk", REDIRECT))
        .await
        .unwrap();
    (broker, client)
}

#[tokio::test]
async fn a_site_signs_in_with_the_sdk_and_every_check_passes() {
    let (broker, client) = setup().await;
    let mut auth = SoftAuthenticator::new();
    let (url, pending) = client
        .authorize(&AuthorizeOptions {
            prompt: Some(Prompt::Create),
            email: true,
            ..Default::default()
        })
        .unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"], pending.code_challenge());
    assert_eq!(q["prompt"], "create");
    assert_eq!(q["scope"], "openid email");
    let callback = browser_round_trip(&broker, url.as_str(), &mut auth).await;
    let first = client
        .finish(&Callback::from_query(&callback), &pending)
        .await
        .unwrap();
    assert!(first.new_user);
    assert_eq!(first.id_token_claims["nonce"], pending.nonce.as_str());

    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let callback = browser_round_trip(&broker, url.as_str(), &mut auth).await;
    let second = client
        .finish(&Callback::from_query(&callback), &pending)
        .await
        .unwrap();
    assert!(!second.new_user);
    assert_eq!(second.sub, first.sub);

    // Replaying the callback fails: the code was used.
    let replay = client
        .finish(&Callback::from_query(&callback), &pending)
        .await
        .unwrap_err();
    assert!(
        matches!(&replay, Error::OAuth { error, .. } if error == "invalid_grant"),
        "{replay}"
    );
    // Another state, or another issuer, is refused before any redeem.
    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let callback = browser_round_trip(&broker, url.as_str(), &mut auth).await;
    let other = PendingLogin::new();
    assert!(matches!(
        client
            .finish(&Callback::from_query(&callback), &other)
            .await,
        Err(Error::Callback(_))
    ));
    let mut forged = Callback::from_query(&callback);
    forged.iss = Some("https://evil.example".into());
    assert!(matches!(
        client.finish(&forged, &pending).await,
        Err(Error::Callback(_))
    ));
    // A stolen code without the verifier is useless.
    let code = Callback::from_query(&callback).code.unwrap();
    let stolen = client
        .redeem(&code, &PendingLogin::new().code_challenge())
        .await
        .unwrap_err();
    assert!(
        matches!(&stolen, Error::OAuth { error, .. } if error == "invalid_grant"),
        "{stolen}"
    );
    // The rightful holder still can.
    client
        .finish(&Callback::from_query(&callback), &pending)
        .await
        .unwrap();
}

/// Re-encodes a base64url JSON member after `edit`.
fn edit_json_b64(v: &mut String, edit: impl FnOnce(&mut Value)) {
    let mut inner: Value = serde_json::from_slice(&unb64(v).unwrap()).unwrap();
    edit(&mut inner);
    *v = b64(inner.to_string().as_bytes());
}

/// Re-encodes a base64url member after `edit` of its bytes.
fn edit_b64(v: &mut Option<String>, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = unb64(v.as_deref().unwrap()).unwrap();
    edit(&mut bytes);
    *v = Some(b64(&bytes));
}

/// Rewrites the signed message (kept canonical) after `edit`.
fn edit_message(r: &mut Redemption, edit: impl FnOnce(&mut Value)) {
    let mut msg: Value = serde_json::from_str(&r.verify.signed_message).unwrap();
    edit(&mut msg);
    r.verify.signed_message = latchkey_client::verify::canonical(&msg);
}

/// The same material passes the suites' own §5 verifier (tests/src/verify.rs), written
/// from the contract and sharing no code with the SDK.
fn independently_verified(issuer: &str, answer: &Redemption, pending: &PendingLogin) {
    let challenge = pending.code_challenge();
    latchkey_tests::verify::verify_sign_in(
        &serde_json::to_value(answer).unwrap(),
        &latchkey_tests::verify::Expected {
            code_challenge: &challenge,
            client_id: "sdk",
            rp_id: "localhost",
            issuer,
            origins: &[issuer],
            user_verification_required: true,
            max_age_secs: 300,
        },
    )
    .expect("the independent verifier accepts what the SDK accepted");
}

/// Enrols a passkey through `client`, then returns `n` redeemed, unchecked sign-ins.
async fn redeemed_sign_ins(
    broker: &Broker,
    client: &Client,
    n: usize,
) -> Vec<(Redemption, PendingLogin)> {
    let mut auth = SoftAuthenticator::new();
    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let cb = Callback::from_query(&browser_round_trip(broker, url.as_str(), &mut auth).await);
    let created = client
        .redeem(cb.code.as_deref().unwrap(), pending.verifier())
        .await
        .unwrap();
    client
        .check(&created, &pending)
        .await
        .expect("the creation passes");
    independently_verified(&broker.issuer, &created, &pending);
    let mut answers = vec![(created, pending)];
    for _ in 0..n {
        let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
        let cb = Callback::from_query(&browser_round_trip(broker, url.as_str(), &mut auth).await);
        let answer = client
            .redeem(cb.code.as_deref().unwrap(), pending.verifier())
            .await
            .unwrap();
        client
            .check(&answer, &pending)
            .await
            .expect("the untouched answer passes");
        independently_verified(&broker.issuer, &answer, &pending);
        answers.push((answer, pending));
    }
    answers
}

#[tokio::test]
async fn each_tampering_of_the_verify_material_is_named() {
    let (broker, client) = setup().await;
    let answers = redeemed_sign_ins(&broker, &client, 2).await;
    let (answer, pending) = &answers[1];
    assert_eq!(answer.verify.ceremony, latchkey_client::Ceremony::Get);

    let client = &client;
    let check = |tampered: Redemption| async move {
        match client.check(&tampered, pending).await {
            Err(Error::Verification(e)) => e,
            other => panic!("expected a verification failure, got {other:?}"),
        }
    };

    // Another code_challenge in the signed message (another site's, or another login's).
    let mut t = answer.clone();
    edit_message(&mut t, |m| {
        m["code_challenge"] = PendingLogin::new().code_challenge().into()
    });
    assert!(
        matches!(check(t).await, VerifyError::SignedMessage(m) if m.contains("code_challenge"))
    );

    // Another audience, another issuer.
    let mut t = answer.clone();
    edit_message(&mut t, |m| m["aud"] = "other-site".into());
    assert!(matches!(check(t).await, VerifyError::SignedMessage(m) if m.contains("aud")));
    let mut t = answer.clone();
    edit_message(&mut t, |m| m["iss"] = "https://evil.example".into());
    assert!(matches!(check(t).await, VerifyError::SignedMessage(m) if m.contains("iss")));

    // Another RP ID, in the signed message and in the sign-in alike: the SDK expects its
    // own configured RP ID, never the one the answer names.
    let mut t = answer.clone();
    edit_message(&mut t, |m| m["rp_id"] = "evil.example".into());
    t.sign_in.rp_id = "evil.example".into();
    assert!(matches!(check(t).await, VerifyError::SignedMessage(m) if m.contains("rp_id")));
    let mut t = answer.clone();
    t.sign_in.rp_id = "evil.example".into();
    assert!(matches!(check(t).await, VerifyError::SignIn(m) if m.contains("rp_id")));

    // A stale signed message.
    let mut t = answer.clone();
    edit_message(&mut t, |m| {
        m["iat"] = (m["iat"].as_i64().unwrap() - 3600).into()
    });
    assert!(matches!(check(t).await, VerifyError::SignedMessage(m) if m.contains("iat")));

    // A signed message that is not canonical.
    let mut t = answer.clone();
    let msg: Value = serde_json::from_str(&t.verify.signed_message).unwrap();
    t.verify.signed_message = serde_json::to_string_pretty(&msg).unwrap();
    assert!(matches!(check(t).await, VerifyError::SignedMessage(_)));

    // Another nonce in the message: the client data no longer commits to it.
    let mut t = answer.clone();
    edit_message(&mut t, |m| m["nonce"] = b64(&[1; 16]).into());
    assert_eq!(check(t).await, VerifyError::Challenge);

    // Client data: a wrong origin, a wrong type.
    let mut t = answer.clone();
    edit_json_b64(&mut t.verify.client_data_json, |cd| {
        cd["origin"] = "https://evil.example".into()
    });
    assert_eq!(
        check(t).await,
        VerifyError::Origin("https://evil.example".into())
    );
    let mut t = answer.clone();
    edit_json_b64(&mut t.verify.client_data_json, |cd| {
        cd["type"] = "webauthn.create".into()
    });
    assert_eq!(check(t).await, VerifyError::ClientDataType);

    // Authenticator data: another RP ID hash, flags cleared, any other byte altered.
    let mut t = answer.clone();
    edit_b64(&mut t.verify.authenticator_data, |ad| ad[0] ^= 1);
    assert_eq!(check(t).await, VerifyError::RpIdHash);
    let mut t = answer.clone();
    edit_b64(&mut t.verify.authenticator_data, |ad| ad[32] &= !0x04);
    assert_eq!(check(t).await, VerifyError::UserVerification);
    let mut t = answer.clone();
    edit_b64(&mut t.verify.authenticator_data, |ad| ad[32] &= !0x01);
    assert_eq!(check(t).await, VerifyError::UserPresence);
    let mut t = answer.clone();
    edit_b64(&mut t.verify.authenticator_data, |ad| {
        *ad.last_mut().unwrap() ^= 1
    });
    assert_eq!(check(t).await, VerifyError::Signature);

    // A swapped signature (from another sign-in with the same passkey).
    let mut t = answer.clone();
    t.verify.signature = answers[2].0.verify.signature.clone();
    assert_eq!(check(t).await, VerifyError::Signature);

    // Another public key: its passkey_id no longer matches, or, with it, the signature.
    let other = SoftAuthenticator::new();
    let mut other_auth = other;
    other_auth
        .register(
            &json!({"rp": {"id": "localhost"}, "user": {"id": b64(b"u")}, "challenge": "YQ"}),
            &broker.issuer,
        )
        .unwrap();
    let other_key = other_auth.credentials()[0].cose_public_key();
    let mut t = answer.clone();
    t.sign_in.public_key = b64(&other_key);
    assert_eq!(check(t.clone()).await, VerifyError::PasskeyId);
    t.sign_in.passkey_id =
        latchkey_client::verify::hex(&<sha2::Sha256 as sha2::Digest>::digest(&other_key));
    assert_eq!(check(t).await, VerifyError::Signature);

    // A creation whose attested key is not the returned public key.
    let (created, created_pending) = &answers[0];
    assert_eq!(created.verify.ceremony, latchkey_client::Ceremony::Create);
    let mut t = created.clone();
    t.sign_in.public_key = b64(&other_key);
    t.sign_in.passkey_id =
        latchkey_client::verify::hex(&<sha2::Sha256 as sha2::Digest>::digest(&other_key));
    assert!(matches!(
        client.check(&t, created_pending).await,
        Err(Error::Verification(VerifyError::PublicKey))
    ));

    // The errors name what failed.
    assert_eq!(
        Error::from(VerifyError::Origin("https://evil.example".into())).to_string(),
        "re-verification failed: unexpected origin https://evil.example"
    );
}

#[tokio::test]
async fn a_site_expects_its_own_rp_id_and_origin_and_can_turn_reverification_off() {
    let broker = Broker::start();
    broker.simple_tenant("sdk").await;
    let client = Client::discover(Config::new(&broker.issuer, "sdk", REDIRECT))
        .await
        .unwrap();
    let answers = redeemed_sign_ins(&broker, &client, 1).await;
    let (answer, pending) = &answers[1];

    let discover = |config: Config| async move { Client::discover(config).await.unwrap() };
    let base = || Config::new(&broker.issuer, "sdk", REDIRECT);
    // A site configured for another RP ID refuses the broker's sign-in.
    let other_rp = discover(base().rp_id("shop.example")).await;
    assert!(matches!(
        other_rp.check(answer, pending).await,
        Err(Error::Verification(VerifyError::SignedMessage(m))) if m.contains("rp_id")
    ));
    // A related origin is accepted in addition to the issuer's, not instead of it.
    let related = discover(base().related_origin("https://shop.example")).await;
    related.check(answer, pending).await.unwrap();
    // Another login's pending state: the nonce of the id_token is checked first.
    assert!(matches!(
        client.check(answer, &PendingLogin::new()).await,
        Err(Error::IdToken(m)) if m.contains("nonce")
    ));
    // With re-verification off, the broker's word is taken (the id_token still checked).
    let trusting = discover(base().reverify(false)).await;
    let mut t = answer.clone();
    t.verify.signature = None;
    trusting.check(&t, pending).await.unwrap();
    assert!(matches!(
        client.check(&t, pending).await,
        Err(Error::Verification(VerifyError::Malformed(_)))
    ));
    // A tampered id_token fails as an id_token error.
    let mut t = answer.clone();
    t.id_token.push('x');
    assert!(matches!(
        client.check(&t, pending).await,
        Err(Error::IdToken(_))
    ));
    // Another client's id_token audience.
    let other_aud = discover(Config::new(&broker.issuer, "other", REDIRECT)).await;
    assert!(matches!(
        other_aud.check(answer, pending).await,
        Err(Error::IdToken(_))
    ));
    // Discovery refuses a document whose issuer is not the configured one.
    let wrong = Client::discover(Config::new(
        broker.issuer.replace("localhost", "127.0.0.1"),
        "sdk",
        REDIRECT,
    ))
    .await
    .unwrap_err();
    assert!(matches!(wrong, Error::Discovery(_)), "{wrong}");
}

#[tokio::test]
async fn a_confidential_site_redeems_with_its_secret_only() {
    let broker = Broker::start();
    let tenant = broker
        .create_tenant(json!({"client_id": "conf", "name": "Confidential", "redirect_uris": [REDIRECT], "rp_mode": "broker", "confidential": true}))
        .await;
    let secret = tenant["client_secret"].as_str().unwrap();
    let public = Client::discover(Config::new(&broker.issuer, "conf", REDIRECT))
        .await
        .unwrap();
    let client =
        Client::discover(Config::new(&broker.issuer, "conf", REDIRECT).client_secret(secret))
            .await
            .unwrap();
    assert!(!format!("{:?}", client.config()).contains(secret));
    let mut auth = SoftAuthenticator::new();
    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let cb = Callback::from_query(&browser_round_trip(&broker, url.as_str(), &mut auth).await);
    let refused = public.finish(&cb, &pending).await.unwrap_err();
    assert!(
        matches!(&refused, Error::OAuth { status: 401, error, .. } if error == "invalid_client"),
        "{refused}"
    );
    let sign_in = client.finish(&cb, &pending).await.unwrap();
    assert_eq!(sign_in.client_id, "conf");
    assert!(sign_in.new_user && sign_in.new_credential);
}

async fn home(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk.current(&req) {
        Some(s) => HttpResponse::Ok().body(format!("signed in as {}", s.sub)),
        None => HttpResponse::Ok().body("anonymous"),
    }
}

/// The site's callback: the SDK error renders itself (`ResponseError`); the closure
/// sees the sign-in before the session starts.
async fn callback(
    req: HttpRequest,
    lk: web::Data<Integration>,
    seen: web::Data<std::sync::Mutex<Vec<String>>>,
) -> Result<HttpResponse, Error> {
    lk.callback(&req, |s| seen.lock().unwrap().push(s.sub.clone()))
        .await
}

async fn logout(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    lk.logout(&req)
}

#[actix_web::test]
async fn the_actix_integration_logs_in_renews_the_session_and_refuses_bad_callbacks() {
    let (broker, client) = setup().await;
    let lk = web::Data::new(Integration::new(Arc::new(client), [7; 32], false));
    let seen = web::Data::new(std::sync::Mutex::new(Vec::<String>::new()));
    let app = test::init_service(
        App::new()
            .app_data(lk.clone())
            .app_data(seen.clone())
            .route("/logout", web::post().to(logout))
            .route("/", web::get().to(home))
            .route(
                "/login",
                web::get().to(|lk: web::Data<Integration>| async move {
                    lk.login(&AuthorizeOptions::default())
                }),
            )
            .route("/cb", web::get().to(callback)),
    )
    .await;
    let mut auth = SoftAuthenticator::new();

    // A callback without a pending login fails and creates no session.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/cb?code=x&state=y")
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.response().cookies().all(|c| c.name() != SESSION_COOKIE));

    let login = test::call_service(&app, test::TestRequest::get().uri("/login").to_request()).await;
    assert_eq!(login.status().as_u16(), 302);
    let pending = login
        .response()
        .cookies()
        .find(|c| c.name() == PENDING_COOKIE)
        .unwrap()
        .into_owned();
    assert!(pending.http_only().unwrap_or(false));
    assert_eq!(pending.same_site(), Some(actix_web::cookie::SameSite::Lax));
    assert!(pending.max_age().unwrap().whole_seconds() <= 600);
    assert!(
        !pending.value().contains("verifier"),
        "the pending login is encrypted"
    );
    let to = login
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let query = browser_round_trip(&broker, &to, &mut auth).await;

    // A pending cookie that was altered, or sealed under another key: refused.
    let mut altered = pending.clone();
    let mut raw = unb64(pending.value()).unwrap();
    *raw.last_mut().unwrap() ^= 1;
    altered.set_value(b64(&raw));
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/cb?{query}"))
            .cookie(altered)
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.response().cookies().all(|c| c.name() != SESSION_COOKIE));

    // A wrong state: refused, no session.
    let bad = query.replace("state=", "state=x");
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/cb?{bad}"))
            .cookie(pending.clone())
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.response().cookies().all(|c| c.name() != SESSION_COOKIE));

    // The real callback, from a browser carrying a session id an attacker planted.
    let planted = actix_web::cookie::Cookie::new(SESSION_COOKIE, "planted-by-attacker");
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/cb?{query}"))
            .cookie(pending.clone())
            .cookie(planted.clone())
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 302);
    let session = res
        .response()
        .cookies()
        .find(|c| c.name() == SESSION_COOKIE)
        .unwrap()
        .into_owned();
    assert_ne!(
        session.value(),
        planted.value(),
        "a new session id after sign-in"
    );
    let body = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/")
            .cookie(session.clone())
            .to_request(),
    )
    .await;
    assert!(String::from_utf8_lossy(&body).starts_with("signed in as "));
    let body = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/")
            .cookie(planted)
            .to_request(),
    )
    .await;
    assert_eq!(&body[..], b"anonymous");

    // Replaying the callback fails and creates no session.
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/cb?{query}"))
            .cookie(pending)
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.response().cookies().all(|c| c.name() != SESSION_COOKIE));
    let body = test::read_body(res).await;
    assert!(
        String::from_utf8_lossy(&body).contains("invalid_grant"),
        "{body:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "one sign-in reached the site"
    );

    // Sign out: the session ends, and its cookie is removed.
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/logout")
            .cookie(session.clone())
            .to_request(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 302);
    let removal = res
        .response()
        .cookies()
        .find(|c| c.name() == SESSION_COOKIE)
        .unwrap();
    assert_eq!(removal.value(), "");
    let body = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/")
            .cookie(session)
            .to_request(),
    )
    .await;
    assert_eq!(&body[..], b"anonymous");
}

#[tokio::test]
async fn after_a_key_rotation_the_sdk_refetches_the_jwks_for_the_unknown_kid() {
    let broker = Broker::start_with(&[("LATCHKEY_KEY_REFRESH", "1")]);
    broker.simple_tenant("sdk").await;
    let client = Client::discover(Config::new(&broker.issuer, "sdk", REDIRECT))
        .await
        .unwrap();
    let mut auth = SoftAuthenticator::new();
    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let cb = browser_round_trip(&broker, url.as_str(), &mut auth).await;
    client
        .finish(&Callback::from_query(&cb), &pending)
        .await
        .unwrap();
    let keys = broker.jwks().await.keys;
    assert_eq!(keys.len(), 1);
    let old_kid = keys[0].common.key_id.clone();

    // The JWKS is now cached in the client; rotate the key on the broker.
    let out = std::process::Command::new(latchkey_tests::harness::binary())
        .args(["keys", "rotate"])
        .envs(broker.env().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCHKEY_DATA_DIR", &broker.dir)
        .env("LATCHKEY_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let cb = browser_round_trip(&broker, url.as_str(), &mut auth).await;
    let answer = client
        .redeem(
            Callback::from_query(&cb).code.as_deref().unwrap(),
            pending.verifier(),
        )
        .await
        .unwrap();
    let new_kid = jsonwebtoken::decode_header(&answer.id_token).unwrap().kid;
    assert_ne!(new_kid, old_kid, "the broker signs with the rotated key");
    client
        .check(&answer, &pending)
        .await
        .expect("the SDK fetched the new key");
}
