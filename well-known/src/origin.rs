//! Web origins as WebAuthn and the `/.well-known/webauthn` document use them.

use std::fmt;
use std::str::FromStr;

/// Why a string is not an acceptable origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// The string does not start with `scheme://`.
    #[error("'{0}' is not an origin: write it as https://host or https://host:port")]
    Malformed(String),
    /// The scheme is neither `https` nor `http`.
    #[error("'{0}' uses an unsupported scheme: origins must start with https://")]
    UnsupportedScheme(String),
    /// `http://` with a host other than `localhost`, `127.0.0.1` or `[::1]`.
    #[error(
        "'{0}' uses http://, which is only allowed for localhost, 127.0.0.1 and [::1]: use https://"
    )]
    InsecureHttp(String),
    /// The origin carries `user:password@`.
    #[error("'{0}' contains a user name or password: remove the part before '@'")]
    Userinfo(String),
    /// The origin has a path other than `/`, a query or a fragment.
    #[error("'{0}' has a path, query or fragment: an origin is only scheme://host[:port]")]
    HasPath(String),
    /// An `https://` origin whose host is an IP address.
    #[error("'{0}' uses an IP address as host: WebAuthn needs a domain name")]
    IpHost(String),
    /// The host is empty, ends with a dot, or is otherwise not a valid host name.
    #[error("'{0}' has an invalid host: {1}")]
    InvalidHost(String, String),
}

/// A web origin: `scheme://host[:port]`, lowercase host, no path/query/fragment.
///
/// Keeps the canonical ASCII serialisation (IDN hosts in punycode, default port
/// omitted), which is what browsers compare against `/.well-known/webauthn` entries.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Origin {
    serialized: String,
    host_start: usize,
    host_end: usize,
    port: Option<u16>,
}

impl Origin {
    /// Parses `https://host[:port]` (optionally followed by one `/`).
    ///
    /// `http://` is accepted only for `localhost`, `127.0.0.1` and `[::1]`. Rejects
    /// user info, paths other than `/`, queries, fragments, IP hosts over https,
    /// hosts ending with a dot and any other scheme. The default port is dropped
    /// (`https://a.com:443` becomes `https://a.com`).
    pub fn parse(s: &str) -> Result<Origin, OriginError> {
        let own = || s.to_owned();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| OriginError::Malformed(own()))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(OriginError::UnsupportedScheme(own()));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(OriginError::Userinfo(own()));
        }
        if authority.contains(['/', '\\', '?', '#']) {
            return Err(OriginError::HasPath(own()));
        }
        if authority.is_empty()
            || authority
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(OriginError::InvalidHost(
                own(),
                "the host is empty or contains spaces".into(),
            ));
        }
        let url = url::Url::parse(&format!("{scheme}://{authority}"))
            .map_err(|e| OriginError::InvalidHost(own(), e.to_string()))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => {
                if d.ends_with('.') {
                    return Err(OriginError::InvalidHost(
                        own(),
                        "remove the trailing dot".into(),
                    ));
                }
                d == "localhost"
            }
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) if scheme == "https" => {
                return Err(OriginError::IpHost(own()));
            }
            Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => {
                return Err(OriginError::InvalidHost(
                    own(),
                    "the host is missing".into(),
                ));
            }
        };
        if scheme == "http" && !loopback {
            return Err(OriginError::InsecureHttp(own()));
        }
        let host = url.host_str().unwrap_or_default();
        let port = url.port();
        let serialized = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let host_start = scheme.len() + 3;
        Ok(Origin {
            host_end: host_start + host.len(),
            serialized,
            host_start,
            port,
        })
    }

    /// The canonical serialisation, e.g. `https://login.example.com:8443`.
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &str {
        self.serialized
            .get(..self.host_start.saturating_sub(3))
            .unwrap_or_default()
    }

    /// The host in ASCII (punycode) form; IPv6 hosts keep their brackets (`[::1]`).
    pub fn host(&self) -> &str {
        self.serialized
            .get(self.host_start..self.host_end)
            .unwrap_or_default()
    }

    /// The explicit port when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    fn is_ip(&self) -> bool {
        let h = self.host();
        h.starts_with('[') || h.parse::<std::net::Ipv4Addr>().is_ok()
    }

    /// The registrable domain (eTLD+1) per the Public Suffix List, e.g. `example.co.uk`
    /// for `https://login.shop.example.co.uk`; `None` for IPs, `localhost` and hosts
    /// that are themselves a public suffix.
    pub fn registrable_domain(&self) -> Option<String> {
        if self.is_ip() {
            return None;
        }
        let d = psl::domain(self.host().as_bytes())?;
        std::str::from_utf8(d.as_bytes()).ok().map(str::to_owned)
    }

    /// The eTLD+1 label of the host: for `https://login.shop.example.co.uk` it is
    /// `example` (the label just left of the public suffix). This is what Chromium
    /// counts against [`MAX_LABELS`](crate::MAX_LABELS). `None` when there is no
    /// registrable domain.
    pub fn etld1_label(&self) -> Option<String> {
        let domain = self.registrable_domain()?;
        domain.split('.').next().map(str::to_owned)
    }

    /// True when this origin's host equals `rp_id` or is a subdomain of it (the
    /// WebAuthn "registrable domain suffix" rule, label-boundary aware:
    /// `evilexample.com` is not under `example.com`, and a public suffix such as
    /// `co.uk` covers nothing but itself). IP hosts never match.
    pub fn is_within_rp_id(&self, rp_id: &str) -> bool {
        let rp_id = rp_id.to_ascii_lowercase();
        let host = self.host();
        if rp_id.is_empty() || self.is_ip() {
            return false;
        }
        if host == rp_id {
            return true;
        }
        let is_public_suffix =
            psl::suffix(rp_id.as_bytes()).is_some_and(|s| s.as_bytes() == rp_id.as_bytes());
        !is_public_suffix
            && host.len() > rp_id.len()
            && host.ends_with(rp_id.as_str())
            && host.as_bytes().get(host.len() - rp_id.len() - 1) == Some(&b'.')
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialized)
    }
}

