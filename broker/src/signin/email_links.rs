//! Using the one-time email links (PROTOCOL E4): an address proven by its verification
//! link, a recovery link asked for on the hosted page, and the recovery ceremony that
//! enrols a new passkey on the existing account with one. The routes read the request
//! and render pages; the rules are here.

use std::net::IpAddr;

use actix_web::web;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::SignInError;
use super::code::Outcome;
use super::flow::OpenFlow;
use super::recovery::{offered, record, send_notice, send_recovery};
use super::{ceremony, flow};
use crate::state::AppState;
use crate::store::email_tokens::{self, Purpose};
use crate::store::{accounts, flows};
use crate::util::{ct_eq, now, sha256_b64, unb64};

/// Whether `token` is a live verification link (`GET /email/verify` shows its button
/// and changes nothing).
pub async fn verification_live(state: &AppState, token: &str) -> Result<bool, SignInError> {
    Ok(email_tokens::find_live(&state.db, token, Purpose::Verify)
        .await?
        .is_some())
}

/// Uses a verification link: its account's address becomes verified. `false` when the
/// link is unknown, used or expired.
pub async fn verify_address(state: &AppState, token: &str) -> Result<bool, SignInError> {
    if token.len() != 43 {
        return Ok(false);
    }
    let hash = sha256_b64(token);
    let Some(used) = email_tokens::consume(&state.db, &hash, Purpose::Verify, None, None).await?
    else {
        return Ok(false);
    };
    email_tokens::mark_verified(&state.db, &used.user_id).await?;
    let actor = format!("user:{}", used.user_id);
    record(
        state,
        &actor,
        "email_verified",
        &used.tenant_id,
        &used.user_id,
        json!({}),
    )
    .await;
    Ok(true)
}

/// Asks for a recovery link for the account of `email` (`POST …/recovery`). Whatever
/// the address, the answer is the same (no account enumeration): the lookup and the
/// email happen off the request path.
pub async fn request_recovery(
    state: &web::Data<AppState>,
    open: OpenFlow,
    email: Option<&str>,
    ip: IpAddr,
) -> Result<(), SignInError> {
    let OpenFlow { flow, tenant } = open;
    ceremony::refuse_on_account_page(&flow)?;
    if !offered(state, &tenant) {
        return Err(SignInError::RecoveryUnavailable);
    }
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => ceremony::check_email(e)?,
        None => {
            return Err(SignInError::InvalidField {
                field: "email",
                message: "Enter the email address of your account.",
            });
        }
    };
    let quota =
        crate::security::recovery_quota(state, ip, &flow.id, &tenant.client_id, flow.expires_at)
            .await;
    if let Err(r) = quota {
        // Once per window: a flood of refused requests does not flood the audit log.
        if r.first {
            let detail = json!({"limit": "per_flow"});
            record(
                state,
                "anonymous",
                "recovery_rate_limited",
                &tenant.client_id,
                &flow.id,
                detail,
            )
            .await;
        }
        return Err(SignInError::TooManyRecoveryRequests {
            retry_after: r.retry_after,
        });
    }
    record(
        state,
        "anonymous",
        "recovery_requested",
        &tenant.client_id,
        &flow.id,
        json!({}),
    )
    .await;
    let task_state = state.clone();
    actix_web::rt::spawn(async move { send_recovery(task_state, flow, tenant, email).await });
    Ok(())
}

/// What `GET /recover?flow=…&token=…` shows.
#[derive(Debug)]
pub enum RecoverPage {
    /// The hosted page in recovery mode, for the flow the link is bound to and its
    /// tenant.
    Show(Box<OpenFlow>),
    /// The flow or the link is gone, used or expired, or recovery is no longer offered.
    Expired,
    /// The link was opened in another browser than the flow's.
    OtherBrowser,
}

/// Checks a recovery link opened in a browser: its flow is alive and unfinished and
/// belongs to this browser (`binding`, the flow cookie), the link is live and bound to
/// the flow, and the tenant still offers recovery. Changes nothing.
pub async fn recover_page(
    state: &AppState,
    flow_id: &str,
    token: &str,
    binding: Option<&str>,
) -> Result<RecoverPage, SignInError> {
    if !flow::is_flow_id(flow_id) {
        return Ok(RecoverPage::Expired);
    }
    let flow = match flows::find_flow(&state.db, flow_id).await? {
        Some(f) if f.expires_at > now() && f.completed_at.is_none() => f,
        _ => return Ok(RecoverPage::Expired),
    };
    if !flow::holds_binding(state, &flow, binding, json!({"via": "recovery_link"})).await {
        return Ok(RecoverPage::OtherBrowser);
    }
    match email_tokens::find_live(&state.db, token, Purpose::Recover).await? {
        Some(link) if link.flow_id.as_deref() == Some(flow.id.as_str()) => {}
        _ => return Ok(RecoverPage::Expired),
    }
    match state.signin.tenant(&flow.tenant_id).await? {
        Some(tenant) if offered(state, &tenant) => {
            Ok(RecoverPage::Show(Box::new(OpenFlow { flow, tenant })))
        }
        _ => Ok(RecoverPage::Expired),
    }
}

