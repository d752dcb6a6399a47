//! A tenant's users and their passkeys: search, revoking a passkey, deleting a user.
//! After a change the page comes back with the same search.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Layout, Notice, Posted, ShortId, UserView, seg};
use crate::admin::{self as api, ADMIN_CLIENT_ID};
use crate::state::AppState;
use crate::store::accounts;

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    l: Layout,
    client_id: String,
    tenant_name: String,
    q: String,
    /// `?q=…` of the search, to carry through a change ("" without a search).
    back_query: String,
    users: Vec<UserView>,
    notice: String,
}

/// The query of the users page.
#[derive(Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
}

/// `?q=…` of a search, or "".
fn back_query(q: &str) -> String {
    if q.trim().is_empty() {
        String::new()
    } else {
        format!("?q={}", seg(q.trim()))
    }
}

/// `GET /admin/tenants/{id}/users[?q=…]`
pub(super) async fn list(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    search: web::Query<Search>,
) -> HttpResponse {
    let t = match admin.tenant(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = search.q.trim().to_owned();
    let found = if q.is_empty() {
        accounts::list_users(&state.db, &t.client_id, 200).await
    } else {
        accounts::search_users(&state.db, &t.client_id, &q, 200).await
    };
    let users = match found {
        Ok(u) => u,
        Err(e) => return admin.failure(e),
    };
    admin.page(
        StatusCode::OK,
        &UsersPage {
            l: admin.layout("tenants"),
            client_id: t.client_id,
            tenant_name: t.name,
            back_query: back_query(&q),
            q,
            users: UserView::list(&users),
            notice: admin.notice().into(),
        },
    )
}

/// The search a change came from, carried by its confirmation page.
#[derive(Deserialize)]
pub(super) struct Back {
    #[serde(default)]
    q: String,
}

/// `GET /admin/tenants/{id}/users/{user}/delete[?q=…]`
pub(super) async fn delete_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    back: web::Query<Back>,
) -> HttpResponse {
    let (tenant, user) = path.into_inner();
    let t = match admin.tenant(&state, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let u = match accounts::find_user(&state.db, &user).await {
        Ok(Some(u)) if u.tenant_id == t.client_id => u,
        Ok(_) => return admin.not_found("tenants", "user", "/admin/tenants"),
        Err(e) => return admin.failure(e),
    };
    let (tid, uid) = (seg(&t.client_id), seg(&u.id));
    admin.confirm_keeping(
        "tenants",
        "Delete this user?",
        format!(
            "{} and all their passkeys are deleted from {}. They can create a new account, but not sign in to this one again. This cannot be undone.",
            u.name, t.name
        ),
        format!("/admin/tenants/{tid}/users/{uid}/delete"),
        "Delete the user",
        format!("/admin/tenants/{tid}/users{}", back_query(&back.q)),
        vec![("q", back.q.trim().to_owned())],
    )
}

/// `POST /admin/tenants/{id}/users/{user}/delete`: back to the same search.
pub(super) async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    posted: Posted<Back>,
) -> HttpResponse {
    let (admin, back) = (posted.admin, posted.form);
    let (tenant, user) = path.into_inner();
    let t = match admin.tenant(&state, &tenant).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    match api::remove_user(&state, &admin.actor(), &t.client_id, &user).await {
        Ok(true) => admin.done(
            &format!(
                "/admin/tenants/{}/users{}",
                seg(&t.client_id),
                back_query(&back.q)
            ),
            Notice::UserDeleted,
            None,
        ),
        Ok(false) => admin.not_found("tenants", "user", "/admin/tenants"),
        Err(e) => admin.failure(e),
    }
}

/// `GET /admin/credentials/{id}/revoke[?q=…]`
pub(super) async fn revoke_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    back: web::Query<Back>,
) -> HttpResponse {
    let c = match accounts::find_credential_any(&state.db, &path).await {
        Ok(Some(c)) => c,
        Ok(None) => return admin.not_found("tenants", "passkey", "/admin/tenants"),
        Err(e) => return admin.failure(e),
    };
    let user = accounts::find_user(&state.db, &c.user_id)
        .await
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let admins = c.tenant_id == ADMIN_CLIENT_ID;
    admin.confirm_keeping(
        if admins { "admins" } else { "tenants" },
        "Revoke this passkey?",
        format!(
            "The passkey {} of {user} stops working at once: its next use is refused as an unknown passkey, and the sign-in page asks the browser to forget it. This cannot be undone.",
            ShortId::new(&c.id).short
        ),
        format!("/admin/credentials/{}/revoke", seg(&c.id)),
        "Revoke the passkey",
        if admins {
            "/admin/admins".into()
        } else {
            format!(
                "/admin/tenants/{}/users{}",
                seg(&c.tenant_id),
                back_query(&back.q)
            )
        },
        vec![("q", back.q.trim().to_owned())],
    )
}

/// `POST /admin/credentials/{id}/revoke`: back to the page (and search) it came from.
pub(super) async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<Back>,
) -> HttpResponse {
    let (admin, back) = (posted.admin, posted.form);
    let tenant = match accounts::find_credential_any(&state.db, &path).await {
        Ok(Some(c)) => c.tenant_id,
        Ok(None) => return admin.not_found("tenants", "passkey", "/admin/tenants"),
        Err(e) => return admin.failure(e),
    };
    match api::revoke(&state, &admin.actor(), &path).await {
        Ok(true) if tenant == ADMIN_CLIENT_ID => {
            admin.done("/admin/admins", Notice::PasskeyRevoked, None)
        }
        Ok(true) => admin.done(
            &format!(
                "/admin/tenants/{}/users{}",
                seg(&tenant),
                back_query(&back.q)
            ),
            Notice::PasskeyRevoked,
            None,
        ),
        Ok(false) => admin.not_found("tenants", "passkey", "/admin/tenants"),
        Err(e) => admin.failure(e),
    }
}
