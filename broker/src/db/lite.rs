//! Direct SQLite connections for the sign-in path (rusqlite), beside sea-orm's pool.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every statement through
//! sea-orm is a hand-off to that thread and back: two context switches, buffers freed on
//! another thread than the one that made them. A sign-in is a dozen short statements, and
//! those hand-offs were most of its CPU (BENCHMARKS.md, "Where the time goes"). Here a
//! statement is a function call on the thread that handles the request: SQLite answers a
//! primary-key lookup or a one-row write from its page cache in microseconds, shorter
//! than one hand-off.
//!
//! - **Reads** take a connection from a small pool (WAL: readers never wait for the
//!   writer), run, and put it back. No `await` happens while one is held.
//! - **Writes** run as one `BEGIN IMMEDIATE` transaction on the one writing connection,
//!   behind a mutex: a step's writes are one message to SQLite and one commit, and
//!   writers queue on the mutex instead of sleeping in SQLite's busy handler. Commits
//!   append to the WAL (`synchronous=NORMAL` under group commit) and do not wait for the
//!   disk; [`super::durability`] makes them durable before the answers that need it.
//! - Statements are prepared once per connection and cached (`prepare_cached`).
//! - **Checkpoints** (copying the WAL back into the database file, with its fsyncs) run
//!   on a thread of their own, never on the writing connection: SQLite's automatic
//!   checkpoint would run inside a commit, on the thread of the request that made it, and
//!   stall every request of that HTTP worker meanwhile. The policy is SQLite's own: a
//!   checkpoint once a commit leaves [`CHECKPOINT_PAGES`] pages or more in the WAL.
//!
//! Every statement and transaction is counted in [`super::stats`], as through sea-orm.
//! The schema, the migrations and every other query stay with sea-orm; writes made through
//! its connections meet these under SQLite's own locking (busy timeout of 5 s).

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use sea_orm::DbErr;

use super::durability::SqliteSync;
use super::stats::STATS;

/// How many idle read connections are kept; more are opened when needed and closed.
const IDLE_READERS: usize = 8;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// The WAL size, in pages, past which a commit asks for a checkpoint (SQLite's default
/// for its automatic checkpoint).
pub const CHECKPOINT_PAGES: i32 = 1000;

/// How often the checkpoint thread looks whether a commit asked for a checkpoint.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);

/// Counts the commits that left [`CHECKPOINT_PAGES`] or more in a WAL. SQLite's WAL hook
/// takes a plain function, so the request goes through a static; each checkpoint thread
/// watches it for a change rather than taking a flag, so that with several databases
/// open (as in tests) no thread can take another's request.
static CHECKPOINTS_ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn wal_grew(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    if pages >= CHECKPOINT_PAGES {
        CHECKPOINTS_ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// The direct connections to one SQLite file.
pub struct Lite {
    path: String,
    sync: SqliteSync,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Connection>,
    /// Dropped with this value, which ends the checkpoint thread.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").field("path", &self.path).finish()
    }
}

/// A failure of SQLite, as the rest of the broker knows database failures.
pub fn db_err(e: rusqlite::Error) -> DbErr {
    DbErr::Custom(format!("sqlite: {e}"))
}

impl Lite {
    /// Opens the SQLite file at `path`, which sea-orm has created and migrated.
    pub fn open(path: &str, sync: SqliteSync) -> Result<Self, DbErr> {
        let writer = connect(path, sync).map_err(db_err)?;
        // Commits on this connection leave checkpoints to the thread below.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)?;
        writer.wal_hook(Some(wal_grew));
        let checkpointer = connect(path, sync).map_err(db_err)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("latchkey-checkpoint".into())
            .spawn(move || {
                let mut seen = CHECKPOINTS_ASKED.load(std::sync::atomic::Ordering::Relaxed);
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_POLL)
                {
                    let asked = CHECKPOINTS_ASKED.load(std::sync::atomic::Ordering::Relaxed);
                    if asked == seen {
                        continue;
                    }
                    seen = asked;
                    if let Err(e) =
                        checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| DbErr::Custom(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            sync,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            _checkpoints: stop,
        })
    }

    /// Runs `read` on a read connection of the pool.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Reader<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbErr> {
        let pooled = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path, self.sync).map_err(db_err)?,
        };
        let out = read(&Reader(&conn));
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(conn);
        }
        out.map_err(db_err)
    }

    /// Runs `write` as one immediate transaction on the writing connection: committed
    /// when it returns `Ok`, rolled back otherwise (an `Ok` carrying a refusal the caller
    /// wants rolled back uses [`Rollback`]).
    pub fn write<T>(
        &self,
        write: impl FnOnce(&Reader<'_>) -> rusqlite::Result<Outcome<T>>,
    ) -> Result<T, DbErr> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| DbErr::Custom("sqlite writer poisoned".into()))?;
        STATS.transaction();
        let txn = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        match write(&Reader(&txn)).map_err(db_err)? {
            Outcome::Commit(v) => {
                txn.commit().map_err(db_err)?;
                Ok(v)
            }
            Outcome::Rollback(v) => {
                txn.rollback().map_err(db_err)?;
                Ok(v)
            }
        }
    }
}

