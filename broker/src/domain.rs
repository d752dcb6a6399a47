//! Domain newtypes for every value that crosses the edge. Each can only be built through
//! `parse`, which applies the rule of the contract (PROTOCOL.md) it names.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::util::{b64, ct_eq, sha256};

/// Why a value was refused: the field it came from and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The contract's name of the field.
    pub field: &'static str,
    /// What is wrong, in plain words.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// A tenant's `client_id`: `[A-Za-z0-9._-]{3,64}` (PROTOCOL §1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "client_id",
                "client_id must be 3 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ))
        }
    }

    /// The client id as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered redirect URI. Keeps the original string: matching is exact (PROTOCOL §1,
/// RFC 9700 §4.1.3); `https://` only, except `http://localhost[:port]` and
/// `http://127.0.0.1[:port]`; no fragment, no userinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Parses a redirect URI for registration.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        const FIELD: &str = "redirect_uris";
        if s.len() > 2000 {
            return Err(invalid(FIELD, "a redirect URI is at most 2000 characters"));
        }
        let url = Url::parse(s).map_err(|e| invalid(FIELD, format!("{s:?} is not a URL: {e}")))?;
        if url.fragment().is_some() || s.contains('#') {
            return Err(invalid(FIELD, format!("{s:?} must not have a fragment")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                FIELD,
                format!("{s:?} must not carry a user name or password"),
            ));
        }
        match url.scheme() {
            "https" if url.host_str().is_some() => Ok(Self(s.to_owned())),
            "http" if matches!(url.host_str(), Some("localhost" | "127.0.0.1")) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(invalid(
                FIELD,
                format!("{s:?} must use https://, or http:// only on localhost or 127.0.0.1"),
            )),
        }
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is one of the `registered` redirect URIs, compared as exact
    /// strings: no normalisation of case, percent-encoding, ports, dots or paths
    /// (RFC 9700 §4.1.1), so no variant of a registered URI can be used to redirect.
    pub fn is_registered(registered: &[String], presented: &str) -> bool {
        registered.iter().any(|r| r == presented)
    }

    /// Builds `redirect_uri?key=value&…`, appending to an existing query correctly.
    pub fn with_query(&self, pairs: &[(&str, &str)]) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in pairs {
                        q.append_pair(k, v);
                    }
                }
                url.to_string()
            }
            Err(_) => self.0.clone(),
        }
    }
}

