//! Prometheus counters and a latency histogram (PROTOCOL §8), kept in process memory:
//! each instance exposes its own, as Prometheus expects.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The broker's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter with a label set such as `kind="get",outcome="ok"`.
    pub fn inc(&self, name: &'static str, labels: String) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name, labels)).or_default() += 1;
        }
    }

    /// Counts a request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.inc(
            "latchkey_http_requests_total",
            format!("route=\"{route}\",status=\"{status}\""),
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Counts a request refused before its handler, by reason (`overloaded`,
    /// `request_timeout`, `cross_site_…`): `latchkey_refusals_total`.
    pub fn refusal(&self, reason: &str) {
        self.inc("latchkey_refusals_total", format!("reason=\"{reason}\""));
    }

    /// Appends the admission gauges (see [`crate::admission::Admission`]): requests in
    /// progress and their bound.
    pub fn render_admission(out: &mut String, in_flight: u32, max_in_flight: u32) {
        let _ = writeln!(
            out,
            "# TYPE latchkey_in_flight_requests gauge\nlatchkey_in_flight_requests {in_flight}"
        );
        let _ = writeln!(
            out,
            "# TYPE latchkey_max_in_flight_requests gauge\nlatchkey_max_in_flight_requests {max_in_flight}"
        );
    }

    /// Counts a ceremony outcome.
    pub fn ceremony(&self, kind: &str, outcome: &str) {
        self.inc(
            "latchkey_ceremonies_total",
            format!("kind=\"{kind}\",outcome=\"{outcome}\""),
        );
    }

    /// Counts a redeem outcome.
    pub fn redeem(&self, endpoint: &str, outcome: &str) {
        self.inc(
            "latchkey_redeems_total",
            format!("endpoint=\"{endpoint}\",outcome=\"{outcome}\""),
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        if let Ok(c) = self.counters.lock() {
            for ((name, labels), v) in c.iter() {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        let _ = writeln!(
            out,
            "# TYPE latchkey_http_request_duration_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "latchkey_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "latchkey_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "latchkey_http_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "latchkey_http_request_duration_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request("/authorize", 200, 0.003);
        m.request("/authorize", 200, 0.2);
        m.ceremony("get", "ok");
        let text = m.render();
        assert!(
            text.contains("latchkey_http_requests_total{route=\"/authorize\",status=\"200\"} 2")
        );
        assert!(text.contains("latchkey_ceremonies_total{kind=\"get\",outcome=\"ok\"} 1"));
        assert!(text.contains("latchkey_http_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("latchkey_http_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
    }
}
