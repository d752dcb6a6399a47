//! The one module that drives webauthn-rs.
//!
//! Latchkey's WebAuthn challenge is not random bytes chosen by webauthn-rs but
//! `SHA-256(signed_message)` (PROTOCOL §5), so that a site can check that the person's
//! authenticator signed over its own `code_challenge`. webauthn-rs 0.6 has no public API
//! for a caller-chosen challenge; with its `danger-allow-state-serialisation` feature the
//! ceremony state serialises to JSON, and this module sets the challenge both in the
//! options sent to the browser and in the serialised state. It also adjusts, in the same
//! two places, what the high-level passkey API fixes: resident keys are required (the
//! sign-in is discoverable), the user-verification policy follows the tenant (at sign-in
//! its current policy alone, not the one a passkey was registered under), and the
//! signature counter check is left to the tenant's `counter_policy`.
//!
//! Every edit goes through [`set_path`], which fails loudly when the layout it expects
//! is missing, and the tests below pin that layout: an upgrade of webauthn-rs that
//! changes it fails here, not in production.

use serde_json::Value;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestedPasskeyRegistration, AuthenticationResult,
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Webauthn, WebauthnBuilder, WebauthnError,
};

use crate::domain::UvPolicy;
use crate::policy::Refusal;
use crate::util::b64;

/// Why a ceremony could not be verified, in the contract's terms (PROTOCOL §2).
#[derive(Debug, thiserror::Error)]
pub enum CeremonyFailure {
    /// UV was required and the authenticator did not set it.
    #[error("user verification was required")]
    UserVerificationRequired,
    /// Any other verification failure, with the reason for the audit log.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The tenant's passkey policy refused the passkey.
    #[error("refused by policy: {}", .0.reason())]
    Policy(Refusal),
    /// The module's assumptions about webauthn-rs no longer hold, or a configuration is bad.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<WebauthnError> for CeremonyFailure {
    fn from(e: WebauthnError) -> Self {
        match e {
            WebauthnError::UserNotVerified => Self::UserVerificationRequired,
            WebauthnError::Configuration => Self::Internal(e.to_string()),
            other => Self::Verification(reason(&other).to_owned()),
        }
    }
}

/// A short, stable reason for the audit log and metrics.
fn reason(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::InvalidRPOrigin => "origin",
        WebauthnError::InvalidRPIDHash => "rp_id_hash",
        WebauthnError::MismatchedChallenge => "challenge",
        WebauthnError::InvalidClientDataType => "client_data_type",
        WebauthnError::UserNotPresent => "user_presence",
        WebauthnError::AuthenticationFailure => "signature",
        WebauthnError::CredentialPossibleCompromise => "counter",
        WebauthnError::CredentialNotFound => "credential",
        _ => "malformed",
    }
}

/// One relying party: an RP ID and the exact origins allowed to run ceremonies for it.
pub struct RelyingParty {
    webauthn: Webauthn,
    origins: Vec<String>,
    uv: UvPolicy,
    prf: Option<(String, Option<String>)>,
    attestation: Option<AttestationCaList>,
}

/// Splits a PEM bundle into its certificates, each checked to parse as an attestation
/// root. Fails on a bundle without any.
pub fn split_pem_certificates(text: &str) -> Result<Vec<String>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let end = after
            .find(END)
            .ok_or_else(|| "a certificate has no END line".to_owned())?;
        let pem = &after[..end + END.len()];
        let mut probe = AttestationCaListBuilder::new();
        probe
            .insert_device_pem(
                pem.as_bytes(),
                Uuid::nil(),
                String::new(),
                Default::default(),
            )
            .map_err(|e| format!("certificate {} does not parse: {e:?}", out.len() + 1))?;
        out.push(format!("{pem}\n"));
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(out)
}

/// The attestation CA list for `direct` attestation: every root trusted for exactly the
/// allowed AAGUIDs, so that webauthn-rs refuses a chain to another root and an AAGUID
/// not on the list.
pub fn attestation_ca_list(
    roots: &[String],
    allowed: &[Uuid],
    names: &crate::aaguids::AaguidNames,
) -> Result<AttestationCaList, CeremonyFailure> {
    let mut builder = AttestationCaListBuilder::new();
    for root in roots {
        for aaguid in allowed {
            builder
                .insert_device_pem(
                    root.as_bytes(),
                    *aaguid,
                    names
                        .name(aaguid)
                        .unwrap_or("allowed authenticator")
                        .to_owned(),
                    Default::default(),
                )
                .map_err(|e| internal(format!("attestation root: {e:?}")))?;
        }
    }
    Ok(builder.build())
}

