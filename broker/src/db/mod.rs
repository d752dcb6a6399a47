//! Database connection: SQLite (WAL, busy timeout, foreign keys, group commit) or
//! PostgreSQL, with the migrations of `latchkey-migrations` applied at start.

pub mod durability;
pub mod entities;
pub mod lite;
pub mod stats;

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
    if let Some(path) = sqlite_path(&url) {
        create_private(std::path::Path::new(&path))
            .map_err(|e| DbErr::Custom(format!("cannot create {path}: {e}")))?;
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
    let db = Database::connect(pool_options(settings, settings.db_max_connections)).await?;
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
    let mut db = db;
    stats::observe(&mut db);
    Ok(db)
}

/// Creates an absent SQLite file readable and writable by this user only (0600, as the
/// master key). SQLite gives the `-wal` and `-shm` files it creates the database file's
/// mode, so the three hold sign-in state, codes' hashes and sealed keys out of other
/// local users' reach. An existing file keeps the mode its operator gave it.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Why [`connect_existing`] opened no database.
#[derive(Debug, thiserror::Error)]
pub enum ExistingError {
    /// Nothing Latchkey made is where the settings point (no SQLite file, or no
    /// migrations table in it or in the PostgreSQL schema); nothing was created.
    #[error("no Latchkey database at {0}")]
    Missing(String),
    /// The database is there but could not be opened, read or migrated.
    #[error("cannot open {0}: {1}")]
    Db(String, DbErr),
}

/// Where the database of `settings` is, for a person: the SQLite file as an absolute
/// path, or the PostgreSQL URL (password hidden) and its schema.
pub fn describe(settings: &Settings) -> String {
    let url = &settings.database_url;
    match (sqlite_path(url), &settings.database_schema) {
        (Some(path), _) => {
            let path = std::path::Path::new(&path);
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            format!("the SQLite file {}", absolute.display())
        }
        (None, _) if url.starts_with("sqlite:") => format!("the SQLite database {url}"),
        (None, Some(schema)) => format!(
            "schema {schema} of the PostgreSQL database {}",
            crate::config::redact_url(url)
        ),
        (None, None) => format!("the PostgreSQL database {}", crate::config::redact_url(url)),
    }
}

/// Opens the database of `settings` like [`connect`], but only one that `latchkey serve`
/// or `latchkey migrate` already made: for the commands that work on a broker's data
/// (tenants, keys, admin access), where a new empty database would only hide a wrong
/// `--data-dir`, `LATCHKEY_DATA_DIR` or `LATCHKEY_DATABASE_URL` behind output that looks
/// normal. Creates no file, directory or schema when there is none.
pub async fn connect_existing(settings: &Settings) -> Result<DatabaseConnection, ExistingError> {
    let failed = |e| ExistingError::Db(describe(settings), e);
    if let Some(path) = sqlite_path(&settings.database_url)
        && !std::path::Path::new(&path).is_file()
    {
        return Err(ExistingError::Missing(describe(settings)));
    }
    let mut probe = ConnectOptions::new(settings.database_url.clone());
    if let Some(schema) = &settings.database_schema {
        probe.set_schema_search_path(schema.clone());
    }
    probe
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(settings.db_acquire_timeout))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.create_if_missing(false));
    let probe = Database::connect(probe).await.map_err(failed)?;
    let made = has_migrations_table(&probe).await;
    probe.close().await.map_err(failed)?;
    if !made.map_err(failed)? {
        return Err(ExistingError::Missing(describe(settings)));
    }
    connect(settings).await.map_err(failed)
}

/// Whether the migrations table of `latchkey-migrations` is in the connection's schema.
async fn has_migrations_table(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let table = Migrator::migration_table_name().to_string();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        _ => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
    };
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [table.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

/// A pool of up to `max_connections` to the database of `settings`: its schema on
/// PostgreSQL, the pragmas of [`sqlite_pragmas`] on SQLite, the timeouts of the settings.
fn pool_options(settings: &Settings, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    if let Some(schema) = &settings.database_schema {
        opts.set_schema_search_path(schema.clone());
    }
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(settings.db_acquire_timeout))
        .sqlx_logging(false);
    if settings.database_url.starts_with("sqlite:") {
        // A pooled SQLite connection is a file handle on a thread of this process: there
        // is no peer to have gone away, and a ping before every statement was one more
        // round trip to that thread (two context switches) for nothing.
        opts.test_before_acquire(false);
        sqlite_pragmas(&mut opts, settings);
    } else {
        // PostgreSQL connections keep the ping before use: after a server restart or a
        // failover it finds the dead ones, so that no sign-in fails on one.
        let name = match &settings.database_schema {
            Some(schema) => format!("latchkey/{schema}"),
            None => "latchkey".to_owned(),
        };
        opts.map_sqlx_postgres_opts(move |o| o.application_name(&name));
    }
    opts
}

