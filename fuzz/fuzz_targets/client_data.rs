//! Client data and authenticator data: the broker's origin check of client data, and the
//! SDK's software verifier (PROTOCOL §5) on redeem answers whose material is fuzzed,
//! either as a whole JSON answer or as raw client data and authenticator data bytes.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

const ISSUER: &str = "https://login.example.com";

fuzz_target!(|data: &[u8]| {
    let origin = url::Url::parse(ISSUER).expect("issuer");
    if let Ok(rp) = latchkey::passkeys::RelyingParty::new(
        "example.com",
        "Fuzz",
        &[origin],
        latchkey::domain::UvPolicy::Required,
    ) {
        let _ = rp.check_origin(data);
    }
    let expected = latchkey_client::verify::Expected {
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        client_id: "shop",
        rp_id: "example.com",
        issuer: ISSUER,
        origins: &[ISSUER],
        user_verification_required: true,
        max_age_secs: 600,
    };
    let answer = match data.split_first() {
        Some((0, rest)) => match serde_json::from_slice(rest) {
            Ok(v) => v,
            Err(_) => return,
        },
        Some((cut, rest)) => {
            let cut = usize::from(*cut).min(rest.len());
            let (client_data, auth_data) = rest.split_at(cut);
            let b = |x: &[u8]| URL_SAFE_NO_PAD.encode(x);
            json!({
                "sign_in": {
                    "sub": "dXNlcg", "user_id": "dXNlcg", "client_id": "shop",
                    "rp_id": "example.com", "credential_id": "Y3JlZA",
                    "passkey_id": "00", "public_key": "pQECAyYgASFYIA", "public_key_alg": -7,
                    "email": null, "email_verified": false, "new_user": false,
                    "new_credential": false, "user_verified": true, "backup_eligible": true,
                    "backed_up": true, "aaguid": "00000000-0000-0000-0000-000000000000",
                    "authenticated_at": "2026-01-01T00:00:00Z", "flow_id": "f"
                },
                "id_token": "x",
                "verify": {
                    "ceremony": "webauthn.get",
                    "signed_message": "{}",
                    "client_data_json": b(client_data),
                    "authenticator_data": b(auth_data),
                    "signature": b(rest),
                    "user_handle": "dXNlcg",
                    "attestation_object": null
                }
            })
        }
        None => return,
    };
    assert!(
        latchkey_client::verify::verify_sign_in(&answer, &expected).is_err(),
        "fuzzed material must never verify"
    );
});
