//! Passkey policies and PRF per tenant: AAGUID allow and deny lists, synced passkeys
//! allowed or refused, attestation conveyance, the PRF salts; and, per passkey, whether
//! its AAGUID was proven by a verified attestation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    AaguidAllow,
    AaguidDeny,
    SyncedPasskeys,
    Attestation,
    PrfSalt,
    PrfNextSalt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    AaguidVerified,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let tenant_columns = [
            text(Tenants::AaguidAllow).default("[]").to_owned(),
            text(Tenants::AaguidDeny).default("[]").to_owned(),
            string(Tenants::SyncedPasskeys).default("allow").to_owned(),
            string(Tenants::Attestation).default("none").to_owned(),
            string_null(Tenants::PrfSalt).to_owned(),
            string_null(Tenants::PrfNextSalt).to_owned(),
        ];
        for mut col in tenant_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .add_column(boolean(Credentials::AaguidVerified).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .drop_column(Credentials::AaguidVerified)
                    .to_owned(),
            )
            .await?;
        for col in [
            Tenants::AaguidAllow,
            Tenants::AaguidDeny,
            Tenants::SyncedPasskeys,
            Tenants::Attestation,
            Tenants::PrfSalt,
            Tenants::PrfNextSalt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
