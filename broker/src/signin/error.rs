//! The sign-in's one error type. Every refusal of the back channel is a variant here,
//! and this file is the one place that turns it into the contract's status and `error`
//! code (PROTOCOL §4, RFC 6749 §5.2): handlers never spell a code.

use actix_web::http::StatusCode;
use sea_orm::DbErr;

use crate::errors::OAuthError;

/// Why a step of the sign-in was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
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
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::SlowDown(_) => "slow_down",
            Self::Db(_) | Self::Internal(_) => "server_error",
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
                "unsupported_grant_type",
                "only authorization_code is supported",
            ),
            SignInError::SlowDown(wait) => OAuthError::slow_down(wait),
            SignInError::Db(db) => db.into(),
            SignInError::Internal(cause) => {
                tracing::error!(error = %cause, "sign-in failed");
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        }
    }
}
