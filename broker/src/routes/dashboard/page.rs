//! What the dashboard's pages share: the layout around them, the message and
//! confirmation pages, and how identifiers, times and people read on them.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

use crate::admin::ADMIN_CLIENT_ID;
use crate::db::entities::credential;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store::accounts::{self, UserWithPasskeys};
use crate::store::admin as admins_store;
use crate::util::date_time_utc;

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
    pub(super) fn signed_out(state: &AppState) -> Self {
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

pub(super) fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => crate::assets::html(status).body(body),
        Err(e) => ApiError::internal(e).into(),
    }
}

pub(super) fn see_other(to: &str) -> HttpResponse {
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
pub(super) struct Message<'a> {
    pub(super) status: StatusCode,
    pub(super) title: &'a str,
    pub(super) message: &'a str,
    pub(super) command: &'a str,
    pub(super) link: &'a str,
    pub(super) link_text: &'a str,
}

impl Message<'_> {
    pub(super) fn page(self, l: Layout) -> HttpResponse {
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
pub(super) fn failure(state: &AppState, e: impl Into<ApiError>) -> HttpResponse {
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
pub(super) struct ConfirmPage {
    pub(super) l: Layout,
    pub(super) title: String,
    pub(super) message: String,
    pub(super) action: String,
    pub(super) button: String,
    pub(super) cancel: String,
    /// Hidden fields carried to the action (name, value): where to go back to.
    pub(super) keep: Vec<(&'static str, String)>,
}

/// A path segment or query value safe to put back in a URL.
pub(super) fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A time for people: `2026-11-25 09:56 UTC`.
pub(super) fn when(secs: i64) -> String {
    date_time_utc(secs)
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
    pub(super) fn new(id: &str) -> Self {
        Self {
            full: id.to_owned(),
            short: crate::util::short_id(id),
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
pub(super) struct Names(HashMap<String, String>);

impl Names {
    pub(super) async fn load(state: &AppState) -> Self {
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
    pub(super) fn of(&self, actor: &str) -> String {
        match actor {
            "admin:bootstrap" => "the bootstrap token".into(),
            "cli" => "an operator on the server".into(),
            "anonymous" => "an unidentified caller".into(),
            "system" => "the broker".into(),
            a => self.0.get(a).cloned().unwrap_or_default(),
        }
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
}
