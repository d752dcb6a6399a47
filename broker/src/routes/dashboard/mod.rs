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
//! (admin API tokens); what they share: `extract` (the admin, a posted form, the flash)
//! and `page` (the layout, message and confirmation pages, how ids and times read).

mod admins;
mod audit;
mod extract;
mod page;
mod session;
mod tenants;
mod tokens;
mod users;

use actix_web::web;

use extract::{Admin, NoFields, Notice, Posted};
use page::{
    ConfirmPage, Layout, Message, Names, ShortId, UserView, failure, render, see_other, seg, when,
};

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
