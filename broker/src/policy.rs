//! A tenant's passkey policy beyond user verification: which authenticator models are
//! accepted (AAGUID allow and deny lists), whether synced passkeys are accepted, and
//! whether the authenticator model must be proven by attestation.
//!
//! What each rule can and cannot promise:
//! - With `attestation: none` the AAGUID is what the authenticator *says* it is. Lists
//!   then steer honest authenticators and password managers; they do not stop a
//!   client that lies.
//! - With `attestation: direct` and an allow list, the broker asks for attestation and
//!   webauthn-rs verifies the attestation statement's signature and its certificate
//!   chain up to one of the operator's attestation roots (`LATCHKEY_ATTESTATION_ROOTS`),
//!   and that the AAGUID is one the allow list names under that root (for `packed`, the
//!   AAGUID of the authenticator data, which must equal the certificate's FIDO AAGUID
//!   extension when it carries one). A passkey so registered is marked
//!   `aaguid_verified`; under that policy a passkey without the mark is refused at sign-in.
//! - The BE flag (backup eligible) is signed by the authenticator with every assertion:
//!   `synced_passkeys: refuse` refuses it at registration and at every sign-in.
//! - The signature counter is only a heuristic (synced passkeys report 0): a regression
//!   is always an audit event, and refused under `counter_policy: reject`.

use latchkey_proto::ErrorCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aaguids::AaguidNames;
use crate::domain::Invalid;

/// Whether synced (backup-eligible) passkeys are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncedPasskeys {
    /// Any passkey.
    Allow,
    /// Device-bound passkeys only (BE flag clear).
    Refuse,
}

impl SyncedPasskeys {
    /// Parses `allow` or `refuse`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "allow" => Ok(Self::Allow),
            "refuse" => Ok(Self::Refuse),
            _ => Err(Invalid {
                field: "synced_passkeys",
                message:
                    "synced_passkeys must be \"allow\" or \"refuse\" (device-bound passkeys only)"
                        .into(),
            }),
        }
    }

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Refuse => "refuse",
        }
    }
}

/// The attestation conveyance a tenant asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attestation {
    /// No attestation: the AAGUID is self-reported.
    None,
    /// Direct attestation, verified against the broker's attestation roots.
    Direct,
}

impl Attestation {
    /// Parses `none` or `direct`.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "none" => Ok(Self::None),
            "direct" => Ok(Self::Direct),
            _ => Err(Invalid {
                field: "attestation",
                message: "attestation must be \"none\" or \"direct\"".into(),
            }),
        }
    }

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Direct => "direct",
        }
    }
}

/// Parses a list of AAGUIDs (hyphenated UUIDs), at most 200, without duplicates.
pub fn parse_aaguids(field: &'static str, list: &[String]) -> Result<Vec<Uuid>, Invalid> {
    if list.len() > 200 {
        return Err(Invalid {
            field,
            message: format!("{field} holds at most 200 AAGUIDs"),
        });
    }
    let mut out: Vec<Uuid> = Vec::new();
    for s in list {
        let id = Uuid::try_parse(s.trim())
            .ok()
            .filter(|_| s.trim().len() == 36)
            .ok_or_else(|| Invalid {
                field,
                message: format!(
                    "{s:?} in {field} is not an AAGUID such as ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
                ),
            })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A tenant's passkey policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyPolicy {
    /// When not empty, only these authenticator models are accepted.
    pub aaguid_allow: Vec<Uuid>,
    /// These authenticator models are refused (the nil AAGUID: undisclosed models).
    pub aaguid_deny: Vec<Uuid>,
    /// Synced passkeys accepted or refused.
    pub synced_passkeys: SyncedPasskeys,
    /// Attestation asked for at registration.
    pub attestation: Attestation,
}

impl Default for PasskeyPolicy {
    fn default() -> Self {
        Self {
            aaguid_allow: Vec::new(),
            aaguid_deny: Vec::new(),
            synced_passkeys: SyncedPasskeys::Allow,
            attestation: Attestation::None,
        }
    }
}

/// Why a policy refused a passkey. Each has its error code for the ceremony API, its
/// reason for the audit log and metrics, and its message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The authenticator model is on the deny list.
    AuthenticatorDenied {
        /// Its name, when known.
        name: Option<String>,
    },
    /// An allow list is set and the model is not on it.
    AuthenticatorNotAllowed {
        /// Its name, when known.
        name: Option<String>,
    },
    /// A synced passkey where only device-bound ones are accepted.
    SyncedPasskey,
    /// The authenticator model had to be proven by attestation and was not.
    AttestationNotVerified,
    /// The signature counter went backwards under `counter_policy: reject`.
    CounterRegression,
}

