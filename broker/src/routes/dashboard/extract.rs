//! Extractors: the signed-in admin of a page ([`Admin`]), a state-changing form with its
//! checks ([`Posted`]), and the flash that a change leaves for the page it redirects to.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, UrlEncoded};
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use askama::Template;
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ConfirmPage, Layout, Message, failure, render, see_other};
use crate::admin as api;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store::accounts;
use crate::util::{b64, ct_eq, sha256, unb64};

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
/// No `Debug`: it may carry a secret.
#[derive(Clone, Serialize, Deserialize)]
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
// The signed-in admin and the forms they post

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
    /// The tenant of a dashboard page's path: the dashboard's own tenant is managed on
    /// the Admins page (a redirect there), an unknown one is the not-found page.
    pub(super) async fn tenant(
        &self,
        state: &AppState,
        id: &str,
    ) -> Result<crate::store::tenants::Tenant, HttpResponse> {
        if id == api::ADMIN_CLIENT_ID {
            return Err(see_other("/admin/admins"));
        }
        match crate::store::tenants::get(&state.db, id).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(self.not_found("tenants", "tenant", "/admin/tenants")),
            Err(e) => Err(self.failure(e)),
        }
    }

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
