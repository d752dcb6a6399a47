//! Redeeming a code (PROTOCOL §3–§4): the one redeem behind `/api/v1/sign-ins/redeem`,
//! `/oauth/token` and the dashboard's own callback. It authenticates the client, checks
//! the code's bindings and the PKCE verifier, consumes the code in one conditional
//! update (exactly one of any number of concurrent redeems wins), and records the
//! outcome in metrics and the audit log, once.

use std::net::IpAddr;

use latchkey_proto::{Material, SignIn};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::SignInError;
use crate::domain::{CodeChallenge, CodeVerifier, RedirectUri};
use crate::state::AppState;
use crate::store;
use crate::store::tenants::Tenant;
use crate::util::{ct_eq, now, sha256_b64};

/// Where a code is presented: the contract's two back-channel endpoints, or the
/// dashboard's own callback (metrics and audit events name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `POST /api/v1/sign-ins/redeem`.
    Redeem,
    /// `POST /oauth/token`.
    Token,
    /// `GET /admin/callback`.
    Dashboard,
}

impl Door {
    /// The name in metrics and audit details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redeem => "redeem",
            Self::Token => "token",
            Self::Dashboard => "dashboard",
        }
    }
}

/// The client presenting a code, as the request named it (RFC 6749 §2.3: Basic or
/// body); its secret is checked here.
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// The client secret, when one was presented.
    pub secret: Option<zeroize::Zeroizing<String>>,
}

/// What the client presents with its code.
pub struct Grant<'a> {
    /// The code from the redirect.
    pub code: &'a str,
    /// The PKCE `code_verifier`.
    pub verifier: &'a str,
    /// The `redirect_uri` of the authorization request.
    pub redirect_uri: &'a str,
}

/// The sign-in stored with a code when it was issued (the code's `payload`).
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredSignIn {
    /// The `sign_in` object of the redeem answer.
    pub sign_in: SignIn,
    /// The `verify` material (PROTOCOL §5).
    pub verify: Material,
    /// The authorization request's `nonce`, echoed in the id_token.
    pub nonce: Option<String>,
    /// When the ceremony completed (UNIX seconds).
    pub auth_time: i64,
    /// RFC 8176 methods.
    pub amr: Vec<String>,
}

/// A redeemed code: the sign-in and the tenant it belongs to.
#[derive(Debug)]
pub struct Redeemed {
    /// The tenant that redeemed it.
    pub tenant: Tenant,
    /// What the ceremony established.
    pub stored: StoredSignIn,
    /// The flow's scope.
    pub scope: String,
    /// The account (`sub`).
    pub user_id: String,
}

/// Redeems `grant` for `client`, coming from `ip`. Failed redeems count against the
/// client address's and the tenant's limits; every outcome is counted once under `door`.
pub async fn redeem(
    state: &AppState,
    ip: IpAddr,
    client: Client,
    grant: Grant<'_>,
    door: Door,
) -> Result<Redeemed, SignInError> {
    let result = authenticate_and_redeem(state, ip, client, grant, door).await;
    state.metrics.redeem(
        door.as_str(),
        result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok"),
    );
    result
}

async fn authenticate_and_redeem(
    state: &AppState,
    ip: IpAddr,
    client: Client,
    grant: Grant<'_>,
    door: Door,
) -> Result<Redeemed, SignInError> {
    let tenant = state
        .signin
        .tenant(&client.id)
        .await?
        .ok_or(SignInError::InvalidClient("unknown client"))?;
    if let Some(hash) = &tenant.secret_hash {
        let presented = client
            .secret
            .as_deref()
            .map(|s| sha256_b64(s.as_str()))
            .unwrap_or_default();
        if !ct_eq(presented.as_bytes(), hash.as_bytes()) {
            return Err(SignInError::InvalidClient("client authentication failed"));
        }
    }
    let client_id = tenant.client_id.clone();
    crate::security::redeem_allowed(state, ip, &client_id).map_err(SignInError::SlowDown)?;
    let result = redeem_for(state, tenant, &grant, door).await;
    if matches!(result, Err(SignInError::InvalidGrant(_))) {
        crate::security::redeem_failed(state, ip, &client_id).await;
    }
    result
}

