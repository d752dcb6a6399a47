//! The contract's error codes: the `error` member of every refusal, in the ceremony
//! API's `{"error", "message"}`, the back channel's `{"error", "error_description"}`
//! and the `error` parameter of a redirect to the site.

use serde::{Deserialize, Serialize};

/// An `error` code of the contract. Serialised in snake case, exactly as
/// [`ErrorCode::as_str`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    // OAuth 2.0 and OpenID Connect (PROTOCOL §2 redirects, §4 back channel).
    /// A parameter or body member is missing or malformed (400).
    InvalidRequest,
    /// The client is unknown or failed to authenticate (401, RFC 6749 §5.2).
    InvalidClient,
    /// The code is unknown, used, expired or revoked, or does not match the verifier,
    /// client or redirect URI (400, RFC 6749 §5.2).
    InvalidGrant,
    /// Only `authorization_code` is offered (400, RFC 6749 §5.2).
    UnsupportedGrantType,
    /// Too many failed redeems from this client or for this tenant (429).
    SlowDown,
    /// The access token is unknown, expired or its account deleted (401, RFC 6750 §3.1).
    InvalidToken,
    /// `prompt=none` without a way to sign in silently (OpenID Connect Core §3.1.2.6).
    LoginRequired,
    /// A `request` object, which the broker does not accept (OpenID Connect Core §6).
    RequestNotSupported,
    /// A `request_uri`, which the broker does not accept (OpenID Connect Core §6).
    RequestUriNotSupported,
    /// Something failed on the broker's side (500).
    ServerError,
    /// The broker is overloaded or its database unreachable (503).
    TemporarilyUnavailable,

    // The ceremony API (PROTOCOL §2) and the recovery journey (E4).
    /// No such flow (404).
    FlowNotFound,
    /// The flow expired or already issued its code (410).
    FlowExpired,
    /// The flow cookie is missing or another browser's (403).
    FlowBindingMismatch,
    /// The ceremony's challenge was used, replaced or expired (410).
    ChallengeExpired,
    /// No account of this tenant holds the passkey (404).
    UnknownCredential,
    /// The ceremony did not verify (400).
    VerificationFailed,
    /// User verification is required and was not performed (400).
    UserVerificationRequired,
    /// The request body is larger than allowed (413).
    PayloadTooLarge,
    /// Too many requests or attempts; `Retry-After` says when to try again (429).
    RateLimited,
    /// The request took longer than the broker allows (408).
    RequestTimeout,
    /// A ceremony call that did not come from the hosted page itself (403).
    CrossSiteRequest,
    /// The tenant creates accounts only from an invitation (403).
    RegistrationClosed,
    /// The recovery link is unknown, used, expired or another flow's (410).
    RecoveryLinkExpired,
    /// The tenant does not offer recovery by email (403).
    RecoveryUnavailable,
    /// The tenant's passkey policy does not accept this authenticator model: it is on
    /// the deny list, or not on the allow list (400).
    AuthenticatorNotAllowed,
    /// The tenant accepts device-bound passkeys only (400).
    SyncedPasskeyNotAllowed,
    /// The tenant requires attestation the broker could verify (400).
    AttestationNotVerified,

    // The admin API and the dashboard (PROTOCOL §7).
    /// No valid admin token or dashboard session (401).
    Unauthorized,
    /// No such resource (404).
    NotFound,
    /// The change conflicts with what exists, e.g. a duplicate `client_id` (409).
    Conflict,
    /// A value failed validation; the answer's `field` names it (422).
    InvalidField,
    /// A dashboard change without its CSRF token, or from another site (403).
    CsrfFailed,

    // The account page (PROTOCOL §9).
    /// A request from another site (403).
    CrossSite,
    /// No account session, or it ended (401).
    AccountSessionRequired,
    /// The account session's sign-in is too old for this change (401).
    ReauthenticationRequired,
    /// The account's only passkey cannot be removed (409).
    LastPasskey,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnsupportedGrantType,
        Self::SlowDown,
        Self::InvalidToken,
        Self::LoginRequired,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::FlowNotFound,
        Self::FlowExpired,
        Self::FlowBindingMismatch,
        Self::ChallengeExpired,
        Self::UnknownCredential,
        Self::VerificationFailed,
        Self::UserVerificationRequired,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::RequestTimeout,
        Self::CrossSiteRequest,
        Self::RegistrationClosed,
        Self::RecoveryLinkExpired,
        Self::RecoveryUnavailable,
        Self::AuthenticatorNotAllowed,
        Self::SyncedPasskeyNotAllowed,
        Self::AttestationNotVerified,
        Self::Unauthorized,
        Self::NotFound,
        Self::Conflict,
        Self::InvalidField,
        Self::CsrfFailed,
        Self::CrossSite,
        Self::AccountSessionRequired,
        Self::ReauthenticationRequired,
        Self::LastPasskey,
    ];

    /// The code as the contract spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::SlowDown => "slow_down",
            Self::InvalidToken => "invalid_token",
            Self::LoginRequired => "login_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::FlowNotFound => "flow_not_found",
            Self::FlowExpired => "flow_expired",
            Self::FlowBindingMismatch => "flow_binding_mismatch",
            Self::ChallengeExpired => "challenge_expired",
            Self::UnknownCredential => "unknown_credential",
            Self::VerificationFailed => "verification_failed",
            Self::UserVerificationRequired => "user_verification_required",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::RequestTimeout => "request_timeout",
            Self::CrossSiteRequest => "cross_site_request",
            Self::RegistrationClosed => "registration_closed",
            Self::RecoveryLinkExpired => "recovery_link_expired",
            Self::RecoveryUnavailable => "recovery_unavailable",
            Self::AuthenticatorNotAllowed => "authenticator_not_allowed",
            Self::SyncedPasskeyNotAllowed => "synced_passkey_not_allowed",
            Self::AttestationNotVerified => "attestation_not_verified",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidField => "invalid_field",
            Self::CsrfFailed => "csrf_failed",
            Self::CrossSite => "cross_site",
            Self::AccountSessionRequired => "account_session_required",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::LastPasskey => "last_passkey",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is none of the contract's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorCode(pub String);

impl std::fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not an error code of the contract", self.0)
    }
}

impl std::error::Error for UnknownErrorCode {}

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn serde_and_as_str_spell_every_code_alike_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        assert!("no_such_code".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn the_codes_of_the_admin_api_and_the_account_page_are_known() {
        for name in [
            "account_session_required",
            "reauthentication_required",
            "cross_site",
            "last_passkey",
            "not_found",
            "invalid_field",
            "conflict",
        ] {
            let code: ErrorCode = serde_json::from_value(name.into()).unwrap();
            assert_eq!(name.parse::<ErrorCode>(), Ok(code));
        }
    }
}
