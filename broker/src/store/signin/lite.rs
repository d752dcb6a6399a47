//! The sign-in's states on an embedded SQLite file, as direct statements
//! ([`crate::db::lite`]). Each function is the statement of its namesake in
//! [`crate::store::flows`], [`crate::store::accounts`] or [`crate::ratelimit`], with the
//! same conditions, so that both paths keep the same guarantees.

use rusqlite::Row;
use sea_orm::DbErr;

use super::{IssueCode, Issued};
use crate::db::entities::{challenge, code, credential, flow, tenant, user};
use crate::db::lite::{Lite, Outcome};
use crate::store::tenants::Tenant;

/// Builds a model from consecutive columns of a row, starting at `$at`.
macro_rules! from_row {
    ($row:expr, $at:expr, $($ty:ident)::+ { $($field:ident),* $(,)? }) => {{
        let mut i = $at;
        let model = $($ty)::+ {
            $($field: {
                let v = $row.get(i)?;
                i += 1;
                v
            }),*
        };
        let _ = i;
        model
    }};
}

const TENANT: &str = "t.client_id, t.name, t.redirect_uris, t.rp_mode, t.rp_id, \
    t.user_verification, t.counter_policy, t.related_origins, t.client_secret_hash, \
    t.created_at, t.updated_at, t.aaguid_allow, t.aaguid_deny, t.synced_passkeys, \
    t.attestation, t.prf_salt, t.prf_next_salt, t.email_recovery";

fn tenant_at(r: &Row<'_>, at: usize) -> rusqlite::Result<tenant::Model> {
    Ok(from_row!(
        r,
        at,
        tenant::Model {
            client_id,
            name,
            redirect_uris,
            rp_mode,
            rp_id,
            user_verification,
            counter_policy,
            related_origins,
            client_secret_hash,
            created_at,
            updated_at,
            aaguid_allow,
            aaguid_deny,
            synced_passkeys,
            attestation,
            prf_salt,
            prf_next_salt,
            email_recovery,
        }
    ))
}

const FLOW: &str = "f.id, f.tenant_id, f.redirect_uri, f.state, f.code_challenge, f.nonce, \
    f.scope, f.prompt, f.login_hint, f.binding_hash, f.created_at, f.expires_at, \
    f.completed_at, f.purpose";

fn flow_at(r: &Row<'_>, at: usize) -> rusqlite::Result<flow::Model> {
    Ok(from_row!(
        r,
        at,
        flow::Model {
            id,
            tenant_id,
            redirect_uri,
            state,
            code_challenge,
            nonce,
            scope,
            prompt,
            login_hint,
            binding_hash,
            created_at,
            expires_at,
            completed_at,
            purpose,
        }
    ))
}

const CREDENTIAL: &str = "c.id, c.tenant_id, c.user_id, c.rp_id, c.passkey, c.public_key, \
    c.public_key_alg, c.passkey_id, c.aaguid, c.backup_eligible, c.backed_up, \
    c.user_verified, c.counter, c.created_at, c.last_used_at, c.aaguid_verified, c.name";

fn credential_at(r: &Row<'_>, at: usize) -> rusqlite::Result<credential::Model> {
    Ok(from_row!(
        r,
        at,
        credential::Model {
            id,
            tenant_id,
            user_id,
            rp_id,
            passkey,
            public_key,
            public_key_alg,
            passkey_id,
            aaguid,
            backup_eligible,
            backed_up,
            user_verified,
            counter,
            created_at,
            last_used_at,
            aaguid_verified,
            name,
        }
    ))
}

const USER: &str =
    "u.id, u.tenant_id, u.name, u.display_name, u.email, u.created_at, u.email_verified";

fn user_at(r: &Row<'_>, at: usize) -> rusqlite::Result<user::Model> {
    Ok(from_row!(
        r,
        at,
        user::Model {
            id,
            tenant_id,
            name,
            display_name,
            email,
            created_at,
            email_verified,
        }
    ))
}

const CHALLENGE: &str = "flow_id, kind, state, signed_message, registration, expires_at";

fn challenge_at(r: &Row<'_>, at: usize) -> rusqlite::Result<challenge::Model> {
    Ok(from_row!(
        r,
        at,
        challenge::Model {
            flow_id,
            kind,
            state,
            signed_message,
            registration,
            expires_at,
        }
    ))
}

const CODE: &str = "code_hash, flow_id, tenant_id, redirect_uri, code_challenge, user_id, \
    credential_id, scope, payload, created_at, expires_at, redeemed_at";

fn code_at(r: &Row<'_>, at: usize) -> rusqlite::Result<code::Model> {
    Ok(from_row!(
        r,
        at,
        code::Model {
            code_hash,
            flow_id,
            tenant_id,
            redirect_uri,
            code_challenge,
            user_id,
            credential_id,
            scope,
            payload,
            created_at,
            expires_at,
            redeemed_at,
        }
    ))
}

