//! Group commit for embedded SQLite: durability of every answered change at a fraction of
//! the fsyncs.
//!
//! With `synchronous=FULL` SQLite fsyncs its write-ahead log at every commit, so a broker
//! on a disk that does ~500 fsyncs a second tops out near 500 commits a second, shared by
//! every request. Latchkey instead opens SQLite in WAL mode with `synchronous=NORMAL`
//! (commits append to the WAL with `write()` and do not fsync; the database stays
//! consistent after any crash, SQLite's own guarantee) and makes the WAL durable itself
//! before it answers a request that changed state: [`GroupCommit::wait`] is called after
//! the handler's commits, and returns once an `fdatasync` of the WAL that *started after*
//! those commits has completed. One fsync thus covers every commit made before it, by any
//! number of concurrent requests, and no request is answered before its changes are on
//! disk: a sign-in, a new passkey or a redeemed code survives a power loss once the
//! client has seen the answer. This is the group commit of database servers (PostgreSQL's
//! WAL flush works the same way), applied to the one file SQLite appends to.
//!
//! Why a separate fsync is sound: the WAL is append-only between checkpoints, and
//! `fdatasync` on any descriptor of a file flushes all of its dirty pages, whoever wrote
//! them. SQLite takes no POSIX locks on the `-wal` file (WAL locking lives in the `-shm`
//! file), so opening and closing it here cannot drop one of SQLite's locks. Checkpoints
//! with `synchronous=NORMAL` sync the WAL before copying it and the database after, so a
//! WAL that restarts from its beginning never overwrites frames that are not yet in the
//! synced database. A WAL that no longer exists has been checkpointed and removed by
//! SQLite after syncing the database, so there is nothing left to flush.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use tokio::sync::watch;

pub use crate::config::SqliteSync;

/// Tickets asked and tickets made durable.
#[derive(Default)]
struct Tickets {
    /// Highest ticket handed to a waiter.
    asked: u64,
    /// Set when the broker stops: the sync thread ends.
    closed: bool,
}

struct Inner {
    wal: PathBuf,
    tickets: Mutex<Tickets>,
    wake: Condvar,
    /// The highest ticket covered by a completed fsync, or an fsync error.
    done: watch::Sender<Result<u64, String>>,
}

/// Hands out durability waits and runs the one thread that fsyncs the WAL. Cloning shares
/// it. A `GroupCommit` for PostgreSQL or for `synchronous=FULL` waits for nothing: there
/// every commit is already durable when it returns.
#[derive(Clone)]
pub struct GroupCommit {
    inner: Option<Arc<Inner>>,
}

/// Why a change could not be made durable.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the database durable: {0}")]
pub struct SyncError(String);

impl GroupCommit {
    /// No waiting: commits are durable by themselves (PostgreSQL, or SQLite with
    /// `synchronous=FULL`).
    pub fn none() -> Self {
        Self { inner: None }
    }

    /// Group commit on the WAL of the SQLite database file `db_path`.
    pub fn sqlite(db_path: &str) -> Self {
        let (done, _) = watch::channel(Ok(0));
        let inner = Arc::new(Inner {
            wal: PathBuf::from(format!("{db_path}-wal")),
            tickets: Mutex::new(Tickets::default()),
            wake: Condvar::new(),
            done,
        });
        let worker = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("latchkey-wal-sync".into())
            .spawn(move || sync_loop(&worker));
        if let Err(e) = spawned {
            // Without the thread nothing could be made durable: fail every wait loudly.
            tracing::error!(error = %e, "cannot start the WAL sync thread");
            let _ = inner.done.send(Err(format!("no sync thread: {e}")));
        }
        Self { inner: Some(inner) }
    }

    /// Whether waits do anything.
    pub fn is_active(&self) -> bool {
        self.inner.is_some()
    }

    /// Returns once every commit that completed before this call is on disk.
    pub async fn wait(&self) -> Result<(), SyncError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let mut done = inner.done.subscribe();
        let ticket = {
            let mut t = inner
                .tickets
                .lock()
                .map_err(|_| SyncError("poisoned".into()))?;
            t.asked += 1;
            t.asked
        };
        inner.wake.notify_one();
        loop {
            match &*done.borrow_and_update() {
                Ok(n) if *n >= ticket => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(SyncError(e.clone())),
            }
            if done.changed().await.is_err() {
                return Err(SyncError("sync thread stopped".into()));
            }
        }
    }

    /// Stops the sync thread after its current fsync.
    pub fn close(&self) {
        if let Some(inner) = &self.inner
            && let Ok(mut t) = inner.tickets.lock()
        {
            t.closed = true;
            inner.wake.notify_one();
        }
    }
}