/// The connection options every SQLite connection gets: WAL, the synchronous mode of
/// `LATCHKEY_SQLITE_SYNC`, foreign keys, and a busy timeout.
fn sqlite_pragmas(opts: &mut ConnectOptions, settings: &Settings) {
    // With group commit, commits do not fsync; the WAL is fsynced once for many
    // requests before they are answered (see `durability`).
    let synchronous = match settings.sqlite_sync {
        SqliteSync::Group if sqlite_path(&settings.database_url).is_some() => {
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

/// Where sea-orm writes the changes of the account page, registrations' side effects, the
/// admin side and the audit events of refusals, beside the pool of [`connect`]. (The
/// sign-in path's own states go through [`lite`] on an SQLite file, and through this
/// writer on PostgreSQL: `crate::store::signin`.)
///
/// SQLite lets one connection write at a time. When several pooled connections try at
/// once, all but one get `SQLITE_BUSY` and SQLite's busy handler puts their threads to
/// sleep for 1 to 100 ms before it tries again, whatever the time the writer actually
/// needs: under load most of a sign-in's tail latency was such sleeps, with the CPU idle
/// meanwhile. On an SQLite file the writes of the sign-in path therefore go through one
/// connection of their own, and writers wait for it in the pool's first-come queue
/// instead. Each write runs as a task on a thread of its own ([`Writer::run`]), so the
/// one connection is handed on as soon as the write ends, not when a busy HTTP worker
/// next gets round to the request that holds it. Reads keep the pool and never wait for
/// writers (WAL). On PostgreSQL, or an in-memory SQLite database (which a second pool
/// would not share), writes simply run on the pool.
#[derive(Clone)]
pub struct Writer {
    conn: DatabaseConnection,
    thread: Option<tokio::runtime::Handle>,
}

impl Writer {
    /// The writer of `settings`' database, whose pool `db` is.
    pub async fn open(settings: &Settings, db: &DatabaseConnection) -> Result<Self, DbErr> {
        let url = &settings.database_url;
        if !url.starts_with("sqlite:") || sqlite_path(url).is_none() {
            return Ok(Self {
                conn: db.clone(),
                thread: None,
            });
        }
        let mut conn = Database::connect(pool_options(settings, 1)).await?;
        stats::observe(&mut conn);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbErr::Custom(format!("cannot start the writer: {e}")))?;
        let thread = runtime.handle().clone();
        std::thread::Builder::new()
            .name("latchkey-db-writer".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|e| DbErr::Custom(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            conn,
            thread: Some(thread),
        })
    }

    /// The connection, for writes off the sign-in path (audit events of refusals).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Runs one write (a statement or a transaction) and returns its result. On SQLite it
    /// runs on the writer's thread: should the request be dropped meanwhile, the write
    /// still completes or rolls back as a whole.
    pub async fn run<T, F, Fut>(&self, write: F) -> Result<T, DbErr>
    where
        F: FnOnce(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>> + Send + 'static,
        T: Send + 'static,
    {
        let task = write(self.conn.clone());
        match &self.thread {
            Some(thread) => thread
                .spawn(task)
                .await
                .map_err(|e| DbErr::Custom(format!("write interrupted: {e}")))?,
            None => task.await,
        }
    }
}

/// The file path of a `sqlite://path?…` URL.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_queue_for_the_writer_thread_and_none_is_lost() {
        let dir = std::env::temp_dir().join(format!("latchkey-writer-{}", rand::random::<u64>()));
        let dir_s = dir.display().to_string();
        let settings =
            Settings::from_sources(None, [("LATCHKEY_DATA_DIR".to_owned(), dir_s.clone())])
                .unwrap();
        let db = connect(&settings).await.unwrap();
        let writer = Writer::open(&settings, &db).await.unwrap();
        let writes: Vec<_> = (0..200)
            .map(|_| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .run(|db| async move {
                            let thread = std::thread::current().name().map(str::to_owned);
                            crate::ratelimit::shared_hit(&db, "k", 1, i64::MAX).await?;
                            Ok(thread)
                        })
                        .await
                })
            })
            .collect();
        for w in writes {
            let thread = w
                .await
                .unwrap()
                .expect("no write fails: none meets SQLITE_BUSY");
            assert_eq!(thread.as_deref(), Some("latchkey-db-writer"));
        }
        // Read back through the pool: every increment is there.
        let (count, _) = crate::ratelimit::shared_hit(&db, "k", 1, i64::MAX)
            .await
            .unwrap();
        assert_eq!(count, 201);
        let _ = std::fs::remove_dir_all(dir);
    }
}
