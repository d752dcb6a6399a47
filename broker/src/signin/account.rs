//! The account page (PROTOCOL §9): a person signs in with a passkey of a tenant (a flow
//! of its own, through the ceremony API) and gets a short account session, with which
//! they list, add, rename and remove the passkeys of their account there.
//!
//! - The session cookie is random (256 bits) and stored only as its SHA-256; it is bound
//!   to the tenant and the account, ends after `account_session_idle` seconds without
//!   use and `account_session_ttl` seconds after its sign-in.
//! - Adding a passkey needs a sign-in at most `account_reauth` seconds old; its creation
//!   challenge is kept in the session's row and consumed by its first attempt.
//! - Removing never takes an account's last passkey.

use std::net::IpAddr;

use sea_orm::{DatabaseTransaction, DbErr};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;
use zeroize::Zeroizing;

use super::SignInError;
use super::code::Use;
use super::flow::ACCOUNT;
use crate::config::Settings;
use crate::db::entities::{account_session, credential, flow, user};
use crate::domain::{DisplayText, RedirectUri, TextProblem};
use crate::state::AppState;
use crate::store::accounts::Removal;
use crate::store::audit::{self, Event};
use crate::store::tenants::Tenant;
use crate::store::{account_sessions, accounts, tenants};
use crate::util::{now, random_token, rfc3339, sha256_b64, unb64};

/// The account session cookie's name: `__Host-` prefixed whenever the issuer is HTTPS.
pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.is_https() {
        "__Host-latchkey_account"
    } else {
        "latchkey_account"
    }
}

/// Why the account page does not open (each a `400` page, never a redirect), or how many
/// seconds to wait.
#[derive(Debug)]
pub enum PageRefusal {
    /// No tenant has this `client_id`.
    UnknownClient,
    /// `return_to` is not exactly one of the tenant's redirect URIs.
    ReturnToNotRegistered,
    /// Too many flows from this address: seconds to wait.
    TooMany(u64),
    /// The database failed.
    Failed(SignInError),
}

impl From<sea_orm::DbErr> for PageRefusal {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Failed(e.into())
    }
}

/// The account page of a tenant, with its new flow.
#[derive(Debug)]
pub struct AccountPage {
    /// The new flow's id.
    pub flow_id: String,
    /// The tenant.
    pub tenant: Tenant,
    /// Where the page links back to, when given.
    pub return_to: Option<RedirectUri>,
}

/// Opens the account page of `client_id`: checks `return_to` against the tenant's
/// redirect URIs and opens the page's flow, bound to the browser by `binding` (the flow
/// cookie's value).
pub async fn open_page(
    state: &AppState,
    client_id: &str,
    return_to: Option<&str>,
    binding: &str,
    ip: IpAddr,
) -> Result<AccountPage, PageRefusal> {
    let tenant = tenants::get(&state.db, client_id)
        .await?
        .ok_or(PageRefusal::UnknownClient)?;
    let return_to = match return_to {
        None => None,
        Some(r) if RedirectUri::is_registered(&tenant.redirect_uris, r) => {
            Some(RedirectUri::parse(r).map_err(|_| PageRefusal::ReturnToNotRegistered)?)
        }
        Some(_) => return Err(PageRefusal::ReturnToNotRegistered),
    };
    crate::security::open_flow_quota(state, ip)
        .await
        .map_err(|r| PageRefusal::TooMany(r.retry_after))?;
    let t = now();
    let flow_id = random_token(16);
    let model = flow::Model {
        id: flow_id.clone(),
        tenant_id: tenant.client_id.clone(),
        redirect_uri: return_to
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default(),
        state: String::new(),
        code_challenge: String::new(),
        nonce: None,
        scope: "openid".into(),
        prompt: "login".into(),
        login_hint: None,
        binding_hash: sha256_b64(binding),
        created_at: t,
        expires_at: t + state.settings.flow_ttl,
        completed_at: None,
        purpose: ACCOUNT.into(),
    };
    state.signin.create_flow(model).await?;
    Ok(AccountPage {
        flow_id,
        tenant,
        return_to,
    })
}

