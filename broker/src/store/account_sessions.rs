//! Account sessions (PROTOCOL §9): the account page's short session, bound to a tenant
//! and an account, stored only as the SHA-256 of its cookie, with at most one
//! outstanding passkey-creation challenge.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    QueryFilter as _,
};

use crate::db::entities::account_session;

/// Inserts a new session.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    model: account_session::Model,
) -> Result<(), DbErr> {
    account_session::ActiveModel::from(model)
        .insert(db)
        .await
        .map(|_| ())
}

/// Loads a session by the SHA-256 of its cookie.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    id_hash: &str,
) -> Result<Option<account_session::Model>, DbErr> {
    super::by_key(account_session::Entity::find_by_id(id_hash.to_owned()), db).await
}

/// Records a use of the session (its idle time starts again).
pub async fn touch<C: ConnectionTrait>(db: &C, id_hash: &str, at: i64) -> Result<(), DbErr> {
    account_session::Entity::update_many()
        .col_expr(account_session::Column::LastUsedAt, Expr::value(at))
        .filter(account_session::Column::IdHash.eq(id_hash))
        .exec(db)
        .await
        .map(|_| ())
}

/// Ends a session.
pub async fn end<C: ConnectionTrait>(db: &C, id_hash: &str) -> Result<(), DbErr> {
    account_session::Entity::delete_by_id(id_hash.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}

/// Keeps `state` (webauthn-rs registration state) as the session's one outstanding
/// creation challenge, replacing any earlier one.
pub async fn put_challenge<C: ConnectionTrait>(
    db: &C,
    id_hash: &str,
    state: String,
    expires_at: i64,
) -> Result<(), DbErr> {
    account_session::Entity::update_many()
        .col_expr(account_session::Column::Challenge, Expr::value(state))
        .col_expr(
            account_session::Column::ChallengeExpiresAt,
            Expr::value(expires_at),
        )
        .filter(account_session::Column::IdHash.eq(id_hash))
        .exec(db)
        .await
        .map(|_| ())
}

/// Consumes the session's outstanding creation challenge: read, then cleared by an
/// update conditional on the value read, so that of concurrent callers exactly one gets
/// it. Returns the state and its expiry.
pub async fn take_challenge<C: ConnectionTrait>(
    db: &C,
    id_hash: &str,
) -> Result<Option<(String, i64)>, DbErr> {
    let Some(row) = find(db, id_hash).await? else {
        return Ok(None);
    };
    let (Some(state), Some(expires_at)) = (row.challenge, row.challenge_expires_at) else {
        return Ok(None);
    };
    let cleared = account_session::Entity::update_many()
        .col_expr(
            account_session::Column::Challenge,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            account_session::Column::ChallengeExpiresAt,
            Expr::value(Option::<i64>::None),
        )
        .filter(account_session::Column::IdHash.eq(id_hash))
        .filter(account_session::Column::Challenge.eq(state.as_str()))
        .exec(db)
        .await?;
    Ok((cleared.rows_affected == 1).then_some((state, expires_at)))
}

/// Removes sessions past their end. Idempotent, so several instances may run it at once.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, at: i64) -> Result<u64, DbErr> {
    Ok(account_session::Entity::delete_many()
        .filter(account_session::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?
        .rows_affected)
}
