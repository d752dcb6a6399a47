//! Tenants: the list, the tenant form (every field and policy the admin API sets, every
//! field's error at once, in plain words, beside the field), the site-mode
//! `/.well-known/webauthn` check, a new client secret, deletion.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::{Admin, Layout, NoFields, Notice, Posted, seg, when};
use crate::admin::{self as api, ADMIN_CLIENT_ID, WellKnownStatus};
use crate::domain::{Invalid, RpMode};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::tenants::{self, TenantError, TenantInput};

/// One row of the tenants table.
struct TenantRow {
    client_id: String,
    name: String,
    rp_mode: String,
    rp_id: String,
    confidential: bool,
    redirect_count: usize,
}

#[derive(Template)]
#[template(path = "admin/tenants.html")]
struct TenantsPage {
    l: Layout,
    tenants: Vec<TenantRow>,
    notice: String,
}

/// `GET /admin/tenants`
pub(super) async fn list(admin: Admin, state: web::Data<AppState>) -> HttpResponse {
    let list = match tenants::list(&state.db).await {
        Ok(l) => l,
        Err(e) => return admin.failure(e),
    };
    admin.page(
        StatusCode::OK,
        &TenantsPage {
            l: admin.layout("tenants"),
            tenants: list
                .into_iter()
                .filter(|t| t.client_id != ADMIN_CLIENT_ID)
                .map(|t| TenantRow {
                    redirect_count: t.redirect_uris.len(),
                    confidential: t.confidential(),
                    client_id: t.client_id,
                    name: t.name,
                    rp_mode: t.rp_mode.as_str().into(),
                    rp_id: t.rp_id,
                })
                .collect(),
            notice: admin.notice().into(),
        },
    )
}

/// The tenant form's fields as posted (checkboxes are present only when ticked).
#[derive(Debug, Default, Deserialize)]
pub(super) struct TenantFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    rp_mode: String,
    #[serde(default)]
    rp_id: String,
    #[serde(default)]
    user_verification: String,
    #[serde(default)]
    counter_policy: String,
    #[serde(default)]
    related_origins: String,
    confidential: Option<String>,
    email_recovery: Option<String>,
    prf: Option<String>,
    #[serde(default)]
    prf_rotation: String,
    #[serde(default)]
    aaguid_allow: String,
    #[serde(default)]
    aaguid_deny: String,
    #[serde(default)]
    synced_passkeys: String,
    #[serde(default)]
    attestation: String,
}