/// Each statement's text, built once.
macro_rules! sql {
    ($($part:expr),+ $(,)?) => {{
        static SQL: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| [$($part),+].concat());
        SQL.as_str()
    }};
}

pub(super) fn tenant(l: &Lite, client_id: &str) -> Result<Option<Tenant>, DbErr> {
    let sql = sql!("SELECT ", TENANT, " FROM tenants t WHERE t.client_id = ?1");
    let row = l.read(|r| r.row(sql, [client_id], |row| tenant_at(row, 0)))?;
    Ok(row.map(Tenant::from_model))
}

pub(super) fn challenge_completed(
    l: &Lite,
    tenant_id: &str,
    code_challenge: &str,
) -> Result<bool, DbErr> {
    let sql = "SELECT 1 FROM flows WHERE code_challenge = ?1 AND tenant_id = ?2 \
               AND completed_at IS NOT NULL LIMIT 1";
    let found = l.read(|r| r.row(sql, [code_challenge, tenant_id], |_| Ok(())))?;
    Ok(found.is_some())
}

pub(super) fn create_flow(l: &Lite, f: &flow::Model) -> Result<(), DbErr> {
    let sql = "INSERT INTO flows (id, tenant_id, redirect_uri, state, code_challenge, nonce, \
               scope, prompt, login_hint, binding_hash, created_at, expires_at, completed_at, \
               purpose) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    l.write(|w| {
        w.execute(
            sql,
            rusqlite::params![
                f.id,
                f.tenant_id,
                f.redirect_uri,
                f.state,
                f.code_challenge,
                f.nonce,
                f.scope,
                f.prompt,
                f.login_hint,
                f.binding_hash,
                f.created_at,
                f.expires_at,
                f.completed_at,
                f.purpose,
            ],
        )?;
        Ok(Outcome::Commit(()))
    })
}

pub(super) fn flow_with_tenant(
    l: &Lite,
    id: &str,
) -> Result<Option<(flow::Model, Option<tenant::Model>)>, DbErr> {
    let sql = sql!(
        "SELECT ",
        FLOW,
        ", ",
        TENANT,
        " FROM flows f LEFT JOIN tenants t ON t.client_id = f.tenant_id WHERE f.id = ?1"
    );
    l.read(|r| {
        r.row(sql, [id], |row| {
            let flow = flow_at(row, 0)?;
            let tenant = match row.get::<_, Option<String>>(14)? {
                Some(_) => Some(tenant_at(row, 14)?),
                None => None,
            };
            Ok((flow, tenant))
        })
    })
}

pub(super) fn put_challenge(l: &Lite, c: &challenge::Model) -> Result<(), DbErr> {
    let sql = "INSERT INTO challenges (flow_id, kind, state, signed_message, registration, \
               expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (flow_id) DO UPDATE SET \
               kind = excluded.kind, state = excluded.state, \
               signed_message = excluded.signed_message, registration = excluded.registration, \
               expires_at = excluded.expires_at";
    l.write(|w| {
        w.execute(
            sql,
            rusqlite::params![
                c.flow_id,
                c.kind,
                c.state,
                c.signed_message,
                c.registration,
                c.expires_at
            ],
        )?;
        Ok(Outcome::Commit(()))
    })
}

pub(super) fn take_challenge(l: &Lite, flow_id: &str) -> Result<Option<challenge::Model>, DbErr> {
    let sql = sql!(
        "DELETE FROM challenges WHERE flow_id = ?1 RETURNING ",
        CHALLENGE
    );
    l.write(|w| {
        Ok(Outcome::Commit(
            w.row(sql, [flow_id], |row| challenge_at(row, 0))?,
        ))
    })
}

pub(super) fn credential_with_user(
    l: &Lite,
    tenant_id: &str,
    credential_id: &str,
) -> Result<Option<(credential::Model, Option<user::Model>)>, DbErr> {
    let sql = sql!(
        "SELECT ",
        CREDENTIAL,
        ", ",
        USER,
        " FROM credentials c LEFT JOIN users u ON u.id = c.user_id \
          WHERE c.id = ?1 AND c.tenant_id = ?2"
    );
    l.read(|r| {
        r.row(sql, [credential_id, tenant_id], |row| {
            let credential = credential_at(row, 0)?;
            let user = match row.get::<_, Option<String>>(17)? {
                Some(_) => Some(user_at(row, 17)?),
                None => None,
            };
            Ok((credential, user))
        })
    })
}

pub(super) fn credential_ids_of_user(l: &Lite, user_id: &str) -> Result<Vec<String>, DbErr> {
    let sql = "SELECT id FROM credentials WHERE user_id = ?1 ORDER BY created_at";
    l.read(|r| r.rows(sql, [user_id], |row| row.get(0)))
}

