//! Database migrations of Latchkey.
//!
//! Every migration runs unchanged on SQLite and PostgreSQL. Timestamps are stored as
//! UNIX seconds (`BIGINT`) so that both backends compare them the same way; JSON
//! documents are stored as text. The broker runs these migrations at start-up.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261125_000002_admin;
mod m20261125_000003_security;
mod m20261125_000004_passkey_features;
mod m20261129_000005_recovery;
mod m20261201_000006_flow_challenge;
mod m20261202_000007_account;
mod m20261207_000010_indexes;

/// The ordered list of Latchkey's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261125_000002_admin::Migration),
            Box::new(m20261125_000003_security::Migration),
            Box::new(m20261125_000004_passkey_features::Migration),
            Box::new(m20261129_000005_recovery::Migration),
            Box::new(m20261201_000006_flow_challenge::Migration),
            Box::new(m20261202_000007_account::Migration),
            Box::new(m20261207_000010_indexes::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "latchkey_migrations".into_iden()
    }
}
