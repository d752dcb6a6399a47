//! Attacks over real HTTP against the real binary: what an identity broker is judged by
//! is what it refuses. Open redirects, code injection, replays, cross-site requests,
//! hostile bodies and headers, slow clients, brute force, and the audit trail each
//! leaves (docs/threat-model.md names the defence behind each test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use latchkey_tests::authenticator::{SoftAuthenticator, b64};
use latchkey_tests::harness::{Broker, Flow, Pkce, REDIRECT, redeem};
use serde_json::{Value, json};

/// A broker with tenant `acme` and one enrolled passkey.
async fn enrolled_with(env: &[(&str, &str)]) -> (Broker, SoftAuthenticator) {
    let broker = Broker::start_with(env);
    broker.simple_tenant("acme").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "acme").await;
    let (s, v) = flow.register(&mut auth, json!({})).await;
    assert_eq!(s, 200, "{v}");
    (broker, auth)
}

/// The audit events of `tenant` (or all), newest first.
async fn audit(broker: &Broker, tenant: Option<&str>) -> Vec<Value> {
    let path = match tenant {
        Some(t) => format!("/audit?limit=1000&tenant={t}"),
        None => "/audit?limit=1000".to_owned(),
    };
    let (s, v) = broker.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(s, 200, "{v}");
    v["events"].as_array().cloned().unwrap_or_default()
}

fn actions(events: &[Value], action: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

/// Waits (up to 5 s) for a `rate_limit.hit` event of `limit` in `tenant`'s audit log:
/// refusals are audited off the request path.
async fn wait_for_limit_event(broker: &Broker, tenant: &str, limit: &str) -> Vec<Value> {
    let mut hits = Vec::new();
    for _ in 0..50 {
        hits = actions(&audit(broker, Some(tenant)).await, "rate_limit.hit");
        if hits.iter().any(|e| e["detail"]["limit"] == limit) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hits
}

fn assert_api_error(got: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
    got.1
}

/// A code from a fresh sign-in with `auth` at `client_id`.
async fn fresh_code(
    broker: &Broker,
    client_id: &str,
    auth: &mut SoftAuthenticator,
) -> (Flow, String) {
    let flow = Flow::open(broker, client_id).await;
    let (s, answer) = flow.sign_in(auth).await;
    assert_eq!(s, 200, "{answer}");
    let code = flow.code_from(&answer);
    (flow, code)
}

/// Sends raw bytes on a new connection and reads until the server closes it or
/// `limit` passes; returns what was read and whether the server closed the connection.
fn raw_exchange(port: u16, request: &[u8], limit: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after the answer is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&out).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
        if start.elapsed() > limit {
            return (String::from_utf8_lossy(&out).into_owned(), false);
        }
    }
}