impl RelyingParty {
    /// Builds a relying party. `origins` are the exact origins accepted in client data
    /// (the broker's, plus a tenant's related origins); they need not sit under `rp_id`.
    pub fn new(
        rp_id: &str,
        rp_name: &str,
        origins: &[Url],
        uv: UvPolicy,
    ) -> Result<Self, CeremonyFailure> {
        // webauthn-rs insists that its first origin sits under the RP ID; a broker serving
        // a `site`-mode tenant sits elsewhere (Related Origin Requests), so the first origin
        // is the RP ID's own and the exact check of `check_origin` keeps it out.
        let anchor = origins
            .iter()
            .find(|o| {
                o.host_str()
                    .is_some_and(|h| h == rp_id || h.ends_with(&format!(".{rp_id}")))
            })
            .cloned()
            .map_or_else(|| Url::parse(&format!("https://{rp_id}")), Ok)
            .map_err(|e| CeremonyFailure::Internal(e.to_string()))?;
        let mut builder = WebauthnBuilder::new(rp_id, &anchor)?.rp_name(rp_name);
        for o in origins {
            builder = builder.append_allowed_origin(o);
        }
        Ok(Self {
            webauthn: builder.build()?,
            origins: origins
                .iter()
                .map(|o| o.as_str().trim_end_matches('/').to_owned())
                .collect(),
            uv,
            prf: None,
            attestation: None,
        })
    }

    /// Asks for the `prf` extension, evaluated with `first` (and `second` during a salt
    /// rotation). Only the options change: the outputs stay in the browser.
    pub fn with_prf(mut self, first: &str, second: Option<&str>) -> Self {
        self.prf = Some((first.to_owned(), second.map(str::to_owned)));
        self
    }

    /// Asks for `direct` attestation at registration and verifies it against `cas`.
    pub fn with_attestation(mut self, cas: AttestationCaList) -> Self {
        self.attestation = Some(cas);
        self
    }

    fn prf_extension(&self) -> Option<Value> {
        self.prf.as_ref().map(|(first, second)| {
            let mut eval = serde_json::json!({ "first": first });
            if let Some(s) = second {
                eval["second"] = s.clone().into();
            }
            serde_json::json!({ "eval": eval })
        })
    }

    fn add_prf(&self, public_key: &mut Value) -> Result<(), CeremonyFailure> {
        let Some(prf) = self.prf_extension() else {
            return Ok(());
        };
        let root = public_key
            .as_object_mut()
            .ok_or_else(|| internal("options are not an object"))?;
        let ext = root
            .entry("extensions")
            .or_insert_with(|| Value::Object(Default::default()));
        if !ext.is_object() {
            *ext = Value::Object(Default::default());
        }
        if let Some(obj) = ext.as_object_mut() {
            obj.insert("prf".into(), prf);
        }
        Ok(())
    }

    /// Checks the `origin` of client data against the exact allowed list, and that the
    /// ceremony did not run in a frame of another origin: `crossOrigin: true` or any
    /// `topOrigin` is refused at registration and authentication alike (the hosted pages
    /// cannot be framed, so such client data was not made by them).
    pub fn check_origin(&self, client_data_json: &[u8]) -> Result<(), CeremonyFailure> {
        let v: Value = serde_json::from_slice(client_data_json)
            .map_err(|_| CeremonyFailure::Verification("malformed".into()))?;
        if v.get("crossOrigin")
            .is_some_and(|c| c != &Value::Bool(false))
            || v.get("topOrigin").is_some()
        {
            return Err(CeremonyFailure::Verification("cross_origin".into()));
        }
        let origin = v.get("origin").and_then(Value::as_str).unwrap_or_default();
        if self.origins.iter().any(|o| o == origin) {
            Ok(())
        } else {
            Err(CeremonyFailure::Verification("origin".into()))
        }
    }

