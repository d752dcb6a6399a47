//! The people and programs that run the broker: minted admin API tokens, one-time
//! invitations that register an admin passkey, pending dashboard sign-ins and dashboard
//! sessions. Every secret is stored only as its SHA-256 and compared in constant time.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    ExprTrait as _, QueryFilter as _, QueryOrder as _,
};

use crate::db::entities::{admin_invite, admin_login, admin_session, admin_token};
use crate::domain::Invalid;
use crate::util::{ct_eq, now, random_token, sha256_b64};

/// How long an invitation link stays usable, seconds.
pub const INVITE_TTL: i64 = 15 * 60;

/// How long a dashboard sign-in may take between the redirect and the callback, seconds.
pub const LOGIN_TTL: i64 = 10 * 60;

/// The prefix of minted admin API tokens, so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "lkadm_";

/// Checks the name of an API token: 1 to 64 printable characters.
pub fn check_token_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Invalid {
            field: "name",
            message: "name must be 1 to 64 printable characters".into(),
        });
    }
    Ok(name.to_owned())
}

/// Mints an API token. Returns the stored row and the token, which is shown this once.
pub async fn create_token<C: ConnectionTrait>(
    db: &C,
    name: &str,
    created_by: &str,
) -> Result<(admin_token::Model, String), DbErr> {
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let model = admin_token::Model {
        id: random_token(9),
        name: name.to_owned(),
        token_hash: sha256_b64(&token),
        created_by: created_by.to_owned(),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    let inserted = admin_token::ActiveModel::from(model).insert(db).await?;
    Ok((inserted, token))
}

/// API tokens, newest first (revoked ones included).
pub async fn list_tokens<C: ConnectionTrait>(db: &C) -> Result<Vec<admin_token::Model>, DbErr> {
    admin_token::Entity::find()
        .order_by_desc(admin_token::Column::CreatedAt)
        .order_by_asc(admin_token::Column::Id)
        .all(db)
        .await
}

/// Revokes a token; `None` when no token has that id. Revoking twice keeps the first time.
pub async fn revoke_token<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Option<admin_token::Model>, DbErr> {
    admin_token::Entity::update_many()
        .col_expr(admin_token::Column::RevokedAt, Expr::value(now()))
        .filter(admin_token::Column::Id.eq(id))
        .filter(admin_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    super::by_key(admin_token::Entity::find_by_id(id.to_owned()), db).await
}

/// The live token matching `presented`, with its last-used time brought up to date (to
/// the minute, so that a busy token does not write on every call).
pub async fn authenticate_token<C: ConnectionTrait>(
    db: &C,
    presented: &str,
) -> Result<Option<admin_token::Model>, DbErr> {
    if !presented.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = sha256_b64(presented);
    let Some(row) = admin_token::Entity::find()
        .filter(admin_token::Column::TokenHash.eq(hash.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if !ct_eq(row.token_hash.as_bytes(), hash.as_bytes()) || row.revoked_at.is_some() {
        return Ok(None);
    }
    let t = now();
    if row.last_used_at.is_none_or(|u| t - u >= 60) {
        admin_token::Entity::update_many()
            .col_expr(admin_token::Column::LastUsedAt, Expr::value(t))
            .filter(admin_token::Column::Id.eq(row.id.as_str()))
            .exec(db)
            .await?;
    }
    Ok(Some(row))
}

/// Creates a one-time invitation. Returns the row and the secret of the link.
pub async fn create_invite<C: ConnectionTrait>(
    db: &C,
    created_by: &str,
) -> Result<(admin_invite::Model, String), DbErr> {
    let secret = random_token(32);
    let t = now();
    let model = admin_invite::Model {
        id: random_token(9),
        token_hash: sha256_b64(&secret),
        created_by: created_by.to_owned(),
        created_at: t,
        expires_at: t + INVITE_TTL,
        used_at: None,
        used_by: None,
    };
    let inserted = admin_invite::ActiveModel::from(model).insert(db).await?;
    Ok((inserted, secret))
}

/// Invitations, newest first.
pub async fn list_invites<C: ConnectionTrait>(db: &C) -> Result<Vec<admin_invite::Model>, DbErr> {
    admin_invite::Entity::find()
        .order_by_desc(admin_invite::Column::CreatedAt)
        .order_by_asc(admin_invite::Column::Id)
        .all(db)
        .await
}

/// The unused, unexpired invitation whose link carries `secret`.
pub async fn open_invite<C: ConnectionTrait>(
    db: &C,
    secret: &str,
) -> Result<Option<admin_invite::Model>, DbErr> {
    let hash = sha256_b64(secret);
    let row = admin_invite::Entity::find()
        .filter(admin_invite::Column::TokenHash.eq(hash.as_str()))
        .one(db)
        .await?;
    Ok(row.filter(|r| {
        ct_eq(r.token_hash.as_bytes(), hash.as_bytes())
            && r.used_at.is_none()
            && r.expires_at > now()
    }))
}

/// Whether invitation `id` is still unused and unexpired.
pub async fn invite_is_open<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    Ok(
        super::by_key(admin_invite::Entity::find_by_id(id.to_owned()), db)
            .await?
            .is_some_and(|r| r.used_at.is_none() && r.expires_at > now()),
    )
}

/// Uses an invitation for `user_id` in one conditional update: `true` for exactly one
/// caller, and only while it is unused and unexpired.
pub async fn consume_invite<C: ConnectionTrait>(
    db: &C,
    id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let t = now();
    let res = admin_invite::Entity::update_many()
        .col_expr(admin_invite::Column::UsedAt, Expr::value(t))
        .col_expr(admin_invite::Column::UsedBy, Expr::value(user_id))
        .filter(admin_invite::Column::Id.eq(id))
        .filter(admin_invite::Column::UsedAt.is_null())
        .filter(admin_invite::Column::ExpiresAt.gt(t))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Withdraws an unused invitation; `false` when there was none to withdraw.
pub async fn delete_invite<C: ConnectionTrait>(db: &C, id: &str) -> Result<bool, DbErr> {
    let res = admin_invite::Entity::delete_many()
        .filter(admin_invite::Column::Id.eq(id))
        .filter(admin_invite::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Stores a pending dashboard sign-in, keyed by the SHA-256 of its OAuth `state`.
pub async fn put_login<C: ConnectionTrait>(db: &C, model: admin_login::Model) -> Result<(), DbErr> {
    admin_login::ActiveModel::from(model)
        .insert(db)
        .await
        .map(|_| ())
}

/// The pending sign-in of an OAuth `state`, if it is alive (read, not consumed).
pub async fn find_login<C: ConnectionTrait>(
    db: &C,
    state: &str,
) -> Result<Option<admin_login::Model>, DbErr> {
    Ok(
        super::by_key(admin_login::Entity::find_by_id(sha256_b64(state)), db)
            .await?
            .filter(|l| l.expires_at > now()),
    )
}

/// Consumes the pending sign-in of an OAuth `state` in one statement.
pub async fn take_login<C: ConnectionTrait>(
    db: &C,
    state: &str,
) -> Result<Option<admin_login::Model>, DbErr> {
    Ok(admin_login::Entity::delete_by_id(sha256_b64(state))
        .exec_with_returning(db)
        .await?
        .filter(|l| l.expires_at > now()))
}

/// A new dashboard session: the cookie value and the CSRF token, both shown only to the
/// browser; the row holds the SHA-256 of the cookie value.
pub struct NewSession {
    /// The cookie value.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// Opens a session for admin `user_id`, ending `max_age` seconds from now at the latest.
pub async fn create_session<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    max_age: i64,
) -> Result<NewSession, DbErr> {
    let cookie = random_token(32);
    let csrf = random_token(32);
    let t = now();
    admin_session::ActiveModel::from(admin_session::Model {
        id_hash: sha256_b64(&cookie),
        user_id: user_id.to_owned(),
        csrf_token: csrf.clone(),
        created_at: t,
        last_seen_at: t,
        expires_at: t + max_age,
    })
    .insert(db)
    .await?;
    Ok(NewSession { cookie, csrf })
}

/// The live session of a cookie value: before its absolute end and used within `idle`
/// seconds. Brings its last-seen time up to date.
pub async fn load_session<C: ConnectionTrait>(
    db: &C,
    cookie: &str,
    idle: i64,
) -> Result<Option<admin_session::Model>, DbErr> {
    let hash = sha256_b64(cookie);
    let Some(row) = super::by_key(admin_session::Entity::find_by_id(hash.clone()), db).await?
    else {
        return Ok(None);
    };
    let t = now();
    if row.expires_at <= t || row.last_seen_at + idle <= t {
        admin_session::Entity::delete_by_id(hash).exec(db).await?;
        return Ok(None);
    }
    if t - row.last_seen_at >= 15 {
        // Best effort: a session that cannot be touched now still serves this request.
        if let Err(e) = admin_session::Entity::update_many()
            .col_expr(admin_session::Column::LastSeenAt, Expr::value(t))
            .filter(admin_session::Column::IdHash.eq(hash.as_str()))
            .exec(db)
            .await
        {
            tracing::warn!(error = %e, "could not record the admin session's last use");
        }
    }
    Ok(Some(row))
}

/// Ends a session.
pub async fn delete_session<C: ConnectionTrait>(db: &C, cookie: &str) -> Result<(), DbErr> {
    admin_session::Entity::delete_by_id(sha256_b64(cookie))
        .exec(db)
        .await
        .map(|_| ())
}

/// Removes expired pending sign-ins and sessions past their absolute end or idle for
/// longer than `idle` seconds. Idempotent, so several instances may run it at once.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, at: i64, idle: i64) -> Result<u64, DbErr> {
    let mut n = admin_login::Entity::delete_many()
        .filter(admin_login::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?
        .rows_affected;
    n += admin_session::Entity::delete_many()
        .filter(
            admin_session::Column::ExpiresAt
                .lt(at)
                .or(admin_session::Column::LastSeenAt.lt(at - idle)),
        )
        .exec(db)
        .await?
        .rows_affected;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_short_and_printable() {
        assert_eq!(
            check_token_name("  deploy bot ").as_deref().ok(),
            Some("deploy bot")
        );
        assert_eq!(check_token_name("").map_err(|e| e.field), Err("name"));
        assert!(check_token_name(&"x".repeat(65)).is_err());
        assert!(check_token_name("a\nb").is_err());
    }
}
