//! Persistence, one module per aggregate. Single-use things (challenges, codes, email
//! links) are consumed by one atomic statement so that under any concurrency exactly one
//! caller wins.

pub mod account_sessions;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod email_tokens;
pub mod flows;
pub mod signin;
pub mod tenants;
pub mod tokens;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Select, SelectTwo};

/// Loads the row a primary-key select (`find_by_id`, with or without filters) finds.
///
/// sea-orm's `.one()` appends a bound `LIMIT ?`, and SQLite's query planner reads that
/// bound value, which makes SQLite re-prepare the statement every time it runs (a fifth
/// of the instructions of a sign-in went there). A primary key selects at most one row,
/// so the lookup needs no limit.
pub async fn by_key<E: EntityTrait, C: ConnectionTrait>(
    select: Select<E>,
    db: &C,
) -> Result<Option<E::Model>, DbErr> {
    let rows = select.all(db).await?;
    debug_assert!(
        rows.len() <= 1,
        "by_key on a select that is not by primary key"
    );
    Ok(rows.into_iter().next())
}

/// [`by_key`] for a primary-key select joined with one related row
/// (`find_also_related`): the row and its relative in one statement, without the
/// `LIMIT ?` of `.one()` for the same reason.
pub async fn by_key_also<E: EntityTrait, F: EntityTrait, C: ConnectionTrait>(
    select: SelectTwo<E, F>,
    db: &C,
) -> Result<Option<(E::Model, Option<F::Model>)>, DbErr> {
    let rows = select.all(db).await?;
    debug_assert!(
        rows.len() <= 1,
        "by_key_also on a select that is not by primary key"
    );
    Ok(rows.into_iter().next())
}
