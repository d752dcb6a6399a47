//! Errors of the SDK, split by where they come from: the broker's answer, the network,
//! the callback, the id_token, or the re-verification of the passkey signature. The
//! bottom of the crate: it imports no other module of it.

use latchkey_proto::ErrorCode;

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

impl Error {
    /// The broker's error code when it refused with one of the contract's codes
    /// ([`Error::OAuth`]); `None` for every other failure, or a code this SDK does not
    /// know.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::OAuth { error, .. } => error.parse().ok(),
            _ => None,
        }
    }
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

/// The step of re-verification (`verify::verify`, PROTOCOL §5) that failed. Its message
/// names what did not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The answer lacks a field, or one is not valid base64url, JSON or CBOR.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// `signed_message` is not canonical JSON, or a member is not what the site expects.
    #[error("signed message: {0}")]
    SignedMessage(String),
    /// A `sign_in` member disagrees with the site's expectation or with the signed message.
    #[error("sign_in: {0}")]
    SignIn(String),
    /// The client data challenge is not base64url(SHA-256(signed_message)).
    #[error("client data challenge is not SHA-256 of the signed message")]
    Challenge,
    /// The client data `type` does not match the ceremony.
    #[error("client data type does not match the ceremony")]
    ClientDataType,
    /// The client data origin (given) is not an expected one.
    #[error("unexpected origin {0}")]
    Origin(String),
    /// The authenticator data does not start with SHA-256(rp_id).
    #[error("authenticator data RP ID hash is not SHA-256 of the RP ID")]
    RpIdHash,
    /// The UP flag is clear.
    #[error("user presence flag clear")]
    UserPresence,
    /// The UV flag is clear although user verification is required.
    #[error("user verification flag clear but required")]
    UserVerification,
    /// The assertion signature does not verify with `sign_in.public_key`.
    #[error("assertion signature does not verify")]
    Signature,
    /// `sign_in.public_key` is not an ES256 P-256 COSE key, or differs from the attested one.
    #[error("public key is not the attested ES256 key")]
    PublicKey,
    /// The attested credential id differs from `sign_in.credential_id`.
    #[error("credential id is not the attested one")]
    CredentialId,
    /// `sign_in.passkey_id` is not hex(SHA-256(public_key)).
    #[error("passkey_id is not hex SHA-256 of the public key")]
    PasskeyId,
    /// The assertion's user handle differs from `sign_in.user_id`.
    #[error("user handle is not sign_in.user_id")]
    UserHandle,
}
