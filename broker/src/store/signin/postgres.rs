//! The sign-in's writes that PostgreSQL can make in one statement where sea-orm makes a
//! transaction of several: each statement is a round trip to the server, and the
//! transaction around them two more.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr, Statement, Value};

use super::{IssueCode, Issued};

/// Numbered parameters (`$1`, `$2`, …) and their values.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    /// Adds a value; its placeholder.
    fn add(&mut self, v: impl Into<Value>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }

    /// Adds values; their placeholders, comma-separated.
    fn list(&mut self, vs: Vec<Value>) -> String {
        vs.into_iter()
            .map(|v| self.add(v))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// [`super::SignInStore::issue_code`] as one statement of data-modifying CTEs: the flow is
/// completed only if the recovery link (if any) is used up, and everything else is
/// written only if the flow was completed by this statement; all of it commits at once,
/// as one transaction would. One round trip instead of seven. A passkey in use must still
/// stand for the flow to complete; should it be revoked between that check and the
/// update of its use (the same statement), no code is written and the call fails, the
/// flow being spent.
pub(super) async fn issue_code(db: &DatabaseConnection, i: IssueCode) -> Result<Issued, DbErr> {
    let mut p = Params::default();
    let at = p.add(i.at);
    let flow_id = p.add(i.flow_id.clone());
    let mut ctes = Vec::new();
    let link_gate = match &i.recovery_link {
        Some(link) => {
            let (link, user) = (p.add(link.clone()), p.add(i.user_id.clone()));
            ctes.push(format!(
                "link AS (UPDATE email_tokens SET used_at = {at} WHERE token_hash = {link} \
                 AND purpose = 'recover' AND used_at IS NULL AND expires_at > {at} \
                 AND flow_id = {flow_id} AND user_id = {user} RETURNING 1)"
            ));
            " AND EXISTS (SELECT 1 FROM link)"
        }
        None => {
            ctes.push("link AS (SELECT 1)".to_owned());
            ""
        }
    };
    // The passkey in use must still stand (revoked since the assertion read it, it gets
    // no code and its flow stays open).
    let used = i.used.map(|u| {
        let (counter, backed_up) = (p.add(u.counter), p.add(u.backed_up));
        let (passkey, id) = (p.add(u.passkey_json), p.add(u.credential_id));
        (counter, backed_up, passkey, id)
    });
    let passkey_gate = match &used {
        Some((.., id)) => format!(" AND EXISTS (SELECT 1 FROM credentials WHERE id = {id})"),
        None => String::new(),
    };
    ctes.push(format!(
        "done AS (UPDATE flows SET completed_at = {at} WHERE id = {flow_id} \
         AND completed_at IS NULL{link_gate}{passkey_gate} RETURNING 1)"
    ));
    const GATE: &str = "WHERE EXISTS (SELECT 1 FROM done)";
    if let Some(u) = i.insert_user {
        let values = p.list(vec![
            u.id.into(),
            u.tenant_id.into(),
            u.name.into(),
            u.display_name.into(),
            u.email.into(),
            u.created_at.into(),
            u.email_verified.into(),
        ]);
        ctes.push(format!(
            "new_user AS (INSERT INTO users (id, tenant_id, name, display_name, email, \
             created_at, email_verified) SELECT {values} {GATE})"
        ));
    }
    if let Some(c) = i.insert_credential {
        let values = p.list(vec![
            c.id.into(),
            c.tenant_id.into(),
            c.user_id.into(),
            c.rp_id.into(),
            c.passkey.into(),
            c.public_key.into(),
            c.public_key_alg.into(),
            c.passkey_id.into(),
            c.aaguid.into(),
            c.backup_eligible.into(),
            c.backed_up.into(),
            c.user_verified.into(),
            c.counter.into(),
            c.created_at.into(),
            c.last_used_at.into(),
            c.aaguid_verified.into(),
            c.name.into(),
        ]);
        ctes.push(format!(
            "new_credential AS (INSERT INTO credentials (id, tenant_id, user_id, rp_id, \
             passkey, public_key, public_key_alg, passkey_id, aaguid, backup_eligible, \
             backed_up, user_verified, counter, created_at, last_used_at, aaguid_verified, \
             name) SELECT {values} {GATE})"
        ));
    }
    let used = match used {
        Some((counter, backed_up, passkey, id)) => {
            ctes.push(format!(
                "used AS (UPDATE credentials SET counter = {counter}, backed_up = {backed_up}, \
                 last_used_at = {at}, passkey = COALESCE({passkey}, passkey) WHERE id = {id} \
                 AND EXISTS (SELECT 1 FROM done) RETURNING 1)"
            ));
            true
        }
        None => false,
    };
    let c = i.code;
    let values = p.list(vec![
        c.code_hash.into(),
        c.flow_id.into(),
        c.tenant_id.into(),
        c.redirect_uri.into(),
        c.code_challenge.into(),
        c.user_id.into(),
        c.credential_id.into(),
        c.scope.into(),
        c.payload.into(),
        c.created_at.into(),
        c.expires_at.into(),
        c.redeemed_at.into(),
    ]);
    // A passkey revoked since the assertion read it gets no code.
    let code_gate = if used {
        " AND EXISTS (SELECT 1 FROM used)"
    } else {
        ""
    };
    ctes.push(format!(
        "code AS (INSERT INTO codes (code_hash, flow_id, tenant_id, redirect_uri, \
         code_challenge, user_id, credential_id, scope, payload, created_at, expires_at, \
         redeemed_at) SELECT {values} {GATE}{code_gate} RETURNING 1)"
    ));
    let e = i.event;
    let values = p.list(vec![
        crate::util::now().into(),
        e.actor.into(),
        e.action.into(),
        e.tenant_id.into(),
        e.subject.into(),
        e.detail.to_string().into(),
    ]);
    ctes.push(format!(
        "audit AS (INSERT INTO audit_events (at, actor, action, tenant_id, subject, detail) \
         SELECT {values} WHERE EXISTS (SELECT 1 FROM code))"
    ));
    let sql = format!(
        "WITH {} SELECT (SELECT count(*) FROM link) AS link, \
         (SELECT count(*) FROM done) AS done, (SELECT count(*) FROM code) AS code",
        ctes.join(", ")
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            p.0,
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("issue statement returned no row".into()))?;
    let count = |c: &str| row.try_get::<i64>("", c);
    Ok(match (count("link")?, count("done")?, count("code")?) {
        (0, _, _) => Issued::LinkExpired,
        (_, 0, _) => Issued::FlowCompleted,
        (_, _, 0) => return Err(DbErr::RecordNotUpdated),
        _ => Issued::Done,
    })
}