    /// Starts a registration with the given challenge, for a new account or (recovery) an
    /// existing one whose passkeys are listed in `exclude`. Returns the
    /// `PublicKeyCredentialCreationOptionsJSON` and the serialised ceremony state.
    pub fn start_registration(
        &self,
        challenge: &[u8; 32],
        user_id: Uuid,
        name: &str,
        display_name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<(Value, String), CeremonyFailure> {
        let exclude = (!exclude.is_empty()).then(|| {
            exclude
                .iter()
                .map(|id| webauthn_rs::prelude::CredentialID::from(id.clone()))
                .collect()
        });
        let (ccr, reg) =
            self.webauthn
                .start_passkey_registration(user_id, name, display_name, exclude)?;
        let mut options = to_value(&ccr)?;
        let mut state = to_value(&reg)?;
        let chal = Value::String(b64(challenge));
        let uv = Value::String(self.uv.as_str().into());
        set_path(&mut options, &["publicKey", "challenge"], chal.clone())?;
        set_path(
            &mut options,
            &["publicKey", "authenticatorSelection", "residentKey"],
            "required".into(),
        )?;
        set_path(
            &mut options,
            &["publicKey", "authenticatorSelection", "requireResidentKey"],
            true.into(),
        )?;
        set_path(
            &mut options,
            &["publicKey", "authenticatorSelection", "userVerification"],
            uv.clone(),
        )?;
        set_path(&mut state, &["rs", "challenge"], chal)?;
        set_path(&mut state, &["rs", "require_resident_key"], true.into())?;
        set_path(&mut state, &["rs", "policy"], uv)?;
        if self.uv == UvPolicy::Preferred {
            // credProtect level 3 (UV required to use the credential at all) contradicts
            // `preferred`, and authenticators without UV refuse it.
            for root in [&mut options["publicKey"], &mut state["rs"]] {
                let ext = root
                    .get_mut("extensions")
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| internal("missing member extensions"))?;
                ext.remove("credentialProtectionPolicy");
                ext.remove("enforceCredentialProtectionPolicy");
            }
        }
        if self.attestation.is_some() {
            set_path(&mut options, &["publicKey", "attestation"], "direct".into())?;
        }
        let mut public_key = take_public_key(options)?;
        self.add_prf(&mut public_key)?;
        // Round-trip so that a layout change fails now rather than at finish time.
        let _: PasskeyRegistration = from_value(state.clone())?;
        if let Some(cas) = &self.attestation {
            let attested =
                serde_json::json!({ "rs": state["rs"].take(), "ca_list": to_value(cas)? });
            let _: AttestedPasskeyRegistration = from_value(attested.clone())?;
            return Ok((public_key, attested.to_string()));
        }
        Ok((public_key, state.to_string()))
    }

    /// Verifies an attestation against the serialised state of [`Self::start_registration`].
    /// Returns the passkey and whether its AAGUID was proven by a verified attestation
    /// (a state made with [`Self::with_attestation`]).
    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &str,
    ) -> Result<(Passkey, bool), CeremonyFailure> {
        self.check_origin(credential.response.client_data_json.as_ref())?;
        let value: Value = serde_json::from_str(state).map_err(internal)?;
        if value.get("ca_list").is_some() {
            let state: AttestedPasskeyRegistration = from_value(value)?;
            return match self
                .webauthn
                .finish_attested_passkey_registration(credential, &state)
            {
                Ok(p) => Ok((p.into(), true)),
                Err(e) if is_attestation_error(&e) => {
                    tracing::info!(error = ?e, "attestation not verified");
                    Err(CeremonyFailure::Policy(Refusal::AttestationNotVerified))
                }
                Err(e) => Err(e.into()),
            };
        }
        let state: PasskeyRegistration = from_value(value)?;
        Ok((
            self.webauthn
                .finish_passkey_registration(credential, &state)?,
            false,
        ))
    }

    /// Starts a discoverable authentication with the given challenge. Returns the
    /// `PublicKeyCredentialRequestOptionsJSON` and the serialised ceremony state.
    pub fn start_authentication(
        &self,
        challenge: &[u8; 32],
    ) -> Result<(Value, String), CeremonyFailure> {
        let (rcr, auth) = self.webauthn.start_discoverable_authentication()?;
        let mut options = to_value(&rcr)?;
        let mut state = to_value(&auth)?;
        let chal = Value::String(b64(challenge));
        let uv = Value::String(self.uv.as_str().into());
        set_path(&mut options, &["publicKey", "challenge"], chal.clone())?;
        set_path(&mut options, &["publicKey", "userVerification"], uv.clone())?;
        set_path(&mut state, &["ast", "challenge"], chal)?;
        set_path(&mut state, &["ast", "policy"], uv)?;
        let mut public_key = take_public_key(options)?;
        self.add_prf(&mut public_key)?;
        let _: DiscoverableAuthentication = from_value(state.clone())?;
        Ok((public_key, state.to_string()))
    }

    /// Verifies an assertion made with `passkey` (serialised [`Passkey`]) against the
    /// serialised state of [`Self::start_authentication`]. The counter is not judged here:
    /// the caller compares [`AuthenticationResult::counter`] with the stored one and
    /// applies the tenant's policy.
    pub fn finish_authentication(
        &self,
        credential: &PublicKeyCredential,
        state: &str,
        passkey: &str,
    ) -> Result<AuthenticationResult, CeremonyFailure> {
        self.check_origin(credential.response.client_data_json.as_ref())?;
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(internal)?;
        let mut passkey: Value = serde_json::from_str(passkey).map_err(internal)?;
        set_path(&mut passkey, &["cred", "counter"], 0.into())?;
        // webauthn-rs also judges UV by the passkey's history: a passkey registered under
        // `required`, or registered with UV under `preferred`, would need UV forever,
        // whatever the tenant's policy says now. The contract makes the tenant's current
        // policy (the state's) the only judge: `required` still refuses UV = 0 in
        // webauthn-rs's own check, and `preferred` accepts it and reports it
        // (`user_verified: false`, no `mfa` in `amr`). `discouraged` is the registration
        // policy for which webauthn-rs defers to the current one.
        set_path(
            &mut passkey,
            &["cred", "registration_policy"],
            "discouraged".into(),
        )?;
        let passkey: Passkey = from_value(passkey)?;
        Ok(self
            .webauthn
            .finish_discoverable_authentication_v2(credential, state, &passkey)?)
    }
}

