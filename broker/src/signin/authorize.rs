//! Opening a flow (PROTOCOL §2, `GET /authorize`): the authorization request checked as
//! RFC 6749, RFC 7636 and OpenID Connect Core require, and a new flow bound to the
//! browser that made it. The route renders the outcome: the hosted page of the flow, or
//! the page or redirect of a refusal.

use std::collections::HashMap;
use std::net::IpAddr;

use sea_orm::DbErr;

use crate::db::entities::flow;
use crate::domain::{CodeChallenge, RedirectUri, State};
use crate::errors::ErrorCode;
use crate::state::AppState;
use crate::store::tenants::Tenant;
use crate::util::{now, random_token, sha256_b64};

/// An authorization request as the browser sent it.
#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    /// The query's parameters.
    pub params: &'a HashMap<String, String>,
    /// A parameter given more than once, if any.
    pub duplicate: Option<&'a str>,
    /// This browser's flow-binding secret (the cookie's value, or a new one).
    pub binding: &'a str,
    /// The client's address, for the open-flow quota.
    pub ip: IpAddr,
}

/// A flow opened: what the hosted page needs.
#[derive(Debug)]
pub struct Opened {
    /// The new flow's id.
    pub flow_id: String,
    /// Its tenant.
    pub tenant: Tenant,
    /// Where it returns.
    pub redirect: RedirectUri,
    /// `login` or `create` (from `prompt`).
    pub view: &'static str,
    /// The `login_hint`, if any.
    pub login_hint: Option<String>,
}

/// Why no flow was opened.
#[derive(Debug)]
pub enum Refusal {
    /// No `client_id`: never a redirect (RFC 6749 §4.1.2.1).
    NoClientId,
    /// No tenant has this `client_id`: never a redirect.
    UnknownClient,
    /// No `redirect_uri`: never a redirect.
    NoRedirectUri,
    /// The `redirect_uri` is not one the tenant registered: never a redirect.
    Unregistered {
        /// The tenant's client id, for the developer's hint.
        client_id: String,
    },
    /// The registered `redirect_uri` does not parse: never a redirect.
    InvalidRedirect,
    /// Anything else wrong with the request: the error goes back to the site.
    Redirect {
        /// Where.
        redirect: RedirectUri,
        /// The OAuth error code.
        error: ErrorCode,
        /// What was wrong, for the site's developer.
        description: String,
        /// The request's `state`, when it was valid.
        state: Option<String>,
    },
    /// This PKCE challenge already issued its code: the browser came back from history.
    Finished {
        /// The tenant's name.
        tenant_name: String,
        /// Its redirect URI, whose site the page links to.
        redirect: RedirectUri,
    },
    /// The client opened too many flows.
    TooMany {
        /// Seconds until it may open another.
        retry_after: u64,
    },
    /// The database failed.
    Db(DbErr),
}

