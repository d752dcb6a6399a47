//! Issuing a code (PROTOCOL §2–§3): a verified ceremony becomes one transaction that
//! completes the flow, writes the account, passkey or passkey use, the code (stored only
//! as its SHA-256) and the audit event, and the page's answer: where to go and what to
//! signal.

use latchkey_proto::{Material, SignIn};
use serde_json::{Value, json};

use super::SignInError;
use super::redeem::StoredSignIn;
use crate::db::entities::flow;
use crate::db::entities::{code, credential, user};
use crate::domain::{RedirectUri, RpMode};
use crate::state::AppState;
use crate::store::signin::{AuditEvent, IssueCode, Issued, PasskeyUse};
use crate::store::tenants::Tenant;
use crate::util::{now, random_token, rfc3339, sha256_b64};

/// A verified ceremony, ready to become a code.
pub(crate) struct Outcome<'a> {
    pub(crate) user: &'a user::Model,
    pub(crate) credential: &'a credential::Model,
    pub(crate) new_user: bool,
    pub(crate) new_credential: bool,
    pub(crate) user_verified: bool,
    pub(crate) backup_eligible: bool,
    pub(crate) backed_up: bool,
    pub(crate) verify: Material,
    /// A new account to insert in the same transaction as the code.
    pub(crate) insert_user: Option<user::Model>,
    /// A new passkey to insert in the same transaction as the code.
    pub(crate) insert_credential: Option<credential::Model>,
    /// The SHA-256 of a recovery link, used up in the same transaction as the code
    /// (PROTOCOL E4).
    pub(crate) recovery_link: Option<String>,
    /// The use of an existing passkey to record in the same transaction as the code.
    pub(crate) used: Option<Use>,
}

/// What an assertion changes on its stored passkey.
pub(crate) struct Use {
    /// The signature counter the assertion reported.
    pub(crate) counter: i64,
    /// The BS flag the assertion reported.
    pub(crate) backed_up: bool,
    /// The refreshed webauthn-rs credential, when it serialised.
    pub(crate) passkey_json: Option<String>,
}

/// Issues the flow's code in one transaction (recovery link used up, flow completion,
/// new account or passkey or the passkey's use, code, audit event), and builds the
/// page's answer: where to go, and what to signal. One commit per ceremony keeps a
/// sign-in's writes together: either all of them are on disk or none, and the database
/// takes its write lock once.
pub(crate) async fn complete(
    state: &AppState,
    flow: &flow::Model,
    tenant: &Tenant,
    o: Outcome<'_>,
) -> Result<Value, SignInError> {
    let t = now();
    let code = zeroize::Zeroizing::new(random_token(32));
    let sign_in = SignIn {
        aaguid: o.credential.aaguid.clone(),
        authenticated_at: rfc3339(t),
        backed_up: o.backed_up,
        backup_eligible: o.backup_eligible,
        client_id: tenant.client_id.clone(),
        credential_id: o.credential.id.clone(),
        email: o.user.email.clone(),
        email_verified: o.user.email.is_some() && o.user.email_verified,
        flow_id: flow.id.clone(),
        new_credential: o.new_credential,
        new_user: o.new_user,
        passkey_id: o.credential.passkey_id.clone(),
        public_key: o.credential.public_key.clone(),
        public_key_alg: i64::from(o.credential.public_key_alg),
        rp_id: tenant.rp_id.clone(),
        sub: o.user.id.clone(),
        user_id: o.user.id.clone(),
        user_verified: o.user_verified,
    };
    let payload = StoredSignIn {
        sign_in,
        verify: o.verify,
        nonce: flow.nonce.clone(),
        auth_time: t,
        amr: amr(o.backup_eligible, o.user_verified)
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let payload = serde_json::to_string(&payload)
        .map_err(|e| SignInError::Internal(format!("sign-in not serialisable: {e}")))?;
    let issue = IssueCode {
        at: t,
        flow_id: flow.id.clone(),
        user_id: o.user.id.clone(),
        recovery_link: o.recovery_link,
        insert_user: o.insert_user,
        insert_credential: o.insert_credential,
        used: o.used.map(|u| PasskeyUse {
            credential_id: o.credential.id.clone(),
            counter: u.counter.max(o.credential.counter),
            backed_up: u.backed_up,
            passkey_json: u.passkey_json,
        }),
        code: code::Model {
            code_hash: sha256_b64(code.as_bytes()),
            flow_id: flow.id.clone(),
            tenant_id: tenant.client_id.clone(),
            redirect_uri: flow.redirect_uri.clone(),
            code_challenge: flow.code_challenge.clone(),
            user_id: o.user.id.clone(),
            credential_id: o.credential.id.clone(),
            scope: flow.scope.clone(),
            payload,
            created_at: t,
            expires_at: t + state.settings.code_ttl,
            redeemed_at: None,
        },
        event: AuditEvent {
            actor: format!("user:{}", o.user.id),
            action: if o.new_user { "sign_up" } else { "sign_in" },
            tenant_id: Some(tenant.client_id.clone()),
            subject: Some(o.credential.id.clone()),
            detail: json!({"flow": flow.id, "user_verified": o.user_verified, "backed_up": o.backed_up}),
        },
    };
    match state.signin.issue_code(issue).await? {
        Issued::Done => {}
        Issued::LinkExpired => return Err(SignInError::RecoveryLinkExpired),
        Issued::FlowCompleted => return Err(SignInError::FlowExpired),
    }
    let redirect =
        RedirectUri::parse(&flow.redirect_uri).map_err(|e| SignInError::Internal(e.to_string()))?;
    let redirect_to = redirect.with_query(&[
        ("code", code.as_str()),
        ("state", &flow.state),
        ("iss", &state.issuer),
    ]);
    // In site mode the RP ID may hold passkeys made outside Latchkey: listing only ours
    // would make password managers hide them, so the list is sent in broker mode only.
    let accepted = if tenant.rp_mode == RpMode::Broker {
        json!(state.signin.credential_ids_of_user(&o.user.id).await?)
    } else {
        Value::Null
    };
    Ok(json!({
        "redirect_to": redirect_to,
        "signals": {
            "rp_id": tenant.rp_id,
            "user_id": o.user.id,
            "name": o.user.name,
            "display_name": o.user.display_name,
            "all_accepted_credential_ids": accepted,
        }
    }))
}

/// RFC 8176 methods: `hwk` for a device-bound key, `swk` for a synced one, `user` for
/// presence, and `mfa` when the user was verified.
pub fn amr(backup_eligible: bool, user_verified: bool) -> Vec<&'static str> {
    let mut v = vec![if backup_eligible { "swk" } else { "hwk" }, "user"];
    if user_verified {
        v.push("mfa");
    }
    v
}