/// Whether webauthn-rs refused the attestation itself (statement, chain, or AAGUID under
/// the root), as opposed to the ceremony.
fn is_attestation_error(e: &WebauthnError) -> bool {
    matches!(
        e,
        WebauthnError::AttestationNotVerifiable
            | WebauthnError::AttestationUntrustedAaguid
            | WebauthnError::AttestationFormatMissingAaguid
            | WebauthnError::AttestationChainNotTrusted(_)
            | WebauthnError::AttestationCertificateTrustStoreEmpty
    ) || format!("{e:?}").starts_with("Attestation")
}

fn internal(e: impl std::fmt::Display) -> CeremonyFailure {
    CeremonyFailure::Internal(format!("webauthn state: {e}"))
}

fn to_value(v: &impl serde::Serialize) -> Result<Value, CeremonyFailure> {
    serde_json::to_value(v).map_err(internal)
}

fn from_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, CeremonyFailure> {
    serde_json::from_value(v).map_err(internal)
}

fn take_public_key(mut options: Value) -> Result<Value, CeremonyFailure> {
    options
        .get_mut("publicKey")
        .map(Value::take)
        .ok_or_else(|| internal("options without publicKey"))
}

/// Replaces the value at `path`, which must already exist: a missing member means
/// webauthn-rs changed its layout, and that must not pass silently.
fn set_path(root: &mut Value, path: &[&str], value: Value) -> Result<(), CeremonyFailure> {
    let mut cur = root;
    for key in path {
        cur = cur
            .get_mut(*key)
            .ok_or_else(|| internal(format!("missing member {}", path.join("."))))?;
    }
    *cur = value;
    Ok(())
}

/// What Latchkey keeps of a newly registered credential, read from the attestation.
#[derive(Debug, Clone)]
pub struct AttestedCredential {
    /// The credential ID.
    pub credential_id: Vec<u8>,
    /// The credential public key: COSE_Key bytes exactly as in the authenticator data.
    pub cose_key: Vec<u8>,
    /// COSE algorithm of the key.
    pub alg: i32,
    /// AAGUID of the authenticator model (all zero when not disclosed).
    pub aaguid: Uuid,
    /// Raw authenticator data.
    pub authenticator_data: Vec<u8>,
    /// Flags of the authenticator data.
    pub flags: Flags,
    /// Signature counter.
    pub counter: u32,
}

/// Authenticator data flags (WebAuthn §6.1).
#[derive(Debug, Clone, Copy)]
pub struct Flags {
    /// UP: user present.
    pub user_present: bool,
    /// UV: user verified.
    pub user_verified: bool,
    /// BE: backup eligible (a synced passkey).
    pub backup_eligible: bool,
    /// BS: backed up.
    pub backed_up: bool,
}

impl Flags {
    /// Reads the flags byte of authenticator data.
    pub fn from_auth_data(auth_data: &[u8]) -> Option<Self> {
        let f = *auth_data.get(32)?;
        Some(Self {
            user_present: f & 0x01 != 0,
            user_verified: f & 0x04 != 0,
            backup_eligible: f & 0x08 != 0,
            backed_up: f & 0x10 != 0,
        })
    }
}

