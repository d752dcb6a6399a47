//! The admin dashboard at `/admin`: server-rendered pages, no script. Admins sign in with
//! their own passkeys through the broker's own flow: the dashboard is the built-in tenant
//! [`ADMIN_CLIENT_ID`], and the broker plays its relying party (PKCE, state, redeem) on
//! the server. An admin is created only from a one-time invitation link (`latchkey admin
//! invite`, or the Admins page).
//!
//! Sessions live in the database (any instance serves any request) behind an HttpOnly,
//! `SameSite=Strict` cookie (`__Host-` and `Secure` over HTTPS) with idle and absolute
//! timeouts. Every page takes the signed-in admin as an [`Admin`] (without a session: the
//! sign-in page); every form as a [`Posted`] form, refused before it is read unless it
//! carries the session's CSRF token and comes from the dashboard itself
//! (`Sec-Fetch-Site`). Destructive actions are confirmed on a page of their own. A change
//! that succeeds answers with a redirect to the page that shows it (POST-redirect-GET):
//! what it says, and a secret shown once, travel in a [`Flash`] cookie sealed with a key
//! of the session.
//!
//! Submodules by page: `session` (sign-in, invitation, callback, sign-out), `tenants`,
//! `users` (users and passkeys), `audit`, `admins` (admins and invitations), `tokens`
//! (admin API tokens).

mod admins;
mod audit;
mod session;
mod tenants;
mod tokens;
mod users;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, UrlEncoded};
use actix_web::error::InternalError;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use askama::Template;
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::admin::{self as api, ADMIN_CLIENT_ID};
use crate::db::entities::credential;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store::accounts::UserWithPasskeys;
use crate::store::{accounts, admin as admins_store};
use crate::util::{b64, ct_eq, rfc3339, sha256, unb64};

/// Registers the dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/static/admin.css",
        web::get().to(crate::assets::admin_style),
    )
    .route("/admin", web::get().to(session::home))
    .route("/admin/", web::get().to(session::home))
    .route("/admin/login", web::get().to(session::login))
    .route("/admin/invite/{secret}", web::get().to(session::invitation))
    .route(
        "/admin/invite/{secret}/start",
        web::get().to(session::accept_invitation),
    )
    .route("/admin/callback", web::get().to(session::callback))
    .route("/admin/logout", web::post().to(session::logout))
    .route("/admin/tenants", web::get().to(tenants::list))
    .route("/admin/tenants", web::post().to(tenants::create))
    .route("/admin/tenants/new", web::get().to(tenants::new))
    .route("/admin/tenants/{id}", web::get().to(tenants::show))
    .route("/admin/tenants/{id}", web::post().to(tenants::update))
    .route("/admin/tenants/{id}/check", web::post().to(tenants::check))
    .route(
        "/admin/tenants/{id}/rotate",
        web::get().to(tenants::rotate_confirm),
    )
    .route(
        "/admin/tenants/{id}/rotate",
        web::post().to(tenants::rotate),
    )
    .route(
        "/admin/tenants/{id}/delete",
        web::get().to(tenants::delete_confirm),
    )
    .route(
        "/admin/tenants/{id}/delete",
        web::post().to(tenants::delete),
    )
    .route("/admin/tenants/{id}/users", web::get().to(users::list))
    .route(
        "/admin/tenants/{id}/users/{user}/delete",
        web::get().to(users::delete_confirm),
    )
    .route(
        "/admin/tenants/{id}/users/{user}/delete",
        web::post().to(users::delete),
    )
    .route(
        "/admin/credentials/{id}/revoke",
        web::get().to(users::revoke_confirm),
    )
    .route(
        "/admin/credentials/{id}/revoke",
        web::post().to(users::revoke),
    )
    .route("/admin/audit", web::get().to(audit::page))
    .route("/admin/tokens", web::get().to(tokens::list))
    .route("/admin/tokens", web::post().to(tokens::create))
    .route(
        "/admin/tokens/{id}/revoke",
        web::get().to(tokens::revoke_confirm),
    )
    .route("/admin/tokens/{id}/revoke", web::post().to(tokens::revoke))
    .route("/admin/admins", web::get().to(admins::list))
    .route("/admin/invites", web::post().to(admins::invite))
    .route(
        "/admin/admins/{user}/delete",
        web::get().to(admins::delete_confirm),
    )
    .route(
        "/admin/admins/{user}/delete",
        web::post().to(admins::delete),
    );
}

