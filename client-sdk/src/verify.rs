//! Re-verification of a sign-in (PROTOCOL §5): a site checks, without trusting the
//! broker's word, that the person's authenticator signed over the site's own PKCE
//! `code_challenge`. Built from the contract on well-kept crates: `p256` (ECDSA P-256
//! verification of DER signatures), `sha2`, `ciborium` (CBOR: COSE keys, attestation
//! objects) and `serde_json`; no cryptography is hand-rolled.
//!
//! [`Client::check`](crate::Client::check) calls [`verify`] for every sign-in unless
//! re-verification is turned off; call it yourself to re-check stored material.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use crate::error::VerifyError;
use latchkey_proto::SignIn;
pub use latchkey_proto::{Ceremony, Material};

/// Authenticator data flag: user present.
const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified.
const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: attested credential data included.
const FLAG_AT: u8 = 0x40;
/// rpIdHash (32) + flags (1) + signCount (4).
const AUTH_DATA_MIN: usize = 37;
/// How far (seconds) a signed message's `iat` may lie in the future (clock skew).
const CLOCK_SKEW_SECS: i64 = 60;

/// What the site expects of a sign-in: its own values, never the broker's.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The PKCE `code_challenge` the site sent to `/authorize`.
    pub code_challenge: &'a str,
    /// The site's `client_id` (the signed message's `aud`).
    pub client_id: &'a str,
    /// The RP ID the passkey is scoped to.
    pub rp_id: &'a str,
    /// The broker's issuer URL.
    pub issuer: &'a str,
    /// Origins allowed in the client data (the broker's, and related origins).
    pub origins: &'a [&'a str],
    /// Whether the UV flag must be set.
    pub user_verification_required: bool,
    /// How old (seconds) the signed message's `iat` may be.
    pub max_age_secs: i64,
}

fn malformed(what: impl Into<String>) -> VerifyError {
    VerifyError::Malformed(what.into())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url member (unpadded, as the contract writes it).
fn decode(name: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| malformed(format!("{name} is not base64url")))
}

fn required<'a>(name: &str, value: Option<&'a String>) -> Result<&'a str, VerifyError> {
    value
        .map(String::as_str)
        .ok_or_else(|| malformed(format!("{name} is missing")))
}

/// Canonical JSON: object members sorted by key (UTF-8 byte order), no whitespace: the
/// form of the signed message. Written out so that it does not depend on whether
/// `serde_json` keeps insertion order (its `preserve_order` feature).
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        scalar => scalar.to_string(),
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The signed message (PROTOCOL §5), whose SHA-256 is the WebAuthn challenge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedMessage {
    aud: String,
    code_challenge: String,
    flow: String,
    iat: i64,
    iss: String,
    nonce: String,
    rp_id: String,
}

impl SignedMessage {
    /// Parses `signed`, which must be exactly the canonical form of a message.
    fn parse(signed: &str) -> Result<Self, VerifyError> {
        let value: Value = serde_json::from_str(signed)
            .map_err(|e| VerifyError::SignedMessage(format!("not JSON: {e}")))?;
        if !value.is_object() || canonical(&value) != signed {
            return Err(VerifyError::SignedMessage(
                "not a canonical JSON object".into(),
            ));
        }
        serde_json::from_value(value).map_err(|e| VerifyError::SignedMessage(e.to_string()))
    }

    /// Step 1: the message is the site's own, and recent.
    fn check(&self, expected: &Expected, now: i64) -> Result<(), VerifyError> {
        for (key, got, want) in [
            (
                "code_challenge",
                &self.code_challenge,
                expected.code_challenge,
            ),
            ("aud", &self.aud, expected.client_id),
            ("rp_id", &self.rp_id, expected.rp_id),
            ("iss", &self.iss, expected.issuer),
        ] {
            if got != want {
                return Err(VerifyError::SignedMessage(format!(
                    "{key} is {got:?}, expected {want:?}"
                )));
            }
        }
        if self.iat > now.saturating_add(CLOCK_SKEW_SECS)
            || now.saturating_sub(self.iat) > expected.max_age_secs
        {
            return Err(VerifyError::SignedMessage(format!(
                "iat {} is not recent (now {now}, at most {} s old)",
                self.iat, expected.max_age_secs
            )));
        }
        if self.nonce.is_empty() || self.flow.is_empty() {
            return Err(VerifyError::SignedMessage("empty nonce or flow".into()));
        }
        Ok(())
    }
}

/// The members of `clientDataJSON` that re-verification reads.
#[derive(Debug, Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
}

