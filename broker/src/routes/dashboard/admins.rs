//! Admins and invitations: inviting an admin (the link shown once), removing an admin.
//! The last admin who can sign in cannot be removed (the domain answers `409`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Admin, Layout, Names, NoFields, Notice, Posted, UserView, seg, when};
use crate::admin::{self as api, ADMIN_CLIENT_ID};
use crate::state::AppState;
use crate::store::{accounts, admin as admins};
use crate::util::now;

struct InviteView {
    id: String,
    created_by: String,
    created_at: String,
    expires_at: String,
    status: String,
}

#[derive(Template)]
#[template(path = "admin/admins.html")]
struct AdminsPage {
    l: Layout,
    me: String,
    admins: Vec<UserView>,
    invites: Vec<InviteView>,
    new_link: String,
    notice: String,
}

/// `GET /admin/admins`
pub(super) async fn list(admin: Admin, state: web::Data<AppState>) -> HttpResponse {
    let users = match accounts::list_users(&state.db, ADMIN_CLIENT_ID, 1000).await {
        Ok(u) => u,
        Err(e) => return admin.failure(e),
    };
    let invites = match admins::list_invites(&state.db).await {
        Ok(i) => i,
        Err(e) => return admin.failure(e),
    };
    let names = Names::load(&state).await;
    let t = now();
    let page = AdminsPage {
        l: admin.layout("admins"),
        me: admin.user_id.clone(),
        admins: UserView::list(&users),
        invites: invites
            .into_iter()
            .take(20)
            .map(|i| InviteView {
                status: match (i.used_at, i.expires_at > t) {
                    (Some(at), _) => format!("used {}", when(at)),
                    (None, true) => "open".into(),
                    (None, false) => "expired".into(),
                },
                id: i.id,
                created_by: match names.of(&i.created_by) {
                    n if n.is_empty() => i.created_by,
                    n => n,
                },
                created_at: when(i.created_at),
                expires_at: when(i.expires_at),
            })
            .collect(),
        new_link: admin.once().to_owned(),
        notice: admin.notice().into(),
    };
    admin.page(StatusCode::OK, &page)
}

/// `POST /admin/invites`: the link is shown once, on the Admins page.
pub(super) async fn invite(state: web::Data<AppState>, posted: Posted<NoFields>) -> HttpResponse {
    let admin = posted.admin;
    match api::invite(&state, &admin.actor()).await {
        Ok((_, url)) => admin.done("/admin/admins", Notice::InvitationCreated, Some(url)),
        Err(e) => admin.failure(e),
    }
}

/// `GET /admin/admins/{user}/delete`
pub(super) async fn delete_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let u = match accounts::find_user(&state.db, &path).await {
        Ok(Some(u)) if u.tenant_id == ADMIN_CLIENT_ID => u,
        Ok(_) => return admin.not_found("admins", "admin", "/admin/admins"),
        Err(e) => return admin.failure(e),
    };
    let yourself = if u.id == admin.user_id {
        " This is you: you are signed out at once."
    } else {
        ""
    };
    admin.confirm(
        "admins",
        "Remove this admin?",
        format!(
            "{} loses access to the dashboard: their passkeys and sessions are deleted.{yourself} This cannot be undone.",
            u.name
        ),
        format!("/admin/admins/{}/delete", seg(&u.id)),
        "Remove the admin",
        "/admin/admins".into(),
    )
}

/// `POST /admin/admins/{user}/delete`
pub(super) async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    match api::remove_user(&state, &admin.actor(), ADMIN_CLIENT_ID, &path).await {
        Ok(true) if *path == admin.user_id => super::see_other("/admin?signed_out"),
        Ok(true) => admin.done("/admin/admins", Notice::AdminRemoved, None),
        Ok(false) => admin.not_found("admins", "admin", "/admin/admins"),
        Err(e) => admin.failure(e),
    }
}