impl From<DbErr> for Refusal {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Checks an authorization request and opens its flow.
pub async fn open(state: &AppState, request: AuthorizeRequest<'_>) -> Result<Opened, Refusal> {
    let get = |k: &str| request.params.get(k).map(String::as_str);
    // RFC 6749 §4.1.2.1: without a known client and an exactly registered redirect URI,
    // never redirect.
    let client_id = get("client_id").ok_or(Refusal::NoClientId)?;
    let tenant = state
        .signin
        .tenant(client_id)
        .await?
        .ok_or(Refusal::UnknownClient)?;
    let redirect_raw = get("redirect_uri").ok_or(Refusal::NoRedirectUri)?;
    if !RedirectUri::is_registered(&tenant.redirect_uris, redirect_raw) {
        return Err(Refusal::Unregistered {
            client_id: tenant.client_id.clone(),
        });
    }
    let redirect = RedirectUri::parse(redirect_raw).map_err(|_| Refusal::InvalidRedirect)?;

    let state_param = get("state").and_then(|s| State::parse(s).ok());
    let refuse = |error: ErrorCode, description: &str| Refusal::Redirect {
        redirect: redirect.clone(),
        error,
        description: description.to_owned(),
        state: state_param.as_ref().map(|s| s.as_str().to_owned()),
    };
    let bad = |d: &str| refuse(ErrorCode::InvalidRequest, d);
    if let Some(k) = request.duplicate {
        return Err(bad(&format!("parameter {k} was given more than once")));
    }
    if get("response_type") != Some("code") {
        return Err(bad("response_type must be code"));
    }
    // OpenID Connect Core §6: request objects are not supported, and say so rather than
    // ignore parameters that the client expects to be honoured.
    if get("request").is_some() {
        return Err(refuse(
            ErrorCode::RequestNotSupported,
            "request objects (the request parameter) are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(refuse(
            ErrorCode::RequestUriNotSupported,
            "the request_uri parameter is not supported",
        ));
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(bad(
            "response_mode must be query (the code is returned in the query string)",
        ));
    }
    match get("code_challenge_method") {
        Some("S256") => {}
        Some("plain") => {
            return Err(bad(
                "code_challenge_method plain is not supported; use S256",
            ));
        }
        _ => return Err(bad("code_challenge_method=S256 is required")),
    }
    let Some(Ok(challenge)) = get("code_challenge").map(CodeChallenge::parse) else {
        return Err(bad(
            "code_challenge must be 43 characters of base64url (S256)",
        ));
    };
    let Some(flow_state) = state_param.clone() else {
        return Err(bad(
            "state is required: 1 to 512 printable ASCII characters",
        ));
    };
    let nonce = match get("nonce") {
        Some(n)
            if n.is_empty() || n.len() > 512 || !n.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            return Err(bad("nonce must be 1 to 512 printable ASCII characters"));
        }
        n => n.map(str::to_owned),
    };
    let scope = granted_scope(get("scope").unwrap_or("openid"));
    let view = match get("prompt") {
        None | Some("") | Some("login") | Some("select_account") | Some("consent") => "login",
        Some("create") => "create",
        Some("none") => {
            return Err(refuse(
                ErrorCode::LoginRequired,
                "a passkey sign-in needs the person; prompt=none cannot be satisfied",
            ));
        }
        Some(_) => return Err(bad("prompt must be create or login")),
    };
    let login_hint = match get("login_hint") {
        Some(h) if h.len() > 254 || h.chars().any(char::is_control) => {
            return Err(bad(
                "login_hint must be an email address of at most 254 characters",
            ));
        }
        h => h.filter(|h| !h.is_empty()).map(str::to_owned),
    };

    // RFC 7636 §4.1: a client makes a new code_challenge for every authorization
    // request, so one that already issued its code can only come back from the
    // browser's history; the site has used up what it kept for it, and a ceremony here
    // would end on the site's callback with nothing to match (and, for a registration,
    // leave an account behind). Say that this sign-in is finished instead.
    if state
        .signin
        .challenge_completed(&tenant.client_id, challenge.as_str())
        .await?
    {
        return Err(Refusal::Finished {
            tenant_name: tenant.name.clone(),
            redirect,
        });
    }
    crate::security::open_flow_quota(state, request.ip)
        .await
        .map_err(|r| Refusal::TooMany {
            retry_after: r.retry_after,
        })?;
    let t = now();
    let flow_id = random_token(16);
    state
        .signin
        .create_flow(flow::Model {
            id: flow_id.clone(),
            tenant_id: tenant.client_id.clone(),
            redirect_uri: redirect.as_str().to_owned(),
            state: flow_state.as_str().to_owned(),
            code_challenge: challenge.as_str().to_owned(),
            nonce,
            scope,
            prompt: view.to_owned(),
            login_hint: login_hint.clone(),
            binding_hash: sha256_b64(request.binding),
            created_at: t,
            expires_at: t + state.settings.flow_ttl,
            completed_at: None,
            purpose: super::flow::SIGN_IN.to_owned(),
        })
        .await?;
    Ok(Opened {
        flow_id,
        tenant,
        redirect,
        view,
        login_hint,
    })
}

/// The scopes granted: `openid` always, `email` when asked; others are ignored
/// (RFC 6749 §3.3 lets the server grant less than asked).
pub fn granted_scope(asked: &str) -> String {
    if asked.split(' ').any(|s| s == "email") {
        "openid email".into()
    } else {
        "openid".into()
    }
}
