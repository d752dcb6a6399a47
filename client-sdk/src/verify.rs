//! Re-verification of a sign-in (PROTOCOL §5): a site checks, without trusting the
//! broker's word, that the person's authenticator signed over the site's own PKCE
//! `code_challenge`. Built from the contract alone on `p256` (ECDSA P-256), `sha2` and
//! `ciborium` (CBOR); nothing here is hand-rolled cryptography.

use std::time::{SystemTime, UNIX_EPOCH};

use ciborium::Value as Cbor;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
}

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// What the site expects of a sign-in.
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

/// The step of [`verify_sign_in`] that failed. Its message names what did not hold.
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

/// The WebAuthn ceremony a sign-in ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ceremony {
    /// An assertion with an existing passkey.
    #[serde(rename = "webauthn.get")]
    Get,
    /// The creation of a passkey (and of the account).
    #[serde(rename = "webauthn.create")]
    Create,
}

/// The `verify` member of a redeem answer (PROTOCOL §4): the signed WebAuthn material
/// from which the site re-checks the sign-in. Binary members are base64url.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    /// Which ceremony produced the material.
    pub ceremony: Ceremony,
    /// The canonical JSON whose SHA-256 was the WebAuthn challenge.
    pub signed_message: String,
    /// The authenticator's `clientDataJSON`.
    pub client_data_json: String,
    /// The authenticator data (for a creation, the attestation's `authData`).
    pub authenticator_data: Option<String>,
    /// The assertion signature (DER), for `webauthn.get`.
    pub signature: Option<String>,
    /// The assertion's user handle, when the authenticator returned one.
    pub user_handle: Option<String>,
    /// The attestation object, for `webauthn.create`.
    pub attestation_object: Option<String>,
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::Malformed(what.to_owned())
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, VerifyError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(&format!("{key} is not a string")))
}

fn bytes_at(v: &Value, key: &str) -> Result<Vec<u8>, VerifyError> {
    unb64(str_at(v, key)?).map_err(|_| malformed(&format!("{key} is not base64url")))
}

/// Canonical JSON: object members sorted by key (UTF-8 byte order), no whitespace — the
/// form of the signed message. Written out explicitly so that it does not depend on
/// serde_json's map feature.
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

/// An ES256 P-256 COSE_Key (kty 2, alg -7, crv 1, x, y), and nothing after it, as a
/// verifying key.
fn cose_to_key(cose: &[u8]) -> Result<VerifyingKey, VerifyError> {
    let mut rest = cose;
    let value: Cbor = ciborium::from_reader(&mut rest).map_err(|_| VerifyError::PublicKey)?;
    if !rest.is_empty() {
        return Err(VerifyError::PublicKey);
    }
    let map = value.as_map().ok_or(VerifyError::PublicKey)?;
    let get = |label: i64| {
        map.iter()
            .find(|(k, _)| {
                k.as_integer()
                    .is_some_and(|i| i128::from(i) == i128::from(label))
            })
            .map(|(_, v)| v)
    };
    let int = |label: i64| get(label).and_then(Cbor::as_integer).map(i128::from);
    let coord = |label: i64| {
        get(label)
            .and_then(Cbor::as_bytes)
            .filter(|b| b.len() == 32)
    };
    if (int(1), int(3), int(-1)) != (Some(2), Some(-7), Some(1)) {
        return Err(VerifyError::PublicKey);
    }
    let (Some(x), Some(y)) = (coord(-2), coord(-3)) else {
        return Err(VerifyError::PublicKey);
    };
    let point = [&[0x04][..], x, y].concat();
    VerifyingKey::from_sec1_bytes(&point).map_err(|_| VerifyError::PublicKey)
}

/// `authData` of an attestation object.
fn auth_data_of(attestation_object: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let value: Cbor = ciborium::from_reader(attestation_object)
        .map_err(|_| malformed("attestation_object is not CBOR"))?;
    value
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("authData")))
        .and_then(|(_, v)| v.as_bytes().cloned())
        .ok_or_else(|| malformed("attestation_object has no authData"))
}

/// The credential id and the exact COSE key bytes of attested credential data.
fn attested(auth_data: &[u8]) -> Result<(&[u8], &[u8]), VerifyError> {
    let short = || malformed("authenticator data too short for attested credential data");
    if auth_data[32] & FLAG_AT == 0 {
        return Err(malformed("no attested credential data (AT clear)"));
    }
    let len_bytes = auth_data.get(53..55).ok_or_else(short)?;
    let id_end = 55 + usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let id = auth_data.get(55..id_end).ok_or_else(short)?;
    let mut rest = auth_data.get(id_end..).ok_or_else(short)?;
    let before = rest.len();
    let _: Cbor = ciborium::from_reader(&mut rest)
        .map_err(|_| malformed("attested credential public key is not CBOR"))?;
    Ok((id, &auth_data[id_end..id_end + before - rest.len()]))
}

