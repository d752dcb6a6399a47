//! Errors of the SDK, split by where they come from: the broker's answer, the network,
//! the callback, the id_token, or the re-verification of the passkey signature.

use crate::verify::VerifyError;

/// Everything that can go wrong while signing someone in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker refused with an OAuth error (RFC 6749 §5.2), e.g. `invalid_grant`.
    #[error("the broker refused: {error}: {description}")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// The broker's description.
        description: String,
    },
    /// The broker could not be reached, or answered something that is not the contract.
    #[error("transport: {0}")]
    Transport(String),
    /// The discovery document is unusable (e.g. its issuer is not the configured one).
    #[error("discovery: {0}")]
    Discovery(String),
    /// The callback is not one this site's login started (state, iss, missing code), or
    /// carries the broker's error.
    #[error("callback: {0}")]
    Callback(String),
    /// The id_token does not validate (signature, iss, aud, exp, nonce, sub).
    #[error("id_token: {0}")]
    IdToken(String),
    /// The passkey signature material does not prove this sign-in (PROTOCOL §5).
    #[error("re-verification failed: {0}")]
    Verification(#[from] VerifyError),
}

impl From<reqwest::Error> for Error {
    /// Keeps the whole chain of causes (reqwest's own message rarely says why).
    fn from(e: reqwest::Error) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(message)
    }
}
