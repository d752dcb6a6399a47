//! What every request handler shares: [`AppState`], built once by
//! [`crate::app::Application::build`]. It sits apart from `app.rs` (which wires the
//! routes) so that the routes and the domain can name it without importing the
//! application that imports them.

use sea_orm::DatabaseConnection;

use crate::assets::Assets;
use crate::config::Settings;
use crate::db;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    /// Validated settings (issuer with its real port).
    pub settings: Settings,
    /// The issuer without trailing slash.
    pub issuer: String,
    /// The database: reads, and the writes outside the sign-in path.
    pub db: DatabaseConnection,
    /// Where sea-orm writes: one connection and thread of its own on embedded SQLite, so
    /// that writers queue instead of sleeping in SQLite's busy handler; the pool
    /// otherwise (see [`db::Writer`]).
    pub writer: db::Writer,
    /// The states of a sign-in (flows, challenges, codes, the passkey that signs, the
    /// rate counters on the way): direct statements on embedded SQLite, sea-orm on
    /// PostgreSQL (see [`crate::store::signin`]).
    pub signin: crate::store::signin::SignInStore,
    /// Signing keys.
    pub keys: Keys,
    /// Fetcher of sites' `/.well-known/webauthn`.
    pub fetcher: latchkey_well_known::Fetcher,
    /// Metrics.
    pub metrics: Metrics,
    /// Hosted page assets.
    pub assets: Assets,
    /// Rate limiter.
    pub limiter: RateLimiter,
    /// The bound on requests handled at once.
    pub admission: crate::admission::Admission,
    /// The port actually bound.
    pub port: u16,
    /// The SMTP client, when `LATCHKEY_SMTP_URL` is set (PROTOCOL E4).
    pub mailer: Option<crate::mail::Mailer>,
}
