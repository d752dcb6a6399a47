//! The re-verification of PROTOCOL §5 that tests apply to every redeemed sign-in: the
//! client SDK's (`latchkey_client::verify`), which is written from the contract alone and
//! shares no code with the broker. The tests below drive it with the software
//! authenticator, tampering with each part of the material.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use latchkey_client::verify::{Expected, VerifyError, verify_sign_in};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    use crate::authenticator::{SoftAuthenticator, Tamper, b64, unb64};
    use latchkey_client::verify::{canonical, hex};
    use serde_json::Value;
    use serde_json::json;
    use sha2::{Digest as _, Sha256};

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