/// Redeems a code for an authenticated client: checks the code, its binding and the PKCE
/// verifier, then consumes it in one conditional update.
async fn redeem_for(
    state: &AppState,
    tenant: Tenant,
    grant: &Grant<'_>,
    door: Door,
) -> Result<Redeemed, SignInError> {
    let gone = SignInError::InvalidGrant("the code is invalid, expired or already used");
    // RFC 7636 §4.6: a malformed verifier fails like a wrong one.
    let mismatch =
        || SignInError::InvalidGrant("the code_verifier does not match the code_challenge");
    let verifier = CodeVerifier::parse(grant.verifier).map_err(|_| mismatch())?;
    let t = now();
    let hash = sha256_b64(grant.code);
    let Some(row) = state.signin.find_code(&hash).await? else {
        return Err(gone);
    };
    if row.tenant_id != tenant.client_id {
        crate::security::event(
            state,
            "code.wrong_client",
            Some(&row.tenant_id),
            Some(&row.flow_id),
            json!({"presented_by": tenant.client_id, "endpoint": door.as_str()}),
        )
        .await;
        return Err(SignInError::InvalidGrant(
            "the code was issued to another client",
        ));
    }
    if row.redeemed_at.is_some() {
        store::audit::record(
            state.writer.conn(),
            store::audit::Event {
                actor: &format!("client:{}", tenant.client_id),
                action: "code.replay",
                tenant_id: Some(&tenant.client_id),
                subject: Some(&row.flow_id),
                detail: json!({"endpoint": door.as_str()}),
            },
        )
        .await;
        return Err(gone);
    }
    if row.expires_at <= t {
        return Err(gone);
    }
    if !ct_eq(row.redirect_uri.as_bytes(), grant.redirect_uri.as_bytes()) {
        return Err(SignInError::InvalidGrant(
            "redirect_uri differs from the one of the authorization request",
        ));
    }
    // PROTOCOL §3: a redirect URI removed from the tenant since the code was issued
    // redeems nothing (its removal also deleted the code, in its own transaction).
    if !RedirectUri::is_registered(&tenant.redirect_uris, &row.redirect_uri) {
        return Err(SignInError::InvalidGrant(
            "the redirect_uri of this code is no longer registered for the client",
        ));
    }
    let challenge = CodeChallenge::parse(&row.code_challenge).map_err(|_| mismatch())?;
    if !challenge.is_satisfied_by(&verifier) {
        return Err(mismatch());
    }
    // One conditional update: unused, unexpired, and its passkey still standing.
    let consumed = state.signin.consume_code(&hash, t).await?;
    if !consumed {
        return Err(gone);
    }
    let stored: StoredSignIn = serde_json::from_str(&row.payload)
        .map_err(|e| SignInError::Internal(format!("stored sign-in unreadable: {e}")))?;
    Ok(Redeemed {
        tenant,
        stored,
        scope: row.scope,
        user_id: row.user_id,
    })
}

/// The id_token of a redeemed sign-in (OpenID Connect Core §2): ES256, `aud` the client,
/// `nonce` when the authorization request had one, email claims with scope `email`.
pub fn id_token(state: &AppState, r: &Redeemed) -> Result<String, SignInError> {
    let t = now();
    let mut claims = json!({
        "iss": state.issuer,
        "sub": r.user_id,
        "aud": r.tenant.client_id,
        "iat": t,
        "exp": t + state.settings.access_token_ttl,
        "auth_time": r.stored.auth_time,
        "amr": r.stored.amr,
    });
    if let Some(nonce) = &r.stored.nonce {
        claims["nonce"] = nonce.as_str().into();
    }
    let sign_in = &r.stored.sign_in;
    if r.scope.split(' ').any(|s| s == "email")
        && let Some(email) = &sign_in.email
    {
        claims["email"] = email.as_str().into();
        claims["email_verified"] = sign_in.email_verified.into();
    }
    state
        .keys
        .sign(&claims)
        .map_err(|e| SignInError::Internal(format!("signing failed: {e}")))
}