impl Refusal {
    /// The error code of the ceremony API (PROTOCOL §2 and its extension).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::AuthenticatorDenied { .. } | Self::AuthenticatorNotAllowed { .. } => {
                ErrorCode::AuthenticatorNotAllowed
            }
            Self::SyncedPasskey => ErrorCode::SyncedPasskeyNotAllowed,
            Self::AttestationNotVerified => ErrorCode::AttestationNotVerified,
            // The contract fixes this one; the answer names the reason too.
            Self::CounterRegression => ErrorCode::VerificationFailed,
        }
    }

    /// The reason in the audit log and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AuthenticatorDenied { .. } => "authenticator_denied",
            Self::AuthenticatorNotAllowed { .. } => "authenticator_not_allowed",
            Self::SyncedPasskey => "synced_passkey",
            Self::AttestationNotVerified => "attestation_not_verified",
            Self::CounterRegression => "counter_regression",
        }
    }

    /// The authenticator's name, for the page.
    pub fn authenticator(&self) -> Option<&str> {
        match self {
            Self::AuthenticatorDenied { name } | Self::AuthenticatorNotAllowed { name } => {
                name.as_deref()
            }
            _ => None,
        }
    }

    /// What a person reads (English; the page has its own translations by code and
    /// reason).
    pub fn message(&self, site: &str) -> String {
        let model = |name: &Option<String>| {
            name.as_deref().map_or_else(
                || "this kind of passkey".to_owned(),
                |n| format!("passkeys from {n}"),
            )
        };
        match self {
            Self::AuthenticatorDenied { name } | Self::AuthenticatorNotAllowed { name } => format!(
                "{site} does not accept {}. Use a passkey from a device or password manager that {site} allows.",
                model(name)
            ),
            Self::SyncedPasskey => format!(
                "{site} accepts only passkeys that stay on one device, such as a security key, and this passkey is synced between devices. Use a security key or a device-bound passkey."
            ),
            Self::AttestationNotVerified => format!(
                "{site} needs proof of which device holds the passkey, and this passkey's device did not give it. Use a security key that {site} has approved."
            ),
            Self::CounterRegression => "This passkey reported a use count lower than before, which can mean it was copied. It was refused; contact the site if this keeps happening.".to_owned(),
        }
    }
}

impl PasskeyPolicy {
    /// Whether AAGUIDs must be proven by attestation: `direct` with an allow list.
    pub fn verifies_aaguid(&self) -> bool {
        self.attestation == Attestation::Direct && !self.aaguid_allow.is_empty()
    }

    /// Judges a passkey at registration or at sign-in: its AAGUID (and whether
    /// attestation proved it), and its BE flag as signed in this ceremony.
    pub fn check(
        &self,
        aaguid: Uuid,
        aaguid_verified: bool,
        backup_eligible: bool,
        names: &AaguidNames,
    ) -> Result<(), Refusal> {
        let name = || names.name(&aaguid).map(str::to_owned);
        if self.verifies_aaguid() && !aaguid_verified {
            return Err(Refusal::AttestationNotVerified);
        }
        if self.aaguid_deny.contains(&aaguid) {
            return Err(Refusal::AuthenticatorDenied { name: name() });
        }
        if !self.aaguid_allow.is_empty() && !self.aaguid_allow.contains(&aaguid) {
            return Err(Refusal::AuthenticatorNotAllowed { name: name() });
        }
        if self.synced_passkeys == SyncedPasskeys::Refuse && backup_eligible {
            return Err(Refusal::SyncedPasskey);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPM: &str = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";
    const KEY: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).unwrap()
    }

