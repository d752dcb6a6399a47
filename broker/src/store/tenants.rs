//! Tenants (PROTOCOL §1): validation shared by the admin API and the CLI, and storage.

use latchkey_well_known::Origin;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::entities::tenant;
use crate::domain::{
    ClientId, CounterPolicy, DisplayText, Invalid, RedirectUri, RpId, RpMode, UvPolicy,
};
use crate::policy::{Attestation, PasskeyPolicy, SyncedPasskeys, parse_aaguids};
use crate::util::{now, random_token, rfc3339, sha256_b64};

/// A tenant as the broker uses it.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Public client id.
    pub client_id: String,
    /// Display name shown on the hosted page.
    pub name: String,
    /// Registered redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where passkeys live.
    pub rp_mode: RpMode,
    /// The RP ID of this tenant's passkeys.
    pub rp_id: String,
    /// UV policy.
    pub user_verification: UvPolicy,
    /// Counter regression policy.
    pub counter_policy: CounterPolicy,
    /// Related origins (broker mode).
    pub related_origins: Vec<String>,
    /// SHA-256 (base64url) of the client secret of a confidential client.
    pub secret_hash: Option<String>,
    /// Creation time, UNIX seconds.
    pub created_at: i64,
    /// AAGUID lists, synced passkeys, attestation.
    pub policy: PasskeyPolicy,
    /// PRF: the salt the hosted page evaluates (base64url, 32 bytes) when PRF is on.
    pub prf_salt: Option<String>,
    /// PRF: the next salt during a rotation, evaluated as `second`.
    pub prf_next_salt: Option<String>,
    /// Recovery by email (PROTOCOL E4): verified addresses may enrol a new passkey.
    pub email_recovery: bool,
}

impl Tenant {
    /// Whether the back channel requires a client secret.
    pub fn confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// The tenant object of the admin API (PROTOCOL §7).
    pub fn to_json(&self) -> Value {
        json!({
            "client_id": self.client_id,
            "name": self.name,
            "redirect_uris": self.redirect_uris,
            "rp_mode": self.rp_mode.as_str(),
            "rp_id": self.rp_id,
            "user_verification": self.user_verification.as_str(),
            "counter_policy": self.counter_policy.as_str(),
            "related_origins": self.related_origins,
            "confidential": self.confidential(),
            "created_at": rfc3339(self.created_at),
            "aaguid_allow": self.policy.aaguid_allow,
            "aaguid_deny": self.policy.aaguid_deny,
            "synced_passkeys": self.policy.synced_passkeys.as_str(),
            "attestation": self.policy.attestation.as_str(),
            "prf": self.prf_salt.is_some(),
            "prf_rotating": self.prf_next_salt.is_some(),
            "email_recovery": self.email_recovery,
        })
    }

    /// The tenant of a stored row.
    pub(crate) fn from_model(m: tenant::Model) -> Self {
        let aaguids = |s: &str| {
            serde_json::from_str::<Vec<String>>(s)
                .ok()
                .and_then(|l| parse_aaguids("aaguid_allow", &l).ok())
                .unwrap_or_default()
        };
        let policy = PasskeyPolicy {
            aaguid_allow: aaguids(&m.aaguid_allow),
            aaguid_deny: aaguids(&m.aaguid_deny),
            synced_passkeys: SyncedPasskeys::parse(&m.synced_passkeys)
                .unwrap_or(SyncedPasskeys::Allow),
            attestation: Attestation::parse(&m.attestation).unwrap_or(Attestation::None),
        };
        Self {
            policy,
            prf_salt: m.prf_salt,
            prf_next_salt: m.prf_next_salt,
            email_recovery: m.email_recovery,
            redirect_uris: serde_json::from_str(&m.redirect_uris).unwrap_or_default(),
            related_origins: serde_json::from_str(&m.related_origins).unwrap_or_default(),
            rp_mode: RpMode::parse(&m.rp_mode).unwrap_or(RpMode::Broker),
            user_verification: UvPolicy::parse(&m.user_verification).unwrap_or(UvPolicy::Required),
            counter_policy: CounterPolicy::parse(&m.counter_policy)
                .unwrap_or(CounterPolicy::Record),
            client_id: m.client_id,
            name: m.name,
            rp_id: m.rp_id,
            secret_hash: m.client_secret_hash,
            created_at: m.created_at,
        }
    }
}