/// What a recovery challenge remembers: the account and the link.
#[derive(Debug, Serialize, Deserialize)]
struct PendingRecovery {
    user_id: String,
    link: String,
}

/// The creation options of the recovery ceremony (`…/recovery/registration/options`):
/// for the link's existing account (same user handle, its passkeys excluded).
pub async fn registration_options(
    state: &AppState,
    open: &OpenFlow,
    token: &str,
    ip: IpAddr,
) -> Result<Value, SignInError> {
    let (flow, tenant) = (&open.flow, &open.tenant);
    ceremony::refuse_on_account_page(flow)?;
    if !offered(state, tenant) {
        return Err(SignInError::RecoveryUnavailable);
    }
    flow::attempt_quota(state, ip, flow).await?;
    let link = email_tokens::find_live(&state.db, token, Purpose::Recover)
        .await?
        .filter(|l| {
            l.flow_id.as_deref() == Some(flow.id.as_str()) && l.tenant_id == tenant.client_id
        })
        .ok_or(SignInError::RecoveryLinkExpired)?;
    let user = accounts::find_user(&state.db, &link.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or(SignInError::RecoveryLinkExpired)?;
    super::passkey::ensure_related_origin(state, tenant).await?;
    let handle = unb64(&user.id)
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| SignInError::Internal("a user handle is not 16 bytes".into()))?;
    let exclude: Vec<Vec<u8>> = state
        .signin
        .credential_ids_of_user(&user.id)
        .await?
        .iter()
        .filter_map(|id| unb64(id))
        .collect();
    let pending = PendingRecovery {
        user_id: user.id.clone(),
        link: link.token_hash,
    };
    let who = (handle, user.name.as_str(), user.display_name.as_str());
    ceremony::start_creation(state, flow, tenant, "recover", who, &exclude, &pending).await
}

/// The recovery ceremony's verification (`…/recovery/registration`): the new passkey
/// joins the link's account and the flow's code is issued, the link used up in the same
/// transaction; the account's owner is told by email.
pub async fn register(
    state: &web::Data<AppState>,
    open: OpenFlow,
    token: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<Value, SignInError> {
    let OpenFlow { flow, tenant } = open;
    ceremony::refuse_on_account_page(&flow)?;
    if !offered(state, &tenant) {
        return Err(SignInError::RecoveryUnavailable);
    }
    let ch = ceremony::take_challenge(state, &flow, "recover").await?;
    let pending: PendingRecovery = ch
        .registration
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or_else(|| SignInError::Internal("recovery challenge without account".into()))?;
    if !ct_eq(sha256_b64(token).as_bytes(), pending.link.as_bytes()) {
        return Err(SignInError::RecoveryLinkExpired);
    }
    let user = accounts::find_user(&state.db, &pending.user_id)
        .await?
        .filter(|u| u.tenant_id == tenant.client_id)
        .ok_or(SignInError::RecoveryLinkExpired)?;
    let (stored, attested) = super::passkey::verify_new_passkey(
        state, &tenant, &flow.id, &ch.state, credential, &user.id, "recover",
    )
    .await?;
    let outcome = Outcome {
        user: &user,
        credential: &stored,
        new_user: false,
        new_credential: true,
        user_verified: attested.flags.user_verified,
        backup_eligible: attested.flags.backup_eligible,
        backed_up: attested.flags.backed_up,
        verify: ceremony::creation_evidence(
            &ch.signed_message,
            credential,
            &attested.authenticator_data,
            &user.id,
        ),
        insert_user: None,
        insert_credential: Some(stored.clone()),
        recovery_link: Some(pending.link),
        used: None,
    };
    let answer = super::code::complete(state, &flow, &tenant, outcome).await?;
    state.metrics.ceremony("recover", "ok");
    let detail = json!({"credential_id": stored.id, "flow": flow.id});
    let actor = format!("user:{}", user.id);
    record(
        state,
        &actor,
        "recovery_completed",
        &tenant.client_id,
        &user.id,
        detail,
    )
    .await;
    send_notice(state, user, tenant.name.clone());
    Ok(answer)
}
