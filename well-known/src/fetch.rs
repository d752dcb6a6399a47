//! Fetching a site's `/.well-known/webauthn` over HTTPS, with a small in-memory cache.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{DocumentError, MAX_DOCUMENT_BYTES, Origin, WellKnownDocument};

/// Why a document could not be fetched. Messages say what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The RP ID is not a bare domain name.
    #[error(
        "'{rp_id}' is not a valid RP ID ({reason}): use a bare domain name such as example.com"
    )]
    InvalidRpId {
        /// The RP ID as given.
        rp_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    /// Connecting or reading failed (DNS, TCP, TLS, ...).
    #[error(
        "could not fetch {url}: {detail}; check that the site is reachable over HTTPS with a valid certificate"
    )]
    Connect {
        /// The URL fetched.
        url: String,
        /// The underlying error.
        detail: String,
    },
    /// No complete answer within the configured timeout.
    #[error("{url} timed out after {}; the document must be served quickly", human(*after))]
    Timeout {
        /// The URL fetched.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The server answered with a redirect.
    #[error(
        "{url}: the request was redirected to {location}; the document must be served directly, without redirects"
    )]
    Redirect {
        /// The URL fetched.
        url: String,
        /// The `Location` header (or `?` when absent).
        location: String,
    },
    /// The server answered with a status other than 200.
    #[error("{url} answered {status}: {}", if *status == 404 || *status == 410 { "publish the document there" } else { "it must answer 200 with the document" })]
    Status {
        /// The URL fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The `Content-Type` is not `application/json`.
    #[error("{url} is served as '{content_type}': serve it with Content-Type: application/json")]
    ContentType {
        /// The URL fetched.
        url: String,
        /// The `Content-Type` received (empty when absent).
        content_type: String,
    },
    /// The body is not a valid document (too large, not JSON, wrong shape).
    #[error("{url}: {error}")]
    Document {
        /// The URL fetched.
        url: String,
        /// What is wrong with the body.
        error: DocumentError,
    },
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Settings of a [`Fetcher`].
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// Whole-request timeout (connect, headers and body). Default 5 s.
    pub timeout: Duration,
    /// How long a fetched document is reused. Default 5 minutes.
    pub success_ttl: Duration,
    /// How long a failure is reused. Default 30 s.
    pub failure_ttl: Duration,
    /// Accept any TLS certificate. Only for tests with self-signed certificates.
    pub danger_accept_invalid_certs: bool,
    /// Host name overrides (host, address), for tests. The port of the address is used.
    pub resolve: Vec<(String, SocketAddr)>,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            timeout: Duration::from_secs(5),
            success_ttl: Duration::from_secs(300),
            failure_ttl: Duration::from_secs(30),
            danger_accept_invalid_certs: false,
            resolve: Vec::new(),
        }
    }
}

type CacheEntry = (Instant, Result<Arc<WellKnownDocument>, FetchError>);

/// Fetches `https://{rp_id}/.well-known/webauthn` and caches the result per RP ID.
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: Arc<FetcherConfig>,
    cache: Arc<Mutex<HashMap<String, CacheEntry>>>,
}

/// The result of [`Fetcher::check`], ready to show on the admin dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// The RP ID checked (lowercased when valid).
    pub rp_id: String,
    /// The URL the document is fetched from.
    pub url: String,
    /// Whether browsers will let `origin` run ceremonies for `rp_id`.
    pub ok: bool,
    /// The document as fetched, when it could be fetched.
    pub fetched: Option<WellKnownDocument>,
    /// What is wrong and how to fix it, in plain words; `None` when ok and clean.
    pub problem: Option<String>,
    /// The exact JSON the site must publish so that `origin` is allowed.
    pub expected: String,
}

/// Checks that `rp_id` is a domain name (no scheme, port, path, not an IP) and lowercases it.
pub fn validate_rp_id(rp_id: &str) -> Result<String, FetchError> {
    let bad = |reason: &str| FetchError::InvalidRpId {
        rp_id: rp_id.to_owned(),
        reason: reason.to_owned(),
    };
    if rp_id.contains("://") {
        return Err(bad("it has a scheme"));
    }
    if rp_id.contains(['/', '?', '#', '@', ':', '[', ']']) || rp_id.chars().any(char::is_whitespace)
    {
        return Err(bad(
            "it has a port, path or other characters not allowed in a domain name",
        ));
    }
    let host = match url::Host::parse(rp_id) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => return Err(bad("it is an IP address")),
        Err(e) => return Err(bad(&e.to_string())),
    };
    let labels_ok = host.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !labels_ok || host.len() > 253 {
        return Err(bad("it is not a valid domain name"));
    }
    Ok(host)
}

/// The URL of the document for an RP ID.
pub fn document_url(rp_id: &str) -> String {
    format!("https://{rp_id}{}", crate::WELL_KNOWN_PATH)
}

impl Fetcher {
    /// Builds a fetcher (HTTPS only, redirects disabled).
    pub fn new(config: FetcherConfig) -> Result<Self, FetchError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("latchkey-well-known/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(config.danger_accept_invalid_certs);
        for (host, addr) in &config.resolve {
            builder = builder.resolve(host, *addr);
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Fetcher {
            client,
            config: Arc::new(config),
            cache: Arc::default(),
        })
    }

    /// Fetches the document for `rp_id`, reusing a cached success or failure while fresh.
    pub async fn fetch(&self, rp_id: &str) -> Result<Arc<WellKnownDocument>, FetchError> {
        let rp_id = validate_rp_id(rp_id)?;
        if let Ok(cache) = self.cache.lock()
            && let Some((at, result)) = cache.get(&rp_id)
        {
            let ttl = if result.is_ok() {
                self.config.success_ttl
            } else {
                self.config.failure_ttl
            };
            if at.elapsed() < ttl {
                return result.clone();
            }
        }
        self.fetch_fresh(&rp_id).await
    }

