//! Rate limits, in two kinds.
//!
//! - **Request rates per client IP** ([`RateLimiter`]): a fixed one-minute window per
//!   bucket (`authorize`, `ceremony`, `back_channel`) counted in this process's memory.
//!   They protect each instance's CPU and connections from one noisy client, so they are
//!   per instance on purpose: counting every request in the database would turn the
//!   limiter itself into the flood's amplifier. Behind N instances a client gets at most
//!   N times the limit, which still bounds flooding.
//! - **Limits that guard state** ([`shared_hit`]): open flows per client IP, ceremony
//!   attempts per flow, failed redeems per tenant. They are counted in the `rate_counters`
//!   table by one atomic upsert, so every instance on one database sees the same count and
//!   adding instances does not multiply them.
//!
//! Clients in `LATCHKEY_RATE_LIMIT_EXEMPT` (a load generator on loopback) skip both kinds.
//!
//! The request rates stay a fixed window of our own rather than `governor`'s GCRA: the
//! settings and the README promise "N requests a minute" with `Retry-After` until the
//! window ends, and the limiter must say which refusal is a client's first in its window
//! (the one recorded in the audit log, [`Refusal::first`]), which GCRA does not track. The
//! window is a few lines under one mutex; what the crate would add is a different promise
//! and more dependencies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};

use crate::util::now;

/// A bucket name and a client.
type Key = (&'static str, IpAddr);
/// When the client's window opened and the requests counted in it.
type Window = (i64, u32);

/// Rate-limit audit events one instance writes per minute at most, so that a flood from
/// many addresses cannot flood the audit log; the rest are counted in metrics only.
pub const AUDIT_EVENTS_PER_MINUTE: u32 = 60;

/// Why a request was refused: how long to wait, and whether this is the first refusal of
/// its key in the current window (the one worth an audit event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Seconds until the window ends (`Retry-After`).
    pub retry_after: u64,
    /// The first refusal of this key in this window.
    pub first: bool,
}

/// A fixed-window limiter keyed by client IP and bucket name.
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<Key, Window>>,
    /// Keys (a tenant, or a tenant and a client address) over their failed-redeem limit,
    /// and until when (UNIX seconds).
    blocked: Mutex<HashMap<String, i64>>,
    audit_minute: AtomicI64,
    audit_written: AtomicU32,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per client and bucket.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
            blocked: Mutex::new(HashMap::new()),
            audit_minute: AtomicI64::new(0),
            audit_written: AtomicU32::new(0),
        }
    }

    /// Counts a request; `Err(seconds)` to wait when the client is over its limit.
    pub fn check(&self, bucket: &'static str, ip: IpAddr) -> Result<(), u64> {
        self.count(bucket, ip).map_err(|r| r.retry_after)
    }

    /// Counts a request; a [`Refusal`] when the client is over its limit.
    pub fn count(&self, bucket: &'static str, ip: IpAddr) -> Result<(), Refusal> {
        let t = now();
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        if w.len() > 100_000 {
            w.retain(|_, (start, _)| *start + 60 > t);
        }
        // A window opens at a client's first request and lasts a minute.
        let entry = w.entry((bucket, ip)).or_insert((t, 0));
        if entry.0 + 60 <= t {
            *entry = (t, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > self.per_minute {
            Err(Refusal {
                retry_after: (entry.0 + 60 - t).max(1) as u64,
                first: entry.1 == self.per_minute.saturating_add(1),
            })
        } else {
            Ok(())
        }
    }

    /// Seconds to wait when `key` is over its failed-redeem limit on this instance's
    /// knowledge; `None` when it may redeem.
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let t = now();
        let mut b = self.blocked.lock().ok()?;
        match b.get(key) {
            Some(until) if *until > t => Some((*until - t) as u64),
            Some(_) => {
                b.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `key` is over its failed-redeem limit until `until`.
    pub fn block(&self, key: &str, until: i64) {
        if let Ok(mut b) = self.blocked.lock() {
            if b.len() > 10_000 {
                let t = now();
                b.retain(|_, u| *u > t);
            }
            b.insert(key.to_owned(), until);
        }
    }

    /// Whether one more rate-limit audit event may be written this minute.
    pub fn audit_budget(&self) -> bool {
        let minute = now() / 60;
        if self.audit_minute.swap(minute, Ordering::Relaxed) != minute {
            self.audit_written.store(0, Ordering::Relaxed);
        }
        self.audit_written.fetch_add(1, Ordering::Relaxed) < AUDIT_EVENTS_PER_MINUTE
    }
}

/// Counts one hit of `key` at time `at` and returns the count after it and the end of
/// its window, in one atomic upsert. A window opens at a key's first hit and lasts until
/// `expires_at`; the first hit after it opens a new one at 1. Every instance on the
/// database shares the count.
pub async fn shared_hit<C: ConnectionTrait>(
    db: &C,
    key: &str,
    at: i64,
    expires_at: i64,
) -> Result<(i64, i64), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => UPSERT_POSTGRES,
        _ => UPSERT_SQLITE,
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), at.into(), expires_at.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("rate counter upsert returned no row".into()))?;
    Ok((
        row.try_get::<i64>("", "count")?,
        row.try_get::<i64>("", "expires_at")?,
    ))
}

