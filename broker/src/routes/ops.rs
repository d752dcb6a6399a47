//! Operations endpoints (PROTOCOL §8) and the landing page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use askama::Template as _;

use crate::state::AppState;
use crate::templates::IndexPage;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.db.execute_unprepared("SELECT 1"),
    )
    .await;
    match probe {
        Ok(Ok(_)) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "reason": "database unreachable"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": "database timed out"})),
    }
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state
        .metrics
        .render(state.admission.in_flight(), state.settings.max_in_flight);
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(text)
}

/// `GET /`: what this is, and where to go.
pub async fn index(state: web::Data<AppState>) -> HttpResponse {
    let page = IndexPage {
        asset_version: state.assets.version.clone(),
        style_integrity: state.assets.style_integrity.clone(),
        script_integrity: state.assets.script_integrity.clone(),
        demo: state.settings.demo,
    };
    match page.render() {
        Ok(body) => crate::assets::html(StatusCode::OK).body(body),
        Err(e) => crate::errors::ApiError::internal(e).into(),
    }
}
