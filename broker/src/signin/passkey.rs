//! Verifying passkeys for a tenant, below the ceremonies that use it (the sign-in's, the
//! recovery's and the account page's): the tenant's relying party, the site-mode check of
//! its related origins, a new passkey verified against its challenge and the tenant's
//! policy, and the refusals, recorded once.

use serde_json::json;
use url::Url;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::SignInError;
use crate::db::entities::credential;
use crate::domain::{RpId, RpMode};
use crate::passkeys::{CeremonyFailure, RelyingParty};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::{self, Event};
use crate::store::tenants::Tenant;
use crate::util::{b64, hex, now, sha256};

/// 32 random bytes: the challenge of a ceremony that issues no code (PROTOCOL §9).
pub(crate) fn random_challenge() -> [u8; 32] {
    rand::random()
}

fn internal(cause: impl std::fmt::Display) -> SignInError {
    SignInError::Internal(cause.to_string())
}

/// The relying party of a tenant: its RP ID, the broker's origin, and (broker mode) its
/// related origins.
pub(crate) fn relying_party(
    state: &AppState,
    tenant: &Tenant,
) -> Result<RelyingParty, SignInError> {
    let mut origins = vec![state.settings.issuer.clone()];
    if tenant.rp_mode == RpMode::Broker {
        origins.extend(
            tenant
                .related_origins
                .iter()
                .filter_map(|o| Url::parse(o).ok()),
        );
    }
    let rp = RelyingParty::new(
        &tenant.rp_id,
        &tenant.name,
        &origins,
        tenant.user_verification,
    )
    .map_err(internal)?;
    Ok(match &tenant.prf_salt {
        Some(salt) => rp.with_prf(salt, tenant.prf_next_salt.as_deref()),
        None => rp,
    })
}

/// The relying party of a registration: with direct attestation against the operator's
/// roots when the tenant's policy proves AAGUIDs; without roots no passkey can be
/// proven, and the policy refuses it after the ceremony.
pub(crate) fn registration_rp(
    state: &AppState,
    tenant: &Tenant,
) -> Result<RelyingParty, SignInError> {
    let rp = relying_party(state, tenant)?;
    if tenant.policy.verifies_aaguid() && !state.settings.attestation_roots.is_empty() {
        return Ok(rp.with_attestation(
            crate::passkeys::attestation_ca_list(
                &state.settings.attestation_roots,
                &tenant.policy.aaguid_allow,
                crate::aaguids::names(),
            )
            .map_err(internal)?,
        ));
    }
    Ok(rp)
}

/// In `site` mode on another domain, the site's `/.well-known/webauthn` must list the
/// broker's origin before any ceremony runs (PROTOCOL §6).
pub(crate) async fn ensure_related_origin(
    state: &AppState,
    tenant: &Tenant,
) -> Result<(), SignInError> {
    if tenant.rp_mode != RpMode::Site {
        return Ok(());
    }
    let host = state.settings.issuer.host_str().unwrap_or_default();
    if RpId::parse("rp_id", &tenant.rp_id).is_ok_and(|rp| rp.covers_host(host)) {
        return Ok(());
    }
    let origin = latchkey_well_known::Origin::parse(&state.issuer).map_err(internal)?;
    let check = state.fetcher.check(&tenant.rp_id, &origin).await;
    if check.ok {
        return Ok(());
    }
    // The detail (a DNS error, a redirect to an internal address) is for the site's
    // owner, who sees it in the dashboard's well-known check, and for the log; the person
    // signing in gets plain words.
    tracing::warn!(tenant = %tenant.client_id, problem = ?check.problem, "related origin check failed");
    Err(SignInError::SiteNotReady {
        rp_id: tenant.rp_id.clone(),
    })
}

/// A policy refusal of a new passkey carries its id, so that the page tells the
/// authenticator to forget a passkey the broker did not keep.
fn forget(err: SignInError, id: String) -> SignInError {
    match err {
        SignInError::Policy { refusal, site, .. } => SignInError::Policy {
            refusal,
            site,
            credential_id: Some(id),
        },
        other => other,
    }
}