// ---------------------------------------------------------------------------------------
// Pages

/// What every dashboard page shows around its content.
pub(super) struct Layout {
    /// Cache-busting version of the style sheet.
    pub version: String,
    /// SRI of the style sheet.
    pub integrity: String,
    /// Whether an admin is signed in (navigation and sign-out shown).
    pub signed_in: bool,
    /// The session's CSRF token ("" when signed out).
    pub csrf: String,
    /// The signed-in admin's name.
    pub admin_name: String,
    /// The current section: `tenants`, `audit`, `admins`, `tokens`.
    pub nav: &'static str,
}

impl Layout {
    fn signed_out(state: &AppState) -> Self {
        Self {
            version: state.assets.version.clone(),
            integrity: state.assets.admin_style_integrity.clone(),
            signed_in: false,
            csrf: String::new(),
            admin_name: String::new(),
            nav: "",
        }
    }
}

fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => crate::assets::html(status).body(body),
        Err(e) => ApiError::internal(e).into(),
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A page that says what happened, with a way on.
#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    l: Layout,
    title: String,
    message: String,
    /// A command line the message refers to, shown as code below it (empty: none).
    command: String,
    link: String,
    link_text: String,
}

/// A message page: `title`, `message`, an optional `command` shown as code below it (the
/// text says "the command below" rather than spelling it), and a link on.
struct Message<'a> {
    status: StatusCode,
    title: &'a str,
    message: &'a str,
    command: &'a str,
    link: &'a str,
    link_text: &'a str,
}

impl Message<'_> {
    fn page(self, l: Layout) -> HttpResponse {
        render(
            self.status,
            &MessagePage {
                l,
                title: self.title.into(),
                message: self.message.into(),
                command: self.command.into(),
                link: self.link.into(),
                link_text: self.link_text.into(),
            },
        )
    }
}

/// A failure that changed nothing: the database is away, a conflict (`409`, with the
/// domain's message, which names what to do), or something unexpected.
fn failure(state: &AppState, e: impl Into<ApiError>) -> HttpResponse {
    let e: ApiError = e.into();
    let status = actix_web::ResponseError::status_code(&e);
    let (title, text) = if status == StatusCode::SERVICE_UNAVAILABLE {
        (
            "Briefly unavailable",
            "The database cannot be reached right now. Nothing was changed; try again in a moment.",
        )
    } else if status == StatusCode::CONFLICT {
        ("Nothing was changed", e.message())
    } else {
        (
            "Something went wrong",
            "The dashboard could not finish this request. Nothing else was changed; try again in a moment.",
        )
    };
    Message {
        status,
        title,
        message: text,
        command: "",
        link: "/admin",
        link_text: "Back to the dashboard",
    }
    .page(Layout::signed_out(state))
}

/// A destructive action's confirmation page: what happens, the button that posts it.
#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage {
    l: Layout,
    title: String,
    message: String,
    action: String,
    button: String,
    cancel: String,
    /// Hidden fields carried to the action (name, value): where to go back to.
    keep: Vec<(&'static str, String)>,
}

/// A path segment or query value safe to put back in a URL.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A time for people: `2026-11-25 09:56 UTC`.
fn when(secs: i64) -> String {
    let t = rfc3339(secs);
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) => format!("{d} {hm} UTC"),
        _ => t,
    }
}

/// A long identifier as the dashboard shows it everywhere: its first 10 characters and
/// "…", the whole of it in `title` (and in links). Passkeys are named by their credential
/// id (base64url), as in the admin API and the audit log.
pub(super) struct ShortId {
    /// The identifier.
    pub full: String,
    /// What is shown.
    pub short: String,
}

