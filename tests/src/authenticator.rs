//! A software WebAuthn authenticator (a "soft passkey") for tests.
//!
//! It takes the WebAuthn Level 3 JSON forms of the ceremony options (what
//! `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`
//! take) and answers with the JSON a browser's `PublicKeyCredential.toJSON()` returns.
//! Keys are ES256 (P-256: `p256` holds them, ring signs, see [`sign_der`]), attestation is
//! `none`, binary values are base64url without padding. [`Tamper`] lets a test make it misbehave in one precise way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey as _;
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Flag bit: user present.
pub const FLAG_UP: u8 = 0x01;
/// Flag bit: user verified.
pub const FLAG_UV: u8 = 0x04;
/// Flag bit: backup eligible.
pub const FLAG_BE: u8 = 0x08;
/// Flag bit: backed up.
pub const FLAG_BS: u8 = 0x10;
/// Flag bit: attested credential data included.
pub const FLAG_AT: u8 = 0x40;

/// Base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, with or without trailing `=` padding.
pub fn unb64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
}

/// The COSE_Key (RFC 9053, EC2 / ES256 / P-256) of a public key, in canonical CBOR key
/// order `1, 3, -1, -2, -3`: the exact bytes this authenticator puts in its attested
/// credential data.
pub fn cose_key(key: &VerifyingKey) -> Vec<u8> {
    let point = key.to_encoded_point(false);
    let int = |i: i64| Cbor::Integer(i.into());
    let map = Cbor::Map(vec![
        (int(1), int(2)),
        (int(3), int(-7)),
        (int(-1), int(1)),
        (
            int(-2),
            Cbor::Bytes(point.x().expect("uncompressed point").to_vec()),
        ),
        (
            int(-3),
            Cbor::Bytes(point.y().expect("uncompressed point").to_vec()),
        ),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).expect("CBOR into a Vec");
    out
}

/// Why the authenticator refused (as a browser would reject the `create()` / `get()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticatorError {
    /// The options JSON lacks a field or has one of the wrong shape.
    InvalidOptions(String),
    /// No stored credential matches the RP ID (and `allowCredentials`, or the tampered id).
    NoCredential(String),
    /// A credential listed in `excludeCredentials` is already on this authenticator.
    Excluded,
    /// `pubKeyCredParams` does not offer ES256 (-7).
    UnsupportedAlgorithm,
}

impl std::fmt::Display for AuthenticatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidOptions(m) => write!(f, "invalid options: {m}"),
            Self::NoCredential(rp) => write!(f, "no matching credential for RP ID {rp}"),
            Self::Excluded => {
                f.write_str("an excluded credential is already on this authenticator")
            }
            Self::UnsupportedAlgorithm => f.write_str("pubKeyCredParams does not offer ES256 (-7)"),
        }
    }
}

impl std::error::Error for AuthenticatorError {}

/// A discoverable credential held by a [`SoftAuthenticator`].
#[derive(Clone, Debug)]
pub struct StoredCredential {
    /// The credential id (16 to 32 random bytes).
    pub credential_id: Vec<u8>,
    /// The RP ID it was created for (`rp.id` of the creation options).
    pub rp_id: String,
    /// The user handle (`user.id` of the creation options, decoded).
    pub user_handle: Vec<u8>,
    /// The credential's private key.
    pub signing_key: SigningKey,
    /// The signature counter last reported.
    pub counter: u32,
}

impl StoredCredential {
    /// The credential public key as COSE_Key bytes (see [`cose_key`]).
    pub fn cose_public_key(&self) -> Vec<u8> {
        cose_key(self.signing_key.verifying_key())
    }
}