/// Parsed authenticator data (WebAuthn §6.1).
struct AuthenticatorData<'a> {
    bytes: &'a [u8],
}

impl<'a> AuthenticatorData<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, VerifyError> {
        if bytes.len() < AUTH_DATA_MIN {
            return Err(malformed(format!(
                "authenticator data is {} bytes, shorter than {AUTH_DATA_MIN}",
                bytes.len()
            )));
        }
        Ok(Self { bytes })
    }

    fn rp_id_hash(&self) -> &[u8] {
        &self.bytes[..32]
    }

    fn flags(&self) -> u8 {
        self.bytes[32]
    }

    /// The attested credential id and the exact bytes of its COSE public key.
    fn attested_credential(&self) -> Result<(&'a [u8], &'a [u8]), VerifyError> {
        if self.flags() & FLAG_AT == 0 {
            return Err(malformed("no attested credential data (AT flag clear)"));
        }
        let short = || malformed("authenticator data too short for attested credential data");
        // rpIdHash 32, flags 1, signCount 4, aaguid 16, credentialIdLength 2.
        let len = self.bytes.get(53..55).ok_or_else(short)?;
        let id_end = 55 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        let id = self.bytes.get(55..id_end).ok_or_else(short)?;
        let key_and_rest = self.bytes.get(id_end..).ok_or_else(short)?;
        let mut reader = key_and_rest;
        let _: Cbor = ciborium::from_reader(&mut reader)
            .map_err(|_| malformed("attested credential public key is not CBOR"))?;
        let key_len = key_and_rest.len() - reader.len();
        Ok((id, &key_and_rest[..key_len]))
    }
}

/// An ES256 P-256 COSE_Key (kty 2 EC2, alg -7, crv 1 P-256, 32-byte x and y), and
/// nothing after it, as a verifying key.
fn cose_to_key(cose: &[u8]) -> Result<VerifyingKey, VerifyError> {
    let mut rest = cose;
    let value: Cbor = ciborium::from_reader(&mut rest).map_err(|_| VerifyError::PublicKey)?;
    if !rest.is_empty() {
        return Err(VerifyError::PublicKey);
    }
    let map = value.as_map().ok_or(VerifyError::PublicKey)?;
    let get = |label: i128| {
        map.iter()
            .find(|(k, _)| k.as_integer().is_some_and(|i| i128::from(i) == label))
            .map(|(_, v)| v)
    };
    let int = |label| get(label).and_then(Cbor::as_integer).map(i128::from);
    let coordinate = |label| {
        get(label)
            .and_then(Cbor::as_bytes)
            .filter(|b| b.len() == 32)
    };
    if (int(1), int(3), int(-1)) != (Some(2), Some(-7), Some(1)) {
        return Err(VerifyError::PublicKey);
    }
    let (Some(x), Some(y)) = (coordinate(-2), coordinate(-3)) else {
        return Err(VerifyError::PublicKey);
    };
    let point = [&[0x04][..], x, y].concat();
    VerifyingKey::from_sec1_bytes(&point).map_err(|_| VerifyError::PublicKey)
}

/// The `authData` of a CBOR attestation object (`{"fmt", "attStmt", "authData"}`).
fn auth_data_of_attestation(attestation_object: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let value: Cbor = ciborium::from_reader(attestation_object)
        .map_err(|_| malformed("attestation_object is not CBOR"))?;
    value
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("authData")))
        .and_then(|(_, v)| v.as_bytes().cloned())
        .ok_or_else(|| malformed("attestation_object has no authData"))
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Re-verifies a sign-in following PROTOCOL §5:
///
/// 1. `signed_message` is canonical JSON whose `code_challenge`, `aud`, `rp_id` and `iss`
///    are the site's own, with a recent `iat`; the sign-in names the same flow, client
///    and RP ID.
/// 2. The client data's `challenge` is base64url(SHA-256(`signed_message`)), its `type`
///    the ceremony's, its `origin` an expected one.
/// 3. The authenticator data starts with SHA-256(RP ID) and has UP (and UV when
///    required) set.
/// 4. `webauthn.get`: the DER signature verifies over `authenticator_data ‖
///    SHA-256(client_data_json)` with `sign_in.public_key`, and the user handle (if any)
///    is `sign_in.user_id`. `webauthn.create`: the credential public key inside the
///    attestation object is exactly `sign_in.public_key`, for `sign_in.credential_id`.
///
/// `sign_in.passkey_id` must be hex(SHA-256(`public_key`)).
pub fn verify(
    sign_in: &SignIn,
    material: &Material,
    expected: &Expected,
) -> Result<(), VerifyError> {
    verify_at(sign_in, material, expected, unix_now())
}

