//! An index on every foreign key that a delete cascades through and had none: deleting
//! a tenant (or an account) makes the database find the rows that point at it, and
//! without an index each referencing table was scanned whole, inside the delete, with
//! SQLite's one write lock held meanwhile (a tenant with 10k users took seconds).
//!
//! `flows.tenant_id`, `codes.tenant_id`, `access_tokens.tenant_id`,
//! `email_tokens.tenant_id` and `email_tokens.user_id`. (`users.tenant_id`,
//! `credentials.tenant_id`/`user_id`, `account_sessions.user_id`,
//! `admin_sessions.user_id` had theirs; `challenges.flow_id` is a primary key.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// (index name, table, column) of each index this migration adds.
const INDEXES: [(&str, &str, &str); 5] = [
    ("idx_flows_tenant", "flows", "tenant_id"),
    ("idx_codes_tenant", "codes", "tenant_id"),
    ("idx_access_tokens_tenant", "access_tokens", "tenant_id"),
    ("idx_email_tokens_tenant", "email_tokens", "tenant_id"),
    ("idx_email_tokens_user", "email_tokens", "user_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new(column))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