pub(super) fn issue_code(l: &Lite, i: &IssueCode) -> Result<Issued, DbErr> {
    l.write(|w| {
        if let Some(link) = &i.recovery_link {
            let used = w.execute(
                "UPDATE email_tokens SET used_at = ?1 WHERE token_hash = ?2 \
                 AND purpose = 'recover' AND used_at IS NULL AND expires_at > ?1 \
                 AND flow_id = ?3 AND user_id = ?4",
                rusqlite::params![i.at, link, i.flow_id, i.user_id],
            )?;
            if used != 1 {
                return Ok(Outcome::Rollback(Issued::LinkExpired));
            }
        }
        let completed = w.execute(
            "UPDATE flows SET completed_at = ?1 WHERE id = ?2 AND completed_at IS NULL",
            rusqlite::params![i.at, i.flow_id],
        )?;
        if completed != 1 {
            return Ok(Outcome::Rollback(Issued::FlowCompleted));
        }
        if let Some(u) = &i.insert_user {
            w.execute(
                "INSERT INTO users (id, tenant_id, name, display_name, email, created_at, \
                 email_verified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    u.id,
                    u.tenant_id,
                    u.name,
                    u.display_name,
                    u.email,
                    u.created_at,
                    u.email_verified,
                ],
            )?;
        }
        if let Some(c) = &i.insert_credential {
            w.execute(
                "INSERT INTO credentials (id, tenant_id, user_id, rp_id, passkey, public_key, \
                 public_key_alg, passkey_id, aaguid, backup_eligible, backed_up, user_verified, \
                 counter, created_at, last_used_at, aaguid_verified, name) VALUES (?1, ?2, ?3, \
                 ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                rusqlite::params![
                    c.id,
                    c.tenant_id,
                    c.user_id,
                    c.rp_id,
                    c.passkey,
                    c.public_key,
                    c.public_key_alg,
                    c.passkey_id,
                    c.aaguid,
                    c.backup_eligible,
                    c.backed_up,
                    c.user_verified,
                    c.counter,
                    c.created_at,
                    c.last_used_at,
                    c.aaguid_verified,
                    c.name,
                ],
            )?;
        }
        if let Some(u) = &i.used {
            let updated = w.execute(
                "UPDATE credentials SET counter = ?1, backed_up = ?2, last_used_at = ?3, \
                 passkey = COALESCE(?4, passkey) WHERE id = ?5",
                rusqlite::params![
                    u.counter,
                    u.backed_up,
                    i.at,
                    u.passkey_json,
                    u.credential_id
                ],
            )?;
            if updated != 1 {
                // Revoked since the assertion read it: as sea-orm's update, a failure.
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
        }
        let c = &i.code;
        w.execute(
            "INSERT INTO codes (code_hash, flow_id, tenant_id, redirect_uri, code_challenge, \
             user_id, credential_id, scope, payload, created_at, expires_at, redeemed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            rusqlite::params![
                c.code_hash,
                c.flow_id,
                c.tenant_id,
                c.redirect_uri,
                c.code_challenge,
                c.user_id,
                c.credential_id,
                c.scope,
                c.payload,
                c.created_at,
                c.expires_at,
                c.redeemed_at,
            ],
        )?;
        let e = &i.event;
        w.execute(
            "INSERT INTO audit_events (at, actor, action, tenant_id, subject, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                crate::util::now(),
                e.actor,
                e.action,
                e.tenant_id,
                e.subject,
                e.detail.to_string(),
            ],
        )?;
        Ok(Outcome::Commit(Issued::Done))
    })
}

pub(super) fn find_code(l: &Lite, code_hash: &str) -> Result<Option<code::Model>, DbErr> {
    let sql = sql!("SELECT ", CODE, " FROM codes WHERE code_hash = ?1");
    l.read(|r| r.row(sql, [code_hash], |row| code_at(row, 0)))
}

pub(super) fn consume_code(l: &Lite, code_hash: &str, at: i64) -> Result<bool, DbErr> {
    let sql = "UPDATE codes SET redeemed_at = ?1 WHERE code_hash = ?2 AND redeemed_at IS NULL \
               AND expires_at > ?1 AND EXISTS (SELECT 1 FROM credentials \
               WHERE credentials.id = codes.credential_id AND credentials.user_id = codes.user_id)";
    l.write(|w| {
        Ok(Outcome::Commit(
            w.execute(sql, rusqlite::params![at, code_hash])? == 1,
        ))
    })
}

pub(super) fn rate_hit(l: &Lite, key: &str, at: i64, expires_at: i64) -> Result<(i64, i64), DbErr> {
    let sql = crate::ratelimit::UPSERT_SQLITE;
    l.write(|w| {
        let row = w.row(sql, rusqlite::params![key, at, expires_at], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        row.map(Outcome::Commit)
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    })
}
