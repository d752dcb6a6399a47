//! Crash safety: registrations and sign-ins run concurrently, the broker is killed with
//! SIGKILL in the middle of them and restarted on the same data. Every passkey whose
//! registration answered 200 still signs in, and every code issued before the kill
//! redeems at most once (exactly once when it is still alive), never twice. Runs on
//! SQLite and, under `LATCHKEY_TEST_DATABASE=postgres`, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, REDIRECT, concurrent_redeems};
use serde_json::{Value, json};

/// What the load saw answered 200 before the kill.
#[derive(Default)]
struct Seen {
    /// Authenticators whose registration answered 200.
    registered: Vec<SoftAuthenticator>,
    /// Codes issued (sign-in or registration answered 200), with the redeem body and
    /// what became of the load's redeem of it before the kill.
    codes: Vec<(Value, Redeem)>,
}

/// The load's redeem of a code before the kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Redeem {
    /// Not tried: the code must redeem exactly once after the restart.
    NotTried,
    /// Answered 200: the code must never redeem again.
    Done,
    /// No answer (the kill came first): it may or may not have been consumed, so after
    /// the restart it redeems at most once.
    Unknown,
}

/// One worker: registers a passkey, signs in with it, redeems every other code; again
/// and again until the broker goes away.
async fn worker(
    flow_broker: (String, String, u16),
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    n: usize,
) {
    let (issuer, base, port) = flow_broker;
    let client = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    };
    let open = |browser: reqwest::Client| {
        let (issuer, base) = (issuer.clone(), base.clone());
        async move { open_flow(&issuer, &base, browser).await }
    };
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let mut auth = SoftAuthenticator::new();
        let Some(flow) = open(client()).await else {
            return;
        };
        let Some(options) = post(&flow, "registration/options", &json!({})).await else {
            return;
        };
        let credential = auth.register(&options, &flow.issuer).unwrap();
        let Some(answer) = post(&flow, "registration", &credential).await else {
            return;
        };
        let code = flow.code_from(&answer);
        let body = json!({"client_id": "crash", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
        let redeemed = if (round + n).is_multiple_of(2) {
            redeem_once(&base, port, &body).await
        } else {
            Redeem::NotTried
        };
        {
            let mut s = seen.lock().unwrap();
            s.registered.push(auth.clone());
            s.codes.push((body, redeemed));
        }
        let Some(flow) = open(client()).await else {
            return;
        };
        let Some(options) = post(&flow, "authentication/options", &json!({})).await else {
            return;
        };
        let assertion = auth.authenticate(&options, &flow.issuer).unwrap();
        let Some(answer) = post(&flow, "authentication", &assertion).await else {
            return;
        };
        let code = flow.code_from(&answer);
        let body = json!({"client_id": "crash", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
        let redeemed = if !(round + n).is_multiple_of(2) {
            redeem_once(&base, port, &body).await
        } else {
            Redeem::NotTried
        };
        seen.lock().unwrap().codes.push((body, redeemed));
    }
}

async fn open_flow(issuer: &str, base: &str, browser: reqwest::Client) -> Option<Flow> {
    let pkce = latchkey_tests::harness::Pkce::new();
    let state = format!("st{}", rand::random::<u32>());
    let res = browser
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "crash"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", state.as_str()),
        ])
        .send()
        .await
        .ok()?;
    if res.status().as_u16() != 200 {
        return None;
    }
    let html = res.text().await.ok()?;
    let id = latchkey_tests::harness::flow_id_from_html(&html)?;
    Some(Flow {
        browser,
        id,
        pkce,
        state,
        client_id: "crash".into(),
        redirect_uri: REDIRECT.into(),
        issuer: issuer.to_owned(),
        base: base.to_owned(),
    })
}

/// A ceremony call; `None` when the broker is gone (or did not answer 200).
async fn post(flow: &Flow, path: &str, body: &Value) -> Option<Value> {
    let res = flow
        .browser
        .post(format!("{}/api/v1/flows/{}/{path}", flow.base, flow.id))
        .json(body)
        .send()
        .await
        .ok()?;
    if res.status().as_u16() != 200 {
        return None;
    }
    res.json().await.ok()
}

async fn redeem_once(base: &str, port: u16, body: &Value) -> Redeem {
    let client = reqwest::Client::builder()
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    match client
        .post(format!("{base}/api/v1/sign-ins/redeem"))
        .json(body)
        .send()
        .await
    {
        Ok(r) if r.status().as_u16() == 200 => Redeem::Done,
        Ok(r) => panic!("a fresh code was refused: {}", r.status()),
        Err(_) => Redeem::Unknown,
    }
}

#[tokio::test]
async fn after_sigkill_every_registered_passkey_signs_in_and_no_code_redeems_twice() {
    let broker = Broker::start_with(&[
        ("LATCHKEY_RATE_LIMIT_EXEMPT", "127.0.0.0/8"),
        ("LATCHKEY_CODE_TTL", "600"),
    ]);
    broker
        .create_tenant(json!({"client_id": "crash", "name": "Crash", "redirect_uris": [REDIRECT], "rp_mode": "broker"}))
        .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|n| {
            tokio::spawn(worker(
                (broker.issuer.clone(), broker.base.clone(), broker.port),
                seen.clone(),
                stop.clone(),
                n,
            ))
        })
        .collect();
    // Let the load run until a good number of ceremonies completed, then kill the
    // broker in the middle of whatever is in flight.
    for _ in 0..600 {
        if seen.lock().unwrap().codes.len() >= 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let broker = broker.kill_and_restart();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.registered.len() >= 4 && seen.codes.len() >= 8,
        "the load made progress before the kill: {} passkeys, {} codes",
        seen.registered.len(),
        seen.codes.len()
    );

    // Every passkey whose registration answered 200 signs in after the restart.
    for mut auth in seen.registered {
        let flow = Flow::open(&broker, "crash").await;
        let (s, v) = flow.sign_in(&mut auth).await;
        assert_eq!(s, 200, "a passkey registered before the kill signs in: {v}");
    }
    // Every code issued before the kill redeems at most once: the ones the load redeemed
    // never again, the others exactly once (they are alive: LATCHKEY_CODE_TTL=600),
    // however many redeems race for them.
    let mut fresh = 0;
    for (body, redeemed) in &seen.codes {
        let statuses = concurrent_redeems(&[&broker], body, 4).await;
        let ok = statuses.iter().filter(|s| **s == 200).count();
        match redeemed {
            Redeem::Done => assert_eq!(ok, 0, "a code redeemed before the kill: {statuses:?}"),
            Redeem::NotTried => {
                fresh += 1;
                assert_eq!(
                    ok, 1,
                    "an unredeemed code redeems exactly once: {statuses:?}"
                );
            }
            Redeem::Unknown => assert!(ok <= 1, "at most once: {statuses:?}"),
        }
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
    }
    assert!(
        fresh > 0,
        "some codes were left to redeem after the restart"
    );
}
