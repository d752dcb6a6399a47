//! The initial schema: tenants, users, credentials, flows, challenges, codes,
//! access tokens, signing keys and the audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    ClientId,
    Name,
    RedirectUris,
    RpMode,
    RpId,
    UserVerification,
    CounterPolicy,
    RelatedOrigins,
    ClientSecretHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Name,
    DisplayName,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    TenantId,
    UserId,
    RpId,
    Passkey,
    PublicKey,
    PublicKeyAlg,
    PasskeyId,
    Aaguid,
    BackupEligible,
    BackedUp,
    UserVerified,
    Counter,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Flows {
    Table,
    Id,
    TenantId,
    RedirectUri,
    State,
    CodeChallenge,
    Nonce,
    Scope,
    Prompt,
    LoginHint,
    BindingHash,
    CreatedAt,
    ExpiresAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Challenges {
    Table,
    FlowId,
    Kind,
    State,
    SignedMessage,
    Registration,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Codes {
    Table,
    CodeHash,
    FlowId,
    TenantId,
    RedirectUri,
    CodeChallenge,
    UserId,
    CredentialId,
    Scope,
    Payload,
    CreatedAt,
    ExpiresAt,
    RedeemedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    TokenHash,
    TenantId,
    UserId,
    Scope,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Actor,
    Action,
    TenantId,
    Subject,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .if_not_exists()
                    .col(string(Tenants::ClientId).primary_key())
                    .col(string(Tenants::Name))
                    .col(text(Tenants::RedirectUris))
                    .col(string(Tenants::RpMode))
                    .col(string(Tenants::RpId))
                    .col(string(Tenants::UserVerification))
                    .col(string(Tenants::CounterPolicy))
                    .col(text(Tenants::RelatedOrigins))
                    .col(string_null(Tenants::ClientSecretHash))
                    .col(big_integer(Tenants::CreatedAt))
                    .col(big_integer(Tenants::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string(Users::Id).primary_key())
                    .col(string(Users::TenantId))
                    .col(string(Users::Name))
                    .col(string(Users::DisplayName))
                    .col(string_null(Users::Email))
                    .col(big_integer(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_tenant")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .if_not_exists()
                    .col(string(Credentials::Id).primary_key())
                    .col(string(Credentials::TenantId))
                    .col(string(Credentials::UserId))
                    .col(string(Credentials::RpId))
                    .col(text(Credentials::Passkey))
                    .col(text(Credentials::PublicKey))
                    .col(integer(Credentials::PublicKeyAlg))
                    .col(string(Credentials::PasskeyId))
                    .col(string(Credentials::Aaguid))
                    .col(boolean(Credentials::BackupEligible))
                    .col(boolean(Credentials::BackedUp))
                    .col(boolean(Credentials::UserVerified))
                    .col(big_integer(Credentials::Counter))
                    .col(big_integer(Credentials::CreatedAt))
                    .col(big_integer_null(Credentials::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Credentials::Table, Credentials::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Credentials::Table, Credentials::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_credentials_user")
                    .table(Credentials::Table)
                    .col(Credentials::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_credentials_tenant")
                    .table(Credentials::Table)
                    .col(Credentials::TenantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Flows::Table)
                    .if_not_exists()
                    .col(string(Flows::Id).primary_key())
                    .col(string(Flows::TenantId))
                    .col(text(Flows::RedirectUri))
                    .col(text(Flows::State))
                    .col(string(Flows::CodeChallenge))
                    .col(text_null(Flows::Nonce))
                    .col(string(Flows::Scope))
                    .col(string(Flows::Prompt))
                    .col(string_null(Flows::LoginHint))
                    .col(string(Flows::BindingHash))
                    .col(big_integer(Flows::CreatedAt))
                    .col(big_integer(Flows::ExpiresAt))
                    .col(big_integer_null(Flows::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Flows::Table, Flows::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_flows_expires")
                    .table(Flows::Table)
                    .col(Flows::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Challenges::Table)
                    .if_not_exists()
                    .col(string(Challenges::FlowId).primary_key())
                    .col(string(Challenges::Kind))
                    .col(text(Challenges::State))
                    .col(text(Challenges::SignedMessage))
                    .col(text_null(Challenges::Registration))
                    .col(big_integer(Challenges::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Challenges::Table, Challenges::FlowId)
                            .to(Flows::Table, Flows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Codes::Table)
                    .if_not_exists()
                    .col(string(Codes::CodeHash).primary_key())
                    .col(string(Codes::FlowId))
                    .col(string(Codes::TenantId))
                    .col(text(Codes::RedirectUri))
                    .col(string(Codes::CodeChallenge))
                    .col(string(Codes::UserId))
                    .col(string(Codes::CredentialId))
                    .col(string(Codes::Scope))
                    .col(text(Codes::Payload))
                    .col(big_integer(Codes::CreatedAt))
                    .col(big_integer(Codes::ExpiresAt))
                    .col(big_integer_null(Codes::RedeemedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Codes::Table, Codes::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_codes_expires")
                    .table(Codes::Table)
                    .col(Codes::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .if_not_exists()
                    .col(string(AccessTokens::TokenHash).primary_key())
                    .col(string(AccessTokens::TenantId))
                    .col(string(AccessTokens::UserId))
                    .col(string(AccessTokens::Scope))
                    .col(big_integer(AccessTokens::CreatedAt))
                    .col(big_integer(AccessTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccessTokens::Table, AccessTokens::TenantId)
                            .to(Tenants::Table, Tenants::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(text(SigningKeys::PrivateKey))
                    .col(text(SigningKeys::PublicJwk))
                    .col(big_integer(SigningKeys::CreatedAt))
                    .col(big_integer_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(big_integer(AuditEvents::At))
                    .col(string(AuditEvents::Actor))
                    .col(string(AuditEvents::Action))
                    .col(string_null(AuditEvents::TenantId))
                    .col(string_null(AuditEvents::Subject))
                    .col(text(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_tenant")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TenantId)
                    .col(AuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
