//! Database connection: SQLite (WAL, busy timeout, foreign keys, group commit) or
//! PostgreSQL, with the migrations of `latchkey-migrations` applied at start.

pub mod durability;
pub mod entities;

use std::time::Duration;

use latchkey_migrations::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbErr,
    TransactionTrait as _,
};

/// The PostgreSQL advisory lock key that serialises migrations across instances.
const MIGRATION_LOCK: i64 = 0x4c61_7463_686b_6579;

use crate::config::Settings;
use durability::{GroupCommit, SqliteSync};

/// How the answers of `settings`' database wait for durability: group commit on the WAL
/// of an embedded SQLite file (unless `LATCHKEY_SQLITE_SYNC=full`), nothing otherwise.
pub fn group_commit(settings: &Settings) -> GroupCommit {
    match sqlite_path(&settings.database_url) {
        Some(path) if settings.sqlite_sync == SqliteSync::Group => GroupCommit::sqlite(&path),
        _ => GroupCommit::none(),
    }
}

/// Opens the database of `settings`, creating the SQLite data directory when needed, and
/// applies pending migrations.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.database_url.clone();
    if url.starts_with("sqlite:")
        && let Some(path) = sqlite_path(&url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
    }
    if let Some(schema) = &settings.database_schema {
        // The schema name was validated as [a-z_][a-z0-9_]*, so quoting is enough.
        // CREATE SCHEMA IF NOT EXISTS is not safe against itself: take the lock first.
        let db = Database::connect(
            ConnectOptions::new(url.clone())
                .sqlx_logging(false)
                .to_owned(),
        )
        .await?;
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        txn.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
        txn.commit().await?;
        db.close().await?;
    }
    let mut opts = ConnectOptions::new(url.clone());
    if let Some(schema) = &settings.database_schema {
        opts.set_schema_search_path(schema.clone());
    }
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(settings.db_acquire_timeout))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // With group commit, commits do not fsync; the WAL is fsynced once for many
        // requests before they are answered (see `durability`).
        let synchronous = match settings.sqlite_sync {
            SqliteSync::Group if sqlite_path(&url).is_some() => {
                sea_orm::sqlx::sqlite::SqliteSynchronous::Normal
            }
            _ => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
        };
        opts.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    }
    let db = Database::connect(opts).await?;
    if url.starts_with("postgres") {
        // Instances starting at once take turns: the first migrates, the others find
        // nothing left to do. The lock ends with the transaction.
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await?;
    } else {
        Migrator::up(&db, None).await?;
    }
    Ok(db)
}

/// The file path of a `sqlite://path?…` URL.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}
