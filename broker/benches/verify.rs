//! How close the broker's assertion verification is to the cost of the cryptography.
//!
//! `cargo bench -p latchkey --bench verify` measures, on one assertion made by the
//! software authenticator of the test suites:
//! - `p256_verify`: the bare ECDSA P-256 verification of the signature over
//!   `authenticatorData ‖ SHA-256(clientDataJSON)` (RustCrypto `p256`, as webauthn-rs uses);
//! - `finish_authentication`: what the broker does with an assertion once its challenge
//!   is taken: the origin check, the stored ceremony state and passkey read back, and
//!   webauthn-rs's verification (client data, RP ID hash, flags, signature);
//! - `parse_and_finish`: the same, from the JSON body the page posts.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::domain::UvPolicy;
use latchkey::passkeys::RelyingParty;
use latchkey_tests::authenticator::{SoftAuthenticator, unb64};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

const ORIGIN: &str = "http://localhost:8080";

fn bytes(v: &Value, name: &str) -> Vec<u8> {
    unb64(v["response"][name].as_str().unwrap()).unwrap()
}

fn verification(c: &mut Criterion) {
    let origin = url::Url::parse(ORIGIN).unwrap();
    let rp = RelyingParty::new("localhost", "Bench", &[origin], UvPolicy::Required).unwrap();
    let mut auth = SoftAuthenticator::new();

    let (options, reg_state) = rp
        .start_registration(&[7; 32], uuid::Uuid::new_v4(), "ada", "Ada", &[])
        .unwrap();
    let created = auth
        .register(&json!({"publicKey": options}), ORIGIN)
        .unwrap();
    let created: RegisterPublicKeyCredential = serde_json::from_value(created).unwrap();
    let passkey = rp.finish_registration(&created, &reg_state).unwrap();
    let passkey = serde_json::to_string(&passkey).unwrap();

    let (options, state) = rp.start_authentication(&[9; 32]).unwrap();
    let body = auth
        .authenticate(&json!({"publicKey": options}), ORIGIN)
        .unwrap();
    let credential: PublicKeyCredential = serde_json::from_value(body.clone()).unwrap();
    let body_text = body.to_string();
    rp.finish_authentication(&credential, &state, &passkey)
        .expect("the assertion verifies");

    let key = VerifyingKey::from(&auth.credentials()[0].signing_key);
    let mut message = bytes(&body, "authenticatorData");
    message.extend_from_slice(&Sha256::digest(bytes(&body, "clientDataJSON")));
    let signature = Signature::from_der(&bytes(&body, "signature")).unwrap();
    assert!(key.verify(&message, &signature).is_ok());

    let mut g = c.benchmark_group("assertion");
    g.bench_function("p256_verify", |b| {
        b.iter(|| {
            key.verify(std::hint::black_box(&message), &signature)
                .is_ok()
        })
    });
    g.bench_function("finish_authentication", |b| {
        b.iter(|| {
            rp.finish_authentication(std::hint::black_box(&credential), &state, &passkey)
                .is_ok()
        })
    });
    g.bench_function("parse_and_finish", |b| {
        b.iter(|| {
            let credential: PublicKeyCredential =
                serde_json::from_str(std::hint::black_box(&body_text)).unwrap();
            rp.finish_authentication(&credential, &state, &passkey)
                .is_ok()
        })
    });
    g.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