/// One statement (SQLite ≥ 3.35 and PostgreSQL alike, but for the placeholders): insert
/// the key at 1, or add one while its window lasts, or open a new window at 1.
macro_rules! upsert {
    ($key:literal, $at:literal, $exp:literal) => {
        concat!(
            r#"INSERT INTO "rate_counters" ("key", "window_start", "count", "expires_at") VALUES ("#,
            $key, ", ", $at, ", 1, ", $exp,
            r#") ON CONFLICT ("key") DO UPDATE SET "#,
            r#""count" = CASE WHEN "rate_counters"."expires_at" > excluded."window_start" THEN "rate_counters"."count" + 1 ELSE 1 END, "#,
            r#""window_start" = CASE WHEN "rate_counters"."expires_at" > excluded."window_start" THEN "rate_counters"."window_start" ELSE excluded."window_start" END, "#,
            r#""expires_at" = CASE WHEN "rate_counters"."expires_at" > excluded."window_start" THEN "rate_counters"."expires_at" ELSE excluded."expires_at" END "#,
            r#"RETURNING "count", "expires_at""#
        )
    };
}
pub(crate) const UPSERT_SQLITE: &str = upsert!("?", "?", "?");
const UPSERT_POSTGRES: &str = upsert!("$1", "$2", "$3");

/// Removes counters whose window is over; safe with many instances running it.
pub async fn purge_expired<C: ConnectionTrait>(db: &C, at: i64) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => r#"DELETE FROM "rate_counters" WHERE "expires_at" < $1"#,
        _ => r#"DELETE FROM "rate_counters" WHERE "expires_at" < ?"#,
    };
    Ok(db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [at.into()]))
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_keeps_buckets_and_clients_apart() {
        let l = RateLimiter::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check("x", a).is_ok());
        assert!(l.check("x", a).is_ok());
        let first = l.count("x", a).unwrap_err();
        assert!((1..=60).contains(&first.retry_after));
        assert!(first.first, "the first refusal is marked");
        assert!(!l.count("x", a).unwrap_err().first, "later ones are not");
        assert!(l.check("y", a).is_ok());
        assert!(l.check("x", b).is_ok());
    }

    #[test]
    fn the_audit_budget_runs_out_within_a_minute() {
        let l = RateLimiter::new(1);
        let allowed = (0..AUDIT_EVENTS_PER_MINUTE * 2)
            .filter(|_| l.audit_budget())
            .count();
        // A minute boundary may fall inside the loop and refill the budget once.
        assert!(
            (AUDIT_EVENTS_PER_MINUTE as usize..=2 * AUDIT_EVENTS_PER_MINUTE as usize)
                .contains(&allowed),
            "{allowed}"
        );
    }

    #[test]
    fn blocked_tenants_wait_until_their_window_ends() {
        let l = RateLimiter::new(1);
        assert_eq!(l.blocked("t"), None);
        l.block("t", now() + 30);
        assert!(l.blocked("t").is_some_and(|w| (29..=30).contains(&w)));
        l.block("t", now() - 1);
        assert_eq!(l.blocked("t"), None);
    }
}