fn verify_at(
    sign_in: &SignIn,
    material: &Material,
    expected: &Expected,
    now: i64,
) -> Result<(), VerifyError> {
    // 1. The signed message: canonical, the site's own, recent; the sign-in agrees.
    let message = SignedMessage::parse(&material.signed_message)?;
    message.check(expected, now)?;
    if sign_in.flow_id != message.flow {
        return Err(VerifyError::SignIn(format!(
            "flow_id {:?} is not the signed flow {:?}",
            sign_in.flow_id, message.flow
        )));
    }
    for (key, got, want) in [
        ("client_id", &sign_in.client_id, expected.client_id),
        ("rp_id", &sign_in.rp_id, expected.rp_id),
    ] {
        if got != want {
            return Err(VerifyError::SignIn(format!(
                "{key} is {got:?}, expected {want:?}"
            )));
        }
    }

    // 2. The client data commits to the signed message, from an expected origin.
    let client_data_json = decode("client_data_json", &material.client_data_json)?;
    let client_data: ClientData = serde_json::from_slice(&client_data_json)
        .map_err(|e| malformed(format!("client_data_json: {e}")))?;
    if client_data.challenge != b64(&Sha256::digest(material.signed_message.as_bytes())) {
        return Err(VerifyError::Challenge);
    }
    let want_type = match material.ceremony {
        Ceremony::Get => "webauthn.get",
        Ceremony::Create => "webauthn.create",
    };
    if client_data.kind != want_type {
        return Err(VerifyError::ClientDataType);
    }
    if !expected.origins.contains(&client_data.origin.as_str()) {
        return Err(VerifyError::Origin(client_data.origin));
    }

    // 3. The authenticator data: RP ID hash, UP, UV.
    let auth_data_bytes = match material.ceremony {
        Ceremony::Get => decode(
            "authenticator_data",
            required("authenticator_data", material.authenticator_data.as_ref())?,
        )?,
        Ceremony::Create => {
            let attestation = decode(
                "attestation_object",
                required("attestation_object", material.attestation_object.as_ref())?,
            )?;
            let from_attestation = auth_data_of_attestation(&attestation)?;
            if let Some(given) = &material.authenticator_data
                && decode("authenticator_data", given)? != from_attestation
            {
                return Err(malformed(
                    "authenticator_data differs from the attestation's authData",
                ));
            }
            from_attestation
        }
    };
    let auth_data = AuthenticatorData::new(&auth_data_bytes)?;
    if auth_data.rp_id_hash() != &Sha256::digest(expected.rp_id.as_bytes())[..] {
        return Err(VerifyError::RpIdHash);
    }
    if auth_data.flags() & FLAG_UP == 0 {
        return Err(VerifyError::UserPresence);
    }
    if expected.user_verification_required && auth_data.flags() & FLAG_UV == 0 {
        return Err(VerifyError::UserVerification);
    }

    // 4. The key: the signature verifies with it, or it is the attested one.
    let cose = decode("public_key", &sign_in.public_key)?;
    let key = cose_to_key(&cose)?;
    if !sign_in
        .passkey_id
        .eq_ignore_ascii_case(&hex(&Sha256::digest(&cose)))
    {
        return Err(VerifyError::PasskeyId);
    }
    match material.ceremony {
        Ceremony::Create => {
            let (credential_id, attested_key) = auth_data.attested_credential()?;
            if attested_key != cose.as_slice() {
                return Err(VerifyError::PublicKey);
            }
            if credential_id != decode("credential_id", &sign_in.credential_id)? {
                return Err(VerifyError::CredentialId);
            }
        }
        Ceremony::Get => {
            let der = decode(
                "signature",
                required("signature", material.signature.as_ref())?,
            )?;
            let signature = Signature::from_der(&der).map_err(|_| VerifyError::Signature)?;
            let mut signed = auth_data_bytes.clone();
            signed.extend_from_slice(&Sha256::digest(&client_data_json));
            key.verify(&signed, &signature)
                .map_err(|_| VerifyError::Signature)?;
            if let Some(handle) = &material.user_handle
                && decode("user_handle", handle)? != decode("user_id", &sign_in.user_id)?
            {
                return Err(VerifyError::UserHandle);
            }
        }
    }
    Ok(())
}