/// Re-verifies a sign-in from the whole JSON answer of `POST /api/v1/sign-ins/redeem`
/// (`{"sign_in": …, "id_token": …, "verify": …}`), following PROTOCOL §5: the signed
/// message is canonical and the site's own, the client data commits to it, the
/// authenticator data is for the RP ID with UP (and UV when required), and the assertion
/// signature (or, for a registration, the attested key) matches `sign_in.public_key`.
pub fn verify_sign_in(redeem_answer: &Value, expected: &Expected) -> Result<(), VerifyError> {
    let sign_in = redeem_answer
        .get("sign_in")
        .filter(|v| v.is_object())
        .ok_or_else(|| malformed("no sign_in object"))?;
    let verify = redeem_answer
        .get("verify")
        .filter(|v| v.is_object())
        .ok_or_else(|| malformed("no verify object"))?;
    let create = match str_at(verify, "ceremony")? {
        "webauthn.get" => false,
        "webauthn.create" => true,
        other => return Err(VerifyError::Malformed(format!("unknown ceremony {other}"))),
    };

    // 1. The signed message: canonical, the site's own, recent, bound to the flow.
    let signed = str_at(verify, "signed_message")?;
    let message: Value = serde_json::from_str(signed)
        .map_err(|e| VerifyError::SignedMessage(format!("not JSON: {e}")))?;
    if !message.is_object() || canonical(&message) != signed {
        return Err(VerifyError::SignedMessage(
            "not a canonical JSON object".into(),
        ));
    }
    for (key, want) in [
        ("code_challenge", expected.code_challenge),
        ("aud", expected.client_id),
        ("rp_id", expected.rp_id),
        ("iss", expected.issuer),
    ] {
        if message.get(key).and_then(Value::as_str) != Some(want) {
            return Err(VerifyError::SignedMessage(format!(
                "{key} is {}, expected {want}",
                message.get(key).unwrap_or(&Value::Null)
            )));
        }
    }
    let iat = message
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| VerifyError::SignedMessage("iat is not an integer".into()))?;
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(i64::MAX);
    if iat > now + 60 || now - iat > expected.max_age_secs {
        return Err(VerifyError::SignedMessage(format!(
            "iat {iat} is not recent (now {now})"
        )));
    }
    let flow = message
        .get("flow")
        .and_then(Value::as_str)
        .ok_or_else(|| VerifyError::SignedMessage("flow is not a string".into()))?;
    if message.get("nonce").and_then(Value::as_str).is_none() {
        return Err(VerifyError::SignedMessage("nonce is not a string".into()));
    }
    if sign_in.get("flow_id").and_then(Value::as_str) != Some(flow) {
        return Err(VerifyError::SignIn(format!(
            "flow_id is not the signed flow {flow}"
        )));
    }
    for (key, want) in [("client_id", expected.client_id), ("rp_id", expected.rp_id)] {
        if sign_in.get(key).and_then(Value::as_str) != Some(want) {
            return Err(VerifyError::SignIn(format!("{key} is not {want}")));
        }
    }

    // 2. The client data commits to the signed message.
    let client_data_json = bytes_at(verify, "client_data_json")?;
    let client_data: Value = serde_json::from_slice(&client_data_json)
        .map_err(|_| malformed("client_data_json is not JSON"))?;
    if client_data.get("challenge").and_then(Value::as_str)
        != Some(b64(&Sha256::digest(signed.as_bytes())).as_str())
    {
        return Err(VerifyError::Challenge);
    }
    let want_type = if create {
        "webauthn.create"
    } else {
        "webauthn.get"
    };
    if client_data.get("type").and_then(Value::as_str) != Some(want_type) {
        return Err(VerifyError::ClientDataType);
    }
    let origin = client_data
        .get("origin")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !expected.origins.contains(&origin) {
        return Err(VerifyError::Origin(origin.to_owned()));
    }

    // 3. The authenticator data: RP ID hash, UP, UV.
    let auth_data = if create {
        let from_attestation = auth_data_of(&bytes_at(verify, "attestation_object")?)?;
        if verify
            .get("authenticator_data")
            .and_then(Value::as_str)
            .is_some()
            && bytes_at(verify, "authenticator_data")? != from_attestation
        {
            return Err(malformed(
                "authenticator_data differs from the attestation's authData",
            ));
        }
        from_attestation
    } else {
        bytes_at(verify, "authenticator_data")?
    };
    if auth_data.len() < 37 {
        return Err(malformed("authenticator data shorter than 37 bytes"));
    }
    if auth_data[..32] != Sha256::digest(expected.rp_id.as_bytes())[..] {
        return Err(VerifyError::RpIdHash);
    }
    if auth_data[32] & FLAG_UP == 0 {
        return Err(VerifyError::UserPresence);
    }
    if expected.user_verification_required && auth_data[32] & FLAG_UV == 0 {
        return Err(VerifyError::UserVerification);
    }

    // 4. The key: the signature verifies with it, or it is the attested one.
    let cose = bytes_at(sign_in, "public_key")?;
    let key = cose_to_key(&cose)?;
    if !str_at(sign_in, "passkey_id")?.eq_ignore_ascii_case(&hex(&Sha256::digest(&cose))) {
        return Err(VerifyError::PasskeyId);
    }
    if create {
        let (credential_id, attested_key) = attested(&auth_data)?;
        if attested_key != cose.as_slice() {
            return Err(VerifyError::PublicKey);
        }
        if credential_id != bytes_at(sign_in, "credential_id")? {
            return Err(VerifyError::CredentialId);
        }
    } else {
        let signature = Signature::from_der(&bytes_at(verify, "signature")?)
            .map_err(|_| VerifyError::Signature)?;
        let mut message = auth_data;
        message.extend_from_slice(&Sha256::digest(&client_data_json));
        key.verify(&message, &signature)
            .map_err(|_| VerifyError::Signature)?;
        if verify.get("user_handle").and_then(Value::as_str).is_some()
            && bytes_at(verify, "user_handle")? != bytes_at(sign_in, "user_id")?
        {
            return Err(VerifyError::UserHandle);
        }
    }
    Ok(())
}
