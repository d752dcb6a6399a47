//! Admin API tokens: minting one (shown once), revoking one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Admin, Layout, NoFields, Notice, Posted, seg, when};
use crate::admin as api;
use crate::state::AppState;
use crate::store::admin as admins;

struct TokenView {
    id: String,
    name: String,
    created_by: String,
    created_at: String,
    last_used_at: String,
    revoked_at: String,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    l: Layout,
    tokens: Vec<TokenView>,
    new_token: String,
    new_name: String,
    name_error: String,
    notice: String,
}

async fn tokens_page(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    name: String,
    name_error: String,
) -> HttpResponse {
    let list = match admins::list_tokens(&state.db).await {
        Ok(l) => l,
        Err(e) => return admin.failure(e),
    };
    let new_token = admin.once().to_owned();
    let page = TokensPage {
        l: admin.layout("tokens"),
        tokens: list
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                created_by: t.created_by,
                created_at: when(t.created_at),
                last_used_at: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                revoked_at: t.revoked_at.map(when).unwrap_or_default(),
            })
            .collect(),
        new_name: if new_token.is_empty() {
            name
        } else {
            admin.once_label().to_owned()
        },
        new_token,
        name_error,
        notice: admin.notice().into(),
    };
    admin.page(status, &page)
}

/// `GET /admin/tokens`
pub(super) async fn list(admin: Admin, state: web::Data<AppState>) -> HttpResponse {
    tokens_page(&state, &admin, StatusCode::OK, String::new(), String::new()).await
}

/// The new token's form.
#[derive(Deserialize)]
pub(super) struct TokenFields {
    #[serde(default)]
    name: String,
}

/// `POST /admin/tokens`: the token is shown once, on the tokens page.
pub(super) async fn create(
    state: web::Data<AppState>,
    posted: Posted<TokenFields>,
) -> HttpResponse {
    let admin = posted.admin;
    let name = posted.form.name.trim().to_owned();
    if admins::check_token_name(&name).is_err() {
        let error = if name.is_empty() {
            "Enter a name of 1 to 64 characters, such as the program that will use the token."
        } else {
            "Use 1 to 64 printable characters (no line breaks or control characters)."
        };
        return tokens_page(
            &state,
            &admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            name,
            error.into(),
        )
        .await;
    }
    match api::mint_token(&state, &admin.actor(), &name).await {
        Ok((_, token)) => admin.done_labelled(
            "/admin/tokens",
            Notice::TokenCreated,
            Some(token),
            Some(name),
        ),
        Err(e) => admin.failure(e),
    }
}

/// `GET /admin/tokens/{id}/revoke`
pub(super) async fn revoke_confirm(
    admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let list = match admins::list_tokens(&state.db).await {
        Ok(l) => l,
        Err(e) => return admin.failure(e),
    };
    let Some(t) = list.into_iter().find(|t| t.id == *path) else {
        return admin.not_found("tokens", "API token", "/admin/tokens");
    };
    admin.confirm(
        "tokens",
        "Revoke this API token?",
        format!(
            "The token “{}” stops working at once; programs using it get 401. This cannot be undone.",
            t.name
        ),
        format!("/admin/tokens/{}/revoke", seg(&t.id)),
        "Revoke the token",
        "/admin/tokens".into(),
    )
}

/// `POST /admin/tokens/{id}/revoke`
pub(super) async fn revoke(
    state: web::Data<AppState>,
    path: web::Path<String>,
    posted: Posted<NoFields>,
) -> HttpResponse {
    let admin = posted.admin;
    match api::withdraw_token(&state, &admin.actor(), &path).await {
        Ok(true) => admin.done("/admin/tokens", Notice::TokenRevoked, None),
        Ok(false) => admin.not_found("tokens", "API token", "/admin/tokens"),
        Err(e) => admin.failure(e),
    }
}
