//! The audit log: who did what, when. Writes never fail the action they record; a failed
//! write is logged.

use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, NotSet,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Set,
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
    let model = audit_event::ActiveModel {
        id: NotSet,
        at: Set(now()),
        actor: Set(event.actor.to_owned()),
        action: Set(event.action.to_owned()),
        tenant_id: Set(event.tenant_id.map(str::to_owned)),
        subject: Set(event.subject.map(str::to_owned)),
        detail: Set(event.detail.to_string()),
    };
    if let Err(e) = model.insert(db).await {
        tracing::error!(action = event.action, error = %e, "audit write failed");
    }
}

/// Events newest first, with ids below `before` when given.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    before: Option<i64>,
    tenant: Option<&str>,
    limit: u64,
) -> Result<Vec<Value>, DbErr> {
    let mut q = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(limit);
    if let Some(b) = before {
        q = q.filter(audit_event::Column::Id.lt(b));
    }
    if let Some(t) = tenant {
        q = q.filter(audit_event::Column::TenantId.eq(t));
    }
    Ok(q.all(db)
        .await?
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": rfc3339(e.at),
                "actor": e.actor,
                "action": e.action,
                "tenant_id": e.tenant_id,
                "subject": e.subject,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
            })
        })
        .collect())
}
