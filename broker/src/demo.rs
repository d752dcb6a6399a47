//! The demo tenant, created at start-up with `--demo` (or `LATCHKEY_DEMO=true`), so that a
//! newcomer can sign in with a passkey in a minute.

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::store::tenants::{self, TenantInput};

/// The demo tenant's client id.
pub const DEMO_CLIENT_ID: &str = "demo";

/// Creates the public `demo` tenant (broker mode) unless it exists. Its redirect URIs are
/// the demo site's (`http://localhost:8081/callback`) and the broker's built-in demo page.
pub async fn ensure_demo_tenant(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<(), sea_orm::DbErr> {
    if tenants::get(db, DEMO_CLIENT_ID).await?.is_some() {
        return Ok(());
    }
    let input = TenantInput {
        client_id: Some(DEMO_CLIENT_ID.into()),
        name: Some("Latchkey demo".into()),
        redirect_uris: Some(vec![
            "http://localhost:8081/callback".into(),
            format!("{}/demo/callback", settings.issuer_str()),
        ]),
        rp_mode: Some("broker".into()),
        ..Default::default()
    };
    match tenants::create(db, &settings.rp_id, input).await {
        Ok(_) | Err(tenants::TenantError::Conflict(_)) => Ok(()),
        Err(tenants::TenantError::Db(e)) => Err(e),
        Err(e) => Err(sea_orm::DbErr::Custom(format!("demo tenant: {e}"))),
    }
}
