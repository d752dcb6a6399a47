//! The audit log: sign-ins per day, filters, and each event as a sentence, its details as
//! recorded behind a disclosure.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::{Admin, Layout, Names, ShortId, when};
use crate::admin as api;
use crate::db::entities::audit_event;
use crate::state::AppState;
use crate::store::audit;
use crate::util::date;

struct EventView {
    /// The day, `2026-11-25`.
    day: String,
    /// The time of day, `09:56 UTC`.
    time: String,
    actor: String,
    actor_label: String,
    action: String,
    tenant: String,
    subject: Option<ShortId>,
    /// What happened, in a sentence.
    sentence: String,
    /// The details as recorded, as indented JSON ("" when there are none).
    detail: String,
    failure: bool,
}

/// One bar of the sign-ins chart, in SVG user units.
struct Bar {
    x: i64,
    y: i64,
    h: i64,
    day: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    l: Layout,
    action: String,
    tenant: String,
    actor: String,
    events: Vec<EventView>,
    next: String,
    bars: Vec<Bar>,
    total: i64,
    peak: i64,
    first_day: String,
    last_day: String,
}

/// Chart geometry: 30 bars of 20 units in a 600 × 120 plot.
const CHART_DAYS: i64 = 30;
const CHART_HEIGHT: i64 = 120;

/// `n thing` or `n things`.
fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A string member of the details ("" when absent).
fn text<'a>(d: &'a Value, key: &str) -> &'a str {
    d[key].as_str().unwrap_or_default()
}

/// A passkey as the dashboard names it everywhere: its credential id, shortened.
fn passkey(id: &str) -> String {
    if id.is_empty() {
        "a passkey".into()
    } else {
        format!("passkey {}", ShortId::new(id).short)
    }
}

/// `“name”` when there is a name, else "".
fn named(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" “{name}”")
    }
}

/// A refusal's reason code in words.
fn reason(code: &str) -> String {
    match code {
        "unknown_credential" => "the passkey is not registered here".into(),
        "user_verification_required" => "the person was not verified (no PIN or biometric)".into(),
        "origin_mismatch" => "it came from another origin".into(),
        "challenge_expired" => "the sign-in took too long".into(),
        "authenticator_not_allowed" => "the tenant does not accept this authenticator".into(),
        "synced_passkey_refused" => "the tenant accepts only device-bound passkeys".into(),
        "" => "no reason recorded".into(),
        other => other.replace('_', " "),
    }
}

