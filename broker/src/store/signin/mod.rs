//! The states of a sign-in (PROTOCOL §2–§3), as the sign-in domain stores them: the
//! tenant a flow names, the flow, its one outstanding challenge, the passkey that signs,
//! the code issued and its redeem, and the shared rate counters on the way.
//!
//! One narrow interface, two paths beneath it:
//! - **embedded SQLite file**: [`lite`], direct statements on the request's thread
//!   (rusqlite, cached prepared statements, a step's writes in one transaction), with no
//!   hand-off to a connection thread ([`crate::db::lite`] says why);
//! - **PostgreSQL** (or in-memory SQLite): the sea-orm functions of [`super::flows`],
//!   [`super::accounts`] and the others, through the pool and [`crate::db::Writer`].
//!
//! Both run the same statements with the same conditions, so every guarantee of the
//! store (single-use challenges and codes under concurrency, a code unredeemable once
//! its passkey is gone) holds on either; the end-to-end suites run on both.

mod lite;
mod postgres;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;

use crate::config::Settings;
use crate::db::entities::{challenge, code, credential, flow, tenant, user};
use crate::db::{self, Writer};
use crate::store::tenants::Tenant;

/// Where the sign-in path reads and writes its states. Cloning shares it.
#[derive(Clone)]
pub struct SignInStore {
    lite: Option<Arc<db::lite::Lite>>,
    db: DatabaseConnection,
    writer: Writer,
}

/// A passkey's use, recorded with the code it signed for.
#[derive(Debug)]
pub struct PasskeyUse {
    /// The passkey (credential id).
    pub credential_id: String,
    /// The signature counter to store (never lower than the stored one).
    pub counter: i64,
    /// The BS flag the assertion reported.
    pub backed_up: bool,
    /// The refreshed webauthn-rs credential, when it serialised.
    pub passkey_json: Option<String>,
}

/// An audit event owned, to be written in a transaction of the store.
#[derive(Debug)]
pub struct AuditEvent {
    /// Who.
    pub actor: String,
    /// What.
    pub action: &'static str,
    /// The tenant concerned.
    pub tenant_id: Option<String>,
    /// The object concerned.
    pub subject: Option<String>,
    /// Details; never secrets.
    pub detail: Value,
}

/// Everything the transaction that issues a code writes (PROTOCOL §2–§3, E4).
#[derive(Debug)]
pub struct IssueCode {
    /// When.
    pub at: i64,
    /// The flow to complete (it must not be completed yet).
    pub flow_id: String,
    /// The account the code is for.
    pub user_id: String,
    /// The SHA-256 of a recovery link to use up (bound to the flow and the account).
    pub recovery_link: Option<String>,
    /// A new account.
    pub insert_user: Option<user::Model>,
    /// A new passkey.
    pub insert_credential: Option<credential::Model>,
    /// The use of an existing passkey.
    pub used: Option<PasskeyUse>,
    /// The code (its hash).
    pub code: code::Model,
    /// The audit event of the sign-in.
    pub event: AuditEvent,
}

/// How the transaction that issues a code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// Everything written.
    Done,
    /// The recovery link was used up or expired meanwhile: nothing was written.
    LinkExpired,
    /// The flow was completed or expired meanwhile: nothing was written.
    FlowCompleted,
}

impl SignInStore {
    /// The store of `settings`' database, whose pool is `db` and writer `writer`: direct
    /// SQLite statements on an embedded file, sea-orm otherwise.
    pub fn open(
        settings: &Settings,
        db: &DatabaseConnection,
        writer: &Writer,
    ) -> Result<Self, DbErr> {
        let lite = match db::sqlite_path(&settings.database_url) {
            Some(path) => Some(Arc::new(db::lite::Lite::open(&path, settings.sqlite_sync)?)),
            None => None,
        };
        Ok(Self {
            lite,
            db: db.clone(),
            writer: writer.clone(),
        })
    }

    /// A tenant by client id.
    pub async fn tenant(&self, client_id: &str) -> Result<Option<Tenant>, DbErr> {
        match &self.lite {
            Some(l) => lite::tenant(l, client_id),
            None => super::tenants::get(&self.db, client_id).await,
        }
    }

    /// Whether a flow of `tenant_id` with this PKCE `code_challenge` has issued its code.
    pub async fn challenge_completed(
        &self,
        tenant_id: &str,
        code_challenge: &str,
    ) -> Result<bool, DbErr> {
        match &self.lite {
            Some(l) => lite::challenge_completed(l, tenant_id, code_challenge),
            None => super::flows::challenge_completed(&self.db, tenant_id, code_challenge).await,
        }
    }

    /// Inserts a new flow.
    pub async fn create_flow(&self, model: flow::Model) -> Result<(), DbErr> {
        match &self.lite {
            Some(l) => lite::create_flow(l, &model),
            None => {
                self.writer
                    .run(move |db| async move { super::flows::create_flow(&db, model).await })
                    .await
            }
        }
    }

    /// A flow with its tenant, in one statement; the tenant is `None` only if it was
    /// deleted since the flow began.
    pub async fn flow_with_tenant(
        &self,
        id: &str,
    ) -> Result<Option<(flow::Model, Option<tenant::Model>)>, DbErr> {
        match &self.lite {
            Some(l) => lite::flow_with_tenant(l, id),
            None => super::flows::find_flow_with_tenant(&self.db, id).await,
        }
    }