/// Ways to make one ceremony misbehave. The default changes nothing.
///
/// For [`SoftAuthenticator::register_with`], `credential_id` and `wrong_key` are ignored.
#[derive(Default, Clone, Debug)]
pub struct Tamper {
    /// `origin` to put in the client data instead of the caller's.
    pub origin: Option<String>,
    /// `type` to put in the client data instead of `webauthn.get` / `webauthn.create`.
    pub client_data_type: Option<String>,
    /// `challenge` (raw string) to put in the client data instead of the options'.
    pub challenge: Option<String>,
    /// RP ID whose SHA-256 goes in the authenticator data instead of the real one.
    pub rp_id_for_hash: Option<String>,
    /// Clear the UP (user present) flag.
    pub clear_up: bool,
    /// Clear the UV (user verified) flag.
    pub clear_uv: bool,
    /// Use this stored credential (any RP ID), ignoring `allowCredentials`.
    pub credential_id: Option<Vec<u8>>,
    /// Sign with a fresh key instead of the credential's (an invalid signature).
    pub wrong_key: bool,
    /// Report this signature counter (the stored counter is left as it was).
    pub counter: Option<u32>,
    /// Client data as a browser writes it inside a frame of another origin:
    /// `crossOrigin: true` and this `topOrigin`.
    pub framed_by: Option<String>,
}

/// A software passkey provider holding ES256 discoverable credentials.
#[derive(Clone, Debug)]
pub struct SoftAuthenticator {
    credentials: Vec<StoredCredential>,
    aaguid: [u8; 16],
    uv: bool,
    backup_eligible: bool,
    backed_up: bool,
    counting: bool,
    packed: Option<PackedAttestation>,
}

/// What `packed` attestation (WebAuthn §8.2) signs with: the attestation key and its
/// certificate chain, leaf first, DER.
#[derive(Clone, Debug)]
pub struct PackedAttestation {
    /// The attestation private key.
    pub key: SigningKey,
    /// `x5c`: the attestation certificate, then any intermediates.
    pub chain: Vec<Vec<u8>>,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

/// An ES256 signature (ASN.1 DER) over `msg`.
///
/// ring signs rather than `p256`: the load generator runs beside the broker on the same
/// cores, and ring's P-256 (assembly field arithmetic, a precomputed table for the base
/// point) costs a fraction of `p256`'s portable code, so the generator takes less of the
/// CPU it measures the broker with. The key stays a `p256` key for its encodings.
pub fn sign_der(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let public = key.verifying_key().to_encoded_point(false);
    let pair = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.to_bytes(),
        public.as_bytes(),
        &rng,
    )
    .expect("a valid P-256 key pair");
    pair.sign(&rng, msg)
        .expect("ECDSA signing")
        .as_ref()
        .to_vec()
}

fn random_signing_key() -> SigningKey {
    loop {
        // Rejection sampling: all but a ~2^-32 fraction of 32-byte strings are valid scalars.
        if let Ok(key) = SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
            return key;
        }
    }
}

/// `{"publicKey": options}` or the bare options.
fn public_key_options(options: &Value) -> &Value {
    options
        .get("publicKey")
        .filter(|v| v.is_object())
        .unwrap_or(options)
}

fn field<'a>(v: &'a Value, path: &str) -> Result<&'a str, AuthenticatorError> {
    v.pointer(path)
        .and_then(Value::as_str)
        .ok_or_else(|| AuthenticatorError::InvalidOptions(format!("missing {path}")))
}

fn decode(s: &str, what: &str) -> Result<Vec<u8>, AuthenticatorError> {
    unb64(s)
        .map_err(|e| AuthenticatorError::InvalidOptions(format!("{what} is not base64url: {e}")))
}

/// The `id`s of a list of credential descriptors (`allowCredentials`, `excludeCredentials`).
fn descriptor_ids(list: Option<&Value>) -> Result<Vec<Vec<u8>>, AuthenticatorError> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|d| decode(field(d, "/id")?, "credential descriptor id"))
        .collect()
}

/// The RP ID of the options, else the origin's host (WebAuthn's default).
fn rp_id_or_host(rp_id: Option<&str>, origin: &str) -> Result<String, AuthenticatorError> {
    match rp_id {
        Some(id) => Ok(id.to_owned()),
        None => url::Url::parse(origin)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| {
                AuthenticatorError::InvalidOptions(format!(
                    "no RP ID and no host in origin {origin}"
                ))
            }),
    }
}