fn status_of(raw: &str) -> u16 {
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn healthy(broker: &Broker) {
    let res = broker
        .backend()
        .get(broker.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "the broker keeps serving");
}

#[tokio::test]
async fn open_redirect_variants_of_a_registered_uri_get_a_400_page_and_never_a_redirect() {
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "acme", "name": "Acme", "redirect_uris": [REDIRECT, "http://localhost:9999/cb"], "rp_mode": "broker"}))
        .await;
    let variants = [
        // encoded
        "https%3A%2F%2Fsite.example%2Fcb",
        "https://site.example/%63b",
        "https://site.example%2Fcb",
        "https://site.example/cb%2F..%2Fevil",
        "https://site.example/cb%00",
        // userinfo
        "https://site.example@evil.example/cb",
        "https://evil.example@site.example/cb",
        "https://site.example:pw@evil.example/cb",
        // backslash
        "https://site.example\\@evil.example/cb",
        "https:\\\\evil.example/cb",
        "https://evil.example\\site.example/cb",
        // IDN and punycode look-alikes
        "https://sіte.example/cb",
        "https://xn--ste-63d.example/cb",
        // extra path, query, fragment, port
        "https://site.example/cb/extra",
        "https://site.example/cb/../cb",
        "https://site.example/cb?next=https://evil.example",
        "https://site.example/cb#frag",
        "https://site.example:443/cb",
        "https://site.example/cb/",
        "https://site.example//cb",
        // case
        "https://SITE.example/cb",
        "HTTPS://site.example/cb",
        "https://site.example/CB",
        // trailing dot, whitespace, scheme changes
        "https://site.example./cb",
        " https://site.example/cb",
        "https://site.example/cb ",
        "http://site.example/cb",
        "//evil.example/cb",
        "javascript:alert(1)//https://site.example/cb",
        // a registered loopback URI on another port
        "http://localhost:9998/cb",
        "http://127.0.0.1:9999/cb",
    ];
    for variant in variants {
        let pkce = Pkce::new();
        let res = broker
            .browser()
            .get(broker.url("/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", "acme"),
                ("redirect_uri", variant),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400, "{variant:?}");
        assert!(res.headers().get("location").is_none(), "{variant:?}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = res.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{variant:?} is not echoed");
    }
    // Even with every other parameter wrong, an unregistered URI is never redirected to.
    let res = broker
        .browser()
        .get(broker.url(
            "/authorize?client_id=acme&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=token",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    // The exact URI still works.
    Flow::open(&broker, "acme").await;
}

#[tokio::test]
async fn a_code_injected_into_another_clients_callback_does_not_redeem_there() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    broker
        .create_tenant(json!({"client_id": "victim", "name": "Victim", "redirect_uris": [REDIRECT], "rp_mode": "broker"}))
        .await;
    // The attacker signs in at acme with their own passkey and plants the code in the
    // victim site's callback; the victim site redeems it with its own PKCE verifier.
    let (attacker_flow, code) = fresh_code(&broker, "acme", &mut auth).await;
    let victim_pkce = Pkce::new();
    let (s, v) = redeem(
        &broker,
        &json!({"client_id": "victim", "code": code, "code_verifier": victim_pkce.verifier, "redirect_uri": REDIRECT}),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    // Even at the right client, the victim's session holds another verifier (PKCE).
    let (s, v) = redeem(
        &broker,
        &json!({"client_id": "acme", "code": code, "code_verifier": victim_pkce.verifier, "redirect_uri": REDIRECT}),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    let events = audit(&broker, Some("acme")).await;
    let injected = actions(&events, "code.wrong_client");
    assert_eq!(injected.len(), 1, "{events:?}");
    assert_eq!(injected[0]["detail"]["presented_by"], "victim");
    // Nothing was consumed: the rightful holder still redeems, once.
    let (s, _) = attacker_flow.redeem(&broker, &code).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn replayed_codes_and_assertions_are_refused_and_audited() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    // A code redeemed twice.
    let (flow, code) = fresh_code(&broker, "acme", &mut auth).await;
    assert_eq!(flow.redeem(&broker, &code).await.0, 200);
    let (s, v) = flow.redeem(&broker, &code).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    // An assertion replayed on its completed flow, on a new flow, and a stale one.
    let flow = Flow::open(&broker, "acme").await;
    let options = flow.authentication_options().await;
    let assertion = auth.authenticate(&options, &flow.issuer).unwrap();
    assert_eq!(flow.post("authentication", &assertion).await.0, 200);
    assert_api_error(
        flow.post("authentication", &assertion).await,
        410,
        "flow_expired",
    );
    let other = Flow::open(&broker, "acme").await;
    assert_api_error(
        other.post("authentication", &assertion).await,
        410,
        "challenge_expired",
    );
    other.authentication_options().await;
    assert_api_error(
        other.post("authentication", &assertion).await,
        400,
        "verification_failed",
    );
    let events = audit(&broker, Some("acme")).await;
    assert_eq!(actions(&events, "code.replay").len(), 1, "{events:?}");
    let replays = actions(&events, "assertion.replay");
    let reasons: Vec<&str> = replays
        .iter()
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"flow_completed"), "{replays:?}");
    assert!(reasons.contains(&"challenge_consumed"), "{replays:?}");
    let failed = actions(&events, "ceremony.failed");
    assert!(
        failed.iter().any(|e| e["detail"]["reason"] == "challenge"),
        "a failed ceremony names its reason: {failed:?}"
    );
    // The other flow is not lost.
    let (s, _) = other.sign_in(&mut auth).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn cross_site_calls_of_the_ceremony_api_are_refused() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    let flow = Flow::open(&broker, "acme").await;
    let url = format!(
        "{}/api/v1/flows/{}/authentication/options",
        flow.base, flow.id
    );
    let forged: [&[(&str, &str)]; 5] = [
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "cors"),
        ],
        &[("sec-fetch-site", "same-site"), ("sec-fetch-mode", "cors")],
        &[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "navigate"),
        ],
        &[("origin", "null")],
        &[("origin", "https://evil.example")],
    ];
    for headers in forged {
        let mut req = flow.browser.post(&url).json(&json!({}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let got = (res.status().as_u16(), res.json::<Value>().await.unwrap());
        assert_api_error(got, 403, "cross_site_request");
    }
    // What the hosted page itself sends is accepted, and the flow was never disturbed.
    let res = flow
        .browser
        .post(&url)
        .header("origin", &flow.issuer)
        .header("sec-fetch-site", "same-origin")
        .header("sec-fetch-mode", "cors")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (s, _) = flow.sign_in(&mut auth).await;
    assert_eq!(s, 200);
    // Without the flow cookie (a cross-site POST carries no SameSite=Lax cookie).
    let flow = Flow::open(&broker, "acme").await;
    let res = broker
        .backend()
        .post(format!(
            "{}/api/v1/flows/{}/authentication/options",
            flow.base, flow.id
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_api_error(
        (res.status().as_u16(), res.json().await.unwrap()),
        403,
        "flow_binding_mismatch",
    );
    assert_eq!(
        actions(&audit(&broker, Some("acme")).await, "flow.binding_mismatch").len(),
        1
    );
}

#[tokio::test]
async fn deeply_nested_oversize_and_invalid_utf8_bodies_are_clear_errors_and_the_flow_survives() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    let flow = Flow::open(&broker, "acme").await;
    let post = |path: &str, body: Vec<u8>| {
        flow.browser
            .post(format!("{}/api/v1/flows/{}/{path}", flow.base, flow.id))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let nested_array = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let nested_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let nested_email = format!("{{\"email\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    let mut invalid_utf8 = b"{\"email\":\"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(b"\"}");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "authentication",
            nested_array.into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "authentication",
            nested_object.into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "registration/options",
            nested_email.into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "registration/options",
            invalid_utf8.clone(),
            400,
            "invalid_request",
        ),
        ("authentication", invalid_utf8, 400, "invalid_request"),
        (
            "authentication",
            vec![b' '; 65 * 1024],
            413,
            "payload_too_large",
        ),
        ("authentication", vec![], 400, "invalid_request"),
    ];
    for (path, body, status, code) in cases {
        let res = post(path, body).await.unwrap();
        let got = (res.status().as_u16(), res.json::<Value>().await.unwrap());
        assert_api_error(got, status, code);
    }
    // The back channel answers in RFC 6749 form.
    for body in [
        format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes(),
        vec![0xff, 0xfe, 0xfd],
    ] {
        let res = broker
            .backend()
            .post(broker.url("/api/v1/sign-ins/redeem"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{v}");
        assert!(v["error_description"].is_string());
    }
    // Invalid UTF-8 in the authorize query: a page, never a redirect.
    let (raw, _) = raw_exchange(
        broker.port,
        b"GET /authorize?client_id=%ff%fe&redirect_uri=%c3%28 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(30),
    );
    assert_eq!(status_of(&raw), 400, "{raw}");
    assert!(!raw.to_ascii_lowercase().contains("\r\nlocation:"));
    let (s, _) = flow.sign_in(&mut auth).await;
    assert_eq!(s, 200, "the flow survives every hostile body");
}

#[tokio::test]
async fn header_floods_and_oversize_request_targets_are_refused_and_the_broker_keeps_serving() {
    let broker = Broker::start();
    let mut many = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "a".repeat(20)).as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut huge = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 256 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    for request in [many, huge] {
        let (raw, closed) = raw_exchange(broker.port, &request, Duration::from_secs(30));
        let status = status_of(&raw);
        assert!(
            status == 431 || status == 400 || (status == 0 && closed),
            "a header flood is refused: {raw:?}"
        );
        assert!(closed, "and its connection closed");
    }
    // A long request target on each surface: an HTML page, a JSON error, an OAuth error.
    let long = "a".repeat(10 * 1024);
    let res = broker
        .browser()
        .get(broker.url(&format!("/authorize?client_id={long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 414);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let res = broker
        .backend()
        .post(broker.url(&format!("/api/v1/flows/x/authentication?{long}")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 414);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = broker
        .backend()
        .get(broker.url(&format!("/oauth/userinfo?{long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 414);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    healthy(&broker).await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_by_the_timeouts() {
    // Bounds of a few seconds, so the test measures a close, not a duration: the
    // assertion is that the server closed the connection at all, within a generous limit.
    let broker = Broker::start_with(&[
        ("LATCHKEY_REQUEST_TIMEOUT", "2"),
        ("LATCHKEY_HEADER_TIMEOUT", "2"),
    ]);
    broker.simple_tenant("acme").await;
    let flow = Flow::open(&broker, "acme").await;
    let port = broker.port;
    let trickle = |head: String, drip: &'static [u8]| {
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s.write_all(head.as_bytes()).unwrap();
            let start = Instant::now();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            // Drip one byte at a time until the server closes the connection; give up
            // after a minute (far beyond the 2 s timeouts).
            for &b in drip.iter().cycle() {
                if start.elapsed() > Duration::from_secs(60) {
                    return (String::from_utf8_lossy(&out).into_owned(), false);
                }
                match s.read(&mut buf) {
                    Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return (String::from_utf8_lossy(&out).into_owned(), true),
                }
                if s.write_all(&[b]).is_err() {
                    return (String::from_utf8_lossy(&out).into_owned(), true);
                }
            }
            unreachable!()
        })
    };
    // Slow headers: a header line that never ends.
    let slow_head = trickle(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".into(),
        b"a",
    );
    // A slow body: the headers promise a body that arrives a byte at a time.
    let slow_body = trickle(
        format!(
            "POST /api/v1/flows/{}/authentication HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
            flow.id
        ),
        b" ",
    );
    let (raw, closed) = slow_head.join().unwrap();
    assert!(closed, "slow headers: the connection is closed: {raw:?}");
    assert!(matches!(status_of(&raw), 0 | 408), "{raw:?}");
    let (raw, closed) = slow_body.join().unwrap();
    assert!(closed, "slow body: the connection is closed: {raw:?}");
    assert_eq!(status_of(&raw), 408, "{raw:?}");
    assert!(raw.contains("request_timeout"), "{raw:?}");
    healthy(&broker).await;
    let (s, _) = flow
        .register(&mut SoftAuthenticator::new(), json!({}))
        .await;
    assert_eq!(s, 200, "the flow survives a slow client on it");
}

/// `latchkey_in_flight_requests` from `/metrics`.
async fn in_flight(broker: &Broker) -> u64 {
    broker
        .metric("latchkey_in_flight_requests")
        .await
        .expect("in-flight gauge")
}

/// Opens `n` requests that stay in progress: redeems whose promised body never comes.
async fn hold_in_flight(broker: &Broker, n: usize, expect_total: u64) -> Vec<TcpStream> {
    let held = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
            s.write_all(b"POST /api/v1/sign-ins/redeem HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    while in_flight(broker).await != expect_total {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "held requests never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    held
}

#[tokio::test]
async fn an_overloaded_instance_refuses_new_work_at_once_and_finishes_flows_already_started() {
    let (broker, mut auth) = enrolled_with(&[("LATCHKEY_MAX_IN_FLIGHT", "4")]).await;
    let started = Flow::open(&broker, "acme").await;
    assert_eq!(in_flight(&broker).await, 0);

    // Half the bound in progress: new sign-ins are turned away at the first step...
    let mut held = hold_in_flight(&broker, 2, 2).await;
    let res = broker
        .browser()
        .get(broker.url("/authorize?client_id=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.text().await.unwrap().contains("busy"));
    // ...while the flow already started runs to its end.
    let (s, answer) = started.sign_in(&mut auth).await;
    assert_eq!(s, 200, "{answer}");
    let code = started.code_from(&answer);
    let (s, v) = started.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{v}");

    // The whole bound in progress: every API answers 503 in its own shape at once.
    held.extend(hold_in_flight(&broker, 2, 4).await);
    let t = Instant::now();
    let got = redeem(
        &broker,
        &json!({"code": "x", "code_verifier": "y", "client_id": "acme", "redirect_uri": REDIRECT}),
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(2), "refused at once");
    let v = assert_api_error(got, 503, "temporarily_unavailable");
    assert!(v["message"].as_str().unwrap().contains("busy"), "{v}");
    let res = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable", "{v}");
    // Operators still see the instance: health, readiness and metrics are not refused.
    for path in ["/healthz", "/readyz"] {
        let res = broker.backend().get(broker.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    let metrics = broker.metrics().await;
    let refused = broker
        .metric("latchkey_refusals_total{reason=\"overloaded\"}")
        .await
        .expect("overload refusals counted");
    assert_eq!(refused, 3, "{metrics}");
    assert!(
        metrics.contains("latchkey_max_in_flight_requests 4"),
        "{metrics}"
    );

    // The held requests end (their clients go away): every place comes back, and new
    // sign-ins are served again; the code redeemed under load stays spent.
    drop(held);
    let start = Instant::now();
    while in_flight(&broker).await != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "places never given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (flow, fresh) = fresh_code(&broker, "acme", &mut auth).await;
    let (s, v) = flow.redeem(&broker, &fresh).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = started.redeem(&broker, &code).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    healthy(&broker).await;
}

#[tokio::test]
async fn brute_force_of_codes_is_rate_limited_per_client_address_across_instances() {
    // The code space is 2^256 (32 random bytes): guessing is hopeless whatever the rate;
    // the limit keeps guessing from costing the database and is shared by instances.
    let broker = Broker::start_with(&[("LATCHKEY_REDEEM_FAILURES_PER_IP", "5")]);
    broker.simple_tenant("acme").await;
    let sibling = broker.sibling();
    let guess = |_: usize| json!({"client_id": "acme", "code": b64(&rand::random::<[u8; 32]>()), "code_verifier": Pkce::new().verifier, "redirect_uri": REDIRECT});
    let mut statuses = Vec::new();
    for i in 0..12 {
        let target = if i % 2 == 0 { &broker } else { &sibling };
        let (s, v) = redeem(target, &guess(i)).await;
        if s == 429 {
            assert_eq!(v["error"], "slow_down", "{v}");
        } else {
            assert_eq!(
                (s, v["error"].as_str()),
                (400, Some("invalid_grant")),
                "{v}"
            );
        }
        statuses.push(s);
    }
    let failures = statuses.iter().filter(|s| **s == 400).count();
    assert!(
        (5..=7).contains(&failures),
        "at most the limit (plus one per instance) is evaluated: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let res = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "acme"),
            ("code", "guess"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", Pkce::new().verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let hits = wait_for_limit_event(&broker, "acme", "redeem_failures_per_ip").await;
    assert!(
        hits.iter()
            .any(|e| e["detail"]["limit"] == "redeem_failures_per_ip"),
        "{hits:?}"
    );
    // Another tenant is not affected.
    broker.simple_tenant("other").await;
    let (s, _) = redeem(&broker, &json!({"client_id": "other", "code": "guess", "code_verifier": Pkce::new().verifier, "redirect_uri": REDIRECT})).await;
    assert_eq!(s, 400);
}

/// A redeem of `body` sent from the loopback address `from` (127.0.0.0/8 all reaches the
/// broker on 127.0.0.1), as a client at another address would.
async fn redeem_from(broker: &Broker, from: [u8; 4], body: &Value) -> (u16, Value) {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    let res = client
        .post(broker.url("/api/v1/sign-ins/redeem"))
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn one_address_failing_redeems_does_not_block_a_rightful_redeem_from_another() {
    // A public tenant's redeems used to be blocked for everyone by a stranger's failures;
    // failures now count per client address, under a far higher per-tenant ceiling.
    let (broker, mut auth) = enrolled_with(&[("LATCHKEY_REDEEM_FAILURES_PER_IP", "5")]).await;
    let guess = || json!({"client_id": "acme", "code": b64(&rand::random::<[u8; 32]>()), "code_verifier": Pkce::new().verifier, "redirect_uri": REDIRECT});
    let attacker = [127, 0, 0, 1];
    let mut refused = false;
    for _ in 0..20 {
        let (s, v) = redeem_from(&broker, attacker, &guess()).await;
        if s == 429 {
            assert_eq!(v["error"], "slow_down", "{v}");
            refused = true;
        }
    }
    assert!(refused, "the attacking address is slowed down");
    let flow = Flow::open(&broker, "acme").await;
    let (s, answer) = flow.sign_in(&mut auth).await;
    assert_eq!(s, 200, "{answer}");
    let code = flow.code_from(&answer);
    let body = json!({"client_id": "acme", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
    let (s, v) = redeem_from(&broker, [127, 0, 0, 2], &body).await;
    assert_eq!(
        s, 200,
        "a rightful redeem from another address succeeds: {v}"
    );
    let (s, _) = redeem_from(&broker, attacker, &guess()).await;
    assert_eq!(s, 429, "the attacking address is still slowed down");
}

#[tokio::test]
async fn failures_from_many_addresses_reach_the_per_tenant_ceiling() {
    let broker = Broker::start_with(&[
        ("LATCHKEY_REDEEM_FAILURES_PER_IP", "3"),
        ("LATCHKEY_REDEEM_FAILURES_PER_MINUTE", "6"),
    ]);
    broker.simple_tenant("acme").await;
    let guess = || json!({"client_id": "acme", "code": b64(&rand::random::<[u8; 32]>()), "code_verifier": Pkce::new().verifier, "redirect_uri": REDIRECT});
    for host in 1..=2u8 {
        for _ in 0..3 {
            let (s, v) = redeem_from(&broker, [127, 0, 1, host], &guess()).await;
            assert_eq!(s, 400, "under both limits: {v}");
        }
    }
    let (s, v) = redeem_from(&broker, [127, 0, 1, 3], &guess()).await;
    assert_eq!(s, 400, "the ceiling's own failures are counted: {v}");
    let (s, v) = redeem_from(&broker, [127, 0, 1, 4], &guess()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (429, Some("slow_down")),
        "past the tenant's ceiling every address waits: {v}"
    );
    let hits = wait_for_limit_event(&broker, "acme", "redeem_failures_per_tenant").await;
    assert!(
        hits.iter()
            .any(|e| e["detail"]["limit"] == "redeem_failures_per_tenant"),
        "{hits:?}"
    );
}

#[tokio::test]
async fn open_flows_per_ip_and_attempts_per_flow_are_capped_across_instances() {
    let broker = Broker::start_with(&[
        ("LATCHKEY_FLOWS_PER_IP", "3"),
        ("LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW", "3"),
    ]);
    broker.simple_tenant("acme").await;
    let sibling = broker.sibling();
    let flow = Flow::open(&broker, "acme").await;
    Flow::open(&sibling, "acme").await;
    // Options calls count on whichever instance answers them.
    for target in [&broker, &sibling, &broker] {
        let res = flow
            .browser
            .post(target.url(&format!("/api/v1/flows/{}/authentication/options", flow.id)))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    let res = flow
        .browser
        .post(sibling.url(&format!("/api/v1/flows/{}/registration/options", flow.id)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    // The third flow of this address is allowed, the fourth is not, on either instance.
    Flow::open(&sibling, "acme").await;
    let pkce = Pkce::new();
    for target in [&broker, &sibling] {
        let res = target
            .browser()
            .get(target.url("/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", "acme"),
                ("redirect_uri", REDIRECT),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 429);
        assert!(res.headers().contains_key("retry-after"));
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Too many sign-in attempts")
        );
    }
    // Refusals are audited off the request path: wait for both events to land.
    let mut limits: Vec<Value> = Vec::new();
    for _ in 0..50 {
        limits = actions(&audit(&broker, None).await, "rate_limit.hit")
            .iter()
            .map(|e| e["detail"]["limit"].clone())
            .collect();
        if limits.contains(&json!("flows_per_ip")) && limits.contains(&json!("attempts_per_flow")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(limits.contains(&json!("flows_per_ip")), "{limits:?}");
    assert!(limits.contains(&json!("attempts_per_flow")), "{limits:?}");
    // One event per client and limit per window, however many refusals.
    assert_eq!(
        limits
            .iter()
            .filter(|l| **l == json!("flows_per_ip"))
            .count(),
        1,
        "{limits:?}"
    );

    // A load generator on loopback is exempt from all of it.
    let exempt = Broker::start_with(&[
        ("LATCHKEY_FLOWS_PER_IP", "1"),
        ("LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW", "1"),
        ("LATCHKEY_RATE_LIMIT_EXEMPT", "127.0.0.0/8"),
    ]);
    exempt.simple_tenant("acme").await;
    for _ in 0..3 {
        let flow = Flow::open(&exempt, "acme").await;
        flow.authentication_options().await;
        flow.authentication_options().await;
    }
}

#[tokio::test]
async fn a_revoked_passkey_used_again_is_a_security_event() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    let id = b64(&auth.credentials()[0].credential_id);
    let (s, _) = broker
        .admin(reqwest::Method::DELETE, &format!("/credentials/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let flow = Flow::open(&broker, "acme").await;
    assert_api_error(flow.sign_in(&mut auth).await, 404, "unknown_credential");
    let events = audit(&broker, Some("acme")).await;
    let used = actions(&events, "credential.revoked_use");
    assert_eq!(used.len(), 1, "{events:?}");
    assert_eq!(used[0]["subject"], id.as_str());
    // A passkey that was never registered is not reported as revoked.
    let other = Broker::start();
    other.simple_tenant("acme").await;
    let mut stranger = SoftAuthenticator::new();
    let f = Flow::open(&other, "acme").await;
    assert_eq!(f.register(&mut stranger, json!({})).await.0, 200);
    let flow = Flow::open(&broker, "acme").await;
    assert_api_error(flow.sign_in(&mut stranger).await, 404, "unknown_credential");
    assert_eq!(
        actions(
            &audit(&broker, Some("acme")).await,
            "credential.revoked_use"
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn the_logs_of_an_attack_run_hold_no_secret() {
    let (broker, mut auth) = enrolled_with(&[("LATCHKEY_REDEEM_FAILURES_PER_MINUTE", "3")]).await;
    let (flow, code) = fresh_code(&broker, "acme", &mut auth).await;
    let mut secrets = vec![code.clone(), flow.pkce.verifier.clone()];
    for _ in 0..5 {
        let guess = b64(&rand::random::<[u8; 32]>());
        let verifier = Pkce::new().verifier;
        redeem(&broker, &json!({"client_id": "acme", "code": guess, "code_verifier": verifier, "redirect_uri": REDIRECT})).await;
        secrets.push(guess);
        secrets.push(verifier);
    }
    let (flow2, code2) = fresh_code(&broker, "acme", &mut auth).await;
    let res = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "acme"),
            ("code", code2.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", flow2.pkce.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    // Rate-limited or not, the secrets of the request stay out of the log.
    let body: Value = res.json().await.unwrap();
    secrets.extend([code2, flow2.pkce.verifier.clone()]);
    if let Some(t) = body["access_token"].as_str() {
        secrets.push(t.to_owned());
    }
    let logs = broker.logs();
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "the log holds a secret");
    }
    for e in audit(&broker, None).await {
        let text = e.to_string();
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "the audit log holds a secret: {text}"
            );
        }
    }
    let metrics = broker.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("latchkey_rate_limited_total{limit=")),
        "{metrics}"
    );
    for s in &secrets {
        assert!(!metrics.contains(s.as_str()));
    }
}

#[tokio::test]
async fn every_page_and_token_answer_is_no_store_and_pages_carry_the_strict_headers() {
    let (broker, mut auth) = enrolled_with(&[]).await;
    let (flow, code) = fresh_code(&broker, "acme", &mut auth).await;
    let browser = broker.browser();
    let mut answers = Vec::new();
    // Pages: the landing page, the hosted page, and the error pages.
    for path in [
        "/".to_owned(),
        format!(
            "/authorize?response_type=code&client_id=acme&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            Pkce::new().challenge
        ),
        "/authorize?client_id=nobody".to_owned(),
        "/authorize?client_id=acme&redirect_uri=https%3A%2F%2Fevil.example%2F".to_owned(),
    ] {
        let res = browser.get(broker.url(&path)).send().await.unwrap();
        let html = res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html");
        assert!(html, "{path} is a page");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("script-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline")
                && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{path}");
        answers.push((path, res.headers().clone()));
    }
    // Token answers and their errors, and the ceremony API.
    let res = broker
        .backend()
        .post(broker.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "acme"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", flow.pkce.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    answers.push(("/oauth/token".into(), res.headers().clone()));
    let (flow, code) = fresh_code(&broker, "acme", &mut auth).await;
    for _ in 0..2 {
        let res = broker
            .backend()
            .post(broker.url("/api/v1/sign-ins/redeem"))
            .json(&json!({"client_id": "acme", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT}))
            .send()
            .await
            .unwrap();
        answers.push(("/api/v1/sign-ins/redeem".into(), res.headers().clone()));
    }
    let res = flow
        .browser
        .post(broker.url(&format!("/api/v1/flows/{}/authentication/options", flow.id)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    answers.push(("ceremony".into(), res.headers().clone()));
    for (path, h) in answers {
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
}
