//! Accounts: users and their passkeys. An account belongs to one tenant (PROTOCOL §4).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use serde_json::{Value, json};

use crate::db::entities::{access_token, credential, user};
use crate::util::rfc3339;

/// Loads a credential of `tenant_id` with its user, in one statement.
pub async fn find_credential_with_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    credential_id: &str,
) -> Result<Option<(credential::Model, Option<user::Model>)>, DbErr> {
    super::by_key_also(
        credential::Entity::find_by_id(credential_id.to_owned())
            .filter(credential::Column::TenantId.eq(tenant_id))
            .find_also_related(user::Entity),
        db,
    )
    .await
}

/// Loads a credential of any tenant by its base64url id.
pub async fn find_credential_any<C: ConnectionTrait>(
    db: &C,
    credential_id: &str,
) -> Result<Option<credential::Model>, DbErr> {
    super::by_key(credential::Entity::find_by_id(credential_id.to_owned()), db).await
}

/// Whether a credential id is registered anywhere.
pub async fn credential_exists<C: ConnectionTrait>(
    db: &C,
    credential_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        super::by_key(credential::Entity::find_by_id(credential_id.to_owned()), db)
            .await?
            .is_some(),
    )
}

/// Loads a user.
pub async fn find_user<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
) -> Result<Option<user::Model>, DbErr> {
    super::by_key(user::Entity::find_by_id(user_id.to_owned()), db).await
}