/// Runs `change` in one transaction on the writer with its audit event `action` about
/// the account `user_id` of `tenant_id`: `change` hands back the transaction, its result,
/// and the event's detail, or `None` when nothing changed (the transaction is then rolled
/// back and no event recorded).
async fn audited<T, F, Fut>(
    state: &AppState,
    (tenant_id, user_id): (&str, &str),
    action: &'static str,
    change: F,
) -> Result<T, SignInError>
where
    T: Send + 'static,
    F: FnOnce(DatabaseTransaction) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(DatabaseTransaction, T, Option<Value>), DbErr>> + Send + 'static,
{
    let (tenant_id, user_id) = (tenant_id.to_owned(), user_id.to_owned());
    let done = state
        .writer
        .run(move |db| async move {
            let txn = crate::db::stats::begin(&db).await?;
            let (txn, out, detail) = change(txn).await?;
            let Some(detail) = detail else {
                txn.rollback().await?;
                return Ok(out);
            };
            audit::record_in(
                &txn,
                Event {
                    actor: &format!("user:{user_id}"),
                    action,
                    tenant_id: Some(&tenant_id),
                    subject: Some(&user_id),
                    detail,
                },
            )
            .await?;
            txn.commit().await?;
            Ok(out)
        })
        .await?;
    Ok(done)
}

/// A new account session: the cookie's value (shown once, stored only as its SHA-256)
/// and its lifetime in seconds.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie's value.
    pub token: Zeroizing<String>,
    /// Seconds until the session ends at the latest.
    pub max_age: i64,
}

/// The account page's sign-in succeeded: records the passkey's use and opens an account
/// session, in one transaction with its audit event. The flow stays open until it
/// expires, so that the page can ask for a fresh sign-in on it (adding a passkey needs
/// one); each sign-in needs a new challenge all the same.
pub(crate) async fn sign_in(
    state: &AppState,
    flow: &flow::Model,
    tenant: &Tenant,
    user: &user::Model,
    credential: &credential::Model,
    used: Use,
) -> Result<NewSession, SignInError> {
    let t = now();
    let token = Zeroizing::new(random_token(32));
    let max_age = state.settings.account_session_ttl;
    let session = account_session::Model {
        id_hash: sha256_b64(token.as_bytes()),
        tenant_id: tenant.client_id.clone(),
        user_id: user.id.clone(),
        credential_id: credential.id.clone(),
        signed_in_at: t,
        last_used_at: t,
        expires_at: t + max_age,
        challenge: None,
        challenge_expires_at: None,
    };
    let current = credential.clone();
    let detail = json!({"flow": flow.id, "user_id": user.id, "credential_id": credential.id});
    let who = (tenant.client_id.as_str(), user.id.as_str());
    audited(state, who, "account.sign_in", move |txn| async move {
        let Use {
            counter,
            backed_up,
            passkey_json,
        } = used;
        let counter = counter.max(current.counter);
        accounts::record_use(&txn, &current.id, counter, backed_up, passkey_json, t).await?;
        account_sessions::insert(&txn, session).await?;
        Ok((txn, (), Some(detail)))
    })
    .await?;
    Ok(NewSession { token, max_age })
}

/// An account session in use: its account and tenant.
#[derive(Debug)]
pub struct Session {
    id_hash: String,
    signed_in_at: i64,
    /// The passkey this browser signed in with.
    credential_id: String,
    /// The tenant.
    pub tenant: Tenant,
    /// The account.
    pub user: user::Model,
}

impl Session {
    /// The session's tenant and account, as [`audited`] names them.
    fn who(&self) -> (&str, &str) {
        (&self.tenant.client_id, &self.user.id)
    }
}

/// The account session of the cookie `presented`: alive (used within the idle time and
/// within its lifetime), its account and tenant still there. Each use restarts the idle
/// time. Anything else is `401 account_session_required`.
pub async fn session(state: &AppState, presented: Option<&str>) -> Result<Session, SignInError> {
    let presented = presented
        .filter(|v| v.len() == 43)
        .ok_or(SignInError::AccountSessionRequired)?;
    let id_hash = sha256_b64(presented);
    let row = account_sessions::find(&state.db, &id_hash)
        .await?
        .ok_or(SignInError::AccountSessionRequired)?;
    let t = now();
    if row.expires_at <= t || row.last_used_at + state.settings.account_session_idle <= t {
        return Err(SignInError::AccountSessionRequired);
    }
    let user = accounts::find_user(&state.db, &row.user_id)
        .await?
        .filter(|u| u.tenant_id == row.tenant_id)
        .ok_or(SignInError::AccountSessionRequired)?;
    let tenant = tenants::get(&state.db, &row.tenant_id)
        .await?
        .ok_or(SignInError::AccountSessionRequired)?;
    let hash = id_hash.clone();
    state
        .writer
        .run(move |db| async move { account_sessions::touch(&db, &hash, t).await })
        .await?;
    Ok(Session {
        id_hash,
        signed_in_at: row.signed_in_at,
        credential_id: row.credential_id,
        tenant,
        user,
    })
}

