//! Counters of the database work this process does, for `/metrics` and the benchmarks:
//! statements by kind (each one round trip to the database, or on SQLite one hand-off to
//! the thread that runs its connection), explicit transactions (each two more: `BEGIN`
//! and `COMMIT`), and the WAL fsyncs of group commit. Dividing their growth over a load
//! run by the sign-ins it made gives the cost of one sign-in in database work.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};

/// The counters, process-wide (one broker per process).
#[derive(Debug, Default)]
pub struct DbStats {
    reads: AtomicU64,
    writes: AtomicU64,
    transactions: AtomicU64,
    fsyncs: AtomicU64,
}

/// This process's counters.
pub static STATS: DbStats = DbStats {
    reads: AtomicU64::new(0),
    writes: AtomicU64::new(0),
    transactions: AtomicU64::new(0),
    fsyncs: AtomicU64::new(0),
};

impl DbStats {
    /// Counts one statement of `sql`: a read when it is a `SELECT` (or `WITH`, `PRAGMA`),
    /// else a write.
    pub fn statement(&self, sql: &str) {
        let head = sql.trim_start().get(..6).unwrap_or_default();
        let read = ["SELECT", "select", "WITH ", "with ", "PRAGMA", "pragma"]
            .iter()
            .any(|k| head.starts_with(k));
        if read {
            self.reads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one fsync of the write-ahead log.
    pub fn fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(out, "# TYPE latchkey_db_statements_total counter");
        let _ = writeln!(
            out,
            "latchkey_db_statements_total{{kind=\"read\"}} {}",
            get(&self.reads)
        );
        let _ = writeln!(
            out,
            "latchkey_db_statements_total{{kind=\"write\"}} {}",
            get(&self.writes)
        );
        let _ = writeln!(out, "# TYPE latchkey_db_transactions_total counter");
        let _ = writeln!(
            out,
            "latchkey_db_transactions_total {}",
            get(&self.transactions)
        );
        let _ = writeln!(out, "# TYPE latchkey_db_wal_fsyncs_total counter");
        let _ = writeln!(out, "latchkey_db_wal_fsyncs_total {}", get(&self.fsyncs));
    }
}

/// Counts every statement that runs on `conn` from now on.
pub fn observe(conn: &mut DatabaseConnection) {
    conn.set_metric_callback(|info| STATS.statement(&info.statement.sql));
}

/// Begins a transaction on `db`, counted.
pub async fn begin<C>(db: &C) -> Result<DatabaseTransaction, DbErr>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
{
    STATS.transactions.fetch_add(1, Ordering::Relaxed);
    db.begin().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_told_apart_by_their_first_word() {
        let s = DbStats::default();
        s.statement("SELECT 1");
        s.statement("  select 1");
        s.statement("INSERT INTO t VALUES (1)");
        s.statement("UPDATE t SET a = 1");
        s.statement("DELETE FROM t RETURNING *");
        s.fsync();
        let mut out = String::new();
        s.render(&mut out);
        assert!(
            out.contains("latchkey_db_statements_total{kind=\"read\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("latchkey_db_statements_total{kind=\"write\"} 3"),
            "{out}"
        );
        assert!(out.contains("latchkey_db_wal_fsyncs_total 1"), "{out}");
    }
}
