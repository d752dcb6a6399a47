//! Counters of the database work this process does, for `/metrics` and the benchmarks:
//! statements by kind, explicit transactions, round trips (a statement, `BEGIN` or
//! `COMMIT` sent through sea-orm: to the PostgreSQL server, or on SQLite a hand-off to
//! the thread sqlx runs the connection on, and back; the direct SQLite statements of
//! [`super::lite`] run on the request's thread and make none), and the WAL fsyncs of
//! group commit. Dividing their growth over a load
//! run by the sign-ins it made gives the cost of one sign-in in database work.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};

/// The exported names.
const STATEMENTS: &str = "latchkey_db_statements_total";
const TRANSACTIONS: &str = "latchkey_db_transactions_total";
const ROUND_TRIPS: &str = "latchkey_db_round_trips_total";
const WAL_FSYNCS: &str = "latchkey_db_wal_fsyncs_total";

/// `kind` (`read`, `write`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabels {
    kind: &'static str,
}

/// The counters, process-wide (one broker per process).
#[derive(Debug)]
pub struct DbStats {
    statements: Family<StatementLabels, Counter>,
    /// The `kind="read"` counter of `statements`, held so counting takes no lock.
    reads: Counter,
    /// The `kind="write"` counter of `statements`.
    writes: Counter,
    transactions: Counter,
    round_trips: Counter,
    fsyncs: Counter,
}

/// This process's counters.
pub static STATS: LazyLock<DbStats> = LazyLock::new(DbStats::default);

impl Default for DbStats {
    fn default() -> Self {
        let statements = Family::<StatementLabels, Counter>::default();
        let reads = statements.get_or_create_owned(&StatementLabels { kind: "read" });
        let writes = statements.get_or_create_owned(&StatementLabels { kind: "write" });
        Self {
            statements,
            reads,
            writes,
            transactions: Counter::default(),
            round_trips: Counter::default(),
            fsyncs: Counter::default(),
        }
    }
}

impl DbStats {
    /// Counts one statement of `sql`: a read when it is a `SELECT`, a `PRAGMA` or a `WITH`
    /// that changes nothing, else a write.
    pub fn statement(&self, sql: &str) {
        let head = sql.trim_start().get(..6).unwrap_or_default();
        let read = ["SELECT", "select", "PRAGMA", "pragma"]
            .iter()
            .any(|k| head.starts_with(k))
            || (["WITH ", "with "].iter().any(|k| head.starts_with(k))
                && !["INSERT ", "UPDATE ", "DELETE "]
                    .iter()
                    .any(|w| sql.contains(w)));
        if read {
            self.reads.inc();
        } else {
            self.writes.inc();
        }
    }

    /// Counts `n` round trips to the database.
    pub fn round_trips(&self, n: u64) {
        self.round_trips.inc_by(n);
    }

    /// Counts one explicit transaction.
    pub fn transaction(&self) {
        self.transactions.inc();
    }

    /// Counts one fsync of the write-ahead log.
    pub fn fsync(&self) {
        self.fsyncs.inc();
    }

    /// Registers the counters in `registry` (they stay shared with this process's).
    pub fn register(&self, registry: &mut Registry) {
        register_counter(
            registry,
            STATEMENTS,
            "SQL statements by kind, each a round trip",
            self.statements.clone(),
        );
        register_counter(
            registry,
            TRANSACTIONS,
            "Explicit transactions, two more round trips each",
            self.transactions.clone(),
        );
        register_counter(
            registry,
            ROUND_TRIPS,
            "Statements, BEGINs and COMMITs sent to a connection thread or server",
            self.round_trips.clone(),
        );
        register_counter(
            registry,
            WAL_FSYNCS,
            "Group-commit fsyncs of the SQLite WAL",
            self.fsyncs.clone(),
        );
    }
}

/// Counts every statement that runs on `conn` from now on, each a round trip.
pub fn observe(conn: &mut DatabaseConnection) {
    conn.set_metric_callback(|info| {
        STATS.statement(&info.statement.sql);
        STATS.round_trips(1);
    });
}

/// Begins a transaction on `db`, counted.
pub async fn begin<C>(db: &C) -> Result<DatabaseTransaction, DbErr>
where
    C: TransactionTrait<Transaction = DatabaseTransaction>,
{
    STATS.transaction();
    STATS.round_trips(2);
    db.begin().await
}

/// Registers a counter under its exported name (`…_total`): the encoder adds the
/// `_total` suffix itself, so the name is registered without it.
fn register_counter(
    registry: &mut Registry,
    exported: &str,
    help: &str,
    metric: impl prometheus_client::registry::Metric,
) {
    let name = exported.strip_suffix("_total").unwrap_or(exported);
    registry.register(name, help, metric);
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
        s.statement("WITH a AS (SELECT 1) SELECT * FROM a");
        s.statement("WITH a AS (UPDATE t SET a = 1 RETURNING 1) SELECT count(*) FROM a");
        s.round_trips(3);
        s.fsync();
        let mut registry = Registry::default();
        s.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains("latchkey_db_statements_total{kind=\"read\"} 3"),
            "{out}"
        );
        assert!(
            out.contains("latchkey_db_statements_total{kind=\"write\"} 4"),
            "{out}"
        );
        assert!(out.contains("latchkey_db_wal_fsyncs_total 1"), "{out}");
        assert!(out.contains("latchkey_db_round_trips_total 3"), "{out}");
        assert!(out.contains("latchkey_db_transactions_total 0"), "{out}");
    }
}
