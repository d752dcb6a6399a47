//! Several instances on one database, as behind a load balancer (both backends): flows,
//! challenges, codes and signing keys live in the database, so any instance can take any
//! step; a code stays single-use across instances; a key rotation reaches every instance.
//! And a database outage answers 503, then recovers by itself with nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, REDIRECT, concurrent_redeems, redeem};
use latchkey_tests::proxy::Proxy;
use serde_json::json;

/// Checks an id_token against the JWKS served by `broker`; returns its kid.
async fn verify_with(broker: &Broker, token: &str, client_id: &str) -> String {
    broker.verify_id_token(token, client_id).await.1
}

/// A sign-in whose flow is opened on `open`, whose ceremony runs on `ceremony`.
async fn code_across(
    open: &Broker,
    ceremony: &Broker,
    auth: &mut SoftAuthenticator,
) -> (Flow, String) {
    let flow = Flow::open(open, "multi").await;
    let on_other = Flow {
        base: ceremony.base.clone(),
        ..flow.clone()
    };
    let (s, answer) = if auth.credentials().is_empty() {
        on_other.register(auth, json!({})).await
    } else {
        on_other.sign_in(auth).await
    };
    assert_eq!(s, 200, "{answer}");
    let code = flow.code_from(&answer);
    (flow, code)
}

