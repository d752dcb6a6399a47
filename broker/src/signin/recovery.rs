//! Email verification and recovery links (PROTOCOL E4), the domain side: whether a
//! tenant offers recovery, the refusals, and the mails sent off the request path after
//! their commit (a failure is logged without token or address and audited as
//! `email_send_failed`).

use actix_web::web;
use serde_json::{Value, json};

use crate::db::entities::{flow, user};
use crate::mail::Mailer;
use crate::state::AppState;
use crate::store::audit::{self, Event};
use crate::store::email_tokens::{self, Purpose};
use crate::store::tenants::Tenant;
use crate::util::now;

/// Lifetime of an email verification link, seconds.
pub const VERIFY_TTL: i64 = 24 * 3600;

/// Lifetime of a recovery link, seconds (never beyond its flow's).
pub const RECOVER_TTL: i64 = 15 * 60;

/// Whether a tenant's hosted page offers recovery: the tenant opted in and the broker
/// can send email.
pub fn offered(state: &AppState, tenant: &Tenant) -> bool {
    tenant.email_recovery && state.mailer.is_some()
}

pub(crate) async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    tenant: &str,
    subject: &str,
    detail: Value,
) {
    audit::record(
        &state.db,
        Event {
            actor,
            action,
            tenant_id: Some(tenant),
            subject: Some(subject),
            detail,
        },
    )
    .await;
}

/// Sends `body` to `to`; a failure is logged without the address and audited.
pub(crate) async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    user: &user::Model,
    to: &str,
    purpose: &str,
    subject: &str,
    body: String,
) -> bool {
    match mailer.send(to, subject, body).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(purpose, user = %user.id, error = %e, "email not sent");
            record(
                state,
                "system",
                "email_send_failed",
                &user.tenant_id,
                &user.id,
                json!({"purpose": purpose, "error": e.to_string()}),
            )
            .await;
            false
        }
    }
}

/// Sends the verification link of a new account's address, off the request path.
pub fn send_verification(state: &web::Data<AppState>, user: user::Model, site: String) {
    let (Some(mailer), Some(to)) = (state.mailer.clone(), user.email.clone()) else {
        return;
    };
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let token =
            match email_tokens::create(&state.db, Purpose::Verify, &user, None, now() + VERIFY_TTL)
                .await
            {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => {
                    tracing::warn!(error = %e, "verification link not stored");
                    return;
                }
            };
        let body = format!(
            "Hello,\n\nConfirm the email address of your {site} account by opening this link:\n\n{}/email/verify?token={}\n\nThe link works once, within 24 hours. A confirmed address lets you create a new passkey if you ever lose yours.\n\nIf you did not create an account on {site}, ignore this message.\n\nLatchkey, for {site}\n",
            state.issuer,
            token.as_str()
        );
        deliver(
            &state,
            &mailer,
            &user,
            &to,
            "verify",
            &format!("Confirm your email address for {site}"),
            body,
        )
        .await;
    });
}

/// Mails a recovery link to each verified account of the tenant with this address,
/// within the per-account limit.
pub(crate) async fn send_recovery(
    state: web::Data<AppState>,
    flow: flow::Model,
    tenant: Tenant,
    email: String,
) {
    let Some(mailer) = state.mailer.clone() else {
        return;
    };
    let users = match email_tokens::verified_users(&state.db, &tenant.client_id, &email).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "recovery lookup failed");
            return;
        }
    };
    for user in users {
        let Some(to) = user.email.clone() else {
            continue;
        };
        if let Err(r) = crate::security::recovery_mail_quota(&state, &user.id).await {
            if r.first {
                record(
                    &state,
                    "anonymous",
                    "recovery_rate_limited",
                    &tenant.client_id,
                    &user.id,
                    json!({"limit": "per_account", "flow": flow.id}),
                )
                .await;
            }
            continue;
        }
        let expires_at = (now() + RECOVER_TTL).min(flow.expires_at);
        let token = match email_tokens::create(
            &state.db,
            Purpose::Recover,
            &user,
            Some(&flow.id),
            expires_at,
        )
        .await
        {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(e) => {
                tracing::warn!(error = %e, "recovery link not stored");
                continue;
            }
        };
        let minutes = ((expires_at - now()) / 60).max(1);
        let site = &tenant.name;
        let body = format!(
            "Hello,\n\nSomeone, hopefully you, asked to recover your {site} account because its passkeys are lost. Open this link in the same browser, while its sign-in page is still open, to create a new passkey:\n\n{}/recover?flow={}&token={}\n\nThe link works once, within {minutes} minutes.\n\nIf you did not ask for this, ignore this message: nothing changes without the link.\n\nLatchkey, for {site}\n",
            state.issuer,
            flow.id,
            token.as_str()
        );
        if deliver(
            &state,
            &mailer,
            &user,
            &to,
            "recover",
            &format!("Recover your {site} account"),
            body,
        )
        .await
        {
            record(
                &state,
                "system",
                "recovery_email_sent",
                &tenant.client_id,
                &user.id,
                json!({"flow": flow.id, "expires_at": crate::util::rfc3339(expires_at)}),
            )
            .await;
        }
    }
}

/// Tells the account's address that a passkey was added through a recovery link.
pub(crate) fn send_notice(state: &web::Data<AppState>, user: user::Model, site: String) {
    let (Some(mailer), Some(to)) = (state.mailer.clone(), user.email.clone()) else {
        return;
    };
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let body = format!(
            "Hello,\n\nA new passkey was just added to your {site} account through a recovery link sent to this address. Your other passkeys are unchanged.\n\nIf this was you, there is nothing to do. If it was not, someone who can read your email has added a passkey to your account: contact {site} at once so that it can be removed.\n\nLatchkey, for {site}\n"
        );
        deliver(
            &state,
            &mailer,
            &user,
            &to,
            "notice",
            &format!("A new passkey was added to your {site} account"),
            body,
        )
        .await;
    });
}