    #[test]
    fn the_default_policy_accepts_any_passkey() {
        let p = PasskeyPolicy::default();
        let names = AaguidNames::bundled();
        assert!(p.check(Uuid::nil(), false, true, &names).is_ok());
        assert!(p.check(id(GPM), false, false, &names).is_ok());
    }

    #[test]
    fn a_deny_list_refuses_the_model_and_names_it() {
        let p = PasskeyPolicy {
            aaguid_deny: vec![id(GPM)],
            ..PasskeyPolicy::default()
        };
        let err = p
            .check(id(GPM), false, true, &AaguidNames::bundled())
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::AuthenticatorNotAllowed);
        assert_eq!(err.reason(), "authenticator_denied");
        assert_eq!(err.authenticator(), Some("Google Password Manager"));
        assert!(err.message("Shop").contains("Google Password Manager"));
        assert!(
            p.check(id(KEY), false, true, &AaguidNames::bundled())
                .is_ok()
        );
    }

    #[test]
    fn an_allow_list_refuses_every_other_model() {
        let p = PasskeyPolicy {
            aaguid_allow: vec![id(KEY)],
            ..PasskeyPolicy::default()
        };
        let names = AaguidNames::bundled();
        assert!(p.check(id(KEY), false, false, &names).is_ok());
        let err = p.check(Uuid::nil(), false, false, &names).unwrap_err();
        assert_eq!(err.reason(), "authenticator_not_allowed");
        assert_eq!(err.authenticator(), None);
    }

    #[test]
    fn device_bound_only_refuses_backup_eligible_passkeys() {
        let p = PasskeyPolicy {
            synced_passkeys: SyncedPasskeys::Refuse,
            ..PasskeyPolicy::default()
        };
        let names = AaguidNames::bundled();
        assert_eq!(
            p.check(Uuid::nil(), false, true, &names),
            Err(Refusal::SyncedPasskey)
        );
        assert!(p.check(Uuid::nil(), false, false, &names).is_ok());
    }

    #[test]
    fn direct_attestation_with_an_allow_list_needs_a_verified_aaguid() {
        let p = PasskeyPolicy {
            aaguid_allow: vec![id(KEY)],
            attestation: Attestation::Direct,
            ..PasskeyPolicy::default()
        };
        let names = AaguidNames::bundled();
        assert_eq!(
            p.check(id(KEY), false, false, &names),
            Err(Refusal::AttestationNotVerified)
        );
        assert!(p.check(id(KEY), true, false, &names).is_ok());
        assert!(p.verifies_aaguid());
        assert!(
            !PasskeyPolicy {
                attestation: Attestation::Direct,
                ..PasskeyPolicy::default()
            }
            .verifies_aaguid()
        );
    }

    #[test]
    fn aaguid_lists_are_parsed_strictly() {
        assert_eq!(
            parse_aaguids("aaguid_allow", &[GPM.into(), GPM.into()]).unwrap(),
            vec![id(GPM)]
        );
        let e =
            parse_aaguids("aaguid_deny", &["ea9b8d664d011d213ce4b6b48cb575d4".into()]).unwrap_err();
        assert_eq!(e.field, "aaguid_deny");
        assert!(parse_aaguids("aaguid_allow", &["nope".into()]).is_err());
        assert!(parse_aaguids("aaguid_allow", &vec![GPM.to_owned(); 201]).is_err());
    }

    #[test]
    fn each_refusal_has_its_own_code_or_reason_and_message() {
        let all = [
            Refusal::AuthenticatorDenied { name: None },
            Refusal::AuthenticatorNotAllowed { name: None },
            Refusal::SyncedPasskey,
            Refusal::AttestationNotVerified,
            Refusal::CounterRegression,
        ];
        let reasons: std::collections::HashSet<_> = all.iter().map(Refusal::reason).collect();
        assert_eq!(reasons.len(), all.len());
        let messages: std::collections::HashSet<_> =
            all[1..].iter().map(|r| r.message("S")).collect();
        assert_eq!(messages.len(), all.len() - 1);
    }
}