/// What a write transaction ends with.
pub enum Outcome<T> {
    /// Commit, then return the value.
    Commit(T),
    /// Roll back, then return the value (a refusal found halfway).
    Rollback(T),
}

/// A connection lent to one read or write: its statements are cached and counted.
pub struct Reader<'c>(&'c Connection);

impl Reader<'_> {
    /// Runs `sql` with `params` and maps each row.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        STATS.statement(sql);
        let mut stmt = self.0.prepare_cached(sql)?;
        stmt.query_map(params, map)?.collect()
    }

    /// Runs `sql` with `params` and maps its first row, if any.
    pub fn row<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        STATS.statement(sql);
        let mut stmt = self.0.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        rows.next()?.map(map).transpose()
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        STATS.statement(sql);
        self.0.prepare_cached(sql)?.execute(params)
    }
}

/// One connection with the pragmas of sea-orm's own (`super::sqlite_pragmas`).
fn connect(path: &str, sync: SqliteSync) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let synchronous = match sync {
        SqliteSync::Group => "NORMAL",
        SqliteSync::Full => "FULL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
    ))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("latchkey-lite-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db").display().to_string();
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn a_write_commits_or_rolls_back_whole_and_reads_see_only_commits() {
        let (dir, path) = file();
        let lite = Lite::open(&path, SqliteSync::Group).unwrap();
        lite.write(|w| {
            w.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", ("a", 1))?;
            Ok(Outcome::Commit(()))
        })
        .unwrap();
        let refused = lite
            .write(|w| {
                w.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", ("b", 2))?;
                Ok(Outcome::Rollback("refused"))
            })
            .unwrap();
        assert_eq!(refused, "refused");
        // A failing statement rolls back what came before it in the transaction.
        let failed = lite.write(|w| {
            w.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", ("c", 3))?;
            w.execute("INSERT INTO t (k, n) VALUES (?1, ?2)", ("a", 4))?;
            Ok(Outcome::Commit(()))
        });
        assert!(failed.is_err(), "the duplicate key fails the transaction");
        let keys = lite
            .read(|r| {
                r.rows("SELECT k FROM t ORDER BY k", [], |row| {
                    row.get::<_, String>(0)
                })
            })
            .unwrap();
        assert_eq!(keys, ["a"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_wal_is_copied_back_by_the_checkpoint_thread_not_by_commits() {
        let (dir, path) = file();
        let lite = Lite::open(&path, SqliteSync::Group).unwrap();
        let db_size = || std::fs::metadata(&path).unwrap().len();
        let before = db_size();
        lite.write(|w| {
            for i in 0..12_000 {
                w.execute(
                    "INSERT INTO t (k, n) VALUES (?1, ?2)",
                    (format!("key-{i:>200}"), i),
                )?;
            }
            Ok(Outcome::Commit(()))
        })
        .unwrap();
        // Well past SQLite's automatic checkpoint (1,000 pages), the commit copied nothing.
        assert_eq!(
            db_size(),
            before,
            "the commit left the WAL to the checkpoint thread"
        );
        let deadline = std::time::Instant::now() + CHECKPOINT_POLL * 100;
        while db_size() == before {
            assert!(std::time::Instant::now() < deadline, "no checkpoint ran");
            std::thread::sleep(CHECKPOINT_POLL);
        }
        drop(lite);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn concurrent_writers_queue_and_none_is_lost() {
        let (dir, path) = file();
        let lite = std::sync::Arc::new(Lite::open(&path, SqliteSync::Group).unwrap());
        lite.write(|w| {
            w.execute("INSERT INTO t (k, n) VALUES ('n', 0)", [])?;
            Ok(Outcome::Commit(()))
        })
        .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lite = lite.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        lite.write(|w| {
                            w.execute("UPDATE t SET n = n + 1 WHERE k = 'n'", [])?;
                            Ok(Outcome::Commit(()))
                        })
                        .unwrap();
                        lite.read(|r| {
                            r.row("SELECT n FROM t WHERE k = 'n'", [], |row| {
                                row.get::<_, i64>(0)
                            })
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = lite
            .read(|r| {
                r.row("SELECT n FROM t WHERE k = 'n'", [], |row| {
                    row.get::<_, i64>(0)
                })
            })
            .unwrap();
        assert_eq!(n, Some(400));
        let _ = std::fs::remove_dir_all(dir);
    }
}