/// [`verify`] on the JSON answer of `POST /api/v1/sign-ins/redeem` as received
/// (`{"sign_in": …, "id_token": …, "verify": …}`), for material kept or obtained
/// without [`Client::redeem`](crate::Client::redeem).
pub fn verify_sign_in(redeem_answer: &Value, expected: &Expected) -> Result<(), VerifyError> {
    let sign_in: SignIn = serde_json::from_value(
        redeem_answer
            .get("sign_in")
            .cloned()
            .ok_or_else(|| malformed("no sign_in object"))?,
    )
    .map_err(|e| malformed(format!("sign_in: {e}")))?;
    let material: Material = serde_json::from_value(
        redeem_answer
            .get("verify")
            .cloned()
            .ok_or_else(|| malformed("no verify object"))?,
    )
    .map_err(|e| malformed(format!("verify: {e}")))?;
    verify(&sign_in, &material, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn expected() -> Expected<'static> {
        Expected {
            code_challenge: CHALLENGE,
            client_id: "shop",
            rp_id: "localhost",
            issuer: "http://localhost:8080",
            origins: &["http://localhost:8080"],
            user_verification_required: true,
            max_age_secs: 300,
        }
    }

    fn message(iat: i64) -> String {
        canonical(
            &json!({"aud": "shop", "code_challenge": CHALLENGE, "flow": "f", "iat": iat,
            "iss": "http://localhost:8080", "nonce": "n", "rp_id": "localhost"}),
        )
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        assert_eq!(
            canonical(&json!({"b": [1, {"d": "é\"", "c": null}], "a": true})),
            r#"{"a":true,"b":[1,{"c":null,"d":"é\""}]}"#
        );
    }

    #[test]
    fn the_signed_message_must_be_canonical_complete_and_recent() {
        let now = 1_800_000_000;
        let parsed = SignedMessage::parse(&message(now)).unwrap();
        assert_eq!(parsed.check(&expected(), now), Ok(()));
        assert!(parsed.check(&expected(), now + 300).is_ok());
        assert!(matches!(
            parsed.check(&expected(), now + 301),
            Err(VerifyError::SignedMessage(m)) if m.contains("iat")
        ));
        assert!(parsed.check(&expected(), now - CLOCK_SKEW_SECS).is_ok());
        assert!(
            parsed
                .check(&expected(), now - CLOCK_SKEW_SECS - 1)
                .is_err()
        );

        let spaced = message(now).replace(',', ", ");
        assert!(matches!(
            SignedMessage::parse(&spaced),
            Err(VerifyError::SignedMessage(m)) if m.contains("canonical")
        ));
        let missing = canonical(&json!({"aud": "shop", "iat": now}));
        assert!(SignedMessage::parse(&missing).is_err());
        let extra = canonical(
            &json!({"aud": "shop", "code_challenge": CHALLENGE, "flow": "f", "iat": now,
            "iss": "http://localhost:8080", "nonce": "n", "rp_id": "localhost", "x": 1}),
        );
        assert!(SignedMessage::parse(&extra).is_err());
    }

    #[test]
    fn only_an_es256_p256_cose_key_is_accepted() {
        let key = |alg: i64, x: Vec<u8>| {
            let map = Cbor::Map(vec![
                (Cbor::from(1), Cbor::from(2)),
                (Cbor::from(3), Cbor::from(alg)),
                (Cbor::from(-1), Cbor::from(1)),
                (Cbor::from(-2), Cbor::Bytes(x)),
                (Cbor::from(-3), Cbor::Bytes(vec![0; 32])),
            ]);
            let mut out = Vec::new();
            ciborium::into_writer(&map, &mut out).unwrap();
            out
        };
        // Right shape but not a point on the curve, wrong algorithm, short coordinate.
        assert_eq!(
            cose_to_key(&key(-7, vec![0; 32])).err(),
            Some(VerifyError::PublicKey)
        );
        assert_eq!(
            cose_to_key(&key(-257, vec![0; 32])).err(),
            Some(VerifyError::PublicKey)
        );
        assert_eq!(
            cose_to_key(&key(-7, vec![0; 31])).err(),
            Some(VerifyError::PublicKey)
        );
        assert_eq!(cose_to_key(b"\xff").err(), Some(VerifyError::PublicKey));
    }

    #[test]
    fn short_authenticator_data_is_malformed_not_a_panic() {
        assert!(matches!(
            AuthenticatorData::new(&[0; 36]),
            Err(VerifyError::Malformed(_))
        ));
        let mut data = vec![0; 37];
        data[32] = FLAG_AT;
        let parsed = AuthenticatorData::new(&data).unwrap();
        assert!(matches!(
            parsed.attested_credential(),
            Err(VerifyError::Malformed(_))
        ));
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&[0xff, 0xff]);
        let parsed = AuthenticatorData::new(&data).unwrap();
        assert!(parsed.attested_credential().is_err());
    }
}