/// A PKCE `code_challenge`: 43 characters of base64url, the S256 transform of a verifier
/// (RFC 7636 §4.2; `plain` is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses a code challenge.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "code_challenge",
                "code_challenge must be 43 characters of base64url: BASE64URL(SHA-256(code_verifier))",
            ))
        }
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` hashes to this challenge, compared in constant time (RFC 7636 §4.6).
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = b64(sha256(verifier.0.as_bytes()));
        ct_eq(computed.as_bytes(), self.0.as_bytes())
    }
}

/// A PKCE `code_verifier`: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// Parses a code verifier.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (43..=128).contains(&s.len())
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' || b == b'~'
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "code_verifier",
                "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' or '~'",
            ))
        }
    }
}

impl Drop for CodeVerifier {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

/// The OAuth `state`: 1–512 characters of VSCHAR (%x20-7E), required (PROTOCOL §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State(String);

impl State {
    /// Parses a state value.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (1..=512).contains(&s.len()) && s.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "state",
                "state is required: 1 to 512 printable ASCII characters",
            ))
        }
    }

    /// The state as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a tenant's passkeys live (PROTOCOL §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpMode {
    /// Under the tenant's own RP ID, through Related Origin Requests.
    Site,
    /// Under the broker's RP ID.
    Broker,
}

impl RpMode {
    /// Parses `site` or `broker`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "site" => Ok(Self::Site),
            "broker" => Ok(Self::Broker),
            _ => Err(invalid("rp_mode", "rp_mode must be \"site\" or \"broker\"")),
        }
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Broker => "broker",
        }
    }
}

/// A tenant's user verification policy (PROTOCOL §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UvPolicy {
    /// UV must be set, or the ceremony fails with `user_verification_required`.
    Required,
    /// UV is asked for but not enforced.
    Preferred,
}

impl UvPolicy {
    /// Parses `required` or `preferred`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "required" => Ok(Self::Required),
            "preferred" => Ok(Self::Preferred),
            _ => Err(invalid(
                "user_verification",
                "user_verification must be \"required\" or \"preferred\"",
            )),
        }
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
        }
    }
}

/// What a tenant does when a signature counter goes backwards (PROTOCOL §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterPolicy {
    /// Record an audit event and accept.
    Record,
    /// Record an audit event and refuse with `verification_failed`.
    Reject,
}

impl CounterPolicy {
    /// Parses `record` or `reject`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "record" => Ok(Self::Record),
            "reject" => Ok(Self::Reject),
            _ => Err(invalid(
                "counter_policy",
                "counter_policy must be \"record\" or \"reject\"",
            )),
        }
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Reject => "reject",
        }
    }
}

/// A WebAuthn RP ID: a lowercase domain name, never an IP address or URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RpId(String);

impl RpId {
    /// Parses an RP ID for the field `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let is_ip = lower.parse::<std::net::IpAddr>().is_ok()
            || lower.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if lower.is_empty() || lower.len() > 253 || is_ip || !lower.split('.').all(label_ok) {
            return Err(invalid(
                field,
                format!(
                    "{s:?} is not a domain name (an RP ID is a host name such as example.com, never a URL or an IP address)"
                ),
            ));
        }
        Ok(Self(lower))
    }

    /// The RP ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` equals this RP ID or is a subdomain of it (label boundary aware).
    pub fn covers_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        host == self.0 || host.ends_with(&format!(".{}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_the_contract_pattern() {
        assert!(ClientId::parse("demo").is_ok());
        assert!(ClientId::parse("my.site_1-a").is_ok());
        assert!(ClientId::parse("ab").is_err());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
        assert!(ClientId::parse("has space").is_err());
        assert!(ClientId::parse("ünï").is_err());
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_http_without_fragment() {
        assert!(RedirectUri::parse("https://site.example/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost:8081/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1/cb").is_ok());
        assert!(RedirectUri::parse("http://site.example/cb").is_err());
        assert!(RedirectUri::parse("https://site.example/cb#frag").is_err());
        assert!(RedirectUri::parse("https://user:pw@site.example/cb").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
        assert!(RedirectUri::parse("/relative").is_err());
    }

    #[test]
    fn redirect_query_is_appended_to_an_existing_query() {
        let r = RedirectUri::parse("https://site.example/cb?x=1").unwrap();
        assert_eq!(
            r.with_query(&[("code", "a b"), ("state", "s&t")]),
            "https://site.example/cb?x=1&code=a+b&state=s%26t"
        );
        let r = RedirectUri::parse("https://site.example/cb").unwrap();
        assert_eq!(
            r.with_query(&[("code", "c")]),
            "https://site.example/cb?code=c"
        );
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        // RFC 7636 Appendix B test vector.
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let c = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert!(c.is_satisfied_by(&v));
        let other = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert!(!c.is_satisfied_by(&other));
    }

    #[test]
    fn verifiers_and_challenges_have_exact_shapes() {
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{}+", "a".repeat(43))).is_err());
        assert!(CodeChallenge::parse(&"a".repeat(42)).is_err());
        assert!(CodeChallenge::parse(&format!("{}=", "a".repeat(42))).is_err());
        assert_eq!(
            format!("{:?}", CodeVerifier::parse(&"a".repeat(43)).unwrap()),
            "CodeVerifier([redacted])"
        );
    }

    #[test]
    fn state_is_vschar() {
        assert!(State::parse("abc 123 ~").is_ok());
        assert!(State::parse("").is_err());
        assert!(State::parse("tab\there").is_err());
        assert!(State::parse(&"x".repeat(513)).is_err());
    }

    #[test]
    fn rp_ids_are_domain_names() {
        assert_eq!(
            RpId::parse("rp_id", "Example.COM").unwrap().as_str(),
            "example.com"
        );
        assert!(RpId::parse("rp_id", "localhost").is_ok());
        assert!(RpId::parse("rp_id", "127.0.0.1").is_err());
        assert!(RpId::parse("rp_id", "https://example.com").is_err());
        assert!(RpId::parse("rp_id", "example.com:443").is_err());
        let rp = RpId::parse("rp_id", "example.com").unwrap();
        assert!(rp.covers_host("login.example.com"));
        assert!(rp.covers_host("example.com"));
        assert!(!rp.covers_host("evilexample.com"));
    }
}
