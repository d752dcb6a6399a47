//! The sign-in's one error type. Every refusal of a sign-in step is a variant here, and
//! this file is the one place that turns it into the contract's status and `error` code:
//! the ceremony API's `{"error", "message"}` (PROTOCOL §2, E4) and the back channel's
//! `{"error", "error_description"}` (§4, RFC 6749 §5.2). Handlers never spell a code.

use actix_web::http::StatusCode;
use sea_orm::DbErr;

use crate::errors::{ApiError, ErrorCode, OAuthError};
use crate::policy::Refusal;

/// Why a step of the sign-in was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// No such flow, or it was removed (`404 flow_not_found`).
    #[error("flow not found")]
    FlowNotFound,
    /// The flow's 10 minutes are over (`410 flow_expired`).
    #[error("flow expired")]
    FlowExpired,
    /// The flow already issued its code (`410 flow_expired` with `"finished": true`, so
    /// that the page can say the sign-in is done rather than timed out).
    #[error("flow finished")]
    FlowFinished,
    /// The flow cookie is missing or is another browser's (`403 flow_binding_mismatch`).
    #[error("flow bound to another browser")]
    FlowBindingMismatch,
    /// No outstanding challenge of this ceremony: used, replaced or expired
    /// (`410 challenge_expired`).
    #[error("challenge expired")]
    ChallengeExpired,
    /// The flow's ceremony attempts are spent (`429 rate_limited`).
    #[error("too many attempts in this flow")]
    TooManyAttempts {
        /// Seconds until the quota's window ends.
        retry_after: u64,
    },
    /// The flow's recovery requests are spent (`429 rate_limited`, PROTOCOL E4).
    #[error("too many recovery requests in this flow")]
    TooManyRecoveryRequests {
        /// Seconds until the quota's window ends.
        retry_after: u64,
    },
    /// No account of this tenant holds the passkey (`404 unknown_credential`). With its
    /// id when no tenant under the RP ID holds it either, so the page can tell the
    /// authenticator to forget it; without, when another tenant accepts it.
    #[error("unknown credential")]
    UnknownCredential {
        /// The credential id to signal, or `None` for a passkey of another site.
        credential_id: Option<String>,
    },
    /// The ceremony did not verify (`400 verification_failed`).
    #[error("verification failed")]
    VerificationFailed,
    /// UV is required and was not performed (`400 user_verification_required`).
    #[error("user verification required")]
    UserVerificationRequired,
    /// The tenant's passkey policy refused the authenticator (E1 codes).
    #[error("refused by the passkey policy: {}", refusal.reason())]
    Policy {
        /// What the policy refused.
        refusal: Refusal,
        /// The tenant's name, for the message.
        site: String,
        /// The new passkey to forget (registration), if any.
        credential_id: Option<String>,
    },
    /// A field of the ceremony body is wrong (`400 invalid_request` naming it).
    #[error("{field}: {message}")]
    InvalidField {
        /// The body's field.
        field: &'static str,
        /// For the person.
        message: &'static str,
    },
    /// A site-mode tenant's `/.well-known/webauthn` does not list the broker yet
    /// (`400 invalid_request` with `rp_id`); the cause is for the log and the admin.
    #[error("{rp_id} has not listed the broker")]
    SiteNotReady {
        /// The tenant's RP ID.
        rp_id: String,
    },
    /// The dashboard's tenant creates admins only from an invitation
    /// (`403 registration_closed`).
    #[error("registration closed")]
    RegistrationClosed,
    /// The recovery link is unknown, used, expired or not this flow's
    /// (`410 recovery_link_expired`, E4).
    #[error("recovery link expired")]
    RecoveryLinkExpired,
    /// The tenant does not offer recovery by email (`403 recovery_unavailable`, E4).
    #[error("recovery unavailable")]
    RecoveryUnavailable,
    /// No account session, or it ended (`401 account_session_required`, PROTOCOL §9).
    #[error("account session required")]
    AccountSessionRequired,
    /// Adding a passkey needs a fresher sign-in (`401 reauthentication_required`, §9).
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// The account's only passkey cannot be removed (`409 last_passkey`, §9).
    #[error("last passkey")]
    LastPasskey,
    /// The account has no such passkey: another account's or tenant's, or none
    /// (`404 not_found`, §9).
    #[error("passkey not found")]
    PasskeyNotFound,
    /// A passkey's name is empty, too long or holds control characters
    /// (`422 invalid_field` with `field: name`, §9).
    #[error("name: {0}")]
    InvalidName(&'static str),
    /// A required parameter is missing or malformed (`400 invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// The client is unknown or failed to authenticate (`401 invalid_client`).
    #[error("{0}")]
    InvalidClient(&'static str),
    /// The code cannot be redeemed by this request (`400 invalid_grant`): unknown, used,
    /// expired or revoked, issued to another client or redirect URI, or a verifier that
    /// does not match.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// Only `authorization_code` is offered (`400 unsupported_grant_type`).
    #[error("only authorization_code is supported")]
    UnsupportedGrantType,
    /// Too many failures from this client or for this tenant (`429 slow_down`).
    #[error("too many requests; retry after {0} seconds")]
    SlowDown(u64),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// Something that should not happen (logged, never shown).
    #[error("{0}")]
    Internal(String),
}

impl SignInError {
    /// The contract's `error` code, as metrics and the audit log record outcomes.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::FlowNotFound => ErrorCode::FlowNotFound,
            Self::FlowExpired | Self::FlowFinished => ErrorCode::FlowExpired,
            Self::FlowBindingMismatch => ErrorCode::FlowBindingMismatch,
            Self::ChallengeExpired => ErrorCode::ChallengeExpired,
            Self::TooManyAttempts { .. } | Self::TooManyRecoveryRequests { .. } => {
                ErrorCode::RateLimited
            }
            Self::UnknownCredential { .. } => ErrorCode::UnknownCredential,
            Self::VerificationFailed => ErrorCode::VerificationFailed,
            Self::UserVerificationRequired => ErrorCode::UserVerificationRequired,
            Self::Policy { refusal, .. } => refusal.code(),
            Self::InvalidField { .. } | Self::SiteNotReady { .. } => ErrorCode::InvalidRequest,
            Self::RegistrationClosed => ErrorCode::RegistrationClosed,
            Self::RecoveryLinkExpired => ErrorCode::RecoveryLinkExpired,
            Self::RecoveryUnavailable => ErrorCode::RecoveryUnavailable,
            Self::AccountSessionRequired => ErrorCode::AccountSessionRequired,
            Self::ReauthenticationRequired => ErrorCode::ReauthenticationRequired,
            Self::LastPasskey => ErrorCode::LastPasskey,
            Self::PasskeyNotFound => ErrorCode::NotFound,
            Self::InvalidName(_) => ErrorCode::InvalidField,
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::InvalidClient(_) => ErrorCode::InvalidClient,
            Self::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Self::UnsupportedGrantType => ErrorCode::UnsupportedGrantType,
            Self::SlowDown(_) => ErrorCode::SlowDown,
            Self::Db(_) | Self::Internal(_) => ErrorCode::ServerError,
        }
    }
}