/// The sync thread: while tickets are waiting, note the highest one asked, fsync the
/// WAL, then declare every ticket up to that one durable.
fn sync_loop(inner: &Inner) {
    let mut synced: u64 = 0;
    loop {
        let target = {
            let Ok(mut t) = inner.tickets.lock() else {
                return;
            };
            while t.asked == synced && !t.closed {
                t = match inner.wake.wait(t) {
                    Ok(t) => t,
                    Err(_) => return,
                };
            }
            if t.closed && t.asked == synced {
                return;
            }
            t.asked
        };
        // Every ticket up to `target` was asked after its commits returned, so this
        // fsync, which starts now, covers them.
        match fdatasync(&inner.wal) {
            Ok(()) => {
                super::stats::STATS.fsync();
                synced = target;
                let _ = inner.done.send_replace(Ok(target));
            }
            Err(e) => {
                tracing::error!(error = %e, wal = %inner.wal.display(), "WAL fsync failed");
                let _ = inner.done.send_replace(Err(e.to_string()));
                return;
            }
        }
    }
}

fn fdatasync(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::File::open(path) {
        Ok(f) => f.sync_data(),
        // Checkpointed and removed by SQLite, which synced the database first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether the answer to `method path` waits for its commits to be on disk. Every change
/// does (registrations, revocations, admin changes, redeems), except the steps of a
/// sign-in that only move its short-lived state along: a ceremony's options (the
/// outstanding challenge) and a passkey sign-in (the flow's code, or the account page's
/// session, with the passkey's counter and the audit event). Their commits reach the
/// operating system before the answer, so they survive the broker's crash, not a power
/// loss: after one, the person starts the sign-in again (docs/operations.md).
pub fn waits_for_disk(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let sign_in_step = path
        .strip_prefix("/api/v1/flows/")
        .is_some_and(|rest| rest.ends_with("/options") || rest.ends_with("/authentication"));
    !sign_in_step
}

/// Middleware: a request that may have changed state is answered only once its commits
/// are durable ([`waits_for_disk`]). A failed fsync answers 503 instead: the change may
/// not survive a crash, so it is not confirmed.
pub async fn barrier(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let commits = waits_for_disk(req.method(), req.path())
        .then(|| req.app_data::<web::Data<GroupCommit>>().cloned())
        .flatten()
        .filter(|g| g.is_active());
    let res = next.call(req).await?;
    if let Some(g) = commits
        && let Err(e) = g.wait().await
    {
        tracing::error!(error = %e, "answer withheld: its changes may not be durable");
        let (req, _) = res.into_parts();
        let answer: actix_web::HttpResponse = crate::errors::ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            crate::errors::ErrorCode::TemporarilyUnavailable,
            "The service cannot store changes safely right now. Try again later.",
        )
        .into();
        return Ok(ServiceResponse::new(req, answer).map_into_right_body());
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_waits_for_the_disk_but_the_steps_of_a_sign_in() {
        let post = Method::POST;
        for path in [
            "/api/v1/flows/abc/registration",
            "/api/v1/flows/abc/recovery",
            "/api/v1/flows/abc/recovery/registration",
            "/api/v1/sign-ins/redeem",
            "/oauth/token",
            "/api/v1/admin/tenants",
            "/api/v1/account/passkeys",
            "/admin/tenants",
        ] {
            assert!(waits_for_disk(&post, path), "{path}");
        }
        assert!(waits_for_disk(
            &Method::DELETE,
            "/api/v1/account/passkeys/x"
        ));
        for path in [
            "/api/v1/flows/abc/authentication/options",
            "/api/v1/flows/abc/registration/options",
            "/api/v1/flows/abc/recovery/registration/options",
            "/api/v1/flows/abc/authentication",
        ] {
            assert!(!waits_for_disk(&post, path), "{path}");
        }
        assert!(!waits_for_disk(&Method::GET, "/authorize"));
    }

    #[tokio::test]
    async fn waits_end_after_a_sync_of_the_wal_and_many_share_one() {
        let dir = std::env::temp_dir().join(format!("latchkey-gc-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("x.db").display().to_string();
        std::fs::write(format!("{db}-wal"), b"frames").unwrap();
        let g = GroupCommit::sqlite(&db);
        assert!(g.is_active());
        let waits: Vec<_> = (0..50)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.wait().await })
            })
            .collect();
        for w in waits {
            assert!(w.await.unwrap().is_ok());
        }
        // A WAL checkpointed away by SQLite leaves nothing to flush.
        std::fs::remove_file(format!("{db}-wal")).unwrap();
        assert!(g.wait().await.is_ok());
        g.close();
    }

    #[tokio::test]
    async fn without_group_commit_nothing_waits_and_the_setting_parses() {
        assert!(!GroupCommit::none().is_active());
        assert!(GroupCommit::none().wait().await.is_ok());
        assert_eq!(SqliteSync::parse("group"), Some(SqliteSync::Group));
        assert_eq!(
            SqliteSync::parse("full").map(SqliteSync::as_str),
            Some("full")
        );
        assert_eq!(SqliteSync::parse("off"), None);
    }
}
