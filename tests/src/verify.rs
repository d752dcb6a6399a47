//! An independent re-verification of the `verify` material of a redeem answer
//! (PROTOCOL §5), written from the contract alone with `p256`, `sha2` and `ciborium`, so
//! tests can show a site can check a sign-in without trusting the broker's word.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use ciborium::Value as Cbor;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::authenticator::{b64, unb64};

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

/// The step of [`verify_sign_in`] that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The answer lacks a field, or one is not valid base64url, JSON or CBOR.
    Malformed(String),
    /// `signed_message` is not canonical JSON, or a member is not what the site expects.
    SignedMessage(String),
    /// A `sign_in` member disagrees with the site's expectation or with the signed message.
    SignIn(String),
    /// The client data challenge is not base64url(SHA-256(signed_message)).
    Challenge,
    /// The client data `type` does not match the ceremony.
    ClientDataType,
    /// The client data origin (given) is not an expected one.
    Origin(String),
    /// The authenticator data does not start with SHA-256(rp_id).
    RpIdHash,
    /// The UP flag is clear.
    UserPresence,
    /// The UV flag is clear although user verification is required.
    UserVerification,
    /// The assertion signature does not verify with `sign_in.public_key`.
    Signature,
    /// `sign_in.public_key` is not an ES256 P-256 COSE key, or differs from the attested one.
    PublicKey,
    /// The attested credential id differs from `sign_in.credential_id`.
    CredentialId,
    /// `sign_in.passkey_id` is not hex(SHA-256(public_key)).
    PasskeyId,
    /// The assertion's user handle differs from `sign_in.user_id`.
    UserHandle,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed answer: {m}"),
            Self::SignedMessage(m) => write!(f, "signed message: {m}"),
            Self::SignIn(m) => write!(f, "sign_in: {m}"),
            Self::Challenge => {
                f.write_str("client data challenge is not SHA-256 of the signed message")
            }
            Self::ClientDataType => f.write_str("client data type does not match the ceremony"),
            Self::Origin(o) => write!(f, "unexpected origin {o}"),
            Self::RpIdHash => {
                f.write_str("authenticator data RP ID hash is not SHA-256 of the RP ID")
            }
            Self::UserPresence => f.write_str("user presence flag clear"),
            Self::UserVerification => f.write_str("user verification flag clear but required"),
            Self::Signature => f.write_str("assertion signature does not verify"),
            Self::PublicKey => f.write_str("public key is not the attested ES256 key"),
            Self::CredentialId => f.write_str("credential id is not the attested one"),
            Self::PasskeyId => f.write_str("passkey_id is not hex SHA-256 of the public key"),
            Self::UserHandle => f.write_str("user handle is not sign_in.user_id"),
        }
    }
}

impl std::error::Error for VerifyError {}

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