    /// Fetches the document for `rp_id` now, bypassing and then refreshing the cache.
    pub async fn fetch_fresh(&self, rp_id: &str) -> Result<Arc<WellKnownDocument>, FetchError> {
        let rp_id = validate_rp_id(rp_id)?;
        let url = document_url(&rp_id);
        let result = match tokio::time::timeout(self.config.timeout, self.download(&url)).await {
            Ok(r) => r.map(Arc::new),
            Err(_) => Err(FetchError::Timeout {
                url,
                after: self.config.timeout,
            }),
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= 1024 {
                let max = self.config.success_ttl.max(self.config.failure_ttl);
                cache.retain(|_, (at, _)| at.elapsed() < max);
            }
            cache.insert(rp_id, (Instant::now(), result.clone()));
        }
        result
    }

    async fn download(&self, url: &str) -> Result<WellKnownDocument, FetchError> {
        let net = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout {
                    url: url.to_owned(),
                    after: self.config.timeout,
                }
            } else {
                FetchError::Connect {
                    url: url.to_owned(),
                    detail: error_chain(&e),
                }
            }
        };
        let mut resp = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(net)?;
        let status = resp.status();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        if status.is_redirection() {
            let location = Some(header("location"))
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "?".into());
            return Err(FetchError::Redirect {
                url: url.to_owned(),
                location,
            });
        }
        if status.as_u16() != 200 {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let content_type = header("content-type");
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(FetchError::ContentType {
                url: url.to_owned(),
                content_type,
            });
        }
        let too_large = || FetchError::Document {
            url: url.to_owned(),
            error: DocumentError::TooLarge,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        WellKnownDocument::parse(&body).map_err(|error| FetchError::Document {
            url: url.to_owned(),
            error,
        })
    }

    /// Fetches (cached) the document for `rp_id` and evaluates `origin` against it.
    ///
    /// Callers normally first test [`Origin::is_within_rp_id`]: an origin inside the
    /// RP ID needs no document at all.
    pub async fn check(&self, rp_id: &str, origin: &Origin) -> Check {
        let (rp_id, url) = match validate_rp_id(rp_id) {
            Ok(id) => (id.clone(), document_url(&id)),
            Err(_) => (rp_id.to_owned(), document_url(rp_id)),
        };
        let doc = match self.fetch(&rp_id).await {
            Ok(doc) => doc,
            Err(e) => {
                let expected = WellKnownDocument::new([origin.clone()]).to_json();
                let problem = Some(e.to_string());
                return Check {
                    rp_id,
                    url,
                    ok: false,
                    fetched: None,
                    problem,
                    expected,
                };
            }
        };
        let ev = doc.evaluate(origin);
        let kept: Vec<Origin> = doc
            .origins
            .iter()
            .filter(|raw| !ev.skipped.contains(raw) && !ev.ignored.contains(raw))
            .filter_map(|raw| Origin::parse(raw).ok())
            .filter(|o| o != origin)
            .collect();
        let mut expected = WellKnownDocument::new(kept.iter().cloned().chain([origin.clone()]));
        if !expected.evaluate(origin).allowed {
            expected = WellKnownDocument::new([origin.clone()].into_iter().chain(kept));
        }
        let mut problems = Vec::new();
        if !ev.allowed {
            let labels = ev.labels.join(", ");
            problems.push(if ev.ignored.iter().any(|raw| Origin::parse(raw).ok().as_ref() == Some(origin)) {
                format!(
                    "{url} lists {origin}, but only after origins of 5 other sites ({labels}); browsers honour at most 5 site labels and ignore it. Move {origin} up, or remove the origins of another site"
                )
            } else if ev.labels.len() >= crate::MAX_LABELS {
                format!(
                    "{url} does not list {origin}, and it already uses the 5 site labels browsers honour ({labels}). Add {origin} at the top, or remove the origins of another site"
                )
            } else {
                format!("{url} does not list {origin}: add it to the \"origins\" list")
            });
        }
        if !ev.skipped.is_empty() {
            problems.push(format!(
                "browsers skip these entries, which are not valid origins with a registrable domain: {}",
                ev.skipped.join(", ")
            ));
        }
        let problem = (!problems.is_empty()).then(|| problems.join(". "));
        Check {
            rp_id,
            url,
            ok: ev.allowed,
            fetched: Some((*doc).clone()),
            problem,
            expected: expected.to_json(),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rp_id_validation() {
        assert_eq!(validate_rp_id("Example.COM").unwrap(), "example.com");
        assert_eq!(
            validate_rp_id("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "https://a.com",
            "a.com:443",
            "a.com/x",
            "127.0.0.1",
            "[::1]",
            "",
            "a..com",
            "-a.com",
            "a_b.com",
        ] {
            assert!(
                matches!(validate_rp_id(bad), Err(FetchError::InvalidRpId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn messages_say_what_to_fix() {
        let url = document_url("example.com");
        let e = FetchError::Status {
            url: url.clone(),
            status: 404,
        };
        assert_eq!(
            e.to_string(),
            "https://example.com/.well-known/webauthn answered 404: publish the document there"
        );
        let e = FetchError::Timeout {
            url: url.clone(),
            after: Duration::from_secs(5),
        };
        assert!(e.to_string().contains("timed out after 5 s"));
        let e = FetchError::Timeout {
            url,
            after: Duration::from_millis(300),
        };
        assert!(e.to_string().contains("timed out after 300 ms"));
    }
}