/// Reads the attested credential data out of an attestation object (CBOR), keeping the
/// COSE key's exact bytes so that a site can compare them with `public_key` (PROTOCOL §5).
pub fn read_attestation(attestation_object: &[u8]) -> Option<AttestedCredential> {
    use ciborium::value::Value as Cbor;
    let value: Cbor = ciborium::from_reader(attestation_object).ok()?;
    let map = value.as_map()?;
    let auth_data = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("authData"))
        .and_then(|(_, v)| v.as_bytes())?
        .clone();
    if auth_data.len() < 37 + 18 || auth_data[32] & 0x40 == 0 {
        return None;
    }
    let flags = Flags::from_auth_data(&auth_data)?;
    let counter = u32::from_be_bytes(auth_data[33..37].try_into().ok()?);
    let aaguid = Uuid::from_slice(&auth_data[37..53]).ok()?;
    let id_len = u16::from_be_bytes([auth_data[53], auth_data[54]]) as usize;
    let id_end = 55usize.checked_add(id_len)?;
    let credential_id = auth_data.get(55..id_end)?.to_vec();
    let mut rest: &[u8] = auth_data.get(id_end..)?;
    let before = rest.len();
    let key: Cbor = ciborium::from_reader(&mut rest).ok()?;
    let used = before - rest.len();
    let cose_key = auth_data.get(id_end..id_end + used)?.to_vec();
    let alg = key
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_integer().map(i128::from) == Some(3))
        .and_then(|(_, v)| v.as_integer())
        .and_then(|i| i32::try_from(i128::from(i)).ok())?;
    Some(AttestedCredential {
        credential_id,
        cose_key,
        alg,
        aaguid,
        authenticator_data: auth_data,
        flags,
        counter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_tests::authenticator::{SoftAuthenticator, Tamper};

    fn rp() -> RelyingParty {
        let origin = Url::parse("http://localhost:8080").unwrap();
        RelyingParty::new("localhost", "Test", &[origin], UvPolicy::Required).unwrap()
    }

    #[test]
    fn registration_options_and_state_carry_the_chosen_challenge() {
        let challenge = [7u8; 32];
        let (options, state) = rp()
            .start_registration(&challenge, Uuid::new_v4(), "a@example.com", "A", &[])
            .unwrap();
        assert_eq!(options["challenge"], b64(challenge));
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(
            options["authenticatorSelection"]["userVerification"],
            "required"
        );
        let state: Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["rs"]["challenge"], b64(challenge));
        assert_eq!(state["rs"]["policy"], "required");
    }

    #[test]
    fn authentication_options_and_state_carry_the_chosen_challenge() {
        let challenge = [9u8; 32];
        let rp = RelyingParty::new(
            "localhost",
            "Test",
            &[Url::parse("http://localhost:8080").unwrap()],
            UvPolicy::Preferred,
        )
        .unwrap();
        let (options, state) = rp.start_authentication(&challenge).unwrap();
        assert_eq!(options["challenge"], b64(challenge));
        assert_eq!(options["rpId"], "localhost");
        assert_eq!(options["userVerification"], "preferred");
        assert!(
            options["allowCredentials"]
                .as_array()
                .is_none_or(Vec::is_empty)
        );
        let state: Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["ast"]["challenge"], b64(challenge));
        assert_eq!(state["ast"]["policy"], "preferred");
    }

    /// A relying party on `http://localhost:8080` with UV policy `uv`.
    fn rp_with(uv: UvPolicy) -> RelyingParty {
        let origin = Url::parse("http://localhost:8080").unwrap();
        RelyingParty::new("localhost", "Test", &[origin], uv).unwrap()
    }

    /// Registers a passkey with UV on `rp`: the serialised passkey and the authenticator.
    fn register_with_uv(rp: &RelyingParty) -> (String, SoftAuthenticator) {
        let mut auth = SoftAuthenticator::new().with_uv(true);
        let (options, state) = rp
            .start_registration(&[1; 32], Uuid::new_v4(), "a@example.com", "A", &[])
            .unwrap();
        let credential = auth.register(&options, "http://localhost:8080").unwrap();
        let credential: RegisterPublicKeyCredential = serde_json::from_value(credential).unwrap();
        let (passkey, _) = rp.finish_registration(&credential, &state).unwrap();
        (serde_json::to_string(&passkey).unwrap(), auth)
    }

    /// An assertion from `auth` without UV, verified by `rp` against `passkey`.
    fn sign_in_without_uv(
        rp: &RelyingParty,
        auth: &mut SoftAuthenticator,
        passkey: &str,
    ) -> Result<AuthenticationResult, CeremonyFailure> {
        let (options, state) = rp.start_authentication(&[2; 32]).unwrap();
        let no_uv = Tamper {
            clear_uv: true,
            ..Tamper::default()
        };
        let assertion = auth
            .authenticate_with(&options, "http://localhost:8080", &no_uv)
            .unwrap();
        let assertion: PublicKeyCredential = serde_json::from_value(assertion).unwrap();
        rp.finish_authentication(&assertion, &state, passkey)
    }

    #[test]
    fn preferred_accepts_an_assertion_without_uv_from_a_passkey_registered_with_uv() {
        let rp = rp_with(UvPolicy::Preferred);
        let (passkey, mut auth) = register_with_uv(&rp);
        let stored: Value = serde_json::from_str(&passkey).unwrap();
        assert_eq!(stored["cred"]["user_verified"], true);
        assert_eq!(stored["cred"]["registration_policy"], "preferred");
        let result = sign_in_without_uv(&rp, &mut auth, &passkey).unwrap();
        assert!(!result.user_verified());
    }

    #[test]
    fn the_current_policy_decides_not_the_one_a_passkey_was_registered_under() {
        // Registered under `required`, the tenant now `preferred`: accepted.
        let (passkey, mut auth) = register_with_uv(&rp_with(UvPolicy::Required));
        let result = sign_in_without_uv(&rp_with(UvPolicy::Preferred), &mut auth, &passkey);
        assert!(result.is_ok_and(|r| !r.user_verified()));
        // Registered under `preferred`, the tenant now `required`: refused.
        let (passkey, mut auth) = register_with_uv(&rp_with(UvPolicy::Preferred));
        let result = sign_in_without_uv(&rp_with(UvPolicy::Required), &mut auth, &passkey);
        assert!(matches!(
            result,
            Err(CeremonyFailure::UserVerificationRequired)
        ));
    }

    #[test]
    fn required_refuses_an_assertion_without_uv() {
        let rp = rp_with(UvPolicy::Required);
        let (passkey, mut auth) = register_with_uv(&rp);
        assert!(matches!(
            sign_in_without_uv(&rp, &mut auth, &passkey),
            Err(CeremonyFailure::UserVerificationRequired)
        ));
    }

    #[test]
    fn a_missing_member_is_an_error_not_a_silent_skip() {
        let mut v = serde_json::json!({"rs": {}});
        assert!(set_path(&mut v, &["rs", "challenge"], Value::Null).is_err());
    }

    #[test]
    fn a_site_mode_relying_party_accepts_only_the_exact_origins() {
        let broker = Url::parse("https://broker.test").unwrap();
        let rp = RelyingParty::new("site.test", "Site", &[broker], UvPolicy::Required).unwrap();
        let cd = |o: &str| serde_json::json!({"type": "webauthn.get", "origin": o}).to_string();
        assert!(
            rp.check_origin(cd("https://broker.test").as_bytes())
                .is_ok()
        );
        assert!(rp.check_origin(cd("https://site.test").as_bytes()).is_err());
        assert!(
            rp.check_origin(cd("https://broker.test:444").as_bytes())
                .is_err()
        );
    }

    #[test]
    fn client_data_from_a_cross_origin_frame_is_refused() {
        let broker = Url::parse("https://broker.test").unwrap();
        let rp = RelyingParty::new("broker.test", "B", &[broker], UvPolicy::Required).unwrap();
        let cd = |extra: serde_json::Value| {
            let mut v =
                serde_json::json!({"type": "webauthn.get", "origin": "https://broker.test"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v.to_string()
        };
        let refused = |extra| {
            matches!(
                rp.check_origin(cd(extra).as_bytes()),
                Err(CeremonyFailure::Verification(r)) if r == "cross_origin"
            )
        };
        assert!(refused(serde_json::json!({"crossOrigin": true})));
        assert!(refused(
            serde_json::json!({"topOrigin": "https://evil.test"})
        ));
        assert!(refused(serde_json::json!({"crossOrigin": "yes"})));
        assert!(
            rp.check_origin(cd(serde_json::json!({"crossOrigin": false})).as_bytes())
                .is_ok()
        );
    }
}
