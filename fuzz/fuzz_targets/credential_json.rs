//! The credential JSON the hosted page posts (WebAuthn Level 3 `toJSON()` form), as the
//! ceremony API parses it, then the broker's own reading of the attestation object and
//! of authenticator data flags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

fuzz_target!(|data: &[u8]| {
    if let Ok(assertion) = serde_json::from_slice::<PublicKeyCredential>(data) {
        let _ = latchkey::passkeys::Flags::from_auth_data(&assertion.response.authenticator_data);
    }
    if let Ok(attestation) = serde_json::from_slice::<RegisterPublicKeyCredential>(data) {
        let _ = latchkey::passkeys::read_attestation(&attestation.response.attestation_object);
    }
    // The attestation object itself, as CBOR bytes.
    if let Some(a) = latchkey::passkeys::read_attestation(data) {
        assert!(a.authenticator_data.len() >= 55 + a.credential_id.len() + a.cose_key.len());
    }
    let _ = latchkey::passkeys::Flags::from_auth_data(data);
});
