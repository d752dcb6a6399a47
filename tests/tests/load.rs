//! `latchkey-load` against the real broker: its JSON report agrees with what the broker
//! itself counted, in both of its modes, and it refuses any target off this machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use latchkey_tests::harness::{ADMIN_TOKEN, Broker, temp_dir};
use serde_json::Value;

/// Runs the load generator with `args` and returns its JSON report.
fn run_load(broker: &Broker, args: &[&str]) -> Value {
    let json = temp_dir("latchkey-load").join("report.json");
    let pid = broker.pid().expect("broker running").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey-load"))
        .args(["--base-url", &broker.base, "--admin-token", ADMIN_TOKEN])
        .args(["--pid", &pid, "--json"])
        .arg(&json)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "latchkey-load {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("flows/s"), "no table printed: {stdout}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The value of one sample of the broker's Prometheus text, 0 when absent.
async fn metric(broker: &Broker, sample: &str) -> u64 {
    broker.metric(sample).await.unwrap_or(0)
}

fn check_report(report: &Value, flows: u64, users: u64) {
    assert_eq!(report["flows"], flows, "{report}");
    assert_eq!(report["errors_total"], 0, "{report}");
    assert_eq!(report["users"], users);
    assert!(report["flows_per_s"].as_f64().unwrap() > 0.0);
    for step in ["authorize", "options", "assertion", "redeem", "flow"] {
        let l = &report["latency_ms"][step];
        assert_eq!(l["count"], flows, "{step}: {l}");
        let (p50, p99, max) = (
            l["p50"].as_f64().unwrap(),
            l["p99"].as_f64().unwrap(),
            l["max"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{step}: {l}");
    }
    // A whole sign-in takes at least as long as its slowest step.
    assert!(
        report["latency_ms"]["flow"]["max"].as_f64().unwrap()
            >= report["latency_ms"]["assertion"]["max"].as_f64().unwrap()
    );
    let server = &report["server"];
    assert!(server["rss_kb_max"].as_u64().unwrap() >= server["rss_kb_last"].as_u64().unwrap());
    assert!(server["rss_kb_last"].as_u64().unwrap() > 1000, "{server}");
}

#[tokio::test]
async fn its_report_matches_the_brokers_metrics_in_closed_loop_and_at_a_fixed_rate() {
    let broker = Broker::start_with(&[("LATCHKEY_RATE_LIMIT_EXEMPT", "127.0.0.0/8")]);

    let closed = run_load(
        &broker,
        &["--users", "4", "--concurrency", "3", "--count", "30"],
    );
    check_report(&closed, 30, 4);
    assert_eq!(closed["mode"]["kind"], "closed");
    assert_eq!(
        metric(
            &broker,
            "latchkey_ceremonies_total{kind=\"create\",outcome=\"ok\"}"
        )
        .await,
        4
    );
    assert_eq!(
        metric(
            &broker,
            "latchkey_ceremonies_total{kind=\"get\",outcome=\"ok\"}"
        )
        .await,
        30
    );
    assert_eq!(
        metric(
            &broker,
            "latchkey_redeems_total{endpoint=\"redeem\",outcome=\"ok\"}"
        )
        .await,
        30
    );

    let rate = run_load(&broker, &["--users", "2", "--rate", "40", "--count", "20"]);
    check_report(&rate, 20, 2);
    assert_eq!(rate["mode"]["kind"], "rate");
    assert_ne!(rate["client_id"], closed["client_id"]);
    assert_eq!(
        metric(
            &broker,
            "latchkey_ceremonies_total{kind=\"get\",outcome=\"ok\"}"
        )
        .await,
        50
    );
    assert_eq!(
        metric(
            &broker,
            "latchkey_redeems_total{endpoint=\"redeem\",outcome=\"ok\"}"
        )
        .await,
        50
    );
    // Nothing else failed on the broker's side either.
    for outcome in ["invalid_grant", "invalid_request", "slow_down"] {
        let sample = format!("latchkey_redeems_total{{endpoint=\"redeem\",outcome=\"{outcome}\"}}");
        assert_eq!(metric(&broker, &sample).await, 0, "{outcome}");
    }
}

#[tokio::test]
async fn it_stops_with_the_refusal_and_a_hint_when_the_broker_rate_limits_it() {
    // Tight rate limits: the load generator's registrations are refused with 429 and
    // it says how to exempt loopback.
    let broker = Broker::start_with(&[("LATCHKEY_RATE_LIMIT_PER_MINUTE", "3")]);
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey-load"))
        .args(["--base-url", &broker.base, "--admin-token", ADMIN_TOKEN])
        .args(["--users", "5", "--count", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" 429"), "{stderr}");
    assert!(stderr.contains("LATCHKEY_RATE_LIMIT_EXEMPT"), "{stderr}");
}

#[test]
fn it_refuses_targets_off_the_loopback_and_bad_arguments() {
    let load = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_latchkey-load"))
            .args(["--admin-token", ADMIN_TOKEN])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for target in [
        "http://192.0.2.10:8080",
        "http://10.0.0.1",
        "https://login.example.com",
        "http://localhost.example.com:8080",
    ] {
        let (ok, err) = load(&["--base-url", target, "--count", "1"]);
        assert!(!ok, "{target} was accepted");
        assert!(err.contains("only targets loopback"), "{target}: {err}");
    }
    let (ok, err) = load(&[
        "--base-url",
        "http://127.0.0.1:9",
        "--rate",
        "10",
        "--concurrency",
        "2",
    ]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, err) = load(&[
        "--base-url",
        "http://127.0.0.1:9",
        "--duration",
        "5s",
        "--count",
        "3",
    ]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, err) = load(&["--base-url", "http://127.0.0.1:9", "--duration", "5 hours"]);
    assert!(!ok && err.contains("duration"), "{err}");
}
