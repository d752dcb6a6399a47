//! The WebAuthn ceremonies of a flow (PROTOCOL §2, §5): options whose challenge is the
//! SHA-256 of the flow's signed message, verification of assertions and attestations
//! against it and the tenant's policies, and the refusals they record.

use std::net::IpAddr;

use actix_web::web;
use latchkey_proto::{Ceremony, Material};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::SignInError;
use super::code::{Outcome, Use, complete};
use super::flow::{OpenFlow, attempt_quota};
use super::passkey::{
    ensure_related_origin, refuse, registration_rp, relying_party, verify_new_passkey,
};
use crate::db::entities::{challenge, flow, user};
use crate::domain::{DisplayText, TextProblem};
use crate::passkeys::{CeremonyFailure, Flags};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::{self, Event};
use crate::store::tenants::Tenant;
use crate::util::{b64, date, now, random_token, sha256};

/// Options for a discoverable sign-in in `open` (PROTOCOL §2): the challenge is the
/// SHA-256 of the flow's signed message (§5), kept as the flow's one outstanding
/// challenge. Counts against the flow's attempts.
pub async fn authentication_options(
    state: &AppState,
    open: &OpenFlow,
    ip: IpAddr,
) -> Result<Value, SignInError> {
    let (flow, tenant) = (&open.flow, &open.tenant);
    attempt_quota(state, ip, flow).await?;
    ensure_related_origin(state, tenant).await?;
    let rp = relying_party(state, tenant)?;
    let (msg, hash, expires_at) = new_challenge(state, flow, tenant);
    let (options, ceremony_state) = rp.start_authentication(&hash).map_err(internal)?;
    let challenge = challenge::Model {
        flow_id: flow.id.clone(),
        kind: "get".into(),
        state: ceremony_state,
        signed_message: msg,
        registration: None,
        expires_at,
    };
    state.signin.put_challenge(challenge).await?;
    Ok(json!({ "publicKey": options }))
}

/// The body of `registration/options`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// The account's email address, optional.
    pub email: Option<String>,
    /// The account's display name, optional.
    pub display_name: Option<String>,
}

/// Creation options for a new account in `open` (PROTOCOL §2): resident key required,
/// the tenant's UV policy, the account to create kept with the challenge. The
/// dashboard's tenant creates accounts only from an invitation.
pub async fn registration_options(
    state: &AppState,
    open: &OpenFlow,
    ip: IpAddr,
    body: RegistrationRequest,
) -> Result<Value, SignInError> {
    let (flow, tenant) = (&open.flow, &open.tenant);
    refuse_on_account_page(flow)?;
    crate::admin::allow_registration(state, flow).await?;
    attempt_quota(state, ip, flow).await?;
    let email = body
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(check_email)
        .transpose()?;
    let display_name = body
        .display_name
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            DisplayText::check(d, 64)
                .map(DisplayText::into_string)
                .map_err(|p| SignInError::InvalidField {
                    field: "display_name",
                    message: match p {
                        TextProblem::Controls => {
                            "The name must not contain control characters or text-direction overrides."
                        }
                        TextProblem::Empty | TextProblem::TooLong => {
                            "The name must be at most 64 characters."
                        }
                    },
                })
        })
        .transpose()?;
    ensure_related_origin(state, tenant).await?;
    let user_uuid = Uuid::new_v4();
    let name = email
        .clone()
        .or_else(|| display_name.clone())
        .unwrap_or_else(|| format!("{} account {}", tenant.name, date(now())));
    let display = display_name.clone().unwrap_or_else(|| name.clone());
    let pending = PendingAccount {
        user_id: b64(user_uuid.as_bytes()),
        name,
        display_name: display,
        email,
    };
    let user = (
        user_uuid,
        pending.name.as_str(),
        pending.display_name.as_str(),
    );
    start_creation(state, flow, tenant, "create", user, &[], &pending).await
}

