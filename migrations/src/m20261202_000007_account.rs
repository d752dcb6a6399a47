//! The account page (PROTOCOL §9): a flow knows what it is for (a sign-in that issues a
//! code, or the account page's sign-in, which opens an account session); a passkey may
//! carry the name its owner gave it; and account sessions, each bound to a tenant and
//! an account, with at most one outstanding passkey-creation challenge.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Flows {
    Table,
    Purpose,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Name,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AccountSessions {
    Table,
    IdHash,
    TenantId,
    UserId,
    CredentialId,
    SignedInAt,
    LastUsedAt,
    ExpiresAt,
    Challenge,
    ChallengeExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Flows::Table)
                    .add_column(string(Flows::Purpose).default("sign_in"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .add_column(string_null(Credentials::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountSessions::Table)
                    .if_not_exists()
                    .col(string(AccountSessions::IdHash).primary_key())
                    .col(string(AccountSessions::TenantId))
                    .col(string(AccountSessions::UserId))
                    .col(string(AccountSessions::CredentialId))
                    .col(big_integer(AccountSessions::SignedInAt))
                    .col(big_integer(AccountSessions::LastUsedAt))
                    .col(big_integer(AccountSessions::ExpiresAt))
                    .col(text_null(AccountSessions::Challenge))
                    .col(big_integer_null(AccountSessions::ChallengeExpiresAt))
                    // Deleting an account ends its sessions.
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountSessions::Table, AccountSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_sessions_user")
                    .table(AccountSessions::Table)
                    .col(AccountSessions::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountSessions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .drop_column(Credentials::Name)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Flows::Table)
                    .drop_column(Flows::Purpose)
                    .to_owned(),
            )
            .await
    }
}