impl ShortId {
    fn new(id: &str) -> Self {
        const SHOWN: usize = 10;
        let short = if id.chars().count() > SHOWN + 2 {
            format!("{}…", id.chars().take(SHOWN).collect::<String>())
        } else {
            id.to_owned()
        };
        Self {
            full: id.to_owned(),
            short,
        }
    }
}

/// A passkey as the dashboard lists it.
pub(super) struct PasskeyView {
    /// Its credential id.
    pub id: ShortId,
    /// The authenticator's name, when known.
    pub authenticator: String,
    /// Its AAGUID.
    pub aaguid: String,
    /// Synced, can sync, or device-bound.
    pub storage: &'static str,
    pub user_verified: bool,
    pub created_at: String,
    pub last_used_at: String,
}

impl PasskeyView {
    pub fn of(c: &credential::Model) -> Self {
        Self {
            id: ShortId::new(&c.id),
            authenticator: match crate::aaguids::names().name_of(&c.aaguid) {
                Some(name) => name.to_owned(),
                None if c.aaguid.bytes().all(|b| b == b'0' || b == b'-') => {
                    "model not disclosed".to_owned()
                }
                None => String::new(),
            },
            aaguid: c.aaguid.clone(),
            storage: if c.backed_up {
                "synced (backed up)"
            } else if c.backup_eligible {
                "can sync, not backed up yet"
            } else {
                "device-bound"
            },
            user_verified: c.user_verified,
            created_at: when(c.created_at),
            last_used_at: c.last_used_at.map_or_else(|| "never".into(), when),
        }
    }
}

/// A user as the dashboard lists them.
pub(super) struct UserView {
    pub id: ShortId,
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub created_at: String,
    pub passkeys: Vec<PasskeyView>,
    /// How many other listed accounts share this email address.
    pub same_email: usize,
}

impl UserView {
    /// The users of a page; accounts sharing an email address are counted, so that the
    /// page can say so beside their creation date and passkey count.
    pub fn list(users: &[UserWithPasskeys]) -> Vec<Self> {
        users
            .iter()
            .map(|u| {
                let email = u.user.email.clone().unwrap_or_default();
                let same_email = if email.is_empty() {
                    0
                } else {
                    users
                        .iter()
                        .filter(|o| {
                            o.user.id != u.user.id
                                && o.user
                                    .email
                                    .as_deref()
                                    .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                        })
                        .count()
                };
                Self {
                    id: ShortId::new(&u.user.id),
                    name: u.user.name.clone(),
                    display_name: u.user.display_name.clone(),
                    email,
                    created_at: when(u.user.created_at),
                    passkeys: u.passkeys.iter().map(PasskeyView::of).collect(),
                    same_email,
                }
            })
            .collect()
    }
}

/// Who the audit log's actors and invitations' authors are, by name.
struct Names(HashMap<String, String>);

impl Names {
    async fn load(state: &AppState) -> Self {
        let mut names = HashMap::new();
        if let Ok(tokens) = admins_store::list_tokens(&state.db).await {
            for t in tokens {
                names.insert(format!("token:{}", t.id), format!("API token “{}”", t.name));
            }
        }
        if let Ok(list) = accounts::list_users(&state.db, ADMIN_CLIENT_ID, 1000).await {
            for u in list {
                names.insert(
                    format!("admin:{}", u.user.id),
                    format!("admin {}", u.user.name),
                );
            }
        }
        Self(names)
    }