/// Canonical JSON: object members sorted by key (UTF-8 byte order), no whitespace.
/// Written out explicitly so it does not depend on serde_json's map feature.
fn canonical(v: &Value) -> String {
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

fn hex(bytes: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticator::{SoftAuthenticator, Tamper};
    use serde_json::json;

    const ISSUER: &str = "http://localhost:8080";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn expected() -> Expected<'static> {
        Expected {
            code_challenge: CHALLENGE,
            client_id: "shop",
            rp_id: "localhost",
            issuer: ISSUER,
            origins: &[ISSUER],
            user_verification_required: true,
            max_age_secs: 120,
        }
    }

    fn signed_message() -> String {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        canonical(
            &json!({"aud": "shop", "code_challenge": CHALLENGE, "flow": "flow-1", "iat": iat, "iss": ISSUER, "nonce": b64(&[9; 16]), "rp_id": "localhost"}),
        )
    }

    fn challenge_of(message: &str) -> String {
        b64(&Sha256::digest(message.as_bytes()))
    }

    /// A registered authenticator and a redeem answer for a sign-in with it (tampered).
    fn sign_in(tamper: &Tamper) -> (SoftAuthenticator, Value) {
        let mut auth = SoftAuthenticator::new();
        auth.register(
            &json!({"rp": {"id": "localhost"}, "user": {"id": b64(b"u1")}, "challenge": "YQ"}),
            ISSUER,
        )
        .unwrap();
        let message = signed_message();
        let assertion = auth
            .authenticate_with(
                &json!({"publicKey": {"rpId": "localhost", "challenge": challenge_of(&message)}}),
                ISSUER,
                tamper,
            )
            .unwrap();
        let cose = auth.credentials()[0].cose_public_key();
        let r = &assertion["response"];
        let answer = json!({
            "sign_in": {"client_id": "shop", "rp_id": "localhost", "flow_id": "flow-1", "user_id": b64(b"u1"), "credential_id": assertion["id"],
                        "public_key": b64(&cose), "public_key_alg": -7, "passkey_id": hex(&Sha256::digest(&cose))},
            "id_token": "not checked here",
            "verify": {"ceremony": "webauthn.get", "signed_message": message, "client_data_json": r["clientDataJSON"],
                       "authenticator_data": r["authenticatorData"], "signature": r["signature"], "user_handle": r["userHandle"], "attestation_object": null},
        });
        (auth, answer)
    }

    #[test]
    fn accepts_a_sound_assertion_and_rejects_each_tampering() {
        let (mut auth, good) = sign_in(&Tamper::default());
        assert_eq!(verify_sign_in(&good, &expected()), Ok(()));

        let other_challenge = Expected {
            code_challenge: "another-challenge",
            ..expected()
        };
        assert!(matches!(
            verify_sign_in(&good, &other_challenge),
            Err(VerifyError::SignedMessage(_))
        ));
        assert!(matches!(
            verify_sign_in(
                &good,
                &Expected {
                    rp_id: "example.com",
                    ..expected()
                }
            ),
            Err(VerifyError::SignedMessage(_))
        ));
        assert!(matches!(
            verify_sign_in(
                &good,
                &Expected {
                    origins: &["https://other.example"],
                    ..expected()
                }
            ),
            Err(VerifyError::Origin(_))
        ));

        let mut altered = good.clone();
        let mut ad = unb64(good["verify"]["authenticator_data"].as_str().unwrap()).unwrap();
        ad[36] ^= 1; // the counter
        altered["verify"]["authenticator_data"] = b64(&ad).into();
        assert_eq!(
            verify_sign_in(&altered, &expected()),
            Err(VerifyError::Signature)
        );

        let mut pretty = good.clone();
        let message: Value =
            serde_json::from_str(good["verify"]["signed_message"].as_str().unwrap()).unwrap();
        pretty["verify"]["signed_message"] = serde_json::to_string_pretty(&message).unwrap().into();
        assert!(matches!(
            verify_sign_in(&pretty, &expected()),
            Err(VerifyError::SignedMessage(_))
        ));

        let mut swapped = good.clone();
        let other = auth
            .authenticate(
                &json!({"rpId": "localhost", "challenge": "b3RoZXI"}),
                ISSUER,
            )
            .unwrap();
        swapped["verify"]["signature"] = other["response"]["signature"].clone();
        assert_eq!(
            verify_sign_in(&swapped, &expected()),
            Err(VerifyError::Signature)
        );

        let mut wrong_id = good.clone();
        wrong_id["sign_in"]["passkey_id"] = hex(&[0; 32]).into();
        assert_eq!(
            verify_sign_in(&wrong_id, &expected()),
            Err(VerifyError::PasskeyId)
        );

        let cases: [(Tamper, VerifyError); 7] = [
            (
                Tamper {
                    origin: Some("https://evil.example".into()),
                    ..Tamper::default()
                },
                VerifyError::Origin("https://evil.example".into()),
            ),
            (
                Tamper {
                    challenge: Some(challenge_of("{}")),
                    ..Tamper::default()
                },
                VerifyError::Challenge,
            ),
            (
                Tamper {
                    client_data_type: Some("webauthn.create".into()),
                    ..Tamper::default()
                },
                VerifyError::ClientDataType,
            ),
            (
                Tamper {
                    rp_id_for_hash: Some("example.com".into()),
                    ..Tamper::default()
                },
                VerifyError::RpIdHash,
            ),
            (
                Tamper {
                    clear_up: true,
                    ..Tamper::default()
                },
                VerifyError::UserPresence,
            ),
            (
                Tamper {
                    clear_uv: true,
                    ..Tamper::default()
                },
                VerifyError::UserVerification,
            ),
            (
                Tamper {
                    wrong_key: true,
                    ..Tamper::default()
                },
                VerifyError::Signature,
            ),
        ];
        for (tamper, error) in cases {
            assert_eq!(
                verify_sign_in(&sign_in(&tamper).1, &expected()),
                Err(error),
                "{tamper:?}"
            );
        }
        let (_, no_uv) = sign_in(&Tamper {
            clear_uv: true,
            ..Tamper::default()
        });
        assert_eq!(
            verify_sign_in(
                &no_uv,
                &Expected {
                    user_verification_required: false,
                    ..expected()
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn accepts_a_registration_whose_attested_key_is_the_public_key() {
        let mut auth = SoftAuthenticator::new();
        let message = signed_message();
        let options = json!({"rp": {"id": "localhost"}, "user": {"id": b64(b"u1")}, "challenge": challenge_of(&message), "pubKeyCredParams": [{"type": "public-key", "alg": -7}]});
        let reg = auth.register(&options, ISSUER).unwrap();
        let cose = auth.credentials()[0].cose_public_key();
        let r = &reg["response"];
        let good = json!({
            "sign_in": {"client_id": "shop", "rp_id": "localhost", "flow_id": "flow-1", "user_id": b64(b"u1"), "credential_id": reg["id"],
                        "public_key": b64(&cose), "passkey_id": hex(&Sha256::digest(&cose))},
            "verify": {"ceremony": "webauthn.create", "signed_message": message, "client_data_json": r["clientDataJSON"],
                       "authenticator_data": r["authenticatorData"], "signature": null, "user_handle": null, "attestation_object": r["attestationObject"]},
        });
        assert_eq!(verify_sign_in(&good, &expected()), Ok(()));

        let mut other_id = good.clone();
        other_id["sign_in"]["credential_id"] = b64(b"another credential id").into();
        assert_eq!(
            verify_sign_in(&other_id, &expected()),
            Err(VerifyError::CredentialId)
        );

        let mut other = SoftAuthenticator::new();
        other.register(&options, ISSUER).unwrap();
        let other_cose = other.credentials()[0].cose_public_key();
        let mut other_key = good.clone();
        other_key["sign_in"]["public_key"] = b64(&other_cose).into();
        other_key["sign_in"]["passkey_id"] = hex(&Sha256::digest(&other_cose)).into();
        assert_eq!(
            verify_sign_in(&other_key, &expected()),
            Err(VerifyError::PublicKey)
        );

        let mut as_get = good.clone();
        as_get["verify"]["ceremony"] = "webauthn.get".into();
        assert_eq!(
            verify_sign_in(&as_get, &expected()),
            Err(VerifyError::ClientDataType)
        );
    }
}