/// What an event says, as a sentence: the action, its object and its main details.
/// Unknown actions are named as recorded.
fn sentence(e: &audit_event::Model, d: &Value) -> String {
    let subject = e.subject.as_deref().unwrap_or_default();
    let tenant = e.tenant_id.as_deref().unwrap_or(subject);
    match e.action.as_str() {
        "tenant.create" => {
            let uris = d["redirect_uris"].as_array().map_or(0, Vec::len) as u64;
            format!(
                "Created tenant {tenant} with {}",
                count(uris, "redirect URI", "redirect URIs")
            )
        }
        "tenant.update" if d["secret_rotated"] == Value::Bool(true) => {
            format!("Issued a new client secret for tenant {tenant}")
        }
        "tenant.update" => format!("Changed the settings of tenant {tenant}"),
        "tenant.delete" => format!("Deleted tenant {tenant} with its users and passkeys"),
        "user.delete" => format!(
            "Deleted user{} and {}",
            named(text(d, "name")),
            count(d["passkeys"].as_u64().unwrap_or(0), "passkey", "passkeys")
        ),
        "admin.remove" => format!(
            "Removed admin{} and {}",
            named(text(d, "name")),
            count(d["passkeys"].as_u64().unwrap_or(0), "passkey", "passkeys")
        ),
        "credential.revoke" => format!("Revoked {}", passkey(subject)),
        "token.create" => format!("Created API token{}", named(text(d, "name"))),
        "token.revoke" => format!("Revoked API token{}", named(text(d, "name"))),
        "admin.invite" => match d["expires_at"].as_str() {
            Some(t) => format!("Invited an admin, with a link valid until {}", when_str(t)),
            None => "Invited an admin".into(),
        },
        "admin.invite.accept" => format!(
            "Accepted an invitation as admin{} with {}",
            named(text(d, "name")),
            passkey(text(d, "credential_id"))
        ),
        "admin.sign_in" => format!("Signed in to the dashboard with {}", passkey(subject)),
        "admin.sign_out" => "Signed out of the dashboard".into(),
        "sign_in" => format!("Signed in with {}", passkey(subject)),
        "sign_up" => format!("Signed up with a new {}", passkey(subject)),
        "ceremony.failed" => format!(
            "A {} was refused: {}",
            if text(d, "ceremony") == "create" || text(d, "ceremony") == "registration" {
                "registration"
            } else {
                "sign-in"
            },
            reason(text(d, "reason"))
        ),
        "counter_regression" => format!(
            "The signature counter of {} went back from {} to {}; {}",
            passkey(subject),
            d["stored"],
            d["presented"],
            if text(d, "policy") == "reject" {
                "the sign-in was refused"
            } else {
                "the sign-in went on (policy: record)"
            }
        ),
        "credential.revoked_use" => format!("A revoked {} was used", passkey(subject)),
        "code.replay" => "A sign-in code was presented again after its first use".into(),
        "code.wrong_client" => "A sign-in code was presented by another client".into(),
        "assertion.replay" => "A finished sign-in was attempted again".into(),
        "flow.binding_mismatch" => "A sign-in was continued from another browser".into(),
        "rate_limit.hit" => format!(
            "A rate limit was reached ({}); retry after {} s",
            text(d, "limit"),
            d["retry_after"]
        ),
        "key.rotate" => "Rotated the signing key".into(),
        "email_verified" => "Verified an email address".into(),
        "email_send_failed" => "An email could not be sent".into(),
        "recovery_requested" => "Asked for a recovery link".into(),
        "recovery_email_sent" => "Sent a recovery link by email".into(),
        "recovery_rate_limited" => "Recovery requests were refused for a while (rate limit)".into(),
        "recovery_completed" => format!("Created {} through email recovery", passkey(subject)),
        "account.sign_in" => format!(
            "Signed in to the account page with {}",
            passkey(match text(d, "credential_id") {
                "" => subject,
                id => id,
            })
        ),
        "account.passkey_added" => format!(
            "Added {}{} on the account page",
            passkey(text(d, "credential_id")),
            named(text(d, "name"))
        ),
        "account.passkey_renamed" => format!(
            "Renamed {} to “{}” on the account page",
            passkey(text(d, "credential_id")),
            text(d, "name")
        ),
        "account.passkey_removed" => format!(
            "Removed {}{} on the account page",
            passkey(text(d, "credential_id")),
            named(text(d, "name"))
        ),
        other => other.to_owned(),
    }
}

/// [`when`] of an RFC 3339 time of the details.
fn when_str(s: &str) -> String {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_or_else(|_| s.to_owned(), |t| when(t.unix_timestamp()))
}

fn is_failure(action: &str) -> bool {
    action.contains("fail")
        || action.contains("replay")
        || action.contains("regression")
        || action.contains("rate")
        || action.contains("mismatch")
        || action.contains("wrong")
        || action.contains("revoked_use")
}