    /// The actor in words ("" when only its id is known).
    fn of(&self, actor: &str) -> String {
        match actor {
            "admin:bootstrap" => "the bootstrap token".into(),
            "cli" => "an operator on the server".into(),
            "anonymous" => "an unidentified caller".into(),
            "system" => "the broker".into(),
            a => self.0.get(a).cloned().unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Flash: what a change says on the page it redirects to

/// What a successful change says on the page it redirects to. A fixed sentence per kind:
/// nothing a person typed is carried, except as `value`/`label`, which the page escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Notice {
    TenantCreated,
    TenantSaved,
    SecretIssued,
    TenantDeleted,
    WellKnownChecked,
    PasskeyRevoked,
    UserDeleted,
    TokenCreated,
    TokenRevoked,
    InvitationCreated,
    AdminRemoved,
}

impl Notice {
    fn text(self) -> &'static str {
        match self {
            Self::TenantCreated => "The tenant was created.",
            Self::TenantSaved => "Saved.",
            Self::SecretIssued => "A new client secret was issued.",
            Self::TenantDeleted => "The tenant was deleted.",
            Self::WellKnownChecked => "",
            Self::PasskeyRevoked => {
                "The passkey was revoked: it no longer signs in, and the sign-in page asks the browser to forget it."
            }
            Self::UserDeleted => "The user and their passkeys were deleted.",
            Self::TokenCreated => "",
            Self::TokenRevoked => "The token was revoked.",
            Self::InvitationCreated => "",
            Self::AdminRemoved => "The admin was removed.",
        }
    }
}

/// A notice for the next page, in a cookie that lives until that page is shown. It is
/// sealed (AES-256-GCM) with a key derived from the session's CSRF token, which only the
/// server and that session's pages hold: a client secret or an API token shown once
/// crosses the redirect unreadable to anyone else, and no other session can open it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Flash {
    /// The path of the page that shows it.
    to: String,
    /// What happened.
    notice: Notice,
    /// A value shown once: a client secret, an API token, an invitation link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// A label for it (the token's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

fn flash_cookie(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-latchkey_admin_flash"
    } else {
        "latchkey_admin_flash"
    }
}

fn flash_cipher(csrf: &str) -> Option<Aes256Gcm> {
    let key = sha256(format!("latchkey dashboard flash\0{csrf}"));
    Aes256Gcm::new_from_slice(&key).ok()
}

fn seal(csrf: &str, flash: &Flash) -> Option<String> {
    let plain = serde_json::to_vec(flash).ok()?;
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = flash_cipher(csrf)?
        .encrypt(&Nonce::from(nonce), plain.as_slice())
        .ok()?;
    Some(format!("{}.{}", b64(nonce), b64(sealed)))
}

fn unseal(csrf: &str, cookie: &str) -> Option<Flash> {
    let (n, c) = cookie.split_once('.')?;
    let nonce: [u8; 12] = unb64(n)?.try_into().ok()?;
    let plain = flash_cipher(csrf)?
        .decrypt(&Nonce::from(nonce), unb64(c)?.as_slice())
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

// ---------------------------------------------------------------------------------------
// The signed-in admin

/// The signed-in admin of a request: extracting it loads the session, or answers with the
/// sign-in page (a redirect to `/admin`) when there is none.
pub(super) struct Admin {
    state: web::Data<AppState>,
    /// The admin's user id in the dashboard's tenant.
    pub user_id: String,
    /// The admin's name.
    pub name: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The notice left for this page, if any.
    flash: Option<Flash>,
    /// Whether a flash cookie came with the request (removed by the page's answer).
    flash_sent: bool,
}

type Exit = actix_web::Error;

/// Ends extraction with `response` as the answer.
fn exit(response: HttpResponse) -> Exit {
    InternalError::from_response("dashboard", response).into()
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, Exit> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| exit(ApiError::internal("no application state").into()))
}

impl Admin {
    /// The admin of `session`, with the flash left for this request's page.
    async fn of(
        state: web::Data<AppState>,
        req: &HttpRequest,
        session: crate::db::entities::admin_session::Model,
    ) -> Self {
        let name = accounts::find_user(&state.db, &session.user_id)
            .await
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        let cookie = req.cookie(flash_cookie(&state));
        let flash = cookie
            .as_ref()
            .and_then(|c| unseal(&session.csrf_token, c.value()))
            .filter(|f| f.to == req.path());
        Self {
            user_id: session.user_id,
            name,
            csrf: session.csrf_token,
            flash,
            flash_sent: cookie.is_some(),
            state,
        }
    }

    /// The audit log's name for this admin.
    pub fn actor(&self) -> String {
        api::Actor::Admin {
            user_id: self.user_id.clone(),
        }
        .audit_name()
    }

