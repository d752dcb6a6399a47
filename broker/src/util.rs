//! Small shared helpers: base64url, hashing, random tokens, secrets and time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

/// Encodes bytes as base64url without padding (RFC 4648 §5).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// A long identifier (a passkey's credential id, a user id) as every page shows it: its
/// first 10 characters and "…" (the page puts the whole of it in `title`).
pub fn short_id(id: &str) -> String {
    const SHOWN: usize = 10;
    if id.chars().count() > SHOWN + 2 {
        format!("{}…", id.chars().take(SHOWN).collect::<String>())
    } else {
        id.to_owned()
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// base64url(SHA-256(data)): how codes, tokens and secrets are stored.
pub fn sha256_b64(data: impl AsRef<[u8]>) -> String {
    b64(sha256(data))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` bytes from the operating system's CSPRNG, base64url encoded.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rng().fill_bytes(&mut buf);
    let out = b64(&buf);
    buf.zeroize();
    out
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Seconds since the UNIX epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 form of UNIX seconds, in UTC.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The UTC date of UNIX seconds, `YYYY-MM-DD` (formatted, not cut out of RFC 3339).
pub fn date(secs: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// UTC date and minute of UNIX seconds as people read them: `YYYY-MM-DD HH:MM UTC`
/// (formatted, not cut out of RFC 3339); empty for a time out of range.
pub fn date_time_utc(secs: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// A secret string: its `Debug` and `Display` never print it, and it is zeroized on drop.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value; call sites that use this are the ones to review.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented value.
    pub fn matches(&self, presented: &str) -> bool {
        ct_eq(&sha256(self.0.as_bytes()), &sha256(presented.as_bytes()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter3"));
        assert!(!s.matches(""));
    }

    #[test]
    fn random_tokens_have_the_requested_entropy_and_differ() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(unb64(&a).map(|v| v.len()), Some(32));
        assert_ne!(a, b);
    }

    #[test]
    fn constant_time_equality_handles_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_764_633_599), "2025-12-01");
        assert_eq!(date(1_764_633_600), "2025-12-02");
    }

    #[test]
    fn date_times_are_utc_minutes() {
        assert_eq!(date_time_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time_utc(1_764_633_599), "2025-12-01 23:59 UTC");
        assert_eq!(date_time_utc(1_764_064_560), "2025-11-25 09:56 UTC");
        assert_eq!(date_time_utc(i64::MAX), "");
    }
}