/// `GET /admin/audit[?action=&tenant=&actor=&after=]`
pub(super) async fn page(
    admin: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| api::AuditQuery::parse(&q).ok())
        .unwrap_or_default();
    let filter = q.filter();
    let limit = 50;
    let events = match audit::list_filtered(&state.db, &filter, limit).await {
        Ok(e) => e,
        Err(e) => return admin.failure(e),
    };
    let per_day =
        match audit::sign_ins_per_day(&state.db, filter.tenant.as_deref(), CHART_DAYS).await {
            Ok(d) => d,
            Err(e) => return admin.failure(e),
        };
    let names = Names::load(&state).await;
    let next = match events.last() {
        Some(last) if events.len() as u64 == limit => {
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("action", &filter.action),
                ("tenant", &filter.tenant),
                ("actor", &filter.actor),
            ] {
                if let Some(v) = v {
                    pairs.append_pair(k, v);
                }
            }
            pairs.append_pair("after", &last.id.to_string());
            format!("/admin/audit?{}", pairs.finish())
        }
        _ => String::new(),
    };
    let views = events
        .iter()
        .map(|e| {
            let d = audit::detail(e);
            let empty = d.is_null() || d.as_object().is_some_and(serde_json::Map::is_empty);
            let at = when(e.at);
            let (day, time) = at.split_once(' ').unwrap_or((&at, ""));
            EventView {
                day: day.to_owned(),
                time: time.to_owned(),
                actor_label: names.of(&e.actor),
                failure: is_failure(&e.action),
                sentence: sentence(e, &d),
                detail: if empty {
                    String::new()
                } else {
                    serde_json::to_string_pretty(&d).unwrap_or_default()
                },
                action: e.action.clone(),
                actor: e.actor.clone(),
                tenant: e.tenant_id.clone().unwrap_or_default(),
                subject: e.subject.as_deref().map(ShortId::new),
            }
        })
        .collect();
    let peak = per_day.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let bars = per_day
        .iter()
        .enumerate()
        .map(|(i, (day, n))| {
            let h = if peak == 0 {
                0
            } else {
                (n * CHART_HEIGHT / peak).max(i64::from(*n > 0) * 2)
            };
            Bar {
                x: i as i64 * 20 + 2,
                y: CHART_HEIGHT - h,
                h,
                day: date(*day),
                count: *n,
            }
        })
        .collect::<Vec<_>>();
    admin.page(
        StatusCode::OK,
        &AuditPage {
            l: admin.layout("audit"),
            action: filter.action.unwrap_or_default(),
            tenant: filter.tenant.unwrap_or_default(),
            actor: filter.actor.unwrap_or_default(),
            events: views,
            next,
            total: per_day.iter().map(|(_, n)| n).sum(),
            peak,
            first_day: bars.first().map(|b| b.day.clone()).unwrap_or_default(),
            last_day: bars.last().map(|b| b.day.clone()).unwrap_or_default(),
            bars,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(action: &str, subject: Option<&str>, detail: Value) -> (audit_event::Model, Value) {
        (
            audit_event::Model {
                id: 1,
                at: 0,
                actor: "admin:bootstrap".into(),
                action: action.into(),
                tenant_id: Some("blog".into()),
                subject: subject.map(str::to_owned),
                detail: detail.to_string(),
            },
            detail,
        )
    }

    #[test]
    fn events_read_as_sentences() {
        let (e, d) = event(
            "tenant.create",
            Some("blog"),
            json!({"client_id": "blog", "redirect_uris": ["https://a/cb", "https://b/cb"]}),
        );
        assert_eq!(sentence(&e, &d), "Created tenant blog with 2 redirect URIs");
        let cred = "AbCdEfGhIjKlMnOpQrStUv";
        let (e, d) = event(
            "account.passkey_renamed",
            Some("user-1"),
            json!({"user_id": "user-1", "credential_id": cred, "name": "Work laptop"}),
        );
        assert_eq!(
            sentence(&e, &d),
            "Renamed passkey AbCdEfGhIj… to “Work laptop” on the account page"
        );
        for action in [
            "account.sign_in",
            "account.passkey_added",
            "account.passkey_removed",
        ] {
            let (e, d) = event(
                action,
                Some("user-1"),
                json!({"user_id": "user-1", "credential_id": cred, "name": "Phone"}),
            );
            let s = sentence(&e, &d);
            assert!(s.contains("passkey AbCdEfGhIj…"), "{action}: {s}");
            assert!(!s.contains('{') && !s.contains('_'), "{action}: {s}");
        }
        let (e, d) = event("credential.revoke", Some(cred), json!({"user_id": "u"}));
        assert_eq!(sentence(&e, &d), "Revoked passkey AbCdEfGhIj…");
    }
}