/// Maps a verification failure to the contract and records it.
pub(crate) async fn refuse(
    state: &AppState,
    tenant: &Tenant,
    subject: &str,
    kind: &str,
    failure: CeremonyFailure,
) -> SignInError {
    let (reason, err) = match failure {
        CeremonyFailure::UserVerificationRequired => (
            "user_verification".to_owned(),
            SignInError::UserVerificationRequired,
        ),
        CeremonyFailure::Verification(r) => (r, SignInError::VerificationFailed),
        CeremonyFailure::Policy(refusal) => (
            refusal.reason().to_owned(),
            SignInError::Policy {
                refusal,
                site: tenant.name.clone(),
                credential_id: None,
            },
        ),
        CeremonyFailure::Internal(e) => return SignInError::Internal(e),
    };
    state.metrics.ceremony(kind, &reason);
    audit::record(
        state.writer.conn(),
        Event {
            actor: "anonymous",
            action: "ceremony.failed",
            tenant_id: Some(&tenant.client_id),
            subject: Some(subject),
            detail: json!({"ceremony": kind, "reason": reason}),
        },
    )
    .await;
    err
}

/// Verifies an attestation against the outstanding creation challenge (`ceremony_state`,
/// webauthn-rs's registration state) and the tenant's policy, and builds the passkey to
/// store for `user_id` (a new account, an existing one in a recovery, or one adding a
/// passkey on the account page). Failures are recorded as `ceremony.failed` under `kind`
/// with `subject` (the flow, or the account).
pub(crate) async fn verify_new_passkey(
    state: &AppState,
    tenant: &Tenant,
    subject: &str,
    ceremony_state: &str,
    credential: &RegisterPublicKeyCredential,
    user_id: &str,
    kind: &str,
) -> Result<(credential::Model, crate::passkeys::AttestedCredential), SignInError> {
    let rp = relying_party(state, tenant)?;
    let (passkey, aaguid_verified) = match rp.finish_registration(credential, ceremony_state) {
        Ok(p) => p,
        Err(f @ CeremonyFailure::Policy(_)) => {
            // The authenticator keeps a passkey the broker refused: the page tells it to
            // forget it (signalUnknownCredential).
            return Err(forget(
                refuse(state, tenant, subject, kind, f).await,
                b64(&credential.raw_id),
            ));
        }
        Err(f) => return Err(refuse(state, tenant, subject, kind, f).await),
    };
    let Some(attested) = crate::passkeys::read_attestation(&credential.response.attestation_object)
    else {
        return Err(refuse(
            state,
            tenant,
            subject,
            kind,
            CeremonyFailure::Verification("attestation".into()),
        )
        .await);
    };
    let credential_id = b64(&attested.credential_id);
    if let Err(r) = tenant.policy.check(
        attested.aaguid,
        aaguid_verified,
        attested.flags.backup_eligible,
        crate::aaguids::names(),
    ) {
        return Err(forget(
            refuse(state, tenant, subject, kind, CeremonyFailure::Policy(r)).await,
            credential_id,
        ));
    }
    if accounts::credential_exists(&state.db, &credential_id).await? {
        return Err(refuse(
            state,
            tenant,
            subject,
            kind,
            CeremonyFailure::Verification("duplicate_credential".into()),
        )
        .await);
    }
    let t = now();
    let stored = credential::Model {
        id: credential_id,
        tenant_id: tenant.client_id.clone(),
        user_id: user_id.to_owned(),
        rp_id: tenant.rp_id.clone(),
        passkey: serde_json::to_string(&passkey).map_err(internal)?,
        public_key: b64(&attested.cose_key),
        public_key_alg: attested.alg,
        passkey_id: hex(sha256(&attested.cose_key)),
        aaguid: attested.aaguid.to_string(),
        backup_eligible: attested.flags.backup_eligible,
        backed_up: attested.flags.backed_up,
        user_verified: attested.flags.user_verified,
        counter: i64::from(attested.counter),
        created_at: t,
        last_used_at: Some(t),
        aaguid_verified,
        name: None,
    };
    Ok((stored, attested))
}
