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

#[cfg(test)]
impl SignInStore {
    /// The sea-orm path on any database, for the tests that hold both paths to the same
    /// results.
    fn orm_only(db: &DatabaseConnection, writer: &Writer) -> Self {
        Self {
            lite: None,
            db: db.clone(),
            writer: writer.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::entities::{challenge, code, credential, flow, user};

    fn flow(id: &str, challenge: &str) -> flow::Model {
        flow::Model {
            id: id.into(),
            tenant_id: "site".into(),
            redirect_uri: "https://site.example/cb".into(),
            state: "s".into(),
            code_challenge: challenge.into(),
            nonce: None,
            scope: "openid".into(),
            prompt: "".into(),
            login_hint: Some("ana".into()),
            binding_hash: "b".into(),
            created_at: 1,
            expires_at: i64::MAX,
            completed_at: None,
            purpose: "sign_in".into(),
        }
    }

    fn issue(flow_id: &str, code_hash: &str, with_user: bool, used: Option<i64>) -> IssueCode {
        let user = user::Model {
            id: format!("u-{flow_id}"),
            tenant_id: "site".into(),
            name: "ana".into(),
            display_name: "Ana".into(),
            email: None,
            created_at: 1,
            email_verified: false,
        };
        let credential = credential::Model {
            id: format!("c-{flow_id}"),
            tenant_id: "site".into(),
            user_id: user.id.clone(),
            rp_id: "site.example".into(),
            passkey: "{}".into(),
            public_key: "pk".into(),
            public_key_alg: -7,
            passkey_id: "p".into(),
            aaguid: "00000000-0000-0000-0000-000000000000".into(),
            backup_eligible: true,
            backed_up: false,
            user_verified: true,
            counter: 0,
            created_at: 1,
            last_used_at: None,
            aaguid_verified: false,
            name: None,
        };
        IssueCode {
            at: 10,
            flow_id: flow_id.into(),
            user_id: user.id.clone(),
            recovery_link: None,
            insert_user: with_user.then(|| user.clone()),
            insert_credential: with_user.then(|| credential.clone()),
            used: used.map(|counter| PasskeyUse {
                credential_id: credential.id.clone(),
                counter,
                backed_up: true,
                passkey_json: Some("{\"v\":2}".into()),
            }),
            code: code::Model {
                code_hash: code_hash.into(),
                flow_id: flow_id.into(),
                tenant_id: "site".into(),
                redirect_uri: "https://site.example/cb".into(),
                code_challenge: "cc".into(),
                user_id: user.id.clone(),
                credential_id: credential.id.clone(),
                scope: "openid".into(),
                payload: "{}".into(),
                created_at: 10,
                expires_at: i64::MAX,
                redeemed_at: None,
            },
            event: AuditEvent {
                actor: format!("user:{}", user.id),
                action: "sign_up",
                tenant_id: Some("site".into()),
                subject: Some(credential.id.clone()),
                detail: serde_json::json!({"flow": flow_id}),
            },
        }
    }

    /// Everything a sign-in asks of the store, in order; what each call answered.
    async fn sign_in(store: &SignInStore, tag: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let id = format!("flow-{tag}");
        let tenant = store.tenant("site").await.unwrap().expect("the tenant");
        seen.push(format!(
            "tenant {} {:?}",
            tenant.client_id, tenant.redirect_uris
        ));
        seen.push(format!(
            "done before {}",
            store.challenge_completed("site", &id).await.unwrap()
        ));
        store.create_flow(flow(&id, &id)).await.unwrap();
        assert!(
            store.create_flow(flow(&id, &id)).await.is_err(),
            "a flow id is unique"
        );
        let (f, t) = store.flow_with_tenant(&id).await.unwrap().unwrap();
        assert_eq!(f, flow(&id, &id));
        seen.push(format!("flow's tenant {:?}", t.map(|t| t.client_id)));
        let ch = |state: &str| challenge::Model {
            flow_id: id.clone(),
            kind: "get".into(),
            state: state.into(),
            signed_message: "m".into(),
            registration: None,
            expires_at: 99,
        };
        store.put_challenge(ch("first")).await.unwrap();
        store.put_challenge(ch("second")).await.unwrap();
        let taken = store.take_challenge(&id).await.unwrap();
        assert_eq!(
            taken,
            Some(ch("second")),
            "one challenge per flow, the latest"
        );
        assert_eq!(store.take_challenge(&id).await.unwrap(), None, "taken once");
        // Sign-up: a new account and passkey with the code.
        let first = issue(&id, &format!("h-{tag}"), true, None);
        let (user_id, cred_id) = (first.user_id.clone(), first.code.credential_id.clone());
        assert_eq!(store.issue_code(first).await.unwrap(), Issued::Done);
        assert_eq!(
            store
                .issue_code(issue(&id, &format!("h2-{tag}"), false, Some(3)))
                .await
                .unwrap(),
            Issued::FlowCompleted,
            "a flow issues one code"
        );
        assert!(
            store
                .find_code(&format!("h2-{tag}"))
                .await
                .unwrap()
                .is_none(),
            "nothing written"
        );
        seen.push(format!(
            "done after {}",
            store.challenge_completed("site", &id).await.unwrap()
        ));
        // A sign-in of the same passkey in a second flow records its use.
        let second = format!("{id}-again");
        store.create_flow(flow(&second, "other")).await.unwrap();
        let mut again = issue(&id, &format!("h3-{tag}"), false, Some(5));
        again.flow_id = second.clone();
        again.code.flow_id = second;
        assert_eq!(store.issue_code(again).await.unwrap(), Issued::Done);
        let (c, u) = store
            .credential_with_user("site", &cred_id)
            .await
            .unwrap()
            .unwrap();
        seen.push(format!(
            "passkey counter {} backed up {} last use {:?} passkey {} of {:?}",
            c.counter,
            c.backed_up,
            c.last_used_at,
            c.passkey,
            u.map(|u| u.id == user_id)
        ));
        assert!(
            store
                .credential_with_user("other", &cred_id)
                .await
                .unwrap()
                .is_none()
        );
        seen.push(format!(
            "ids {:?}",
            store.credential_ids_of_user(&user_id).await.unwrap().len()
        ));
        let hash = format!("h-{tag}");
        let code = store.find_code(&hash).await.unwrap().unwrap();
        seen.push(format!(
            "code of {} redeemed {:?}",
            code.user_id == user_id,
            code.redeemed_at
        ));
        seen.push(format!(
            "consumed {}",
            store.consume_code(&hash, 20).await.unwrap()
        ));
        seen.push(format!(
            "consumed again {}",
            store.consume_code(&hash, 21).await.unwrap()
        ));
        seen.push(format!(
            "redeemed at {:?}",
            store.find_code(&hash).await.unwrap().unwrap().redeemed_at
        ));
        let key = format!("k-{tag}");
        seen.push(format!(
            "rate {:?}",
            store.rate_hit(&key, 100, 160).await.unwrap()
        ));
        seen.push(format!(
            "rate {:?}",
            store.rate_hit(&key, 101, 161).await.unwrap()
        ));
        seen.push(format!(
            "rate after window {:?}",
            store.rate_hit(&key, 170, 230).await.unwrap()
        ));
        seen
    }

    #[tokio::test]
    async fn both_paths_answer_every_step_of_a_sign_in_alike_on_one_sqlite_file() {
        let dir = std::env::temp_dir().join(format!("latchkey-store-{}", rand::random::<u64>()));
        let settings = Settings::from_sources(
            None,
            [("LATCHKEY_DATA_DIR".to_owned(), dir.display().to_string())],
        )
        .unwrap();
        let db = db::connect(&settings).await.unwrap();
        let writer = Writer::open(&settings, &db).await.unwrap();
        let input = crate::store::tenants::TenantInput {
            client_id: Some("site".into()),
            redirect_uris: Some(vec!["https://site.example/cb".into()]),
            rp_mode: Some("broker".into()),
            ..Default::default()
        };
        crate::store::tenants::create(&db, &settings.rp_id, input)
            .await
            .unwrap();
        let direct = SignInStore::open(&settings, &db, &writer).unwrap();
        assert!(direct.lite.is_some(), "a file: direct statements");
        let orm = SignInStore::orm_only(&db, &writer);
        let a = sign_in(&direct, "a").await;
        let b = sign_in(&orm, "b").await;
        assert_eq!(a, b);
        assert!(
            a.contains(&"consumed true".to_owned())
                && a.contains(&"consumed again false".to_owned())
        );
        assert!(
            a.iter()
                .any(|l| l.starts_with("passkey counter 5 backed up true last use Some(10)")),
            "{a:?}"
        );
        assert!(
            a.contains(&"rate (2, 160)".to_owned())
                && a.contains(&"rate after window (1, 230)".to_owned()),
            "{a:?}"
        );
        // Each path reads what the other wrote: one file, one schema.
        assert!(orm.find_code("h-a").await.unwrap().is_some());
        assert!(direct.find_code("h-b").await.unwrap().is_some());
        let _ = std::fs::remove_dir_all(dir);
    }
}
