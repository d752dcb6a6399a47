//! One-time email links (PROTOCOL E4): `verify` proves a user's address, `recover` enrols
//! a new passkey on an account whose passkeys are lost. Only the SHA-256 of a 256-bit
//! random token is stored; a link is used once, by one conditional update.

use sea_orm::sea_query::{Expr, ExprTrait as _, Func};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::db::entities::{email_token, user};
use crate::util::{now, random_token, sha256_b64};

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account's email address.
    Verify,
    /// Enrols a new passkey on the account, in one flow.
    Recover,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Recover => "recover",
        }
    }
}

/// Stores a new link for `user` and returns the token (shown once, in the email).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    purpose: Purpose,
    user: &user::Model,
    flow_id: Option<&str>,
    expires_at: i64,
) -> Result<String, DbErr> {
    let token = random_token(32);
    email_token::ActiveModel::from(email_token::Model {
        token_hash: sha256_b64(&token),
        purpose: purpose.as_str().into(),
        user_id: user.id.clone(),
        tenant_id: user.tenant_id.clone(),
        flow_id: flow_id.map(str::to_owned),
        created_at: now(),
        expires_at,
        used_at: None,
    })
    .insert(db)
    .await?;
    Ok(token)
}

/// A live (unused, unexpired) link of `purpose`, without using it.
pub async fn find_live<C: ConnectionTrait>(
    db: &C,
    token: &str,
    purpose: Purpose,
) -> Result<Option<email_token::Model>, DbErr> {
    if token.len() != 43 {
        return Ok(None);
    }
    let t = now();
    Ok(
        super::by_key(email_token::Entity::find_by_id(sha256_b64(token)), db)
            .await?
            .filter(|m| m.purpose == purpose.as_str() && m.used_at.is_none() && m.expires_at > t),
    )
}

/// Uses a link in one conditional update: of concurrent callers exactly one gets the
/// row, and only while the link is unused and unexpired (and, for recovery, bound to
/// `flow_id` and `user_id`).
pub async fn consume<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    purpose: Purpose,
    flow_id: Option<&str>,
    user_id: Option<&str>,
) -> Result<Option<email_token::Model>, DbErr> {
    let t = now();
    let mut q = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(t))
        .filter(email_token::Column::TokenHash.eq(token_hash))
        .filter(email_token::Column::Purpose.eq(purpose.as_str()))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(t));
    if let Some(f) = flow_id {
        q = q.filter(email_token::Column::FlowId.eq(f));
    }
    if let Some(u) = user_id {
        q = q.filter(email_token::Column::UserId.eq(u));
    }
    Ok(q.exec_with_returning(db).await?.into_iter().next())
}

/// Marks a user's email address as verified.
pub async fn mark_verified<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::EmailVerified, Expr::value(true))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The accounts of a tenant whose verified email address is `email` (compared without
/// regard to case), oldest first, at most five.
pub async fn verified_users<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    email: &str,
) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::EmailVerified.eq(true))
        .filter(Expr::expr(Func::lower(Expr::col(user::Column::Email))).eq(email.to_lowercase()))
        .order_by_asc(user::Column::CreatedAt)
        .limit(5)
        .all(db)
        .await
}

/// Removes expired links, used or not; safe with many instances running it.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, at: i64) -> Result<u64, DbErr> {
    Ok(email_token::Entity::delete_many()
        .filter(email_token::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?
        .rows_affected)
}
