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
    /// Parses a redirect URI for registration. The string is judged as a browser would
    /// read it: the URL standard silently drops tabs and newlines and reads `\\` as `/`
    /// and `https:///cb` as host `cb`, so such strings are refused rather than stored as
    /// something other than what the browser will be sent to.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        const FIELD: &str = "redirect_uris";
        let refuse = |why: &str| invalid(FIELD, format!("redirect_uris: {s:?} {why}"));
        if s.len() > 2000 {
            return Err(invalid(
                FIELD,
                "redirect_uris: a redirect URI is at most 2000 characters",
            ));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(refuse(
                "must not contain spaces or control characters (CR, LF, TAB, NUL)",
            ));
        }
        if s.contains('\\') {
            return Err(refuse("must not contain a backslash"));
        }
        let authority = ["https://", "http://"]
            .iter()
            .find_map(|p| {
                s.get(..p.len())
                    .filter(|head| head.eq_ignore_ascii_case(p))
                    .map(|_| &s[p.len()..])
            })
            .ok_or_else(|| {
                refuse("must use https://, or http:// only on localhost or 127.0.0.1")
            })?;
        if authority.is_empty() || authority.starts_with('/') {
            return Err(refuse("has no host name after the scheme"));
        }
        let url = Url::parse(s).map_err(|e| refuse(&format!("is not a URL: {e}")))?;
        if url.fragment().is_some() || s.contains('#') {
            return Err(refuse("must not have a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        match url.host() {
            Some(url::Host::Domain(d)) if !is_domain_name(d) => {
                return Err(refuse(
                    "has a host that is not a domain name (no wildcards: register each URI exactly)",
                ));
            }
            Some(_) => {}
            None => return Err(refuse("has no host name after the scheme")),
        }
        match url.scheme() {
            "https" => Ok(Self(s.to_owned())),
            "http" if matches!(url.host_str(), Some("localhost" | "127.0.0.1")) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(refuse(
                "must use https://, or http:// only on localhost or 127.0.0.1",
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

    /// The site's address for a link back to it: the origin of the URI, with a `/`
    /// (`https://shop.example/`). A page may link to it without becoming an open
    /// redirect, as the URI is one the tenant registered.
    pub fn site_url(&self) -> String {
        match Url::parse(&self.0) {
            Ok(url) => format!("{}/", url.origin().ascii_serialization()),
            Err(_) => String::new(),
        }
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

/// Whether `host` (as the URL standard gives it: lower case, IDNA applied) is a domain
/// name of letters, digits and hyphens: no wildcard, no underscore, no empty label.
pub fn is_domain_name(host: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    !host.is_empty() && host.split('.').all(label_ok)
}

/// Text a person reads where another person named it: a display name, a tenant's name, a
/// passkey's name. Trimmed, 1 to `max` Unicode scalar values, and free of control
/// characters and of the bidirectional overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069) that make text read differently from what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisplayText(String);

/// What is wrong with a [`DisplayText`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Nothing but spaces.
    Empty,
    /// Longer than allowed.
    TooLong,
    /// A control character or a bidirectional override or isolate.
    Controls,
}

impl DisplayText {
    /// Checks text, at most `max` characters after trimming.
    pub fn check(s: &str, max: usize) -> Result<Self, TextProblem> {
        let t = s.trim();
        if t.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(TextProblem::Controls);
        }
        match t.chars().count() {
            0 => Err(TextProblem::Empty),
            n if n > max => Err(TextProblem::TooLong),
            _ => Ok(Self(t.to_owned())),
        }
    }

    /// Parses text for the API field `field`, at most `max` characters after trimming;
    /// the refusal's message names the field and says what is wrong.
    pub fn parse(field: &'static str, s: &str, max: usize) -> Result<Self, Invalid> {
        Self::check(s, max).map_err(|p| {
            invalid(
                field,
                match p {
                    TextProblem::Controls => format!(
                        "{field} must not contain control characters or bidirectional overrides (U+202A–U+202E, U+2066–U+2069)"
                    ),
                    TextProblem::Empty | TextProblem::TooLong => {
                        format!("{field} must be 1 to {max} characters")
                    }
                },
            )
        })
    }

    /// The text, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The embedding, override and isolate controls of Unicode's bidirectional algorithm.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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
    /// Parses an RP ID for the field `field`. The host is parsed as the URL standard does
    /// (so `0x7f.1` is the IP address 127.0.0.1, as a browser reads it) before it is
    /// judged: it must be a domain name, never an IP address or URL.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        let refuse = || {
            invalid(
                field,
                format!(
                    "{field}: {s:?} is not a domain name (an RP ID is a host name such as example.com, never a URL or an IP address)"
                ),
            )
        };
        // The host parser refuses what cannot be a host (`/`, `:`, `@`, `\\`, nothing at all)
        // and reads every numeric form (`0x7f.1`, `2130706433`, `1.2.3.4.5`) as an IP
        // address or a failed one.
        let host = match url::Host::parse(s.trim_end_matches('.')) {
            Ok(url::Host::Domain(d)) => d,
            Ok(url::Host::Ipv4(_) | url::Host::Ipv6(_)) | Err(_) => return Err(refuse()),
        };
        if host.len() > 253 || !is_domain_name(&host) {
            return Err(refuse());
        }
        Ok(Self(host))
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
    fn redirect_uris_that_a_browser_would_read_otherwise_are_refused() {
        for bad in [
            "https://a.example/cb\r\nSet-Cookie: x=1",
            "https://a.example/c\tb",
            "https://a.example/cb\0",
            "https://a.example/c b",
            "https:///cb",
            "https://*.example.com/cb",
            "https://a_b.example/cb",
            "https:\\\\evil.example/cb",
            "https://a.example\\@evil.example/cb",
        ] {
            let e = RedirectUri::parse(bad).expect_err(bad);
            assert_eq!(e.field, "redirect_uris");
            assert!(e.message.starts_with("redirect_uris: "), "{}", e.message);
        }
        assert!(RedirectUri::parse("HTTPS://Site.example/cb").is_ok());
        assert!(RedirectUri::parse("https://[::1]:8443/cb").is_ok());
    }

    #[test]
    fn display_text_refuses_controls_and_bidi_overrides_saying_so() {
        assert_eq!(
            DisplayText::parse("display_name", "  Ada  ", 64)
                .unwrap()
                .as_str(),
            "Ada"
        );
        for bad in [
            "a\u{0007}b",
            "evil\u{202E}gpj.exe",
            "x\u{2066}y",
            "tab\there",
        ] {
            let e = DisplayText::parse("display_name", bad, 64).expect_err(bad);
            assert!(e.message.contains("control characters"), "{}", e.message);
        }
        let e = DisplayText::parse("name", &"x".repeat(65), 64).unwrap_err();
        assert!(e.message.contains("1 to 64"), "{}", e.message);
        assert!(DisplayText::parse("name", "   ", 64).is_err());
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
    fn the_site_url_is_the_origin_of_the_redirect_uri_and_nothing_more() {
        for (uri, site) in [
            ("https://site.example/cb?x=1", "https://site.example/"),
            (
                "https://site.example:8443/a/b/cb",
                "https://site.example:8443/",
            ),
            ("https://site.example:443/cb", "https://site.example/"),
            ("http://localhost:8081/callback", "http://localhost:8081/"),
            ("http://127.0.0.1/cb", "http://127.0.0.1/"),
        ] {
            assert_eq!(RedirectUri::parse(uri).unwrap().site_url(), site, "{uri}");
        }
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
        // Read as the URL standard reads hosts: these are IPv4 addresses.
        for ip in [
            "0x7f.1",
            "0177.0.0.1",
            "2130706433",
            "127.1",
            "1.2.3.4.5",
            "1..2",
            "[::1]",
        ] {
            assert!(RpId::parse("rp_id", ip).is_err(), "{ip}");
        }
        assert!(RpId::parse("rp_id", "*.example.com").is_err());
        for not_a_host in [
            "",
            ".",
            "a@b.example",
            "a\\b.example",
            "a/b",
            "example.com:443",
        ] {
            assert!(RpId::parse("rp_id", not_a_host).is_err(), "{not_a_host:?}");
        }
        assert_eq!(
            RpId::parse("rp_id", "bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        let rp = RpId::parse("rp_id", "example.com").unwrap();
        assert!(rp.covers_host("login.example.com"));
        assert!(rp.covers_host("example.com"));
        assert!(!rp.covers_host("evilexample.com"));
    }
}
