//! Latchkey's wire types: what the broker writes and a site reads on the back channel
//! (PROTOCOL §4, §5) and the contract's error codes (§2, §4, §7, §9).
//!
//! The broker serialises these types, the client SDK (`latchkey-client`, which
//! re-exports them) deserialises them, and the end-to-end suites check the broker's
//! answers against them, so the three cannot drift apart. Members are declared in the
//! order they appear on the wire (alphabetical); nullable members are written as `null`,
//! never left out.

use serde::{Deserialize, Serialize};

mod error_code;

pub use error_code::{ErrorCode, UnknownErrorCode};

/// The `sign_in` member of a redeem answer (PROTOCOL §4): who signed in, with which
/// passkey, and what the authenticator reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// The authenticator model's AAGUID (`00000000-0000-0000-0000-000000000000` when the
    /// authenticator does not say).
    pub aaguid: String,
    /// When the ceremony completed, RFC 3339 in UTC.
    pub authenticated_at: String,
    /// The BS flag: the passkey is synced.
    pub backed_up: bool,
    /// The BE flag: the passkey can be synced.
    pub backup_eligible: bool,
    /// The site's `client_id`.
    pub client_id: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// The email given when the account was created, if any.
    pub email: Option<String>,
    /// Whether that email was verified (PROTOCOL E4); `false` without an email.
    pub email_verified: bool,
    /// The broker's flow id: the `flow` of the signed message (PROTOCOL §5).
    pub flow_id: String,
    /// The passkey was created by this sign-in.
    pub new_credential: bool,
    /// The account was created by this sign-in.
    pub new_user: bool,
    /// Lower-case hex SHA-256 of the COSE public key.
    pub passkey_id: String,
    /// The COSE public key, base64url.
    pub public_key: String,
    /// The COSE algorithm of that key (`-7`: ES256).
    pub public_key_alg: i64,
    /// The RP ID the passkey is scoped to.
    pub rp_id: String,
    /// The subject: the account's stable id at this site (equal to `user_id`).
    pub sub: String,
    /// The WebAuthn user handle, base64url: the `user.id` of the creation options.
    pub user_id: String,
    /// The UV flag: the authenticator verified the person (PIN, biometrics).
    pub user_verified: bool,
}

/// The WebAuthn ceremony a sign-in ran: the `ceremony` member of [`Material`], and the
/// client data `type` it must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ceremony {
    /// An assertion with an existing passkey (`navigator.credentials.get`).
    #[serde(rename = "webauthn.get")]
    Get,
    /// The creation of a passkey, and of its account (`navigator.credentials.create`).
    #[serde(rename = "webauthn.create")]
    Create,
}

impl Ceremony {
    /// The contract's spelling, which is also the client data `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "webauthn.get",
            Self::Create => "webauthn.create",
        }
    }
}

/// The `verify` member of a redeem answer (PROTOCOL §4, §5): the signed WebAuthn
/// material from which a site re-checks the sign-in without trusting the broker.
/// Binary members are base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    /// The attestation object, for `webauthn.create`; `null` for an assertion.
    pub attestation_object: Option<String>,
    /// The authenticator data (for a creation, the attestation's `authData`).
    pub authenticator_data: Option<String>,
    /// Which ceremony produced the material.
    pub ceremony: Ceremony,
    /// The authenticator's `clientDataJSON`.
    pub client_data_json: String,
    /// The assertion signature (DER), for `webauthn.get`; `null` for a creation.
    pub signature: Option<String>,
    /// The canonical JSON whose SHA-256 was the WebAuthn challenge (PROTOCOL §5).
    pub signed_message: String,
    /// The assertion's user handle when the authenticator returned one; for a creation,
    /// the new account's user handle.
    pub user_handle: Option<String>,
}

/// The `200` answer of `POST /api/v1/sign-ins/redeem` (PROTOCOL §4). Its `Debug` leaves
/// out the id_token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// The ES256 id_token (a JWT) of the sign-in.
    pub id_token: String,
    /// The sign-in as the broker states it.
    pub sign_in: SignIn,
    /// The signed material to re-verify it with (PROTOCOL §5).
    pub verify: Material,
}

impl std::fmt::Debug for Redemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redemption")
            .field("sign_in", &self.sign_in)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn sign_in() -> SignIn {
        SignIn {
            aaguid: "00000000-0000-0000-0000-000000000000".into(),
            authenticated_at: "2026-01-01T00:00:00Z".into(),
            backed_up: true,
            backup_eligible: true,
            client_id: "shop".into(),
            credential_id: "Y3JlZA".into(),
            email: None,
            email_verified: false,
            flow_id: "Zmxvdw".into(),
            new_credential: false,
            new_user: false,
            passkey_id: "ab".repeat(32),
            public_key: "cGs".into(),
            public_key_alg: -7,
            rp_id: "localhost".into(),
            sub: "dXNlcg".into(),
            user_id: "dXNlcg".into(),
            user_verified: true,
        }
    }

    #[test]
    fn a_redemption_is_written_with_sorted_members_and_explicit_nulls() {
        let answer = Redemption {
            id_token: "a.b.c".into(),
            sign_in: sign_in(),
            verify: Material {
                attestation_object: None,
                authenticator_data: Some("YWQ".into()),
                ceremony: Ceremony::Get,
                client_data_json: "Y2Q".into(),
                signature: Some("c2ln".into()),
                signed_message: "{}".into(),
                user_handle: None,
            },
        };
        let text = serde_json::to_string(&answer).unwrap();
        // What `serde_json::json!` writes for the same object: members sorted.
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text, value.to_string());
        assert!(text.contains(r#""email":null"#), "{text}");
        assert!(text.contains(r#""ceremony":"webauthn.get""#), "{text}");
        assert_eq!(serde_json::from_str::<Redemption>(&text).unwrap(), answer);
        assert!(!format!("{answer:?}").contains("a.b.c"));
    }

    #[test]
    fn ceremonies_are_spelled_as_client_data_types() {
        for c in [Ceremony::Get, Ceremony::Create] {
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::from(c.as_str())
            );
        }
    }
}