impl From<SignInError> for OAuthError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::InvalidRequest(d) => OAuthError::invalid_request(d),
            SignInError::InvalidClient(d) => OAuthError::invalid_client(d),
            SignInError::InvalidGrant(d) => OAuthError::invalid_grant(d),
            SignInError::UnsupportedGrantType => OAuthError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType,
                "only authorization_code is supported",
            ),
            SignInError::SlowDown(wait) => OAuthError::slow_down(wait),
            SignInError::Db(db) => db.into(),
            // The ceremony steps never run behind the back channel.
            other @ (SignInError::FlowNotFound
            | SignInError::FlowExpired
            | SignInError::FlowFinished
            | SignInError::FlowBindingMismatch
            | SignInError::ChallengeExpired
            | SignInError::TooManyAttempts { .. }
            | SignInError::TooManyRecoveryRequests { .. }
            | SignInError::UnknownCredential { .. }
            | SignInError::VerificationFailed
            | SignInError::UserVerificationRequired
            | SignInError::Policy { .. }
            | SignInError::InvalidField { .. }
            | SignInError::SiteNotReady { .. }
            | SignInError::RegistrationClosed
            | SignInError::RecoveryLinkExpired
            | SignInError::RecoveryUnavailable
            | SignInError::AccountSessionRequired
            | SignInError::ReauthenticationRequired
            | SignInError::LastPasskey
            | SignInError::PasskeyNotFound
            | SignInError::InvalidName(_)) => OAuthError::invalid_request(other.to_string()),
            SignInError::Internal(cause) => {
                tracing::error!(error = %cause, "sign-in failed");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::ServerError,
                    "internal error",
                )
            }
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        let status = match &e {
            SignInError::FlowNotFound
            | SignInError::UnknownCredential { .. }
            | SignInError::PasskeyNotFound => StatusCode::NOT_FOUND,
            SignInError::FlowExpired
            | SignInError::FlowFinished
            | SignInError::ChallengeExpired
            | SignInError::RecoveryLinkExpired => StatusCode::GONE,
            SignInError::FlowBindingMismatch
            | SignInError::RegistrationClosed
            | SignInError::RecoveryUnavailable => StatusCode::FORBIDDEN,
            SignInError::InvalidClient(_)
            | SignInError::AccountSessionRequired
            | SignInError::ReauthenticationRequired => StatusCode::UNAUTHORIZED,
            SignInError::LastPasskey => StatusCode::CONFLICT,
            SignInError::InvalidName(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        let code = e.code();
        match e {
            SignInError::FlowNotFound => ApiError::new(
                status,
                code,
                "This sign-in page has expired or does not exist. Go back to the site and start again.",
            ),
            SignInError::FlowExpired => ApiError::new(
                status,
                code,
                "This sign-in page has expired. Go back to the site and start again.",
            ),
            SignInError::FlowFinished => ApiError::new(
                status,
                code,
                "This sign-in is already finished. To sign in again, start from the site.",
            )
            .with("finished", true),
            SignInError::FlowBindingMismatch => ApiError::new(
                status,
                code,
                "This sign-in was started in another browser or its cookie is missing. Go back to the site and start again here.",
            ),
            SignInError::ChallengeExpired => ApiError::new(
                status,
                code,
                "This attempt has expired or was already used. Try again.",
            ),
            SignInError::TooManyAttempts { retry_after } => ApiError::rate_limited(retry_after)
                .with_message(
                    "Too many attempts on this sign-in page. Go back to the site and start again.",
                ),
            SignInError::TooManyRecoveryRequests { retry_after } => {
                ApiError::rate_limited(retry_after).with_message(
                    "Too many recovery requests on this sign-in page. Go back to the site and start again.",
                )
            }
            SignInError::UnknownCredential {
                credential_id: Some(id),
            } => ApiError::new(
                status,
                code,
                "This passkey is not registered here. Create a new one or pick another.",
            )
            .with("credential_id", id),
            SignInError::UnknownCredential {
                credential_id: None,
            } => ApiError::new(
                status,
                code,
                "This passkey belongs to another site that uses this sign-in service. Pick another passkey, or create a new one here.",
            )
            .with("reason", "another_site"),
            SignInError::VerificationFailed => ApiError::new(
                status,
                code,
                "This passkey could not be verified. Try again.",
            ),
            SignInError::UserVerificationRequired => ApiError::new(
                status,
                code,
                "Your device did not verify you (PIN, fingerprint or face). Try again and complete the check.",
            ),
            SignInError::Policy {
                refusal,
                site,
                credential_id,
            } => {
                let mut err = ApiError::new(status, code, refusal.message(&site))
                    .with("reason", refusal.reason());
                if let Some(name) = refusal.authenticator() {
                    err = err.with("authenticator", name);
                }
                if let Some(id) = credential_id {
                    // The authenticator keeps a passkey the broker refused: the page
                    // tells it to forget it (signalUnknownCredential).
                    err = err.with("credential_id", id);
                }
                err
            }
            SignInError::InvalidField { field, message } => {
                ApiError::invalid_request(message).with("field", field)
            }
            SignInError::SiteNotReady { rp_id } => ApiError::invalid_request(format!(
                "{rp_id} has not finished setting up passkey sign-in with this service, so its passkeys cannot be used on this page yet. Try again later, or tell the site."
            ))
            .with("rp_id", rp_id),
            SignInError::RegistrationClosed => ApiError::new(
                status,
                code,
                "Admin passkeys are created only from an invitation link. Ask an admin for one; an operator can also make one on the server with the command latchkey admin invite.",
            ),
            SignInError::RecoveryLinkExpired => ApiError::new(
                status,
                code,
                "This recovery link has expired or was already used. Ask for a new one.",
            ),
            SignInError::RecoveryUnavailable => ApiError::new(
                status,
                code,
                "This site does not offer account recovery by email.",
            ),
            SignInError::AccountSessionRequired => ApiError::new(
                status,
                code,
                "Sign in with a passkey to manage the passkeys of your account.",
            ),
            SignInError::ReauthenticationRequired => ApiError::new(
                status,
                code,
                "To add a passkey, confirm it is you with one of your passkeys first.",
            ),
            SignInError::LastPasskey => ApiError::new(
                status,
                code,
                "This is the only passkey of your account: add another one before you remove it, or you could not sign in any more.",
            ),
            SignInError::PasskeyNotFound => ApiError::new(
                status,
                code,
                "Your account has no such passkey.",
            ),
            SignInError::InvalidName(message) => {
                ApiError::new(status, code, message).with("field", "name")
            }
            SignInError::InvalidRequest(message) => ApiError::invalid_request(message),
            SignInError::InvalidClient(message) | SignInError::InvalidGrant(message) => {
                ApiError::new(status, code, message)
            }
            SignInError::UnsupportedGrantType => ApiError::new(
                status,
                code,
                "only authorization_code is supported",
            ),
            SignInError::SlowDown(wait) => ApiError::rate_limited(wait),
            SignInError::Db(db) => db.into(),
            SignInError::Internal(cause) => ApiError::internal(cause),
        }
    }
}
