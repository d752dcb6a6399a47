//! Flows (PROTOCOL §2): opening one for a ceremony call, bound to the browser that
//! started it, alive, and not yet finished.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::SignInError;
use crate::config::Settings;
use crate::db::entities::flow;
use crate::state::AppState;
use crate::store::tenants::Tenant;
use crate::util::{now, sha256_b64};

/// The purpose of a flow that issues a code (`/authorize`).
pub const SIGN_IN: &str = "sign_in";

/// The purpose of the account page's flow: its sign-in opens an account session and
/// issues no code (PROTOCOL §9).
pub const ACCOUNT: &str = "account";

/// Whether `flow` is the account page's sign-in.
pub fn is_account(flow: &flow::Model) -> bool {
    flow.purpose == ACCOUNT
}

/// The flow-binding cookie's name: `__Host-` prefixed whenever the issuer is HTTPS.
pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.is_https() {
        "__Host-latchkey_flow"
    } else {
        "latchkey_flow"
    }
}

/// A flow open for a ceremony call, with its tenant.
#[derive(Debug)]
pub struct OpenFlow {
    /// The flow.
    pub flow: flow::Model,
    /// Its tenant.
    pub tenant: Tenant,
}

/// What a ceremony call presents for its flow.
#[derive(Debug)]
pub struct FlowCall<'a> {
    /// The flow id of the path.
    pub flow_id: &'a str,
    /// The value of the flow-binding cookie, if the browser sent one.
    pub binding: Option<&'a str>,
    /// Whether the call asks for options; any other call on a finished flow is recorded
    /// as a replay (`assertion.replay`).
    pub options: bool,
}

/// Loads a flow for a ceremony call: it exists, is alive, belongs to this browser
/// (constant-time check of the binding cookie), and has not issued its code.
pub async fn open(state: &AppState, call: &FlowCall<'_>) -> Result<OpenFlow, SignInError> {
    if !is_flow_id(call.flow_id) {
        return Err(SignInError::FlowNotFound);
    }
    let (flow, tenant) = state
        .signin
        .flow_with_tenant(call.flow_id)
        .await?
        .ok_or(SignInError::FlowNotFound)?;
    if flow.expires_at <= now() {
        return Err(SignInError::FlowExpired);
    }
    if !holds_binding(state, &flow, call.binding, json!({})).await {
        return Err(SignInError::FlowBindingMismatch);
    }
    if flow.completed_at.is_some() {
        if !call.options {
            crate::security::event(
                state,
                "assertion.replay",
                Some(&flow.tenant_id),
                Some(&flow.id),
                json!({"reason": "flow_completed"}),
            )
            .await;
        }
        return Err(SignInError::FlowFinished);
    }
    let tenant = tenant
        .map(Tenant::from_model)
        .ok_or(SignInError::FlowNotFound)?;
    Ok(OpenFlow { flow, tenant })
}

/// Whether `id` has the shape of a flow id (128 bits, base64url): anything else is
/// answered without a database lookup.
pub fn is_flow_id(id: &str) -> bool {
    id.len() == 22 && crate::util::unb64(id).is_some()
}

/// Whether `binding` (the flow cookie's value) binds `flow` to this browser, compared in
/// constant time. A mismatch is a security event, with `detail`.
pub async fn holds_binding(
    state: &AppState,
    flow: &flow::Model,
    binding: Option<&str>,
    detail: Value,
) -> bool {
    let presented = binding.map(sha256_b64).unwrap_or_default();
    if crate::util::ct_eq(presented.as_bytes(), flow.binding_hash.as_bytes()) {
        return true;
    }
    crate::security::event(
        state,
        "flow.binding_mismatch",
        Some(&flow.tenant_id),
        Some(&flow.id),
        detail,
    )
    .await;
    false
}

/// The cap on ceremony attempts in one flow: each verification needs a fresh challenge,
/// so options calls are what is counted.
pub async fn attempt_quota(
    state: &AppState,
    ip: IpAddr,
    flow: &flow::Model,
) -> Result<(), SignInError> {
    crate::security::attempt_quota(state, ip, &flow.id, &flow.tenant_id, flow.expires_at)
        .await
        .map_err(|r| SignInError::TooManyAttempts {
            retry_after: r.retry_after,
        })
}