/// The tenant form's values, as shown.
#[derive(Default)]
struct TenantForm {
    client_id: String,
    name: String,
    redirect_uris: String,
    rp_mode: String,
    rp_id: String,
    user_verification: String,
    counter_policy: String,
    related_origins: String,
    confidential: bool,
    email_recovery: bool,
    prf: bool,
    /// A PRF salt rotation is under way (stored state, not a field).
    prf_rotating: bool,
    prf_rotation: String,
    aaguid_allow: String,
    aaguid_deny: String,
    synced_passkeys: String,
    attestation: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An AAGUID list as typed: one per line, the AAGUID first; what follows it on the line
/// (the authenticator's name, as the form writes it) is ignored.
fn aaguid_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// An AAGUID list as the form shows it: each AAGUID with its authenticator's name.
fn aaguid_text(list: &[uuid::Uuid]) -> String {
    let names = crate::aaguids::names();
    list.iter()
        .map(|id| match names.name(id) {
            Some(n) => format!("{id}  {n}"),
            None => id.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl TenantForm {
    fn new_tenant() -> Self {
        Self {
            rp_mode: "broker".into(),
            user_verification: "required".into(),
            counter_policy: "record".into(),
            synced_passkeys: "allow".into(),
            attestation: "none".into(),
            ..Self::default()
        }
    }

    fn from_tenant(t: &tenants::Tenant) -> Self {
        Self {
            client_id: t.client_id.clone(),
            name: t.name.clone(),
            redirect_uris: t.redirect_uris.join("\n"),
            rp_mode: t.rp_mode.as_str().into(),
            rp_id: if t.rp_mode == RpMode::Site {
                t.rp_id.clone()
            } else {
                String::new()
            },
            user_verification: t.user_verification.as_str().into(),
            counter_policy: t.counter_policy.as_str().into(),
            related_origins: t.related_origins.join("\n"),
            confidential: t.confidential(),
            email_recovery: t.email_recovery,
            prf: t.prf_salt.is_some(),
            prf_rotating: t.prf_next_salt.is_some(),
            prf_rotation: String::new(),
            aaguid_allow: aaguid_text(&t.policy.aaguid_allow),
            aaguid_deny: aaguid_text(&t.policy.aaguid_deny),
            synced_passkeys: t.policy.synced_passkeys.as_str().into(),
            attestation: t.policy.attestation.as_str().into(),
        }
    }

    fn from_fields(f: TenantFields) -> Self {
        Self {
            client_id: f.client_id.trim().into(),
            name: f.name.trim().into(),
            redirect_uris: f.redirect_uris.trim().into(),
            rp_mode: f.rp_mode.trim().into(),
            rp_id: f.rp_id.trim().into(),
            user_verification: f.user_verification.trim().into(),
            counter_policy: f.counter_policy.trim().into(),
            related_origins: f.related_origins.trim().into(),
            confidential: f.confidential.is_some(),
            email_recovery: f.email_recovery.is_some(),
            prf: f.prf.is_some(),
            prf_rotating: false,
            prf_rotation: f.prf_rotation.trim().into(),
            aaguid_allow: f.aaguid_allow.trim().into(),
            aaguid_deny: f.aaguid_deny.trim().into(),
            synced_passkeys: f.synced_passkeys.trim().into(),
            attestation: f.attestation.trim().into(),
        }
    }

    /// The change the form asks for: every field the form shows, so that each policy is
    /// what the form says.
    fn input(&self, new: bool) -> TenantInput {
        let site = self.rp_mode == "site";
        let or = |v: &str, default: &str| {
            if v.is_empty() {
                default.to_owned()
            } else {
                v.to_owned()
            }
        };
        TenantInput {
            client_id: new.then(|| self.client_id.clone()),
            name: Some(self.name.clone()),
            redirect_uris: Some(lines(&self.redirect_uris)),
            rp_mode: Some(or(&self.rp_mode, "broker")),
            rp_id: (!self.rp_id.is_empty()).then(|| self.rp_id.clone()),
            user_verification: Some(or(&self.user_verification, "required")),
            counter_policy: Some(or(&self.counter_policy, "record")),
            related_origins: Some(if site {
                Vec::new()
            } else {
                lines(&self.related_origins)
            }),
            confidential: new.then_some(self.confidential),
            rotate_secret: None,
            aaguid_allow: Some(aaguid_lines(&self.aaguid_allow)),
            aaguid_deny: Some(aaguid_lines(&self.aaguid_deny)),
            synced_passkeys: Some(or(&self.synced_passkeys, "allow")),
            attestation: Some(or(&self.attestation, "none")),
            prf: Some(self.prf),
            prf_rotation: (!new && self.prf && !self.prf_rotation.is_empty())
                .then(|| self.prf_rotation.clone()),
            email_recovery: Some(self.email_recovery),
        }
    }
}

/// The outcome of the site-mode `/.well-known/webauthn` check, for the page.
struct CheckView {
    required: bool,
    ok: bool,
    url: String,
    fetched: String,
    problem: String,
    expected: String,
}

impl CheckView {
    fn of(status: WellKnownStatus) -> Self {
        let pretty = |json: &str| {
            serde_json::from_str::<Value>(json)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_default()
        };
        match status {
            WellKnownStatus::NotNeeded { .. } => Self {
                required: false,
                ok: true,
                url: String::new(),
                fetched: String::new(),
                problem: "The broker's origin already sits under this RP ID; no related-origin document is needed.".into(),
                expected: String::new(),
            },
            WellKnownStatus::Checked(c) => Self {
                required: true,
                ok: c.ok,
                url: c.url,
                fetched: c
                    .fetched
                    .map(|d| pretty(&d.to_json()))
                    .unwrap_or_default(),
                problem: c.problem.unwrap_or_default(),
                expected: pretty(&c.expected),
            },
        }
    }
}

/// An authenticator the broker knows by name, for the AAGUID lists.
struct Known {
    aaguid: String,
    name: String,
}

#[derive(Template)]
#[template(path = "admin/tenant.html")]
struct TenantPage {
    l: Layout,
    new: bool,
    f: TenantForm,
    /// Each field's error in plain words: (field, message).
    errors: Vec<(String, String)>,
    notice: String,
    secret: String,
    created_at: String,
    broker_rp_id: String,
    labels: Vec<String>,
    max_labels: usize,
    preview: String,
    check: Option<CheckView>,
    passkeys: u64,
    known: Vec<Known>,
}

/// The fields the form shows, by name: an error of any other goes above the form.
const FIELDS: [&str; 16] = [
    "client_id",
    "name",
    "redirect_uris",
    "rp_mode",
    "rp_id",
    "user_verification",
    "counter_policy",
    "related_origins",
    "email_recovery",
    "prf",
    "prf_rotation",
    "aaguid_allow",
    "aaguid_deny",
    "synced_passkeys",
    "attestation",
    "confidential",
];

impl TenantPage {
    /// The error of a field ("" when none).
    fn err(&self, name: &str) -> &str {
        self.errors
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }

    /// Errors of fields the form does not show.
    fn other_errors(&self) -> Vec<&str> {
        self.errors
            .iter()
            .filter(|(f, _)| !FIELDS.contains(&f.as_str()))
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

/// What the page shows besides the form.
#[derive(Default)]
struct Extras {
    errors: Vec<(String, String)>,
    notice: String,
    secret: String,
    created_at: String,
    check: Option<CheckView>,
}

async fn tenant_page(
    state: &AppState,
    admin: &Admin,
    new: bool,
    f: TenantForm,
    extras: Extras,
) -> HttpResponse {
    let origins = match tenants::broker_related_origins(&state.db, None).await {
        Ok(o) => o,
        Err(e) => return admin.failure(e),
    };
    let passkeys = if new {
        0
    } else {
        accounts::count_credentials(&state.db, &f.client_id)
            .await
            .unwrap_or(0)
    };
    let status = if extras.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = TenantPage {
        l: admin.layout("tenants"),
        new,
        errors: extras.errors,
        notice: extras.notice,
        secret: extras.secret,
        created_at: extras.created_at,
        broker_rp_id: state.settings.rp_id.as_str().into(),
        labels: latchkey_well_known::distinct_labels(&origins),
        max_labels: latchkey_well_known::MAX_LABELS,
        preview: serde_json::from_str::<Value>(
            &latchkey_well_known::WellKnownDocument::new(origins).to_json(),
        )
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default(),
        check: extras.check,
        passkeys,
        known: crate::aaguids::names()
            .iter()
            .map(|(id, name)| Known {
                aaguid: id.to_string(),
                name: name.to_owned(),
            })
            .collect(),
        f,
    };
    admin.page(status, &page)
}

/// Replaces the API's `"quoted"` values with typographic quotes.
fn quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut open = true;
    for c in s.chars() {
        if c == '"' {
            out.push(if open { '“' } else { '”' });
            open = !open;
        } else {
            out.push(c);
        }
    }
    out
}

/// The first `"quoted"` value of an API message.
fn quoted(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(&s[start..start + len])
}

/// A sentence: a capital first letter and a full stop.
fn sentence(s: &str) -> String {
    let s = s.trim();
    let mut c = s.chars();
    let mut out = c
        .next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The words of the API's field names.
const WORDS: [(&str, &str); 12] = [
    ("client_id", "the client id"),
    ("redirect_uris", "the redirect URIs"),
    ("related_origins", "the related origins"),
    ("rp_id", "the RP ID"),
    ("rp_mode", "where passkeys live"),
    ("aaguid_allow", "the allow list"),
    ("aaguid_deny", "the deny list"),
    ("synced_passkeys", "synced passkeys"),
    ("user_verification", "user verification"),
    ("counter_policy", "the counter policy"),
    ("prf_rotation", "the salt rotation"),
    ("email_recovery", "recovery by email"),
];

/// An API message in plain words: without the field's name in front of it, the field
/// names spelled as words, the values in quotes, as a sentence.
fn tidy(field: &str, message: &str) -> String {
    let mut m = message
        .strip_prefix(&format!("{field}: "))
        .unwrap_or(message)
        .to_owned();
    for (name, words) in WORDS {
        m = m.replace(&format!(" in {name} "), " ").replace(name, words);
    }
    sentence(&quotes(&m))
}

/// A refusal of the tenant form, in plain words, for the field it concerns.
fn plain(state: &AppState, i: &Invalid) -> String {
    let m = i.message.as_str();
    const CLIENT_ID: &str =
        "3 to 64 letters, digits, dots (.), underscores (_) or hyphens (-), without spaces";
    match i.field {
        "client_id" if m.contains("cannot change") => "The client id cannot change.".into(),
        "client_id" => format!("Enter a client id of {CLIENT_ID}."),
        "name" if m.contains("control") => {
            "The name must not contain control characters or bidirectional overrides.".into()
        }
        "name" => "Enter a name of 1 to 100 characters: the sign-in page shows it.".into(),
        "redirect_uris" if m.contains("at least one") => {
            "Enter at least one redirect URI, one per line.".into()
        }
        "rp_id" if m.contains("site mode needs") => {
            "Site mode needs the site's own domain, such as example.com.".into()
        }
        "rp_id" if m.contains("in broker mode") => format!(
            "In broker mode passkeys live under {}: leave this empty, or choose site mode.",
            state.settings.rp_id.as_str()
        ),
        "rp_id" if m.contains("cannot change while passkeys exist") => {
            "The RP ID cannot change while passkeys exist under it: they would stop working."
                .into()
        }
        "related_origins" if m.contains("6th") => format!(
            "{} would make a 6th site in the broker's list of related origins; browsers honour at most 5 sites, counted across every tenant. Remove an origin, or use site mode.",
            quoted(m).map_or_else(|| "This origin".to_owned(), |o| format!("“{o}”"))
        ),
        "related_origins" if m.contains("broker mode only") => {
            "Related origins apply to broker mode only: in site mode the site lists the broker in its own /.well-known/webauthn.".into()
        }
        "aaguid_allow" | "aaguid_deny" if m.contains("both allowed and denied") => format!(
            "{} is in both lists: keep it in one of them.",
            m.split_whitespace()
                .find(|w| w.len() == 36)
                .unwrap_or("An AAGUID")
        ),
        "attestation" if m.contains("LATCHKEY_ATTESTATION_ROOTS") => {
            "Direct attestation needs the broker's attestation roots (setting LATCHKEY_ATTESTATION_ROOTS), and none are configured.".into()
        }
        "attestation" if m.contains("aaguid_allow") => {
            "Direct attestation proves the authenticator model against the allow list: list the allowed AAGUIDs too.".into()
        }
        "email_recovery" => {
            "Recovery by email needs the broker to send email (setting LATCHKEY_SMTP_URL), and it is not configured.".into()
        }
        field => tidy(field, m),
    }
}

fn plain_errors(state: &AppState, list: &[Invalid]) -> Vec<(String, String)> {
    list.iter()
        .map(|i| (i.field.to_owned(), plain(state, i)))
        .collect()
}

/// The form's errors of a refused change; a database failure is not one.
fn form_errors(state: &AppState, e: TenantError) -> Result<Vec<(String, String)>, sea_orm::DbErr> {
    match e {
        TenantError::Invalid(i) => Ok(plain_errors(state, &[i])),
        TenantError::Conflict(_) => Ok(vec![(
            "client_id".into(),
            "A tenant with this client id already exists: choose another.".into(),
        )]),
        TenantError::NotFound(_) => Ok(vec![(
            "client_id".into(),
            "This tenant no longer exists.".into(),
        )]),
        TenantError::Db(e) => Err(e),
    }
}

/// `GET /admin/tenants/new`
pub(super) async fn new(admin: Admin, state: web::Data<AppState>) -> HttpResponse {
    tenant_page(
        &state,
        &admin,
        true,
        TenantForm::new_tenant(),
        Extras::default(),
    )
    .await
}

/// Saves a tenant form with `save` (create or update) once every field is right: `Ok(Ok)`
/// with what `save` answered, or `Ok(Err)` with every field's error in plain words (those
/// found before saving, else `save`'s refusal); `Err` is the failure page.
async fn save<Fut>(
    state: &AppState,
    admin: &Admin,
    input: TenantInput,
    current: Option<&tenants::Tenant>,
    save: impl FnOnce(TenantInput) -> Fut,
) -> Result<Result<(tenants::Tenant, Option<String>), Vec<(String, String)>>, HttpResponse>
where
    Fut: std::future::Future<Output = Result<(tenants::Tenant, Option<String>), TenantError>>,
{
    let refused = match api::tenant_field_errors(state, &input, current).await {
        Ok(list) => plain_errors(state, &list),
        Err(e) => return Err(admin.failure(e)),
    };
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    match save(input).await {
        Ok(saved) => Ok(Ok(saved)),
        Err(e) => form_errors(state, e).map(Err).map_err(|e| admin.failure(e)),
    }
}

/// `POST /admin/tenants`: every field's error at once; on success, the new tenant's page.
pub(super) async fn create(
    state: web::Data<AppState>,
    posted: Posted<TenantFields>,
) -> HttpResponse {
    let (admin, f) = (posted.admin, TenantForm::from_fields(posted.form));
    let actor = admin.actor();
    let saved = save(&state, &admin, f.input(true), None, |input| {
        api::create(&state, &actor, input)
    })
    .await;
    let refused = match saved {
        Ok(Ok((t, secret))) => {
            return admin.done(
                &format!("/admin/tenants/{}", seg(&t.client_id)),
                Notice::TenantCreated,
                secret,
            );
        }
        Ok(Err(refused)) => refused,
        Err(failed) => return failed,
    };
    let extras = Extras {
        errors: refused,
        ..Extras::default()
    };
    tenant_page(&state, &admin, true, f, extras).await
}

/// `GET /admin/tenants/{id}`: the tenant, with what the change that led here says (a
/// secret shown once, the site's check).
pub(super) async fn show(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let check = if admin.came_from(Notice::WellKnownChecked) {
        match api::well_known_status(&state, &t, false).await {
            Ok(s) => Some(CheckView::of(s)),
            Err(e) => return admin.failure(e),
        }
    } else {
        None
    };
    let extras = Extras {
        notice: admin.notice().into(),
        secret: admin.once().into(),
        created_at: when(t.created_at),
        check,
        ..Extras::default()
    };
    tenant_page(&state, &admin, false, TenantForm::from_tenant(&t), extras).await
}

/// `POST /admin/tenants/{id}`
pub(super) async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<TenantFields>,
) -> HttpResponse {
    let admin = posted.admin;
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut f = TenantForm::from_fields(posted.form);
    f.client_id = t.client_id.clone();
    f.confidential = t.confidential();
    f.prf_rotating = t.prf_next_salt.is_some();
    let actor = admin.actor();
    let saved = save(&state, &admin, f.input(false), Some(&t), |input| {
        api::update(&state, &actor, &t.client_id, input)
    })
    .await;
    let refused = match saved {
        Ok(Ok(_)) => {
            return admin.done(
                &format!("/admin/tenants/{}", seg(&t.client_id)),
                Notice::TenantSaved,
                None,
            );
        }
        Ok(Err(refused)) => refused,
        Err(failed) => return failed,
    };
    let extras = Extras {
        errors: refused,
        created_at: when(t.created_at),
        ..Extras::default()
    };
    tenant_page(&state, &admin, false, f, extras).await
}

/// `POST /admin/tenants/{id}/check`: fetches the site's document now, then shows the
/// verdict on the tenant's page.
pub(super) async fn check(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Err(e) = api::well_known_status(&state, &t, true).await {
        return admin.failure(e);
    }
    admin.done(
        &format!("/admin/tenants/{}#check-result", seg(&t.client_id)),
        Notice::WellKnownChecked,
        None,
    )
}

/// `GET /admin/tenants/{id}/rotate`
pub(super) async fn rotate_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let id = seg(&t.client_id);
    admin.confirm(
        "tenants",
        "Issue a new client secret?",
        format!(
            "{} ({}) gets a new client secret, shown once. The current secret stops working at once: the site's back channel fails until it uses the new one.",
            t.name, t.client_id
        ),
        format!("/admin/tenants/{id}/rotate"),
        "Issue a new secret",
        format!("/admin/tenants/{id}"),
    )
}

/// `POST /admin/tenants/{id}/rotate`
pub(super) async fn rotate(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let input = TenantInput {
        rotate_secret: Some(true),
        ..TenantInput::default()
    };
    match api::update(&state, &admin.actor(), &t.client_id, input).await {
        Ok((t, secret)) => admin.done(
            &format!("/admin/tenants/{}", seg(&t.client_id)),
            Notice::SecretIssued,
            secret,
        ),
        Err(TenantError::Db(e)) => admin.failure(e),
        Err(_) => admin.not_found("tenants", "tenant", "/admin/tenants"),
    }
}

/// `GET /admin/tenants/{id}/delete`
pub(super) async fn delete_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let n = accounts::count_credentials(&state.db, &t.client_id)
        .await
        .unwrap_or(0);
    let id = seg(&t.client_id);
    admin.confirm(
        "tenants",
        "Delete this tenant?",
        format!(
            "{} ({}) and all its users and their {n} passkeys are deleted. Its sign-ins stop at once. This cannot be undone.",
            t.name, t.client_id
        ),
        format!("/admin/tenants/{id}/delete"),
        "Delete the tenant",
        format!("/admin/tenants/{id}"),
    )
}

/// `POST /admin/tenants/{id}/delete`
pub(super) async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    match api::remove(&state, &admin.actor(), &path).await {
        Ok(true) => admin.done("/admin/tenants", Notice::TenantDeleted, None),
        Ok(false) => admin.not_found("tenants", "tenant", "/admin/tenants"),
        Err(e) => admin.failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_messages_become_sentences_without_field_names() {
        assert_eq!(
            tidy(
                "redirect_uris",
                "redirect_uris: \"http://shop.example/cb\" must use https://, or http:// only on localhost or 127.0.0.1"
            ),
            "“http://shop.example/cb” must use https://, or http:// only on localhost or 127.0.0.1."
        );
        assert_eq!(
            tidy(
                "aaguid_deny",
                "\"nope\" in aaguid_deny is not an AAGUID such as ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
            ),
            "“nope” is not an AAGUID such as ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4."
        );
    }

    #[test]
    fn aaguid_lines_keep_the_aaguid_and_drop_the_name() {
        assert_eq!(
            aaguid_lines("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4  Google Password Manager\n\n  x \n"),
            ["ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "x"]
        );
    }
}