    /// The layout of a page of section `nav`.
    pub fn layout(&self, nav: &'static str) -> Layout {
        Layout {
            signed_in: true,
            csrf: self.csrf.clone(),
            admin_name: self.name.clone(),
            nav,
            ..Layout::signed_out(&self.state)
        }
    }

    /// Renders a page; the flash it showed is gone afterwards.
    pub fn page(&self, status: StatusCode, page: &impl Template) -> HttpResponse {
        let mut res = render(status, page);
        if self.flash_sent {
            let _ = res.add_removal_cookie(
                &Cookie::build(flash_cookie(&self.state), "")
                    .path("/")
                    .finish(),
            );
        }
        res
    }

    /// What the change that led here says ("" when nothing).
    pub fn notice(&self) -> &'static str {
        self.flash.as_ref().map_or("", |f| f.notice.text())
    }

    /// Whether the change that led here was `notice`.
    pub fn came_from(&self, notice: Notice) -> bool {
        self.flash.as_ref().is_some_and(|f| f.notice == notice)
    }

    /// The value shown once by the change that led here ("" when none).
    pub fn once(&self) -> &str {
        self.flash
            .as_ref()
            .and_then(|f| f.value.as_deref())
            .unwrap_or("")
    }

    /// The label of [`Self::once`] ("" when none).
    pub fn once_label(&self) -> &str {
        self.flash
            .as_ref()
            .and_then(|f| f.label.as_deref())
            .unwrap_or("")
    }

    /// A change succeeded: redirect to the page at `to` (a path, with a query when the
    /// page needs one), which shows `notice` and, once, `value`.
    pub fn done(&self, to: &str, notice: Notice, value: Option<String>) -> HttpResponse {
        self.done_labelled(to, notice, value, None)
    }

    /// [`Self::done`] with a label for the value.
    pub fn done_labelled(
        &self,
        to: &str,
        notice: Notice,
        value: Option<String>,
        label: Option<String>,
    ) -> HttpResponse {
        let path = to.split(['?', '#']).next().unwrap_or(to).to_owned();
        let flash = Flash {
            to: path,
            notice,
            value,
            label,
        };
        let mut res = see_other(to);
        if let Some(sealed) = seal(&self.csrf, &flash) {
            let cookie = Cookie::build(flash_cookie(&self.state), sealed)
                .http_only(true)
                .secure(self.state.settings.is_https())
                .same_site(SameSite::Strict)
                .path("/")
                .max_age(actix_web::cookie::time::Duration::minutes(5))
                .finish();
            let _ = res.add_cookie(&cookie);
        }
        res
    }

    /// A failure that changed nothing.
    pub fn failure(&self, e: impl Into<ApiError>) -> HttpResponse {
        failure(&self.state, e)
    }

    /// `404` in section `nav`: no `what` here, with a link `back`.
    pub fn not_found(&self, nav: &'static str, what: &str, back: &str) -> HttpResponse {
        Message {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: &format!("There is no {what} here; it may have been removed already."),
            command: "",
            link: back,
            link_text: "Back",
        }
        .page(self.layout(nav))
    }

    /// The confirmation page of a destructive action.
    pub fn confirm(
        &self,
        nav: &'static str,
        title: &str,
        message: String,
        action: String,
        button: &str,
        cancel: String,
    ) -> HttpResponse {
        self.confirm_keeping(nav, title, message, action, button, cancel, Vec::new())
    }

    /// [`Self::confirm`] with hidden fields the action needs (where to go back to).
    #[allow(clippy::too_many_arguments)]
    pub fn confirm_keeping(
        &self,
        nav: &'static str,
        title: &str,
        message: String,
        action: String,
        button: &str,
        cancel: String,
        keep: Vec<(&'static str, String)>,
    ) -> HttpResponse {
        self.page(
            StatusCode::OK,
            &ConfirmPage {
                l: self.layout(nav),
                title: title.into(),
                message,
                action,
                button: button.into(),
                cancel,
                keep,
            },
        )
    }
}

