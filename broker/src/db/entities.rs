//! sea-orm entities, one module per table of `migrations/`.
#![allow(missing_docs)]

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// The one relation of an entity whose `$from` column holds the key `$to` of `$entity`,
/// so that a lookup can load both rows in one joined statement (`find_also_related`).
macro_rules! belongs_to {
    ($name:ident, $entity:literal, $from:literal, $to:literal, $target:path) => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(belongs_to = $entity, from = $from, to = $to)]
            $name,
        }
        impl Related<$target> for Entity {
            fn to() -> RelationDef {
                Relation::$name.def()
            }
        }
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod tenant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub name: String,
        pub redirect_uris: String,
        pub rp_mode: String,
        pub rp_id: String,
        pub user_verification: String,
        pub counter_policy: String,
        pub related_origins: String,
        pub client_secret_hash: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub aaguid_allow: String,
        pub aaguid_deny: String,
        pub synced_passkeys: String,
        pub attestation: String,
        pub prf_salt: Option<String>,
        pub prf_next_salt: Option<String>,
        pub email_recovery: bool,
    }
    no_relations!();
}

pub mod user {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub name: String,
        pub display_name: String,
        pub email: Option<String>,
        pub created_at: i64,
        pub email_verified: bool,
    }
    no_relations!();
}

pub mod credential {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub user_id: String,
        pub rp_id: String,
        pub passkey: String,
        pub public_key: String,
        pub public_key_alg: i32,
        pub passkey_id: String,
        pub aaguid: String,
        pub backup_eligible: bool,
        pub backed_up: bool,
        pub user_verified: bool,
        pub counter: i64,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
        pub aaguid_verified: bool,
        /// The name its owner gave it on the account page (PROTOCOL §9), if any.
        pub name: Option<String>,
    }
    // A credential belongs to its user: an assertion loads both in one statement.
    belongs_to!(
        User,
        "super::user::Entity",
        "Column::UserId",
        "super::user::Column::Id",
        super::user::Entity
    );
}

pub mod flow {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "flows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub redirect_uri: String,
        pub state: String,
        pub code_challenge: String,
        pub nonce: Option<String>,
        pub scope: String,
        pub prompt: String,
        pub login_hint: Option<String>,
        pub binding_hash: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub completed_at: Option<i64>,
        /// `sign_in` (the flow issues a code) or `account` (the account page's sign-in,
        /// which opens an account session: PROTOCOL §9).
        pub purpose: String,
    }
    // A flow belongs to its tenant: the ceremony steps load both in one statement.
    belongs_to!(
        Tenant,
        "super::tenant::Entity",
        "Column::TenantId",
        "super::tenant::Column::ClientId",
        super::tenant::Entity
    );
}

pub mod challenge {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "challenges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub flow_id: String,
        pub kind: String,
        pub state: String,
        pub signed_message: String,
        pub registration: Option<String>,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod code {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_hash: String,
        pub flow_id: String,
        pub tenant_id: String,
        pub redirect_uri: String,
        pub code_challenge: String,
        pub user_id: String,
        pub credential_id: String,
        pub scope: String,
        pub payload: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub redeemed_at: Option<i64>,
    }
    no_relations!();
}

pub mod access_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub tenant_id: String,
        pub user_id: String,
        pub scope: String,
        pub created_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod signing_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_key: String,
        pub public_jwk: String,
        pub created_at: i64,
        pub retired_at: Option<i64>,
    }
    no_relations!();
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub actor: String,
        pub action: String,
        pub tenant_id: Option<String>,
        pub subject: Option<String>,
        pub detail: String,
    }
    no_relations!();
}

pub mod admin_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub token_hash: String,
        pub created_by: String,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod admin_invite {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_invites")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub token_hash: String,
        pub created_by: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
        pub used_by: Option<String>,
    }
    no_relations!();
}

pub mod admin_login {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_logins")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub state_hash: String,
        pub binding_hash: String,
        pub invite_id: Option<String>,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod admin_session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub user_id: String,
        pub csrf_token: String,
        pub created_at: i64,
        pub last_seen_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod account_session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub tenant_id: String,
        pub user_id: String,
        pub credential_id: String,
        pub signed_in_at: i64,
        pub last_used_at: i64,
        pub expires_at: i64,
        pub challenge: Option<String>,
        pub challenge_expires_at: Option<i64>,
    }
    no_relations!();
}

pub mod email_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "email_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub purpose: String,
        pub user_id: String,
        pub tenant_id: String,
        pub flow_id: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}
