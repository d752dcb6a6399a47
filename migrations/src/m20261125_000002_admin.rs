//! The admin dashboard and the admin API: minted API tokens, one-time invitations,
//! pending dashboard sign-ins (the SHA-256 of their state and of the browser-held PKCE
//! verifier, which is also the code challenge) and dashboard sessions. Every secret is
//! stored only as its SHA-256.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AdminTokens {
    Table,
    Id,
    Name,
    TokenHash,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AdminInvites {
    Table,
    Id,
    TokenHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    UsedBy,
}

#[derive(DeriveIden)]
enum AdminLogins {
    Table,
    StateHash,
    BindingHash,
    InviteId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AdminSessions {
    Table,
    IdHash,
    UserId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Action,
    Actor,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminTokens::Table)
                    .if_not_exists()
                    .col(string(AdminTokens::Id).primary_key())
                    .col(string(AdminTokens::Name))
                    .col(string_uniq(AdminTokens::TokenHash))
                    .col(string(AdminTokens::CreatedBy))
                    .col(big_integer(AdminTokens::CreatedAt))
                    .col(big_integer_null(AdminTokens::LastUsedAt))
                    .col(big_integer_null(AdminTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminInvites::Table)
                    .if_not_exists()
                    .col(string(AdminInvites::Id).primary_key())
                    .col(string_uniq(AdminInvites::TokenHash))
                    .col(string(AdminInvites::CreatedBy))
                    .col(big_integer(AdminInvites::CreatedAt))
                    .col(big_integer(AdminInvites::ExpiresAt))
                    .col(big_integer_null(AdminInvites::UsedAt))
                    .col(string_null(AdminInvites::UsedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminLogins::Table)
                    .if_not_exists()
                    .col(string(AdminLogins::StateHash).primary_key())
                    .col(string(AdminLogins::BindingHash))
                    .col(string_null(AdminLogins::InviteId))
                    .col(big_integer(AdminLogins::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminSessions::Table)
                    .if_not_exists()
                    .col(string(AdminSessions::IdHash).primary_key())
                    .col(string(AdminSessions::UserId))
                    .col(string(AdminSessions::CsrfToken))
                    .col(big_integer(AdminSessions::CreatedAt))
                    .col(big_integer(AdminSessions::LastSeenAt))
                    .col(big_integer(AdminSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AdminSessions::Table, AdminSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_admin_sessions_user")
                    .table(AdminSessions::Table)
                    .col(AdminSessions::UserId)
                    .to_owned(),
            )
            .await?;
        // The audit page filters by action and actor, and charts sign-ins per day.
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_action_at")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Action)
                    .col(AuditEvents::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_actor")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Actor)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