/// The credential ids of a user, oldest first.
pub async fn credential_ids_of_user<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
) -> Result<Vec<String>, DbErr> {
    Ok(credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .order_by_asc(credential::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// Number of passkeys stored for a tenant.
pub async fn count_credentials<C: ConnectionTrait>(db: &C, tenant_id: &str) -> Result<u64, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::TenantId.eq(tenant_id))
        .count(db)
        .await
}

/// Inserts a user.
pub async fn insert_user<C: ConnectionTrait>(db: &C, model: user::Model) -> Result<(), DbErr> {
    user::ActiveModel::from(model).insert(db).await.map(|_| ())
}

/// Inserts a credential.
pub async fn insert_credential<C: ConnectionTrait>(
    db: &C,
    model: credential::Model,
) -> Result<(), DbErr> {
    credential::ActiveModel::from(model)
        .insert(db)
        .await
        .map(|_| ())
}

/// Records a passkey's use: its signature counter (`counter`, which the caller keeps
/// from going backwards), its BS flag, the time, and the refreshed webauthn-rs credential
/// when there is one. Fails when the passkey is gone (revoked meanwhile).
pub async fn record_use<C: ConnectionTrait>(
    db: &C,
    credential_id: &str,
    counter: i64,
    backed_up: bool,
    passkey_json: Option<String>,
    at: i64,
) -> Result<(), DbErr> {
    let mut q = credential::Entity::update_many()
        .col_expr(credential::Column::Counter, Expr::value(counter))
        .col_expr(credential::Column::BackedUp, Expr::value(backed_up))
        .col_expr(credential::Column::LastUsedAt, Expr::value(at));
    if let Some(p) = passkey_json {
        q = q.col_expr(credential::Column::Passkey, Expr::value(p));
    }
    let res = q
        .filter(credential::Column::Id.eq(credential_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// Deletes a credential (revocation); returns it when it existed.
pub async fn delete_credential<C: ConnectionTrait>(
    db: &C,
    credential_id: &str,
) -> Result<Option<credential::Model>, DbErr> {
    let found = super::by_key(credential::Entity::find_by_id(credential_id.to_owned()), db).await?;
    if found.is_some() {
        credential::Entity::delete_by_id(credential_id.to_owned())
            .exec(db)
            .await?;
    }
    Ok(found)
}

/// How many passkeys `tenant_id` has besides those of `except_user` and besides
/// `except_credential`: what would be left after removing that account or passkey.
pub async fn count_other_credentials<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    except_user: Option<&str>,
    except_credential: Option<&str>,
) -> Result<u64, DbErr> {
    let mut q = credential::Entity::find().filter(credential::Column::TenantId.eq(tenant_id));
    if let Some(user) = except_user {
        q = q.filter(credential::Column::UserId.ne(user));
    }
    if let Some(id) = except_credential {
        q = q.filter(credential::Column::Id.ne(id));
    }
    q.count(db).await
}

/// The passkey object of the admin API.
pub fn credential_json(c: &credential::Model) -> Value {
    json!({
        "id": c.id,
        "passkey_id": c.passkey_id,
        "aaguid": c.aaguid,
        "authenticator": crate::aaguids::names().name_of(&c.aaguid),
        "aaguid_verified": c.aaguid_verified,
        "backup_eligible": c.backup_eligible,
        "backed_up": c.backed_up,
        "user_verified": c.user_verified,
        "created_at": rfc3339(c.created_at),
        "last_used_at": c.last_used_at.map(rfc3339),
    })
}

/// Users of a tenant with their passkeys, newest first, at most `limit`.
pub async fn list_users<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    limit: u64,
) -> Result<Vec<UserWithPasskeys>, DbErr> {
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_desc(user::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?;
    with_passkeys(db, users).await
}

/// Users of a tenant whose id, name, display name or email contains `search` (or who
/// own a passkey whose credential id or passkey id is `search`), newest first.
pub async fn search_users<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    search: &str,
    limit: u64,
) -> Result<Vec<UserWithPasskeys>, DbErr> {
    let owners: Vec<String> = credential::Entity::find()
        .filter(credential::Column::TenantId.eq(tenant_id))
        .filter(
            sea_orm::Condition::any()
                .add(credential::Column::Id.eq(search))
                .add(credential::Column::PasskeyId.eq(search)),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.user_id)
        .collect();
    let users = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(
            sea_orm::Condition::any()
                .add(user::Column::Id.eq(search))
                .add(user::Column::Id.is_in(owners))
                .add(user::Column::Name.contains(search))
                .add(user::Column::DisplayName.contains(search))
                .add(user::Column::Email.contains(search)),
        )
        .order_by_desc(user::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?;
    with_passkeys(db, users).await
}

/// A deleted user: their name and how many passkeys went with them.
#[derive(Debug)]
pub struct RemovedUser {
    /// The user's name.
    pub name: String,
    /// Passkeys removed with the user.
    pub passkeys: u64,
}

/// Deletes a user of a tenant with their passkeys (and, by cascade, anything else keyed
/// by the user); `None` when the tenant has no such user.
pub async fn delete_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<RemovedUser>, DbErr> {
    let Some(found) = super::by_key(
        user::Entity::find_by_id(user_id.to_owned()).filter(user::Column::TenantId.eq(tenant_id)),
        db,
    )
    .await?
    else {
        return Ok(None);
    };
    let passkeys = credential::Entity::delete_many()
        .filter(credential::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    // PROTOCOL §3: the account's access tokens go with it (userinfo also checks that the
    // account stands); its unredeemed codes fail at redeem, their passkey gone.
    access_token::Entity::delete_many()
        .filter(access_token::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let res = user::Entity::delete_many()
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok((res.rows_affected == 1).then_some(RemovedUser {
        name: found.name,
        passkeys,
    }))
}

/// A user with their passkeys (oldest first), as the admin API and the dashboard list them.
#[derive(Debug, Clone)]
pub struct UserWithPasskeys {
    /// The user.
    pub user: user::Model,
    /// Their passkeys, oldest first.
    pub passkeys: Vec<credential::Model>,
}

impl UserWithPasskeys {
    /// The user object of the admin API, with its passkey objects.
    pub fn to_json(&self) -> Value {
        let u = &self.user;
        json!({
            "user_id": u.id,
            "name": u.name,
            "display_name": u.display_name,
            "email": u.email,
            "created_at": rfc3339(u.created_at),
            "passkeys": self.passkeys.iter().map(credential_json).collect::<Vec<_>>(),
        })
    }
}

async fn with_passkeys<C: ConnectionTrait>(
    db: &C,
    users: Vec<user::Model>,
) -> Result<Vec<UserWithPasskeys>, DbErr> {
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut creds = credential::Entity::find()
        .filter(credential::Column::UserId.is_in(ids))
        .order_by_asc(credential::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let (passkeys, rest): (Vec<_>, Vec<_>) =
                creds.drain(..).partition(|c| c.user_id == user.id);
            creds = rest;
            UserWithPasskeys { user, passkeys }
        })
        .collect())
}

/// The passkeys of an account, oldest first (PROTOCOL §9).
pub async fn passkeys_of_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<credential::Model>, DbErr> {
    credential::Entity::find()
        .filter(credential::Column::TenantId.eq(tenant_id))
        .filter(credential::Column::UserId.eq(user_id))
        .order_by_asc(credential::Column::CreatedAt)
        .order_by_asc(credential::Column::Id)
        .all(db)
        .await
}

/// Names a passkey of an account; `None` when the account has no such passkey.
pub async fn rename_passkey<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    credential_id: &str,
    name: &str,
) -> Result<Option<credential::Model>, DbErr> {
    let res = credential::Entity::update_many()
        .col_expr(
            credential::Column::Name,
            sea_orm::sea_query::Expr::value(name),
        )
        .filter(credential::Column::Id.eq(credential_id))
        .filter(credential::Column::TenantId.eq(tenant_id))
        .filter(credential::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    find_credential_any(db, credential_id).await
}

/// How removing a passkey from its account went.
#[derive(Debug)]
pub enum Removal {
    /// Removed; the passkey as it was.
    Removed(Box<credential::Model>),
    /// It is the account's only passkey: nothing was removed.
    LastPasskey,
    /// The account has no such passkey.
    NotFound,
}

/// Removes a passkey of an account unless it is the account's last. Run it in a
/// transaction: it first writes the account's row, which makes concurrent removals of
/// the same account's passkeys take turns (a row lock on PostgreSQL, the write lock on
/// SQLite), so that two of them never remove the last two passkeys together.
pub async fn remove_passkey_of_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    credential_id: &str,
) -> Result<Removal, DbErr> {
    let locked = user::Entity::update_many()
        .col_expr(
            user::Column::EmailVerified,
            sea_orm::sea_query::Expr::col(user::Column::EmailVerified),
        )
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    if locked.rows_affected != 1 {
        return Ok(Removal::NotFound);
    }
    let passkeys = passkeys_of_user(db, tenant_id, user_id).await?;
    let Some(found) = passkeys.iter().find(|c| c.id == credential_id).cloned() else {
        return Ok(Removal::NotFound);
    };
    if passkeys.len() < 2 {
        return Ok(Removal::LastPasskey);
    }
    credential::Entity::delete_by_id(credential_id.to_owned())
        .exec(db)
        .await?;
    Ok(Removal::Removed(Box::new(found)))
}