/// The fields a caller may set, as sent to `POST /api/v1/admin/tenants` or `PATCH`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// `client_id` (create only).
    pub client_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// `site` or `broker`.
    pub rp_mode: Option<String>,
    /// RP ID (site mode).
    pub rp_id: Option<String>,
    /// `required` or `preferred`.
    pub user_verification: Option<String>,
    /// `record` or `reject`.
    pub counter_policy: Option<String>,
    /// Related origins (broker mode).
    pub related_origins: Option<Vec<String>>,
    /// Whether the tenant is a confidential client (create only).
    pub confidential: Option<bool>,
    /// Issue a new client secret (update only).
    pub rotate_secret: Option<bool>,
    /// Only these AAGUIDs (empty: any).
    pub aaguid_allow: Option<Vec<String>>,
    /// Refuse these AAGUIDs.
    pub aaguid_deny: Option<Vec<String>>,
    /// `allow` or `refuse` synced (backup-eligible) passkeys.
    pub synced_passkeys: Option<String>,
    /// `none` or `direct`.
    pub attestation: Option<String>,
    /// PRF on or off: the hosted page evaluates the `prf` extension with the tenant's salt.
    pub prf: Option<bool>,
    /// PRF salt rotation (update only): `start` adds a second salt, `finish` makes it the
    /// salt, `cancel` drops it.
    pub prf_rotation: Option<String>,
    /// Recovery by email on or off (PROTOCOL E4); needs the broker's SMTP settings.
    pub email_recovery: Option<bool>,
}

/// Resolves the policy fields of `input` over `current` and checks them together.
fn resolve_policy(
    input: &TenantInput,
    current: &PasskeyPolicy,
) -> Result<PasskeyPolicy, TenantError> {
    let mut p = current.clone();
    if let Some(l) = &input.aaguid_allow {
        p.aaguid_allow = parse_aaguids("aaguid_allow", l)?;
    }
    if let Some(l) = &input.aaguid_deny {
        p.aaguid_deny = parse_aaguids("aaguid_deny", l)?;
    }
    if let Some(s) = &input.synced_passkeys {
        p.synced_passkeys = SyncedPasskeys::parse(s)?;
    }
    if let Some(a) = &input.attestation {
        p.attestation = Attestation::parse(a)?;
    }
    if let Some(both) = p.aaguid_deny.iter().find(|d| p.aaguid_allow.contains(d)) {
        let field = if input.aaguid_deny.is_some() {
            "aaguid_deny"
        } else {
            "aaguid_allow"
        };
        return Err(invalid(
            field,
            format!("{field}: {both} cannot be both allowed and denied"),
        ));
    }
    if p.attestation == Attestation::Direct && p.aaguid_allow.is_empty() {
        return Err(invalid(
            "attestation",
            "attestation \"direct\" proves an authenticator's AAGUID against aaguid_allow: set aaguid_allow too",
        ));
    }
    Ok(p)
}

/// Checks what a tenant change needs from the broker's settings: `attestation: direct`
/// needs attestation roots (`LATCHKEY_ATTESTATION_ROOTS`), `email_recovery` an SMTP
/// server (`LATCHKEY_SMTP_URL`).
pub fn check_settings(
    input: &TenantInput,
    settings: &crate::config::Settings,
) -> Result<(), TenantError> {
    if input.attestation.as_deref() == Some("direct") && settings.attestation_roots.is_empty() {
        return Err(invalid(
            "attestation",
            "attestation \"direct\" needs the broker's attestation roots (LATCHKEY_ATTESTATION_ROOTS), and none are configured",
        ));
    }
    if input.email_recovery == Some(true) && settings.smtp.is_none() {
        return Err(invalid(
            "email_recovery",
            "email_recovery needs the broker to send email (LATCHKEY_SMTP_URL), and it is not configured",
        ));
    }
    Ok(())
}

/// A new PRF salt: 32 random bytes, base64url.
fn new_prf_salt() -> String {
    random_token(32)
}

/// Why a tenant change failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// A field failed validation.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The client id is taken.
    #[error("a tenant with client_id {0:?} already exists")]
    Conflict(String),
    /// No such tenant.
    #[error("no tenant with client_id {0:?}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn invalid(field: &'static str, message: impl Into<String>) -> TenantError {
    TenantError::Invalid(Invalid {
        field,
        message: message.into(),
    })
}

