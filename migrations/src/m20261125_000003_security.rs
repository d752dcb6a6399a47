//! Rate-limit counters shared by every instance on one database: one row per limited
//! key (`flows:<ip>`, `attempts:<flow>`, `redeem_failures:<tenant>`), counted in fixed
//! windows by one atomic upsert.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum RateCounters {
    Table,
    Key,
    WindowStart,
    Count,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateCounters::Table)
                    .if_not_exists()
                    .col(string(RateCounters::Key).primary_key())
                    .col(big_integer(RateCounters::WindowStart))
                    .col(big_integer(RateCounters::Count))
                    .col(big_integer(RateCounters::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rate_counters_expires")
                    .table(RateCounters::Table)
                    .col(RateCounters::ExpiresAt)
                    .to_owned(),
            )
            .await
    }
}
