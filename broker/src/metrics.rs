//! Prometheus counters, gauges and a latency histogram (PROTOCOL §8), kept in process
//! memory: each instance exposes its own, as Prometheus expects. The registry, the
//! metric types and the text exposition (format 0.0.4) are `prometheus-client`'s; this
//! module declares the broker's metrics with typed label sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The exported names.
const HTTP_REQUESTS: &str = "latchkey_http_requests_total";
const HTTP_REQUEST_DURATION: &str = "latchkey_http_request_duration_seconds";
const CEREMONIES: &str = "latchkey_ceremonies_total";
const REDEEMS: &str = "latchkey_redeems_total";
const REFUSALS: &str = "latchkey_refusals_total";
const SECURITY_EVENTS: &str = "latchkey_security_events_total";
const RATE_LIMITED: &str = "latchkey_rate_limited_total";
const IN_FLIGHT: &str = "latchkey_in_flight_requests";
const MAX_IN_FLIGHT: &str = "latchkey_max_in_flight_requests";

/// Registers a counter under its exported name (`…_total`): the encoder adds the
/// `_total` suffix itself, so the name is registered without it.
pub(crate) fn register_counter(
    registry: &mut Registry,
    exported: &str,
    help: &str,
    metric: impl Metric,
) {
    let name = exported.strip_suffix("_total").unwrap_or(exported);
    registry.register(name, help, metric);
}

/// `route`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

/// `kind`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CeremonyLabels {
    kind: String,
    outcome: String,
}

/// `endpoint`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedeemLabels {
    endpoint: String,
    outcome: String,
}

/// `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: String,
}

/// `action`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SecurityEventLabels {
    action: String,
}

/// `limit`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    limit: &'static str,
}

/// The broker's metrics, and the database counters of [`crate::db::stats::STATS`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    ceremonies: Family<CeremonyLabels, Counter>,
    redeems: Family<RedeemLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    security_events: Family<SecurityEventLabels, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
    in_flight: Gauge,
    max_in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Histogram::new(BUCKETS);
        let ceremonies = Family::<CeremonyLabels, Counter>::default();
        let redeems = Family::<RedeemLabels, Counter>::default();
        let refusals = Family::<RefusalLabels, Counter>::default();
        let security_events = Family::<SecurityEventLabels, Counter>::default();
        let rate_limited = Family::<RateLimitLabels, Counter>::default();
        let in_flight = Gauge::default();
        let max_in_flight = Gauge::default();
        register_counter(
            &mut registry,
            HTTP_REQUESTS,
            "HTTP requests by route pattern and status",
            requests.clone(),
        );
        registry.register(
            HTTP_REQUEST_DURATION,
            "HTTP request latency in seconds",
            duration.clone(),
        );
        register_counter(
            &mut registry,
            CEREMONIES,
            "WebAuthn ceremonies by kind and outcome",
            ceremonies.clone(),
        );
        register_counter(
            &mut registry,
            REDEEMS,
            "Code redeems by endpoint and outcome",
            redeems.clone(),
        );
        register_counter(
            &mut registry,
            REFUSALS,
            "Requests refused before their handler, by reason",
            refusals.clone(),
        );
        register_counter(
            &mut registry,
            SECURITY_EVENTS,
            "Security events of the audit log, by action",
            security_events.clone(),
        );
        register_counter(
            &mut registry,
            RATE_LIMITED,
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        registry.register(IN_FLIGHT, "Requests in progress", in_flight.clone());
        registry.register(
            MAX_IN_FLIGHT,
            "The bound on requests in progress",
            max_in_flight.clone(),
        );
        crate::db::stats::STATS.register(&mut registry);
        Self {
            registry,
            requests,
            duration,
            ceremonies,
            redeems,
            refusals,
            security_events,
            rate_limited,
            in_flight,
            max_in_flight,
        }
    }
}

impl Metrics {
    /// Counts a request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration.observe(seconds);
    }

    /// Counts a request refused before its handler, by reason (`overloaded`,
    /// `request_timeout`, `cross_site_…`): `latchkey_refusals_total`.
    pub fn refusal(&self, reason: &str) {
        self.refusals
            .get_or_create(&RefusalLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a security event of the audit log by its action:
    /// `latchkey_security_events_total`.
    pub fn security_event(&self, action: &str) {
        self.security_events
            .get_or_create(&SecurityEventLabels {
                action: action.to_owned(),
            })
            .inc();
    }

    /// Counts a request refused by a rate limit: `latchkey_rate_limited_total`.
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited
            .get_or_create(&RateLimitLabels { limit })
            .inc();
    }

    /// Counts a ceremony outcome.
    pub fn ceremony(&self, kind: &str, outcome: &str) {
        self.ceremonies
            .get_or_create(&CeremonyLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a redeem outcome.
    pub fn redeem(&self, endpoint: &str, outcome: &str) {
        self.redeems
            .get_or_create(&RedeemLabels {
                endpoint: endpoint.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition ([`CONTENT_TYPE`]), with the admission gauges (see
    /// [`crate::admission::Admission`]) set to the requests in progress and their bound.
    pub fn render(&self, in_flight: u32, max_in_flight: u32) -> String {
        self.in_flight.set(i64::from(in_flight));
        self.max_in_flight.set(i64::from(max_in_flight));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request("/authorize", 200, 0.003);
        m.request("/authorize", 200, 0.2);
        m.ceremony("get", "ok");
        m.redeem("redeem", "invalid_grant");
        m.refusal("overloaded");
        m.security_event("assertion.replay");
        m.rate_limited("flows");
        let text = m.render(3, 4);
        for line in [
            "latchkey_http_requests_total{route=\"/authorize\",status=\"200\"} 2",
            "latchkey_ceremonies_total{kind=\"get\",outcome=\"ok\"} 1",
            "latchkey_redeems_total{endpoint=\"redeem\",outcome=\"invalid_grant\"} 1",
            "latchkey_refusals_total{reason=\"overloaded\"} 1",
            "latchkey_security_events_total{action=\"assertion.replay\"} 1",
            "latchkey_rate_limited_total{limit=\"flows\"} 1",
            "latchkey_http_request_duration_seconds_bucket{le=\"0.001\"} 0",
            "latchkey_http_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "latchkey_http_request_duration_seconds_bucket{le=\"5\"} 2",
            "latchkey_http_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "latchkey_http_request_duration_seconds_count 2",
            "latchkey_in_flight_requests 3",
            "latchkey_max_in_flight_requests 4",
            "# TYPE latchkey_http_requests_total counter",
            "# TYPE latchkey_http_request_duration_seconds histogram",
            "# TYPE latchkey_in_flight_requests gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("latchkey_http_request_duration_seconds_sum "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(sum.is_some_and(|s| (s - 0.203).abs() < 1e-9), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }
}
