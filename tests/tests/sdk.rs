//! The client SDK against the real broker: a whole login → callback → session, each
//! tampering of the `verify` material rejected with what failed, a stolen code useless
//! without the verifier, a replayed callback refused, and a callback with a wrong state
//! refused without creating a session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, test, web};
use latchkey_client::actix::{Integration, PENDING_COOKIE, SESSION_COOKIE};
use latchkey_client::{
    AuthorizeOptions, Callback, Client, Config, Error, PendingLogin, Prompt, VerifyError,
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
fn edit_json_b64(v: &mut Value, edit: impl FnOnce(&mut Value)) {
    let mut inner: Value = serde_json::from_slice(&unb64(v.as_str().unwrap()).unwrap()).unwrap();
    edit(&mut inner);
    *v = b64(inner.to_string().as_bytes()).into();
}

#[tokio::test]
async fn each_tampering_of_the_verify_material_is_named() {
    let (broker, client) = setup().await;
    let mut auth = SoftAuthenticator::new();
    // Enrol, then take two sign-ins' raw answers.
    let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
    let cb = Callback::from_query(&browser_round_trip(&broker, url.as_str(), &mut auth).await);
    client.finish(&cb, &pending).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let (url, pending) = client.authorize(&AuthorizeOptions::default()).unwrap();
        let cb = Callback::from_query(&browser_round_trip(&broker, url.as_str(), &mut auth).await);
        let answer = client
            .redeem(cb.code.as_deref().unwrap(), pending.verifier())
            .await
            .unwrap();
        client
            .check(&answer, &pending)
            .await
            .expect("the untouched answer passes");
        answers.push((answer, pending));
    }
    let (answer, pending) = &answers[0];

    let client = &client;
    let check = |tampered: Value| async move { client.check(&tampered, pending).await };
    let mut t = answer.clone();
    let mut msg: Value =
        serde_json::from_str(t["verify"]["signed_message"].as_str().unwrap()).unwrap();
    msg["code_challenge"] = PendingLogin::new().code_challenge().into();
    t["verify"]["signed_message"] = latchkey_client::verify::canonical(&msg).into();
    assert!(
        matches!(check(t).await, Err(Error::Verification(VerifyError::SignedMessage(m))) if m.contains("code_challenge"))
    );

    let mut t = answer.clone();
    t["sign_in"]["rp_id"] = "evil.example".into();
    assert!(
        matches!(check(t).await, Err(Error::Verification(VerifyError::SignedMessage(m))) if m.contains("rp_id"))
    );

    let mut t = answer.clone();
    let mut ad = unb64(t["verify"]["authenticator_data"].as_str().unwrap()).unwrap();
    *ad.last_mut().unwrap() ^= 1;
    t["verify"]["authenticator_data"] = b64(&ad).into();
    assert!(matches!(
        check(t).await,
        Err(Error::Verification(VerifyError::Signature))
    ));

    let mut t = answer.clone();
    edit_json_b64(&mut t["verify"]["client_data_json"], |cd| {
        cd["origin"] = "https://evil.example".into()
    });
    assert!(
        matches!(check(t).await, Err(Error::Verification(VerifyError::Origin(o))) if o == "https://evil.example")
    );

    let mut t = answer.clone();
    t["verify"]["signature"] = answers[1].0["verify"]["signature"].clone();
    assert!(matches!(
        check(t).await,
        Err(Error::Verification(VerifyError::Signature))
    ));
}

async fn home(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk.current(&req) {
        Some(s) => HttpResponse::Ok().body(format!("signed in as {}", s.sub)),
        None => HttpResponse::Ok().body("anonymous"),
    }
}

async fn callback(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk.callback(&req, |_| {}).await {
        Ok(res) => res,
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

#[actix_web::test]
async fn the_actix_integration_logs_in_renews_the_session_and_refuses_bad_callbacks() {
    let (broker, client) = setup().await;
    let lk = web::Data::new(Integration::new(Arc::new(client), [7; 32], false));
    let app = test::init_service(
        App::new()
            .app_data(lk.clone())
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
    let new_kid = jsonwebtoken::decode_header(answer["id_token"].as_str().unwrap())
        .unwrap()
        .kid;
    assert_ne!(new_kid, old_kid, "the broker signs with the rotated key");
    client
        .check(&answer, &pending)
        .await
        .expect("the SDK fetched the new key");
}