/// Verifies an assertion in `open` (PROTOCOL §2) and issues the flow's code, or on the
/// account page's flow opens an account session (§9): the challenge is consumed first,
/// whatever happens next; an unknown passkey is signalled only when no tenant holds it;
/// the counter and the tenant's passkey policy are applied.
pub async fn verify_assertion(
    state: &AppState,
    open: &OpenFlow,
    credential: PublicKeyCredential,
) -> Result<Verified, SignInError> {
    let (flow, tenant) = (&open.flow, &open.tenant);
    let ch = take_challenge(state, flow, "get").await?;
    let credential_id = b64(&credential.raw_id);
    let Some((stored, user)) = state
        .signin
        .credential_with_user(&tenant.client_id, &credential_id)
        .await?
    else {
        state.metrics.ceremony("get", "unknown_credential");
        audit::record(
            state.writer.conn(),
            Event {
                actor: "anonymous",
                action: "ceremony.failed",
                tenant_id: Some(&tenant.client_id),
                subject: Some(&credential_id),
                detail: json!({"ceremony": "get", "reason": "unknown_credential"}),
            },
        )
        .await;
        if crate::security::was_revoked(state, &credential_id).await {
            crate::security::event(
                state,
                "credential.revoked_use",
                Some(&tenant.client_id),
                Some(&credential_id),
                json!({"flow": flow.id}),
            )
            .await;
        }
        // PROTOCOL §2: every broker-mode tenant (and the dashboard) shares the broker's RP
        // ID, so this page's picker also offers passkeys that another tenant accepts. Such
        // a passkey must not be signalled as unknown (the authenticator would delete it),
        // and this tenant learns nothing about the other: the same code, no id.
        let held_elsewhere = accounts::credential_exists(&state.db, &credential_id).await?;
        return Err(SignInError::UnknownCredential {
            credential_id: (!held_elsewhere).then_some(credential_id),
        });
    };
    if let Some(handle) = &credential.response.user_handle
        && b64(handle) != stored.user_id
    {
        return Err(refuse(
            state,
            tenant,
            &flow.id,
            "get",
            CeremonyFailure::Verification("user_handle".into()),
        )
        .await);
    }
    let rp = relying_party(state, tenant)?;
    let result = match rp.finish_authentication(&credential, &ch.state, &stored.passkey) {
        Ok(r) => r,
        Err(f) => return Err(refuse(state, tenant, &flow.id, "get", f).await),
    };

    // PROTOCOL §2: a counter that goes backwards is an audit event, and refused under
    // `counter_policy: reject`; counters of 0 are normal for synced passkeys.
    let counter = i64::from(result.counter());
    if (counter > 0 || stored.counter > 0) && counter <= stored.counter {
        audit::record(
            state.writer.conn(),
            Event {
                actor: "anonymous",
                action: "counter_regression",
                tenant_id: Some(&tenant.client_id),
                subject: Some(&stored.id),
                detail: json!({"stored": stored.counter, "presented": counter, "policy": tenant.counter_policy.as_str()}),
            },
        )
        .await;
        if tenant.counter_policy == crate::domain::CounterPolicy::Reject {
            return Err(refuse(
                state,
                tenant,
                &flow.id,
                "get",
                CeremonyFailure::Policy(crate::policy::Refusal::CounterRegression),
            )
            .await);
        }
    }
    // The tenant's passkey policy, on the AAGUID stored at registration and the BE flag
    // signed in this assertion.
    let be = Flags::from_auth_data(&credential.response.authenticator_data)
        .is_some_and(|f| f.backup_eligible);
    let aaguid = Uuid::parse_str(&stored.aaguid).unwrap_or_default();
    if let Err(r) = tenant
        .policy
        .check(aaguid, stored.aaguid_verified, be, crate::aaguids::names())
    {
        return Err(refuse(state, tenant, &flow.id, "get", CeremonyFailure::Policy(r)).await);
    }
    let passkey_json = serde_json::from_str::<webauthn_rs::prelude::Passkey>(&stored.passkey)
        .ok()
        .and_then(|mut p| {
            p.update_credential(&result);
            serde_json::to_string(&p).ok()
        });
    let user = user.ok_or_else(|| internal("credential without user"))?;
    let used = Use {
        counter,
        backed_up: result.backup_state(),
        passkey_json,
    };
    if super::flow::is_account(flow) {
        let session = super::account::sign_in(state, flow, tenant, &user, &stored, used).await?;
        state.metrics.ceremony("get", "ok");
        return Ok(Verified::Account(session));
    }
    let flags = Flags::from_auth_data(&credential.response.authenticator_data);
    let outcome = Outcome {
        user: &user,
        credential: &stored,
        new_user: false,
        user_verified: flags.is_some_and(|f| f.user_verified),
        backup_eligible: flags.is_some_and(|f| f.backup_eligible),
        backed_up: flags.is_some_and(|f| f.backed_up),
        verify: Material {
            attestation_object: None,
            authenticator_data: Some(b64(&credential.response.authenticator_data)),
            ceremony: Ceremony::Get,
            client_data_json: b64(&credential.response.client_data_json),
            signature: Some(b64(&credential.response.signature)),
            signed_message: ch.signed_message.clone(),
            user_handle: credential.response.user_handle.as_ref().map(b64),
        },
        new_credential: false,
        insert_user: None,
        insert_credential: None,
        recovery_link: None,
        used: Some(used),
    };
    let answer = complete(state, flow, tenant, outcome).await?;
    state.metrics.ceremony("get", "ok");
    Ok(Verified::Code(answer))
}