/// Loads one tenant.
pub async fn get(db: &DatabaseConnection, client_id: &str) -> Result<Option<Tenant>, DbErr> {
    Ok(
        super::by_key(tenant::Entity::find_by_id(client_id.to_owned()), db)
            .await?
            .map(Tenant::from_model),
    )
}

/// Lists all tenants by client id.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<Tenant>, DbErr> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::ClientId)
        .all(db)
        .await?
        .into_iter()
        .map(Tenant::from_model)
        .collect())
}

/// The related origins of every `broker`-mode tenant, in creation order, de-duplicated:
/// the broker's `/.well-known/webauthn` (PROTOCOL §6).
pub async fn broker_related_origins(
    db: &DatabaseConnection,
    except: Option<&str>,
) -> Result<Vec<Origin>, DbErr> {
    let rows = tenant::Entity::find()
        .filter(tenant::Column::RpMode.eq("broker"))
        .order_by_asc(tenant::Column::CreatedAt)
        .order_by_asc(tenant::Column::ClientId)
        .all(db)
        .await?;
    let mut out: Vec<Origin> = Vec::new();
    for row in rows
        .into_iter()
        .filter(|r| Some(r.client_id.as_str()) != except)
    {
        let origins: Vec<String> = serde_json::from_str(&row.related_origins).unwrap_or_default();
        for o in origins.iter().filter_map(|o| Origin::parse(o).ok()) {
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    Ok(out)
}

fn parse_redirect_uris(list: &[String]) -> Result<Vec<String>, TenantError> {
    if list.is_empty() {
        return Err(invalid(
            "redirect_uris",
            "redirect_uris must list at least one URI",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in list {
        let uri = RedirectUri::parse(s)?;
        if !out.iter().any(|u| u == uri.as_str()) {
            out.push(uri.as_str().to_owned());
        }
    }
    Ok(out)
}

async fn parse_related_origins(
    db: &DatabaseConnection,
    client_id: &str,
    list: &[String],
) -> Result<Vec<String>, TenantError> {
    let mut existing = broker_related_origins(db, Some(client_id)).await?;
    let mut out = Vec::new();
    for s in list {
        let origin = Origin::parse(s).map_err(|e| {
            invalid(
                "related_origins",
                format!("related_origins: {s:?} is not a valid origin: {e}"),
            )
        })?;
        let loopback = matches!(origin.host(), "localhost" | "127.0.0.1");
        if origin.scheme() != "https" && !loopback {
            return Err(invalid(
                "related_origins",
                format!("related_origins: {s:?} must be an https:// origin"),
            ));
        }
        if !loopback && !crate::domain::is_domain_name(origin.host()) {
            return Err(invalid(
                "related_origins",
                format!(
                    "related_origins: {s:?} is not one origin: list each origin exactly, without wildcards"
                ),
            ));
        }
        if !loopback && origin.registrable_domain().is_none() {
            return Err(invalid(
                "related_origins",
                format!(
                    "related_origins: {s:?} is a public suffix, shared by unrelated sites, not a site's origin"
                ),
            ));
        }
        if out.contains(&origin.as_str().to_owned()) {
            continue;
        }
        if latchkey_well_known::check_label_limit(&existing, &origin).is_err() {
            return Err(invalid(
                "related_origins",
                format!(
                    "related_origins: {s:?} would add a 6th distinct site label to the broker's /.well-known/webauthn; browsers honour at most 5"
                ),
            ));
        }
        existing.push(origin.clone());
        out.push(origin.as_str().to_owned());
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<String, TenantError> {
    Ok(DisplayText::parse("name", name, 100)?.into_string())
}

/// Resolves `rp_mode` + `rp_id` against the broker's RP ID.
fn resolve_rp(
    mode: RpMode,
    rp_id: Option<&str>,
    broker_rp_id: &RpId,
) -> Result<String, TenantError> {
    match (mode, rp_id) {
        (RpMode::Broker, None) => Ok(broker_rp_id.as_str().to_owned()),
        (RpMode::Broker, Some(id)) => {
            let id = RpId::parse("rp_id", id)?;
            if &id == broker_rp_id {
                Ok(id.as_str().to_owned())
            } else {
                Err(invalid(
                    "rp_id",
                    format!(
                        "in broker mode the RP ID is the broker's ({}); omit rp_id or use site mode",
                        broker_rp_id.as_str()
                    ),
                ))
            }
        }
        (RpMode::Site, None) => Err(invalid(
            "rp_id",
            "site mode needs rp_id: the site's registrable domain, e.g. example.com",
        )),
        (RpMode::Site, Some(id)) => {
            let id = RpId::parse("rp_id", id)?;
            if id.as_str() != "localhost" && psl::suffix_str(id.as_str()) == Some(id.as_str()) {
                return Err(invalid(
                    "rp_id",
                    format!(
                        "rp_id: {:?} is a public suffix, not a site's domain",
                        id.as_str()
                    ),
                ));
            }
            Ok(id.as_str().to_owned())
        }
    }
}

/// Creates a tenant. Returns it and, for a confidential client, its secret (shown once).
pub async fn create(
    db: &DatabaseConnection,
    broker_rp_id: &RpId,
    input: TenantInput,
) -> Result<(Tenant, Option<String>), TenantError> {
    let client_id = ClientId::parse(input.client_id.as_deref().unwrap_or_default())?;
    let name = check_name(input.name.as_deref().unwrap_or(client_id.as_str()))?;
    let redirect_uris = parse_redirect_uris(input.redirect_uris.as_deref().unwrap_or_default())?;
    let rp_mode = RpMode::parse(input.rp_mode.as_deref().unwrap_or("broker"))?;
    let rp_id = resolve_rp(rp_mode, input.rp_id.as_deref(), broker_rp_id)?;
    let uv = UvPolicy::parse(input.user_verification.as_deref().unwrap_or("required"))?;
    let counter = CounterPolicy::parse(input.counter_policy.as_deref().unwrap_or("record"))?;
    let policy = resolve_policy(&input, &PasskeyPolicy::default())?;
    if input.prf_rotation.is_some() {
        return Err(invalid(
            "prf_rotation",
            "prf_rotation applies to an existing tenant with PRF on (PATCH)",
        ));
    }
    let prf_salt = input.prf.unwrap_or(false).then(new_prf_salt);
    if input.rotate_secret.is_some() {
        return Err(invalid(
            "rotate_secret",
            "rotate_secret applies to an existing tenant (PATCH)",
        ));
    }
    let related = match (&input.related_origins, rp_mode) {
        (Some(list), RpMode::Broker) => parse_related_origins(db, client_id.as_str(), list).await?,
        (Some(list), RpMode::Site) if !list.is_empty() => {
            return Err(invalid(
                "related_origins",
                "related_origins apply to broker mode only; in site mode the site lists the broker in its own /.well-known/webauthn",
            ));
        }
        _ => Vec::new(),
    };
    if get(db, client_id.as_str()).await?.is_some() {
        return Err(TenantError::Conflict(client_id.as_str().to_owned()));
    }
    let secret = input
        .confidential
        .unwrap_or(false)
        .then(|| random_token(32));
    let t = now();
    let model = tenant::ActiveModel {
        client_id: Set(client_id.as_str().to_owned()),
        name: Set(name),
        redirect_uris: Set(serde_json::to_string(&redirect_uris).unwrap_or_default()),
        rp_mode: Set(rp_mode.as_str().into()),
        rp_id: Set(rp_id),
        user_verification: Set(uv.as_str().into()),
        counter_policy: Set(counter.as_str().into()),
        related_origins: Set(serde_json::to_string(&related).unwrap_or_default()),
        client_secret_hash: Set(secret.as_ref().map(sha256_b64)),
        created_at: Set(t),
        updated_at: Set(t),
        aaguid_allow: Set(json!(policy.aaguid_allow).to_string()),
        aaguid_deny: Set(json!(policy.aaguid_deny).to_string()),
        synced_passkeys: Set(policy.synced_passkeys.as_str().into()),
        attestation: Set(policy.attestation.as_str().into()),
        prf_salt: Set(prf_salt),
        prf_next_salt: Set(None),
        email_recovery: Set(input.email_recovery.unwrap_or(false)),
    };
    let inserted = match model.insert(db).await {
        Ok(m) => m,
        Err(e) if is_unique_violation(&e) => {
            return Err(TenantError::Conflict(client_id.as_str().to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((Tenant::from_model(inserted), secret))
}

/// Every field of `input` that fails its own check, each with its first refusal: what a
/// form shows at once, where [`create`] and [`update`] stop at the first. `current` is the
/// tenant being changed (`None`: a new one). Refusals that need every field valid (a
/// duplicate client id, an RP ID change under existing passkeys) stay with those.
pub async fn field_errors(
    db: &DatabaseConnection,
    broker_rp_id: &RpId,
    input: &TenantInput,
    current: Option<&Tenant>,
) -> Result<Vec<Invalid>, DbErr> {
    fn note<T>(out: &mut Vec<Invalid>, r: Result<T, TenantError>) -> Result<(), DbErr> {
        match r {
            Err(TenantError::Invalid(i)) => out.push(i),
            Err(TenantError::Db(e)) => return Err(e),
            Ok(_) | Err(TenantError::Conflict(_) | TenantError::NotFound(_)) => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    let client_id = match current {
        Some(t) => t.client_id.clone(),
        None => {
            let id = input.client_id.clone().unwrap_or_default();
            note(&mut out, ClientId::parse(&id).map_err(TenantError::from))?;
            id
        }
    };
    if let Some(name) = &input.name {
        note(&mut out, check_name(name))?;
    }
    if let Some(list) = &input.redirect_uris {
        note(&mut out, parse_redirect_uris(list))?;
    }
    let mode = input
        .rp_mode
        .as_deref()
        .map(RpMode::parse)
        .unwrap_or(Ok(current.map_or(RpMode::Broker, |t| t.rp_mode)));
    match mode {
        Err(e) => out.push(e),
        Ok(mode) => {
            let kept = current
                .filter(|t| t.rp_mode == mode && mode == RpMode::Site)
                .map(|t| t.rp_id.as_str());
            note(
                &mut out,
                resolve_rp(mode, input.rp_id.as_deref().or(kept), broker_rp_id),
            )?;
            match (&input.related_origins, mode) {
                (Some(list), RpMode::Broker) => {
                    note(&mut out, parse_related_origins(db, &client_id, list).await)?;
                }
                (Some(list), RpMode::Site) if !list.is_empty() => out.push(Invalid {
                    field: "related_origins",
                    message: "related_origins apply to broker mode only".into(),
                }),
                _ => {}
            }
        }
    }
    if let Some(uv) = &input.user_verification {
        note(&mut out, UvPolicy::parse(uv).map_err(TenantError::from))?;
    }
    if let Some(c) = &input.counter_policy {
        note(&mut out, CounterPolicy::parse(c).map_err(TenantError::from))?;
    }
    let before = out.len();
    if let Some(l) = &input.aaguid_allow {
        note(
            &mut out,
            parse_aaguids("aaguid_allow", l).map_err(TenantError::from),
        )?;
    }
    if let Some(l) = &input.aaguid_deny {
        note(
            &mut out,
            parse_aaguids("aaguid_deny", l).map_err(TenantError::from),
        )?;
    }
    if let Some(s) = &input.synced_passkeys {
        note(
            &mut out,
            SyncedPasskeys::parse(s).map_err(TenantError::from),
        )?;
    }
    if let Some(a) = &input.attestation {
        note(&mut out, Attestation::parse(a).map_err(TenantError::from))?;
    }
    if out.len() == before {
        let policy = current.map_or_else(PasskeyPolicy::default, |t| t.policy.clone());
        note(&mut out, resolve_policy(input, &policy))?;
    }
    Ok(out)
}

/// Changes a tenant. Returns it and a new secret when `rotate_secret` was asked.
pub async fn update(
    db: &DatabaseConnection,
    broker_rp_id: &RpId,
    client_id: &str,
    input: TenantInput,
) -> Result<(Tenant, Option<String>), TenantError> {
    let row = super::by_key(tenant::Entity::find_by_id(client_id.to_owned()), db)
        .await?
        .ok_or_else(|| TenantError::NotFound(client_id.to_owned()))?;
    let current = Tenant::from_model(row.clone());
    if input.client_id.as_deref().is_some_and(|c| c != client_id) {
        return Err(invalid("client_id", "client_id cannot change"));
    }
    if input.confidential.is_some() {
        return Err(invalid(
            "confidential",
            "use rotate_secret to issue a secret; confidential is set at creation",
        ));
    }
    let mut am: tenant::ActiveModel = row.into();
    if let Some(name) = &input.name {
        am.name = Set(check_name(name)?);
    }
    let redirect_uris = match &input.redirect_uris {
        Some(list) => {
            let uris = parse_redirect_uris(list)?;
            am.redirect_uris = Set(serde_json::to_string(&uris).unwrap_or_default());
            Some(uris)
        }
        None => None,
    };
    let mode = match &input.rp_mode {
        Some(m) => RpMode::parse(m)?,
        None => current.rp_mode,
    };
    if input.rp_mode.is_some() || input.rp_id.is_some() {
        let rp_id_in =
            input
                .rp_id
                .as_deref()
                .or((mode == current.rp_mode && mode == RpMode::Site)
                    .then_some(current.rp_id.as_str()));
        let rp_id = resolve_rp(mode, rp_id_in, broker_rp_id)?;
        if rp_id != current.rp_id && super::accounts::count_credentials(db, client_id).await? > 0 {
            return Err(invalid(
                "rp_id",
                "the RP ID cannot change while passkeys exist under it: they would stop working",
            ));
        }
        am.rp_mode = Set(mode.as_str().into());
        am.rp_id = Set(rp_id);
    }
    if let Some(uv) = &input.user_verification {
        am.user_verification = Set(UvPolicy::parse(uv)?.as_str().into());
    }
    if let Some(c) = &input.counter_policy {
        am.counter_policy = Set(CounterPolicy::parse(c)?.as_str().into());
    }
    let policy = resolve_policy(&input, &current.policy)?;
    if policy != current.policy {
        am.aaguid_allow = Set(json!(policy.aaguid_allow).to_string());
        am.aaguid_deny = Set(json!(policy.aaguid_deny).to_string());
        am.synced_passkeys = Set(policy.synced_passkeys.as_str().into());
        am.attestation = Set(policy.attestation.as_str().into());
    }
    let mut prf_on = current.prf_salt.is_some();
    match input.prf {
        Some(true) if !prf_on => {
            am.prf_salt = Set(Some(new_prf_salt()));
            prf_on = true;
        }
        Some(false) => {
            am.prf_salt = Set(None);
            am.prf_next_salt = Set(None);
            prf_on = false;
        }
        _ => {}
    }
    match input.prf_rotation.as_deref() {
        None => {}
        Some(_) if !prf_on => {
            return Err(invalid("prf_rotation", "PRF is off for this tenant"));
        }
        Some("start") if current.prf_next_salt.is_none() => {
            am.prf_next_salt = Set(Some(new_prf_salt()));
        }
        Some("start") => {
            return Err(invalid(
                "prf_rotation",
                "a rotation is already under way: finish or cancel it first",
            ));
        }
        Some("finish") => match &current.prf_next_salt {
            Some(next) => {
                am.prf_salt = Set(Some(next.clone()));
                am.prf_next_salt = Set(None);
            }
            None => return Err(invalid("prf_rotation", "no rotation is under way")),
        },
        Some("cancel") => am.prf_next_salt = Set(None),
        Some(_) => {
            return Err(invalid(
                "prf_rotation",
                "prf_rotation must be \"start\", \"finish\" or \"cancel\"",
            ));
        }
    }
    if let Some(on) = input.email_recovery {
        am.email_recovery = Set(on);
    }
    match (&input.related_origins, mode) {
        (Some(list), RpMode::Broker) => {
            am.related_origins = Set(serde_json::to_string(
                &parse_related_origins(db, client_id, list).await?,
            )
            .unwrap_or_default());
        }
        (Some(list), RpMode::Site) if !list.is_empty() => {
            return Err(invalid(
                "related_origins",
                "related_origins apply to broker mode only",
            ));
        }
        (_, RpMode::Site) => am.related_origins = Set("[]".into()),
        _ => {}
    }
    let secret = input
        .rotate_secret
        .unwrap_or(false)
        .then(|| random_token(32));
    if let Some(s) = &secret {
        am.client_secret_hash = Set(Some(sha256_b64(s)));
    }
    am.updated_at = Set(now());
    // PROTOCOL §3: a redirect URI removed from the tenant takes its flows and their
    // unredeemed codes with it, in the transaction that removes it, so no code is sent
    // to it or redeemed for it afterwards.
    let txn = crate::db::stats::begin(db).await?;
    let updated = am.update(&txn).await?;
    if let Some(uris) = redirect_uris {
        super::flows::forget_redirect_uris_except(&txn, client_id, &uris).await?;
    }
    txn.commit().await?;
    Ok((Tenant::from_model(updated), secret))
}

/// Removes a tenant and, by cascade, its users, passkeys, flows and codes.
pub async fn remove(db: &DatabaseConnection, client_id: &str) -> Result<bool, DbErr> {
    let res = tenant::Entity::delete_by_id(client_id.to_owned())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