    /// Stores the flow's challenge, replacing any outstanding one.
    pub async fn put_challenge(&self, model: challenge::Model) -> Result<(), DbErr> {
        match &self.lite {
            Some(l) => lite::put_challenge(l, &model),
            None => {
                self.writer
                    .run(move |db| async move { super::flows::put_challenge(&db, model).await })
                    .await
            }
        }
    }

    /// Consumes the flow's outstanding challenge: of concurrent callers, exactly one
    /// gets it.
    pub async fn take_challenge(&self, flow_id: &str) -> Result<Option<challenge::Model>, DbErr> {
        match &self.lite {
            Some(l) => lite::take_challenge(l, flow_id),
            None => {
                let flow_id = flow_id.to_owned();
                self.writer
                    .run(move |db| async move { super::flows::take_challenge(&db, &flow_id).await })
                    .await
            }
        }
    }

    /// A passkey of `tenant_id` with its account, in one statement.
    pub async fn credential_with_user(
        &self,
        tenant_id: &str,
        credential_id: &str,
    ) -> Result<Option<(credential::Model, Option<user::Model>)>, DbErr> {
        match &self.lite {
            Some(l) => lite::credential_with_user(l, tenant_id, credential_id),
            None => {
                super::accounts::find_credential_with_user(&self.db, tenant_id, credential_id).await
            }
        }
    }

    /// The credential ids of an account, oldest first.
    pub async fn credential_ids_of_user(&self, user_id: &str) -> Result<Vec<String>, DbErr> {
        match &self.lite {
            Some(l) => lite::credential_ids_of_user(l, user_id),
            None => super::accounts::credential_ids_of_user(&self.db, user_id).await,
        }
    }

    /// Issues a code in one transaction: the recovery link used up, the flow completed,
    /// the new account or passkey or the passkey's use, the code, the audit event. All or
    /// nothing.
    pub async fn issue_code(&self, issue: IssueCode) -> Result<Issued, DbErr> {
        match &self.lite {
            Some(l) => lite::issue_code(l, &issue),
            None if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres => {
                postgres::issue_code(&self.db, issue).await
            }
            None => self.writer.run(move |db| orm_issue_code(db, issue)).await,
        }
    }

    /// A code by the SHA-256 of its value.
    pub async fn find_code(&self, code_hash: &str) -> Result<Option<code::Model>, DbErr> {
        match &self.lite {
            Some(l) => lite::find_code(l, code_hash),
            None => super::flows::find_code(&self.db, code_hash).await,
        }
    }

    /// Redeems a code in one conditional update: `true` for exactly one caller, and only
    /// while it is unused, unexpired, and its passkey still stands in its account.
    pub async fn consume_code(&self, code_hash: &str, at: i64) -> Result<bool, DbErr> {
        match &self.lite {
            Some(l) => lite::consume_code(l, code_hash, at),
            None => {
                let hash = code_hash.to_owned();
                self.writer
                    .run(move |db| async move { super::flows::consume_code(&db, &hash, at).await })
                    .await
            }
        }
    }

    /// One hit on the shared rate counter `key`: its count and the end of its window.
    pub async fn rate_hit(&self, key: &str, at: i64, expires_at: i64) -> Result<(i64, i64), DbErr> {
        match &self.lite {
            Some(l) => lite::rate_hit(l, key, at, expires_at),
            None => {
                let key = key.to_owned();
                self.writer
                    .run(move |db| async move {
                        crate::ratelimit::shared_hit(&db, &key, at, expires_at).await
                    })
                    .await
            }
        }
    }
}

/// [`SignInStore::issue_code`] through sea-orm.
async fn orm_issue_code(db: DatabaseConnection, issue: IssueCode) -> Result<Issued, DbErr> {
    let txn = db::stats::begin(&db).await?;
    if let Some(link) = &issue.recovery_link {
        let used = super::email_tokens::consume(
            &txn,
            link,
            super::email_tokens::Purpose::Recover,
            Some(&issue.flow_id),
            Some(&issue.user_id),
        )
        .await?;
        if used.is_none() {
            txn.rollback().await?;
            return Ok(Issued::LinkExpired);
        }
    }
    if !super::flows::complete_flow(&txn, &issue.flow_id, issue.at).await? {
        txn.rollback().await?;
        return Ok(Issued::FlowCompleted);
    }
    if let Some(user) = issue.insert_user {
        super::accounts::insert_user(&txn, user).await?;
    }
    if let Some(cred) = issue.insert_credential {
        super::accounts::insert_credential(&txn, cred).await?;
    }
    if let Some(u) = issue.used {
        super::accounts::record_use(
            &txn,
            &u.credential_id,
            u.counter,
            u.backed_up,
            u.passkey_json,
            issue.at,
        )
        .await?;
    }
    super::flows::insert_code(&txn, issue.code).await?;
    let e = &issue.event;
    super::audit::record_in(
        &txn,
        super::audit::Event {
            actor: &e.actor,
            action: e.action,
            tenant_id: e.tenant_id.as_deref(),
            subject: e.subject.as_deref(),
            detail: e.detail.clone(),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Issued::Done)
}
