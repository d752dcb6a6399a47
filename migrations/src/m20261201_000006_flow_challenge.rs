//! An index on the flows' PKCE `code_challenge`: `/authorize` looks up whether the
//! challenge of a new request already issued its code (the Back button re-sending a
//! finished authorization request), which must not scan the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Flows {
    Table,
    CodeChallenge,
}

const INDEX: &str = "idx_flows_code_challenge";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Flows::Table)
                    .col(Flows::CodeChallenge)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Flows::Table).to_owned())
            .await
    }
}