/// The client data JSON, members in the order browsers write them; `framed_by` is the
/// top origin of a cross-origin frame the ceremony ran in.
fn client_data(ty: &str, challenge: &str, origin: &str, framed_by: Option<&str>) -> Vec<u8> {
    let s = |v: &str| Value::from(v).to_string();
    let frame = match framed_by {
        Some(top) => format!(r#""crossOrigin":true,"topOrigin":{}"#, s(top)),
        None => r#""crossOrigin":false"#.to_owned(),
    };
    format!(
        r#"{{"type":{},"challenge":{},"origin":{},{frame}}}"#,
        s(ty),
        s(challenge),
        s(origin)
    )
    .into_bytes()
}

impl SoftAuthenticator {
    /// A synced passkey provider: AAGUID all zero, performs UV, BE and BS set, counter
    /// always 0.
    pub fn new() -> Self {
        Self {
            credentials: Vec::new(),
            aaguid: [0; 16],
            uv: true,
            backup_eligible: true,
            backed_up: true,
            counting: false,
            packed: None,
        }
    }

    /// Answers registrations with `packed` attestation signed by `attestation` (x5c)
    /// instead of `none`.
    pub fn with_packed_attestation(mut self, attestation: PackedAttestation) -> Self {
        self.packed = Some(attestation);
        self
    }

    /// Whether it performs user verification (sets UV).
    pub fn with_uv(mut self, uv: bool) -> Self {
        self.uv = uv;
        self
    }

    /// A device-bound authenticator: BE and BS clear, and a signature counter that goes
    /// up by one on each assertion.
    pub fn device_bound(mut self) -> Self {
        self.backup_eligible = false;
        self.backed_up = false;
        self.counting = true;
        self
    }

    /// The AAGUID put in attested credential data.
    pub fn with_aaguid(mut self, aaguid: [u8; 16]) -> Self {
        self.aaguid = aaguid;
        self
    }

    /// The credentials it holds, oldest first.
    pub fn credentials(&self) -> &[StoredCredential] {
        &self.credentials
    }

    fn flags(&self, tamper: &Tamper) -> u8 {
        let mut flags = 0;
        if !tamper.clear_up {
            flags |= FLAG_UP;
        }
        if self.uv && !tamper.clear_uv {
            flags |= FLAG_UV;
        }
        if self.backup_eligible {
            flags |= FLAG_BE;
        }
        if self.backed_up {
            flags |= FLAG_BS;
        }
        flags
    }

    /// Creates a credential (`navigator.credentials.create`). Takes
    /// `{"publicKey": PublicKeyCredentialCreationOptionsJSON}` or the bare options and the
    /// caller's origin (e.g. `http://localhost:8080`); answers the registration
    /// credential's `toJSON()` form. A credential for the same RP ID and user handle is
    /// replaced, as real authenticators do.
    pub fn register(&mut self, options: &Value, origin: &str) -> Result<Value, AuthenticatorError> {
        self.register_with(options, origin, &Tamper::default())
    }

    /// [`register`](Self::register) with one or more [`Tamper`] overrides applied
    /// (origin, client data type, challenge, RP ID hash, UP/UV flags, counter).
    pub fn register_with(
        &mut self,
        options: &Value,
        origin: &str,
        tamper: &Tamper,
    ) -> Result<Value, AuthenticatorError> {
        let opts = public_key_options(options);
        let challenge = field(opts, "/challenge")?;
        let rp_id = rp_id_or_host(opts.pointer("/rp/id").and_then(Value::as_str), origin)?;
        let user_handle = decode(field(opts, "/user/id")?, "user.id")?;
        if let Some(params) = opts.get("pubKeyCredParams").and_then(Value::as_array)
            && !params.is_empty()
            && !params
                .iter()
                .any(|p| p.get("alg").and_then(Value::as_i64) == Some(-7))
        {
            return Err(AuthenticatorError::UnsupportedAlgorithm);
        }
        let excluded = descriptor_ids(opts.get("excludeCredentials"))?;
        if self
            .credentials
            .iter()
            .any(|c| c.rp_id == rp_id && excluded.contains(&c.credential_id))
        {
            return Err(AuthenticatorError::Excluded);
        }

        let signing_key = random_signing_key();
        let mut credential_id = vec![0; rand::random_range(16..=32)];
        rand::rng().fill_bytes(&mut credential_id);
        let cose = cose_key(signing_key.verifying_key());
        let counter = tamper.counter.unwrap_or(0);

        let mut auth_data =
            Sha256::digest(tamper.rp_id_for_hash.as_deref().unwrap_or(&rp_id)).to_vec();
        auth_data.push(self.flags(tamper) | FLAG_AT);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(
            &u16::try_from(credential_id.len())
                .expect("short id")
                .to_be_bytes(),
        );
        auth_data.extend_from_slice(&credential_id);
        auth_data.extend_from_slice(&cose);

        let client_data_json = client_data(
            tamper
                .client_data_type
                .as_deref()
                .unwrap_or("webauthn.create"),
            tamper.challenge.as_deref().unwrap_or(challenge),
            tamper.origin.as_deref().unwrap_or(origin),
            tamper.framed_by.as_deref(),
        );
        let (fmt, att_stmt) = match &self.packed {
            None => ("none", Cbor::Map(Vec::new())),
            Some(p) => {
                // packed, full attestation: sig over authenticatorData ‖ clientDataHash.
                let mut signed = auth_data.clone();
                signed.extend_from_slice(&Sha256::digest(&client_data_json));
                let sig = sign_der(&p.key, &signed);
                (
                    "packed",
                    Cbor::Map(vec![
                        (Cbor::Text("alg".into()), Cbor::Integer((-7).into())),
                        (Cbor::Text("sig".into()), Cbor::Bytes(sig)),
                        (
                            Cbor::Text("x5c".into()),
                            Cbor::Array(p.chain.iter().cloned().map(Cbor::Bytes).collect()),
                        ),
                    ]),
                )
            }
        };
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text(fmt.into())),
            (Cbor::Text("attStmt".into()), att_stmt),
            (
                Cbor::Text("authData".into()),
                Cbor::Bytes(auth_data.clone()),
            ),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::into_writer(&attestation, &mut attestation_object).expect("CBOR into a Vec");
        let spki = signing_key
            .verifying_key()
            .to_public_key_der()
            .expect("SPKI DER");

        self.credentials
            .retain(|c| !(c.rp_id == rp_id && c.user_handle == user_handle));
        self.credentials.push(StoredCredential {
            credential_id: credential_id.clone(),
            rp_id,
            user_handle,
            signing_key,
            counter: 0,
        });

        Ok(json!({
            "id": b64(&credential_id),
            "rawId": b64(&credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
            "response": {
                "clientDataJSON": b64(&client_data_json),
                "attestationObject": b64(&attestation_object),
                "authenticatorData": b64(&auth_data),
                "transports": ["internal", "hybrid"],
                "publicKey": b64(spki.as_bytes()),
                "publicKeyAlgorithm": -7,
            },
        }))
    }

    /// Signs in (`navigator.credentials.get`). Takes
    /// `{"publicKey": PublicKeyCredentialRequestOptionsJSON}` or the bare options and the
    /// caller's origin; uses the newest stored credential for `rpId` that is in
    /// `allowCredentials` (any, when that is empty: discoverable); answers the assertion
    /// credential's `toJSON()` form.
    pub fn authenticate(
        &mut self,
        options: &Value,
        origin: &str,
    ) -> Result<Value, AuthenticatorError> {
        self.authenticate_with(options, origin, &Tamper::default())
    }

    /// [`authenticate`](Self::authenticate) with [`Tamper`] overrides applied.
    pub fn authenticate_with(
        &mut self,
        options: &Value,
        origin: &str,
        tamper: &Tamper,
    ) -> Result<Value, AuthenticatorError> {
        let opts = public_key_options(options);
        let challenge = field(opts, "/challenge")?;
        let rp_id = rp_id_or_host(opts.get("rpId").and_then(Value::as_str), origin)?;
        let allowed = descriptor_ids(opts.get("allowCredentials"))?;
        let flags = self.flags(tamper);

        let found = match &tamper.credential_id {
            Some(id) => self
                .credentials
                .iter()
                .rposition(|c| &c.credential_id == id),
            None => self.credentials.iter().rposition(|c| {
                c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.credential_id))
            }),
        };
        let cred = &mut self.credentials
            [found.ok_or_else(|| AuthenticatorError::NoCredential(rp_id.clone()))?];
        if self.counting {
            cred.counter = cred.counter.wrapping_add(1);
        }
        let counter = tamper.counter.unwrap_or(cred.counter);

        let mut auth_data =
            Sha256::digest(tamper.rp_id_for_hash.as_deref().unwrap_or(&rp_id)).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let client_data_json = client_data(
            tamper.client_data_type.as_deref().unwrap_or("webauthn.get"),
            tamper.challenge.as_deref().unwrap_or(challenge),
            tamper.origin.as_deref().unwrap_or(origin),
            tamper.framed_by.as_deref(),
        );
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature = if tamper.wrong_key {
            sign_der(&random_signing_key(), &signed)
        } else {
            sign_der(&cred.signing_key, &signed)
        };

        Ok(json!({
            "id": b64(&cred.credential_id),
            "rawId": b64(&cred.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(&client_data_json),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&signature),
                "userHandle": b64(&cred.user_handle),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::Signature;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;

    fn creation(challenge: &str) -> Value {
        json!({"publicKey": {
            "rp": {"id": "localhost", "name": "Latchkey"},
            "user": {"id": b64(b"user-1"), "name": "ada", "displayName": "Ada"},
            "challenge": challenge,
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
            "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        }})
    }

    fn request(challenge: &str) -> Value {
        json!({"publicKey": {"rpId": "localhost", "challenge": challenge, "allowCredentials": [], "userVerification": "required"}})
    }

    fn response_bytes(cred: &Value, name: &str) -> Vec<u8> {
        unb64(cred["response"][name].as_str().unwrap()).unwrap()
    }

    fn signature_ok(spki: &[u8], assertion: &Value) -> bool {
        let key = VerifyingKey::from_public_key_der(spki).unwrap();
        let mut msg = response_bytes(assertion, "authenticatorData");
        msg.extend_from_slice(&Sha256::digest(response_bytes(assertion, "clientDataJSON")));
        let sig = Signature::from_der(&response_bytes(assertion, "signature")).unwrap();
        key.verify(&msg, &sig).is_ok()
    }

    #[test]
    fn registers_then_signs_an_assertion_p256_verifies() {
        let mut auth = SoftAuthenticator::new();
        let reg = auth
            .register(&creation("cmVnLWNoYWxsZW5nZQ"), "http://localhost:8080")
            .unwrap();
        assert_eq!(reg["id"], reg["rawId"]);
        assert_eq!(reg["response"]["publicKeyAlgorithm"], -7);
        let client: Value =
            serde_json::from_slice(&response_bytes(&reg, "clientDataJSON")).unwrap();
        assert_eq!(
            client,
            json!({"type": "webauthn.create", "challenge": "cmVnLWNoYWxsZW5nZQ", "origin": "http://localhost:8080", "crossOrigin": false})
        );

        // attestationObject: fmt none, authData = rpIdHash ‖ flags ‖ counter ‖ attested credential data.
        let att: Cbor =
            ciborium::from_reader(response_bytes(&reg, "attestationObject").as_slice()).unwrap();
        let map = att.as_map().unwrap();
        assert_eq!(
            map[0],
            (Cbor::Text("fmt".into()), Cbor::Text("none".into()))
        );
        let auth_data = map[2].1.as_bytes().unwrap().clone();
        assert_eq!(auth_data, response_bytes(&reg, "authenticatorData"));
        assert_eq!(auth_data[..32], Sha256::digest("localhost")[..]);
        assert_eq!(
            auth_data[32],
            FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS | FLAG_AT
        );
        assert_eq!(auth_data[33..37], [0; 4]);
        let cred = &auth.credentials()[0];
        let id_len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        assert!((16..=32).contains(&id_len));
        assert_eq!(auth_data[55..55 + id_len], cred.credential_id[..]);
        assert_eq!(auth_data[55 + id_len..], cred.cose_public_key()[..]);
        assert_eq!(cred.user_handle, b"user-1");
        // Canonical COSE key: map(5) {1: 2, 3: -7, -1: 1, -2: bstr(32), -3: bstr(32)}.
        assert_eq!(
            cred.cose_public_key()[..10],
            [0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]
        );

        let spki = response_bytes(&reg, "publicKey");
        let assertion = auth
            .authenticate(&request("Z2V0LWNoYWxsZW5nZQ"), "http://localhost:8080")
            .unwrap();
        assert_eq!(assertion["id"], reg["id"]);
        assert_eq!(response_bytes(&assertion, "userHandle"), b"user-1");
        let ad = response_bytes(&assertion, "authenticatorData");
        assert_eq!(ad.len(), 37);
        assert_eq!(ad[32], FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS);
        assert!(signature_ok(&spki, &assertion));

        let bad = auth
            .authenticate_with(
                &request("Z2V0"),
                "http://localhost:8080",
                &Tamper {
                    wrong_key: true,
                    ..Tamper::default()
                },
            )
            .unwrap();
        assert!(!signature_ok(&spki, &bad));
    }

    #[test]
    fn device_bound_counts_and_tampering_applies() {
        let mut auth = SoftAuthenticator::new()
            .device_bound()
            .with_uv(false)
            .with_aaguid([7; 16]);
        let reg = auth
            .register(&creation("YQ"), "http://localhost:8080")
            .unwrap();
        let ad = response_bytes(&reg, "authenticatorData");
        assert_eq!(ad[32], FLAG_UP | FLAG_AT);
        assert_eq!(ad[37..53], [7; 16]);
        for expected in 1..=2u32 {
            let a = auth
                .authenticate(&request("Yg"), "http://localhost:8080")
                .unwrap();
            assert_eq!(
                response_bytes(&a, "authenticatorData")[33..37],
                expected.to_be_bytes()
            );
        }
        let tamper = Tamper {
            origin: Some("https://evil.example".into()),
            client_data_type: Some("webauthn.create".into()),
            challenge: Some("other".into()),
            rp_id_for_hash: Some("evil.example".into()),
            clear_up: true,
            counter: Some(0),
            ..Tamper::default()
        };
        let a = auth
            .authenticate_with(&request("Yg"), "http://localhost:8080", &tamper)
            .unwrap();
        let ad = response_bytes(&a, "authenticatorData");
        assert_eq!(ad[..32], Sha256::digest("evil.example")[..]);
        assert_eq!(ad[32..], [0, 0, 0, 0, 0]);
        let client: Value = serde_json::from_slice(&response_bytes(&a, "clientDataJSON")).unwrap();
        assert_eq!(
            (
                client["type"].as_str(),
                client["challenge"].as_str(),
                client["origin"].as_str()
            ),
            (
                Some("webauthn.create"),
                Some("other"),
                Some("https://evil.example")
            )
        );
        assert!(
            signature_ok(&response_bytes(&reg, "publicKey"), &a),
            "tampered data is still signed"
        );
    }

    #[test]
    fn picks_credentials_like_a_platform_authenticator() {
        let mut auth = SoftAuthenticator::new();
        let first = auth
            .register(&creation("YQ"), "http://localhost:8080")
            .unwrap();
        let mut other_user = creation("YQ");
        other_user["publicKey"]["user"]["id"] = b64(b"user-2").into();
        let second = auth.register(&other_user, "http://localhost:8080").unwrap();
        // Discoverable: the newest; allowCredentials: the listed one.
        assert_eq!(
            auth.authenticate(&request("Yg"), "http://localhost:8080")
                .unwrap()["id"],
            second["id"]
        );
        let mut allow = request("Yg");
        allow["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": first["id"]}]);
        assert_eq!(
            auth.authenticate(&allow, "http://localhost:8080").unwrap()["id"],
            first["id"]
        );
        // Same user again replaces; an excluded credential refuses; another RP ID finds nothing.
        auth.register(&creation("YQ"), "http://localhost:8080")
            .unwrap();
        assert_eq!(auth.credentials().len(), 2);
        let mut exclude = creation("YQ");
        exclude["publicKey"]["excludeCredentials"] =
            json!([{"type": "public-key", "id": second["id"]}]);
        assert_eq!(
            auth.register(&exclude, "http://localhost:8080"),
            Err(AuthenticatorError::Excluded)
        );
        let mut elsewhere = request("Yg");
        elsewhere["publicKey"]["rpId"] = "example.com".into();
        assert!(matches!(
            auth.authenticate(&elsewhere, "https://example.com"),
            Err(AuthenticatorError::NoCredential(_))
        ));
        // Bare options work, and padded base64url decodes.
        assert!(
            auth.authenticate(&request("Yg")["publicKey"], "http://localhost:8080")
                .is_ok()
        );
        assert_eq!(unb64("YQ==").unwrap(), b"a");
    }
}