#[tokio::test]
async fn two_instances_share_flows_codes_and_signing_keys() {
    let a = Broker::start_with(&[("LATCHKEY_KEY_REFRESH", "1")]);
    let b = a.sibling();
    assert_ne!(a.base, b.base);
    assert_eq!(a.issuer, b.issuer);
    a.simple_tenant("multi").await;
    let mut auth = SoftAuthenticator::new();

    // /authorize on A, the ceremony on B, the redeem on A.
    let (flow, code) = code_across(&a, &b, &mut auth).await;
    let (s, first) = flow.redeem(&a, &code).await;
    assert_eq!(s, 200, "{first}");
    // id_tokens of either instance verify with the JWKS of the other.
    let kid_a = verify_with(&b, first["id_token"].as_str().unwrap(), "multi").await;
    let (flow, code) = code_across(&b, &b, &mut auth).await;
    let (s, second) = flow.redeem(&b, &code).await;
    assert_eq!(s, 200, "{second}");
    let kid_b = verify_with(&a, second["id_token"].as_str().unwrap(), "multi").await;
    assert_eq!(kid_a, kid_b);

    // 50 concurrent redeems of one code over both instances: exactly one wins.
    let (flow, code) = code_across(&a, &b, &mut auth).await;
    let body = json!({"client_id": "multi", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT});
    let statuses = concurrent_redeems(&[&a, &b], &body, 50).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );

    // A key rotated (through the CLI, on the shared database) is served by both, the
    // old key stays in the JWKS, and both sign with the new key after their refresh.
    let out = std::process::Command::new(latchkey_tests::harness::binary())
        .args(["keys", "rotate"])
        .envs(a.env().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCHKEY_DATA_DIR", &a.dir)
        .env("LATCHKEY_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_kid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_ne!(new_kid, kid_a);
    for instance in [&a, &b] {
        let set = instance.jwks().await;
        assert!(
            set.find(&new_kid).is_some(),
            "the new key is served by {}",
            instance.base
        );
        assert!(
            set.find(&kid_a).is_some(),
            "the previous key stays until its tokens expire"
        );
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for instance in [&a, &b] {
        let (flow, code) = code_across(instance, instance, &mut auth).await;
        let (s, r) = flow.redeem(instance, &code).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            verify_with(
                if instance.base == a.base { &b } else { &a },
                r["id_token"].as_str().unwrap(),
                "multi"
            )
            .await,
            new_kid
        );
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_then_recovers_with_nothing_lost() {
    if std::env::var("LATCHKEY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("skipped: LATCHKEY_SKIP_POSTGRES=1");
        return;
    }
    // Always on PostgreSQL, through a proxy this test controls.
    let mut env = latchkey_tests::harness::postgres_env();
    let target: std::net::SocketAddr = {
        let url = url::Url::parse(&env[0].1).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
            .parse()
            .unwrap()
    };
    let proxy = Proxy::start(target);
    let mut url = url::Url::parse(&env[0].1).unwrap();
    url.set_port(Some(proxy.addr.port())).unwrap();
    env[0].1 = url.to_string();
    env.push(("LATCHKEY_DB_ACQUIRE_TIMEOUT".into(), "1".into()));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let broker = Broker::start_with(&vars);
    broker.simple_tenant("multi").await;
    let mut auth = SoftAuthenticator::new();
    let (flow, code) = code_across(&broker, &broker, &mut auth).await;

    proxy.cut();
    let ready = broker
        .backend()
        .get(broker.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let (s, body) = flow.redeem(&broker, &code).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    let (s, body) = flow.post("authentication/options", &json!({})).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert!(
        !broker.logs().contains("panicked"),
        "no panic during the outage"
    );

    proxy.restore();
    let start = std::time::Instant::now();
    loop {
        let r = broker
            .backend()
            .get(broker.url("/readyz"))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "/readyz recovers by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing was lost: the code issued before the outage redeems, the passkey signs in.
    let (s, r) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{r}");
    let (flow, code) = code_across(&broker, &broker, &mut auth).await;
    let (s, r) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{r}");
    let (s, _) = redeem(&broker, &json!({"client_id": "multi", "code": code, "code_verifier": flow.pkce.verifier, "redirect_uri": REDIRECT})).await;
    assert_eq!(s, 400, "still single use after the outage");
}

/// PostgreSQL connections are checked before use: when the server drops every connection
/// of an instance (a restart, a failover, an administrator's `pg_terminate_backend`), the
/// very next requests run on fresh connections. No sign-in fails, nothing is lost.
#[tokio::test]
async fn postgres_dropping_every_connection_of_an_instance_fails_no_request() {
    if std::env::var("LATCHKEY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("skipped: LATCHKEY_SKIP_POSTGRES=1");
        return;
    }
    let env = latchkey_tests::harness::postgres_env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let var = |k: &str| env.iter().find(|(key, _)| key == k).unwrap().1.clone();
    let (url, schema) = (
        var("LATCHKEY_DATABASE_URL"),
        var("LATCHKEY_DATABASE_SCHEMA"),
    );
    let broker = Broker::start_with(&vars);
    broker.simple_tenant("multi").await;
    let mut auth = SoftAuthenticator::new();
    let (flow, code) = code_across(&broker, &broker, &mut auth).await;

    // The instance names its connections after its schema, so only its own are dropped.
    let out = std::process::Command::new("psql")
        .args([
            url.as_str(),
            "-Atc",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'latchkey/{schema}'"
            ),
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dropped: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(dropped >= 1, "the instance had connections to drop");

    // The code issued before redeems, and new sign-ins succeed at every step.
    let (s, r) = flow.redeem(&broker, &code).await;
    assert_eq!(s, 200, "{r}");
    for _ in 0..3 {
        let (flow, code) = code_across(&broker, &broker, &mut auth).await;
        let (s, r) = flow.redeem(&broker, &code).await;
        assert_eq!(s, 200, "{r}");
    }
    assert!(
        !broker.logs().contains("internal error"),
        "no request failed on a dropped connection"
    );
}

#[test]
fn instances_starting_at_once_on_a_new_postgres_schema_all_come_up() {
    if std::env::var("LATCHKEY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("skipped: LATCHKEY_SKIP_POSTGRES=1");
        return;
    }
    // One fresh schema, four instances racing to migrate it.
    let env = latchkey_tests::harness::postgres_env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let brokers: Vec<Broker> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| Broker::start_with(&vars)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for b in &brokers {
            let r = b.backend().get(b.url("/readyz")).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200, "{} is ready", b.base);
        }
    });
}