/// A passkey as the account page shows it (PROTOCOL §9).
#[derive(Debug, Serialize)]
pub struct PasskeyView {
    /// The credential id, base64url.
    pub credential_id: String,
    /// The name its owner gave it, if any.
    pub name: Option<String>,
    /// The authenticator's model, from its AAGUID, when known.
    pub authenticator: Option<String>,
    /// Whether it is synced (backed up) to other devices.
    pub backed_up: bool,
    /// Whether it may be synced at all (a device-bound passkey may not).
    pub backup_eligible: bool,
    /// When it was added, RFC 3339.
    pub created_at: String,
    /// When it last signed in, RFC 3339.
    pub last_used_at: Option<String>,
    /// Whether this browser's account session was opened with it.
    pub this_device: bool,
}

impl PasskeyView {
    fn of(c: &credential::Model, session_credential: &str) -> Self {
        Self {
            credential_id: c.id.clone(),
            name: c.name.clone(),
            authenticator: crate::aaguids::names()
                .name_of(&c.aaguid)
                .map(str::to_owned),
            backed_up: c.backed_up,
            backup_eligible: c.backup_eligible,
            created_at: rfc3339(c.created_at),
            last_used_at: c.last_used_at.map(rfc3339),
            this_device: c.id == session_credential,
        }
    }
}

/// The account as the account page shows it: `GET /api/v1/account`.
#[derive(Debug, Serialize)]
pub struct AccountView {
    /// The account's id (the WebAuthn user handle, base64url).
    pub user_id: String,
    /// The account's name.
    pub name: String,
    /// Its email address, if any.
    pub email: Option<String>,
    /// The tenant's RP ID, for the page's Signal API calls.
    pub rp_id: String,
    /// Its passkeys, oldest first.
    pub passkeys: Vec<PasskeyView>,
}

/// The account of `session` and its passkeys.
pub async fn view(state: &AppState, session: &Session) -> Result<AccountView, SignInError> {
    let passkeys =
        accounts::passkeys_of_user(&state.db, &session.tenant.client_id, &session.user.id).await?;
    Ok(AccountView {
        user_id: session.user.id.clone(),
        name: session.user.name.clone(),
        email: session.user.email.clone(),
        rp_id: session.tenant.rp_id.clone(),
        passkeys: passkeys
            .iter()
            .map(|c| PasskeyView::of(c, &session.credential_id))
            .collect(),
    })
}

/// Adding a passkey needs a sign-in at most `account_reauth` seconds old.
fn fresh(state: &AppState, session: &Session) -> Result<(), SignInError> {
    if now() - session.signed_in_at > state.settings.account_reauth {
        return Err(SignInError::ReauthenticationRequired);
    }
    Ok(())
}

/// Creation options for another passkey of the session's account: the same user handle,
/// its passkeys excluded, the tenant's policy; the challenge is kept in the session.
pub async fn passkey_options(state: &AppState, session: &Session) -> Result<Value, SignInError> {
    fresh(state, session)?;
    let tenant = &session.tenant;
    super::passkey::ensure_related_origin(state, tenant).await?;
    let user = &session.user;
    let handle = unb64(&user.id)
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| SignInError::Internal("a user handle is not 16 bytes".into()))?;
    let exclude: Vec<Vec<u8>> = accounts::credential_ids_of_user(&state.db, &user.id)
        .await?
        .iter()
        .filter_map(|id| unb64(id))
        .collect();
    let rp = super::passkey::registration_rp(state, tenant)?;
    let (options, ceremony_state) = rp
        .start_registration(
            &super::passkey::random_challenge(),
            handle,
            &user.name,
            &user.display_name,
            &exclude,
        )
        .map_err(|e| SignInError::Internal(e.to_string()))?;
    let expires_at = now() + state.settings.challenge_ttl;
    let hash = session.id_hash.clone();
    state
        .writer
        .run(move |db| async move {
            account_sessions::put_challenge(&db, &hash, ceremony_state, expires_at).await
        })
        .await?;
    Ok(json!({ "publicKey": options }))
}