/// What a verified assertion became.
#[derive(Debug)]
pub enum Verified {
    /// A sign-in flow's code: the page's answer (`redirect_to`, `signals`).
    Code(Value),
    /// The account page's sign-in: a new account session (PROTOCOL §9).
    Account(super::account::NewSession),
}

/// Verifies an attestation in `open` (PROTOCOL §2): a new account with its first
/// passkey, written with the flow's code in one transaction. An email given at
/// registration is then proven by a link (E4), sent off the request path.
pub async fn verify_registration(
    state: &web::Data<AppState>,
    open: &OpenFlow,
    credential: RegisterPublicKeyCredential,
) -> Result<Value, SignInError> {
    let (flow, tenant) = (&open.flow, &open.tenant);
    refuse_on_account_page(flow)?;
    let ch = take_challenge(state, flow, "create").await?;
    let pending: PendingAccount = ch
        .registration
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| internal("registration challenge without account"))?;
    let t = now();
    let user = user::Model {
        id: pending.user_id,
        tenant_id: tenant.client_id.clone(),
        name: pending.name,
        display_name: pending.display_name,
        email: pending.email,
        created_at: t,
        email_verified: false,
    };
    let (stored, attested) = verify_new_passkey(
        state,
        tenant,
        &flow.id,
        &ch.state,
        &credential,
        &user.id,
        "create",
    )
    .await?;
    let outcome = Outcome {
        user: &user,
        credential: &stored,
        new_user: true,
        user_verified: attested.flags.user_verified,
        backup_eligible: attested.flags.backup_eligible,
        backed_up: attested.flags.backed_up,
        verify: creation_evidence(
            &ch.signed_message,
            &credential,
            &attested.authenticator_data,
            &user.id,
        ),
        new_credential: true,
        insert_user: Some(user.clone()),
        insert_credential: Some(stored.clone()),
        recovery_link: None,
        used: None,
    };
    let answer = complete(state, flow, tenant, outcome).await?;
    state.metrics.ceremony("create", "ok");
    // PROTOCOL E4: an address given at registration is proven by a link, sent after the
    // commit and off the request path.
    if user.email.is_some() && tenant.email_recovery {
        super::recovery::send_verification(state, user, tenant.name.clone());
    }
    Ok(answer)
}
/// The canonical signed message of PROTOCOL §5 (keys sorted, no whitespace) and its
/// SHA-256, which is the WebAuthn challenge.
pub fn signed_message(
    aud: &str,
    code_challenge: &str,
    flow: &str,
    iat: i64,
    iss: &str,
    rp_id: &str,
) -> (String, [u8; 32]) {
    let s = |v: &str| Value::String(v.to_owned()).to_string();
    let msg = format!(
        r#"{{"aud":{},"code_challenge":{},"flow":{},"iat":{iat},"iss":{},"nonce":{},"rp_id":{}}}"#,
        s(aud),
        s(code_challenge),
        s(flow),
        s(iss),
        s(&random_token(16)),
        s(rp_id)
    );
    let hash = sha256(msg.as_bytes());
    (msg, hash)
}

/// A new challenge for `flow`: the SHA-256 of its signed message (PROTOCOL §5), or, on
/// the account page's flow, which issues no code, random bytes and no message (§9).
pub(crate) fn new_challenge(
    state: &AppState,
    flow: &flow::Model,
    tenant: &Tenant,
) -> (String, [u8; 32], i64) {
    let t = now();
    let expires_at = (t + state.settings.challenge_ttl).min(flow.expires_at);
    if super::flow::is_account(flow) {
        return (
            String::new(),
            super::passkey::random_challenge(),
            expires_at,
        );
    }
    let (msg, hash) = signed_message(
        &tenant.client_id,
        &flow.code_challenge,
        &flow.id,
        t,
        &state.issuer,
        &tenant.rp_id,
    );
    (msg, hash, expires_at)
}

/// The account page's flow signs in to an existing account only: creating an account
/// (or recovering one) happens at the site's sign-in (PROTOCOL §9).
pub(crate) fn refuse_on_account_page(flow: &flow::Model) -> Result<(), SignInError> {
    if super::flow::is_account(flow) {
        return Err(SignInError::InvalidRequest(
            "This page manages the passkeys of an existing account; create an account at the site's sign-in.".into(),
        ));
    }
    Ok(())
}