impl FromStr for Origin {
    type Err = OriginError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::parse(s)
    }
}

impl TryFrom<String> for Origin {
    type Error = OriginError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Origin::parse(&s)
    }
}

impl From<Origin> for String {
    fn from(o: Origin) -> String {
        o.serialized
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    #[test]
    fn canonical_form() {
        let x = o("HTTPS://Login.Example.COM:443/");
        assert_eq!(x.as_str(), "https://login.example.com");
        assert_eq!(
            (x.scheme(), x.host(), x.port()),
            ("https", "login.example.com", None)
        );
        let y = o("https://a.example:8443");
        assert_eq!(
            (y.as_str(), y.port()),
            ("https://a.example:8443", Some(8443))
        );
        assert_eq!(o("https://bücher.example").host(), "xn--bcher-kva.example");
    }

    #[test]
    fn http_only_for_loopback() {
        assert_eq!(o("http://localhost:8080").as_str(), "http://localhost:8080");
        assert_eq!(o("http://127.0.0.1").host(), "127.0.0.1");
        assert_eq!(o("http://[::1]:3000").host(), "[::1]");
        assert!(matches!(
            Origin::parse("http://example.com"),
            Err(OriginError::InsecureHttp(_))
        ));
        assert!(matches!(
            Origin::parse("http://10.0.0.1"),
            Err(OriginError::InsecureHttp(_))
        ));
    }

    #[test]
    fn rejects_other_schemes() {
        assert!(matches!(
            Origin::parse("ftp://a.com"),
            Err(OriginError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Origin::parse("android:apk-key-hash:abc"),
            Err(OriginError::Malformed(_))
        ));
        assert!(matches!(
            Origin::parse("a.com"),
            Err(OriginError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_userinfo() {
        assert!(matches!(
            Origin::parse("https://u:p@a.com"),
            Err(OriginError::Userinfo(_))
        ));
    }

    #[test]
    fn rejects_path_query_fragment() {
        for s in [
            "https://a.com/x",
            "https://a.com//",
            "https://a.com?q",
            "https://a.com#f",
            "https://a.com\\",
        ] {
            assert!(
                matches!(Origin::parse(s), Err(OriginError::HasPath(_))),
                "{s}"
            );
        }
    }

    #[test]
    fn rejects_ip_hosts_over_https() {
        assert!(matches!(
            Origin::parse("https://127.0.0.1"),
            Err(OriginError::IpHost(_))
        ));
        assert!(matches!(
            Origin::parse("https://[2001:db8::1]"),
            Err(OriginError::IpHost(_))
        ));
    }

    #[test]
    fn rejects_bad_hosts() {
        for s in [
            "https://",
            "https://a.com.",
            "https://a b.com",
            "https://a.com:99999",
        ] {
            assert!(
                matches!(Origin::parse(s), Err(OriginError::InvalidHost(..))),
                "{s}"
            );
        }
    }

    #[test]
    fn serde_round_trip() {
        let x: Origin = serde_json::from_str("\"https://A.com:443\"").unwrap();
        assert_eq!(serde_json::to_string(&x).unwrap(), "\"https://a.com\"");
        assert!(serde_json::from_str::<Origin>("\"http://a.com\"").is_err());
        assert_eq!(
            "https://a.com".parse::<Origin>().unwrap().to_string(),
            "https://a.com"
        );
    }

    #[test]
    fn labels_and_registrable_domains() {
        let x = o("https://login.shop.example.co.uk");
        assert_eq!(x.registrable_domain().as_deref(), Some("example.co.uk"));
        assert_eq!(x.etld1_label().as_deref(), Some("example"));
        assert_eq!(
            o("https://a.example.com").etld1_label().as_deref(),
            Some("example")
        );
        assert_eq!(
            o("https://foo.github.io").registrable_domain().as_deref(),
            Some("foo.github.io")
        );
        assert_eq!(o("http://localhost:8080").etld1_label(), None);
        assert_eq!(o("http://127.0.0.1").etld1_label(), None);
        assert_eq!(o("https://co.uk").etld1_label(), None);
    }

    #[test]
    fn within_rp_id_boundaries() {
        assert!(o("https://example.com").is_within_rp_id("example.com"));
        assert!(o("https://login.example.com:8443").is_within_rp_id("Example.com"));
        assert!(!o("https://evilexample.com").is_within_rp_id("example.com"));
        assert!(!o("https://example.com").is_within_rp_id("login.example.com"));
        assert!(!o("https://example.co.uk").is_within_rp_id("co.uk"));
        assert!(!o("https://example.com").is_within_rp_id(""));
        assert!(o("http://localhost:8080").is_within_rp_id("localhost"));
        assert!(!o("http://127.0.0.1").is_within_rp_id("127.0.0.1"));
    }
}
