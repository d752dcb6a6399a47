//! Flows, their one outstanding WebAuthn challenge, and codes (PROTOCOL §2–§3).

use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    QueryFilter as _, QuerySelect as _,
};

use crate::db::entities::{access_token, challenge, code, credential, flow, tenant};

/// Inserts a new flow.
pub async fn create_flow<C: ConnectionTrait>(db: &C, model: flow::Model) -> Result<(), DbErr> {
    flow::ActiveModel::from(model).insert(db).await.map(|_| ())
}

/// Loads a flow.
pub async fn find_flow<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<flow::Model>, DbErr> {
    super::by_key(flow::Entity::find_by_id(id.to_owned()), db).await
}

/// Loads a flow with its tenant in one statement (every statement is a round trip to
/// the database); the tenant is `None` only if it was deleted since the flow began.
pub async fn find_flow_with_tenant<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<(flow::Model, Option<tenant::Model>)>, DbErr> {
    super::by_key_also(
        flow::Entity::find_by_id(id.to_owned()).find_also_related(tenant::Entity),
        db,
    )
    .await
}

/// Whether a flow of `tenant_id` with this PKCE `code_challenge` has issued its code
/// (until expired flows are purged, an hour after they expire). Read through the index
/// on `code_challenge`; no `LIMIT` (see [`super::by_key`]), as a challenge is in one
/// flow unless the Back button or a reload re-sent its request.
pub async fn challenge_completed<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    code_challenge: &str,
) -> Result<bool, DbErr> {
    let ids: Vec<String> = flow::Entity::find()
        .select_only()
        .column(flow::Column::Id)
        .filter(flow::Column::CodeChallenge.eq(code_challenge))
        .filter(flow::Column::TenantId.eq(tenant_id))
        .filter(flow::Column::CompletedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(!ids.is_empty())
}

/// Stores the flow's challenge, replacing any outstanding one (one per flow).
pub async fn put_challenge<C: ConnectionTrait>(
    db: &C,
    model: challenge::Model,
) -> Result<(), DbErr> {
    challenge::Entity::insert(challenge::ActiveModel::from(model))
        .on_conflict(
            OnConflict::column(challenge::Column::FlowId)
                .update_columns([
                    challenge::Column::Kind,
                    challenge::Column::State,
                    challenge::Column::SignedMessage,
                    challenge::Column::Registration,
                    challenge::Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await
        .map(|_| ())
}

/// Consumes the flow's outstanding challenge in one atomic statement: of concurrent
/// callers, exactly one gets it (PROTOCOL §2: consumed by its first verification attempt).
pub async fn take_challenge<C: ConnectionTrait>(
    db: &C,
    flow_id: &str,
) -> Result<Option<challenge::Model>, DbErr> {
    challenge::Entity::delete_by_id(flow_id.to_owned())
        .exec_with_returning(db)
        .await
}

/// Marks a flow as having issued its code; `false` when it already had.
pub async fn complete_flow<C: ConnectionTrait>(
    db: &C,
    flow_id: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let res = flow::Entity::update_many()
        .col_expr(flow::Column::CompletedAt, Expr::value(at))
        .filter(flow::Column::Id.eq(flow_id))
        .filter(flow::Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Inserts a code.
pub async fn insert_code<C: ConnectionTrait>(db: &C, model: code::Model) -> Result<(), DbErr> {
    code::ActiveModel::from(model).insert(db).await.map(|_| ())
}

/// Loads a code by the SHA-256 of its value.
pub async fn find_code<C: ConnectionTrait>(
    db: &C,
    code_hash: &str,
) -> Result<Option<code::Model>, DbErr> {
    super::by_key(code::Entity::find_by_id(code_hash.to_owned()), db).await
}

/// Redeems a code in one conditional update: `true` for exactly one caller, and only
/// while it is unused, unexpired, and its passkey still stands in its account (PROTOCOL
/// §3: a revoked passkey or a deleted account, which takes its passkeys with it, leaves
/// its codes unredeemable; checked in the same statement, so no race reopens them).
pub async fn consume_code<C: ConnectionTrait>(
    db: &C,
    code_hash: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let passkey_stands = Query::select()
        .expr(Expr::val(1))
        .from(credential::Entity)
        .and_where(
            Expr::col((credential::Entity, credential::Column::Id))
                .equals((code::Entity, code::Column::CredentialId)),
        )
        .and_where(
            Expr::col((credential::Entity, credential::Column::UserId))
                .equals((code::Entity, code::Column::UserId)),
        )
        .to_owned();
    let res = code::Entity::update_many()
        .col_expr(code::Column::RedeemedAt, Expr::value(at))
        .filter(code::Column::CodeHash.eq(code_hash))
        .filter(code::Column::RedeemedAt.is_null())
        .filter(code::Column::ExpiresAt.gt(at))
        .filter(Expr::exists(passkey_stands))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Removes the flows of `tenant_id` and their unredeemed codes whose redirect URI is not
/// one of `kept` (PROTOCOL §3: revocation reaches what was issued).
pub async fn forget_redirect_uris_except<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kept: &[String],
) -> Result<(), DbErr> {
    flow::Entity::delete_many()
        .filter(flow::Column::TenantId.eq(tenant_id))
        .filter(flow::Column::RedirectUri.is_not_in(kept.iter().cloned()))
        .exec(db)
        .await?;
    code::Entity::delete_many()
        .filter(code::Column::TenantId.eq(tenant_id))
        .filter(code::Column::RedirectUri.is_not_in(kept.iter().cloned()))
        .filter(code::Column::RedeemedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Removes expired flows (with their challenges), codes and access tokens. Each delete
/// is idempotent, so several instances may run it at once.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, at: i64) -> Result<u64, DbErr> {
    let mut n = 0;
    n += challenge::Entity::delete_many()
        .filter(challenge::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?
        .rows_affected;
    n += code::Entity::delete_many()
        .filter(code::Column::ExpiresAt.lt(at - 3600))
        .exec(db)
        .await?
        .rows_affected;
    n += flow::Entity::delete_many()
        .filter(flow::Column::ExpiresAt.lt(at - 3600))
        .exec(db)
        .await?
        .rows_affected;
    n += access_token::Entity::delete_many()
        .filter(access_token::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?
        .rows_affected;
    Ok(n)
}