/// The account a registration will create, kept with its challenge.
#[derive(Debug, serde::Serialize, Deserialize)]
pub(crate) struct PendingAccount {
    user_id: String,
    name: String,
    display_name: String,
    email: Option<String>,
}

pub(crate) fn check_email(email: &str) -> Result<String, SignInError> {
    let e = email.trim();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e.to_owned())
    } else {
        Err(SignInError::InvalidField {
            field: "email",
            message: "That email address does not look right.",
        })
    }
}

/// Starts a passkey creation in `flow` for the user `(handle, name, display name)`: a
/// challenge bound to the flow (PROTOCOL §5), kept with `pending` (what the ceremony of
/// `kind` reads back), and the options answer for `navigator.credentials.create()`.
pub(crate) async fn start_creation(
    state: &AppState,
    flow: &flow::Model,
    tenant: &Tenant,
    kind: &str,
    (handle, name, display_name): (Uuid, &str, &str),
    exclude: &[Vec<u8>],
    pending: &impl serde::Serialize,
) -> Result<Value, SignInError> {
    let rp = registration_rp(state, tenant)?;
    let (msg, hash, expires_at) = new_challenge(state, flow, tenant);
    let (options, ceremony_state) = rp
        .start_registration(&hash, handle, name, display_name, exclude)
        .map_err(internal)?;
    let challenge = challenge::Model {
        flow_id: flow.id.clone(),
        kind: kind.into(),
        state: ceremony_state,
        signed_message: msg,
        registration: Some(serde_json::to_string(pending).map_err(internal)?),
        expires_at,
    };
    state.signin.put_challenge(challenge).await?;
    Ok(json!({ "publicKey": options }))
}

/// What a creation ceremony gives the site to re-verify (PROTOCOL §5): the signed
/// message, the attestation's client data and authenticator data, and the user handle.
pub(crate) fn creation_evidence(
    signed_message: &str,
    credential: &RegisterPublicKeyCredential,
    authenticator_data: &[u8],
    user_handle: &str,
) -> Material {
    Material {
        attestation_object: Some(b64(&credential.response.attestation_object)),
        authenticator_data: Some(b64(authenticator_data)),
        ceremony: Ceremony::Create,
        client_data_json: b64(&credential.response.client_data_json),
        signature: None,
        signed_message: signed_message.to_owned(),
        user_handle: Some(user_handle.to_owned()),
    }
}

/// Takes the flow's outstanding challenge of `kind`; consumed whatever happens next.
pub(crate) async fn take_challenge(
    state: &AppState,
    flow: &flow::Model,
    kind: &str,
) -> Result<challenge::Model, SignInError> {
    let taken = state.signin.take_challenge(&flow.id).await?;
    let Some(ch) = taken else {
        crate::security::event(
            state,
            "assertion.replay",
            Some(&flow.tenant_id),
            Some(&flow.id),
            json!({"ceremony": kind, "reason": "challenge_consumed"}),
        )
        .await;
        return Err(SignInError::ChallengeExpired);
    };
    if ch.kind != kind || ch.expires_at <= now() {
        return Err(SignInError::ChallengeExpired);
    }
    Ok(ch)
}

/// A credential's `id` must be the base64url of its `rawId` (WebAuthn §5.1): checked
/// before anything is consumed, so a malformed body costs the flow nothing.
pub fn same_id(id: &str, raw_id: &[u8]) -> Result<(), SignInError> {
    if crate::util::unb64(id).is_some_and(|decoded| decoded == raw_id) {
        Ok(())
    } else {
        Err(SignInError::InvalidField {
            field: "id",
            message: "The credential's id is not the base64url of its rawId.",
        })
    }
}

fn internal(cause: impl std::fmt::Display) -> SignInError {
    SignInError::Internal(cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::code::amr;

    #[test]
    fn the_signed_message_is_canonical_json() {
        let (msg, hash) = signed_message(
            "demo",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "f",
            1700000000,
            "http://localhost:8080",
            "localhost",
        );
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(&msg).unwrap();
        let keys: Vec<&String> = parsed.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(!msg.contains(' '));
        assert_eq!(parsed["iat"], 1700000000);
        assert_eq!(parsed["aud"], "demo");
        assert_eq!(
            crate::util::unb64(parsed["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
        assert_eq!(hash, sha256(msg.as_bytes()));
    }

    #[test]
    fn amr_follows_rfc8176() {
        assert_eq!(amr(true, true), vec!["swk", "user", "mfa"]);
        assert_eq!(amr(false, false), vec!["hwk", "user"]);
    }
}
