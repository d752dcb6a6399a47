//! Email verification and account recovery: whether a user's email address was proven
//! by a one-time link, a tenant's opt-in to recovery by email, and the one-time links
//! themselves (stored only as the SHA-256 of a 256-bit token).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    EmailVerified,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    ClientId,
    EmailRecovery,
}

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    TokenHash,
    Purpose,
    UserId,
    TenantId,
    FlowId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::EmailVerified).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(boolean(Tenants::EmailRecovery).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmailTokens::Table)
                    .if_not_exists()
                    .col(string(EmailTokens::TokenHash).primary_key())
                    .col(string(EmailTokens::Purpose))
                    .col(string(EmailTokens::UserId))
                    .col(string(EmailTokens::TenantId))
                    .col(string_null(EmailTokens::FlowId))
                    .col(big_integer(EmailTokens::CreatedAt))
                    .col(big_integer(EmailTokens::ExpiresAt))
                    .col(big_integer_null(EmailTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EmailTokens::Table, EmailTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EmailTokens::Table, EmailTokens::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_tokens_expires")
                    .table(EmailTokens::Table)
                    .col(EmailTokens::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::EmailRecovery)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::EmailVerified)
                    .to_owned(),
            )
            .await
    }
}
