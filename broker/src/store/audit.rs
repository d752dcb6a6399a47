//! The audit log: who did what, when. Writes never fail the action they record; a failed
//! write is logged.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, NotSet, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Set,
};
use serde_json::{Value, json};

use crate::db::entities::audit_event;
use crate::util::{now, rfc3339};

/// One event to record.
pub struct Event<'a> {
    /// Who: `admin:bootstrap`, `user:<id>`, `system`, `anonymous`.
    pub actor: &'a str,
    /// What: `tenant.create`, `sign_in`, `ceremony.failed`, `counter_regression`, …
    pub action: &'a str,
    /// The tenant concerned.
    pub tenant_id: Option<&'a str>,
    /// The object concerned (a credential id, a user id, a client id).
    pub subject: Option<&'a str>,
    /// Details; never secrets.
    pub detail: Value,
}

/// Records an event; a database failure is logged, not returned.
pub async fn record<C: ConnectionTrait>(db: &C, event: Event<'_>) {
    let action = event.action;
    if let Err(e) = record_in(db, event).await {
        tracing::error!(action, error = %e, "audit write failed");
    }
}

/// Records an event as part of the caller's transaction: the event and the change it
/// describes commit together, so a failure is returned and fails both.
pub async fn record_in<C: ConnectionTrait>(db: &C, event: Event<'_>) -> Result<(), DbErr> {
    let model = audit_event::ActiveModel {
        id: NotSet,
        at: Set(now()),
        actor: Set(event.actor.to_owned()),
        action: Set(event.action.to_owned()),
        tenant_id: Set(event.tenant_id.map(str::to_owned)),
        subject: Set(event.subject.map(str::to_owned)),
        detail: Set(event.detail.to_string()),
    };
    audit_event::Entity::insert(model)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// Events newest first, with ids below `before` when given.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    before: Option<i64>,
    tenant: Option<&str>,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    list_filtered(
        db,
        &Filter {
            before,
            tenant: tenant.map(str::to_owned),
            ..Filter::default()
        },
        limit,
    )
    .await
}

/// Which events to list; every part is optional and they combine with AND.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only ids below this one (the `after` cursor of the admin API: newest first).
    pub before: Option<i64>,
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only this action (`tenant.create`), or every action under a prefix ending in `.`
    /// or `*` (`tenant.`, `ceremony*`).
    pub action: Option<String>,
    /// Only this actor (`admin:bootstrap`, `token:<id>`, `admin:<user id>`).
    pub actor: Option<String>,
}

/// Events newest first, filtered.
pub async fn list_filtered<C: ConnectionTrait>(
    db: &C,
    filter: &Filter,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    let mut q = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(limit);
    if let Some(b) = filter.before {
        q = q.filter(audit_event::Column::Id.lt(b));
    }
    if let Some(t) = &filter.tenant {
        q = q.filter(audit_event::Column::TenantId.eq(t.as_str()));
    }
    if let Some(a) = &filter.action {
        q = match a.strip_suffix('*') {
            Some(prefix) => q.filter(audit_event::Column::Action.starts_with(prefix)),
            None if a.ends_with('.') => q.filter(audit_event::Column::Action.starts_with(a)),
            None => q.filter(audit_event::Column::Action.eq(a.as_str())),
        };
    }
    if let Some(a) = &filter.actor {
        q = q.filter(audit_event::Column::Actor.eq(a.as_str()));
    }
    q.all(db).await
}

/// The details of an event as recorded (`null` when they do not parse).
pub fn detail(e: &audit_event::Model) -> Value {
    serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)
}

/// The event object of the admin API.
pub fn to_json(e: &audit_event::Model) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "actor": e.actor,
        "action": e.action,
        "tenant_id": e.tenant_id,
        "subject": e.subject,
        "detail": detail(e),
    })
}

/// Sign-ins (`sign_in` and `sign_up`) per UTC day over the last `days` days, oldest
/// first, days without any included: `(day start in UNIX seconds, count)`.
pub async fn sign_ins_per_day<C: ConnectionTrait>(
    db: &C,
    tenant: Option<&str>,
    days: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let today = now().div_euclid(86_400);
    let first = today - days + 1;
    // A literal, not a bound parameter: PostgreSQL groups only by the very same expression.
    let day = Expr::cust("at / 86400");
    let mut q = audit_event::Entity::find()
        .select_only()
        .column_as(day.clone(), "day")
        .column_as(audit_event::Column::Id.count(), "n")
        .filter(audit_event::Column::Action.is_in(["sign_in", "sign_up"]))
        .filter(audit_event::Column::At.gte(first * 86_400))
        .group_by(day);
    if let Some(t) = tenant {
        q = q.filter(audit_event::Column::TenantId.eq(t));
    }
    let rows: Vec<(i64, i64)> = q.into_tuple().all(db).await?;
    Ok((first..=today)
        .map(|d| {
            let n = rows.iter().find(|(k, _)| *k == d).map_or(0, |(_, n)| *n);
            (d * 86_400, n)
        })
        .collect())
}
