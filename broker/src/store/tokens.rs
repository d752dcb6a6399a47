//! Access tokens of `/oauth/token`, stored only as SHA-256.

use sea_orm::{ActiveModelTrait as _, ConnectionTrait, DbErr, EntityTrait as _};

use crate::db::entities::access_token;

/// Stores an access token.
pub async fn insert<C: ConnectionTrait>(db: &C, model: access_token::Model) -> Result<(), DbErr> {
    access_token::ActiveModel::from(model)
        .insert(db)
        .await
        .map(|_| ())
}

/// Loads an access token by the SHA-256 of its value.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<access_token::Model>, DbErr> {
    super::by_key(access_token::Entity::find_by_id(token_hash.to_owned()), db).await
}