/// A passkey's name: 1 to 64 characters after trimming, no control characters.
pub fn passkey_name(name: &str) -> Result<String, SignInError> {
    DisplayText::check(name, 64)
        .map(DisplayText::into_string)
        .map_err(|p| {
            SignInError::InvalidName(match p {
                TextProblem::Controls => {
                    "The name must not contain control characters or text-direction overrides."
                }
                TextProblem::Empty | TextProblem::TooLong => "The name must be 1 to 64 characters.",
            })
        })
}

/// Verifies the new passkey against the session's outstanding creation challenge (used
/// up by this attempt, whatever happens) and the tenant's policy, and adds it to the
/// account with its audit event.
pub async fn add_passkey(
    state: &AppState,
    session: &Session,
    credential: RegisterPublicKeyCredential,
    name: Option<String>,
) -> Result<PasskeyView, SignInError> {
    fresh(state, session)?;
    let name = name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(passkey_name)
        .transpose()?;
    let hash = session.id_hash.clone();
    let taken = state
        .writer
        .run(move |db| async move { account_sessions::take_challenge(&db, &hash).await })
        .await?;
    let Some((ceremony_state, expires_at)) = taken else {
        crate::security::event(
            state,
            "assertion.replay",
            Some(&session.tenant.client_id),
            Some(&session.user.id),
            json!({"ceremony": "account", "reason": "challenge_consumed"}),
        )
        .await;
        return Err(SignInError::ChallengeExpired);
    };
    if expires_at <= now() {
        return Err(SignInError::ChallengeExpired);
    }
    let (mut stored, _) = super::passkey::verify_new_passkey(
        state,
        &session.tenant,
        &session.user.id,
        &ceremony_state,
        &credential,
        &session.user.id,
        "account",
    )
    .await?;
    stored.name = name;
    let added = stored.clone();
    let detail =
        json!({"user_id": session.user.id, "credential_id": stored.id, "name": stored.name});
    audited(
        state,
        session.who(),
        "account.passkey_added",
        move |txn| async move {
            accounts::insert_credential(&txn, stored).await?;
            Ok((txn, (), Some(detail)))
        },
    )
    .await?;
    state.metrics.ceremony("account", "ok");
    Ok(PasskeyView::of(&added, &session.credential_id))
}

/// Names a passkey of the session's account.
pub async fn rename_passkey(
    state: &AppState,
    session: &Session,
    credential_id: &str,
    name: &str,
) -> Result<PasskeyView, SignInError> {
    let name = passkey_name(name)?;
    let (tenant_id, user_id, id) = (
        session.tenant.client_id.clone(),
        session.user.id.clone(),
        credential_id.to_owned(),
    );
    let detail = json!({"user_id": user_id, "credential_id": credential_id, "name": name});
    let renamed = audited(
        state,
        session.who(),
        "account.passkey_renamed",
        move |txn| async move {
            let renamed = accounts::rename_passkey(&txn, &tenant_id, &user_id, &id, &name).await?;
            let detail = renamed.is_some().then_some(detail);
            Ok((txn, renamed, detail))
        },
    )
    .await?
    .ok_or(SignInError::PasskeyNotFound)?;
    Ok(PasskeyView::of(&renamed, &session.credential_id))
}

/// Removes a passkey of the session's account, never its last. Its unredeemed codes stop
/// redeeming at once (PROTOCOL §3), and it signs in nowhere any more.
pub async fn remove_passkey(
    state: &AppState,
    session: &Session,
    credential_id: &str,
) -> Result<(), SignInError> {
    let (tenant_id, user_id, id) = (
        session.tenant.client_id.clone(),
        session.user.id.clone(),
        credential_id.to_owned(),
    );
    let removal = audited(
        state,
        session.who(),
        "account.passkey_removed",
        move |txn| async move {
            let removal = accounts::remove_passkey_of_user(&txn, &tenant_id, &user_id, &id).await?;
            let detail = match &removal {
                Removal::Removed(c) => {
                    Some(json!({"user_id": user_id, "credential_id": c.id, "name": c.name}))
                }
                Removal::LastPasskey | Removal::NotFound => None,
            };
            Ok((txn, removal, detail))
        },
    )
    .await?;
    match removal {
        Removal::Removed(_) => Ok(()),
        Removal::LastPasskey => Err(SignInError::LastPasskey),
        Removal::NotFound => Err(SignInError::PasskeyNotFound),
    }
}

/// Ends `session`.
pub async fn sign_out(state: &AppState, session: Session) -> Result<(), SignInError> {
    let hash = session.id_hash;
    state
        .writer
        .run(move |db| async move { account_sessions::end(&db, &hash).await })
        .await?;
    Ok(())
}