/// The live dashboard session of a request, or the answer to send instead.
async fn session_of(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<crate::db::entities::admin_session::Model>, Exit> {
    api::session(state, req)
        .await
        .map_err(|e| exit(failure(state, e)))
}

impl FromRequest for Admin {
    type Error = Exit;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Exit>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            match session_of(&state, &req).await? {
                Some(s) => Ok(Admin::of(state, &req, s).await),
                None => Err(exit(see_other("/admin"))),
            }
        })
    }
}

/// A form's fields with the CSRF token every dashboard form carries.
#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

/// A form with no fields but its CSRF token (sign-out, confirmations).
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// Largest dashboard form body: a tenant with long lists fits.
const MAX_FORM: usize = 64 * 1024;

/// A state-changing form of the signed-in admin. Extracting it checks, before anything
/// is read or changed: the session (else "signed out", `401`), that the request comes from
/// the dashboard itself (`Sec-Fetch-Site`) and carries the session's CSRF token (else
/// `403`); then the fields are read into `T`.
pub(super) struct Posted<T> {
    /// Who posts it.
    pub admin: Admin,
    /// The fields.
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = Exit;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Exit>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = UrlEncoded::<WithCsrf<T>>::new(&req, payload).limit(MAX_FORM);
        Box::pin(async move {
            let state = app_state(&req)?;
            let Some(session) = session_of(&state, &req).await? else {
                return Err(exit(
                    Message {
                        status: StatusCode::UNAUTHORIZED,
                        title: "Signed out",
                        message: "Your dashboard session has ended, so nothing was changed. Sign in again and repeat the change.",
                        command: "",
                        link: "/admin",
                        link_text: "Sign in",
                    }
                    .page(Layout::signed_out(&state)),
                ));
            };
            let refused = || {
                tracing::warn!("dashboard form refused: CSRF token or Sec-Fetch-Site");
                exit(
                    Message {
                        status: StatusCode::FORBIDDEN,
                        title: "Request refused",
                        message: "This form was not sent from the dashboard (its security token is missing or wrong, or it came from another site). Nothing was changed.",
                        command: "",
                        link: "/admin",
                        link_text: "Back to the dashboard",
                    }
                    .page(Layout::signed_out(&state)),
                )
            };
            if api::cross_site(&req) {
                return Err(refused());
            }
            let read = body.await;
            let presented = read.as_ref().map(|f| f.csrf.as_str()).unwrap_or_default();
            if !ct_eq(presented.as_bytes(), session.csrf_token.as_bytes()) {
                return Err(refused());
            }
            let form = match read {
                Ok(f) => f.form,
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard form unreadable");
                    return Err(exit(
                        Message {
                            status: StatusCode::BAD_REQUEST,
                            title: "Nothing was changed",
                            message: "The form could not be read. Go back, reload the page and try again.",
                            command: "",
                            link: "/admin",
                            link_text: "Back to the dashboard",
                        }
                        .page(Layout::signed_out(&state)),
                    ));
                }
            };
            Ok(Posted {
                admin: Admin::of(state, &req, session).await,
                form,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_shortened_the_same_way() {
        let id = ShortId::new("AbCdEfGhIjKlMnOpQrStUv");
        assert_eq!(id.short, "AbCdEfGhIj…");
        assert_eq!(id.full, "AbCdEfGhIjKlMnOpQrStUv");
        assert_eq!(ShortId::new("blog").short, "blog");
    }

    #[test]
    fn a_flash_opens_only_with_the_session_that_sealed_it() {
        let flash = Flash {
            to: "/admin/tenants/blog".into(),
            notice: Notice::TenantCreated,
            value: Some("secret".into()),
            label: None,
        };
        let sealed = seal("csrf-one", &flash).unwrap();
        assert!(!sealed.contains("secret"));
        let opened = unseal("csrf-one", &sealed).unwrap();
        assert_eq!(opened.value.as_deref(), Some("secret"));
        assert_eq!(opened.notice, Notice::TenantCreated);
        assert!(unseal("csrf-two", &sealed).is_none());
        assert!(unseal("csrf-one", "garbage").is_none());
    }
}
