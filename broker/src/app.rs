//! Start-up as a value: [`Application::build`] binds the listener, opens and migrates the
//! database, loads the signing keys, and returns an application whose [`Application::port`]
//! is known before it runs.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};

use crate::assets::Assets;
use crate::config::{Settings, decode_master_key};
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use crate::{db, routes, store};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The listener could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// TLS files could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A built, not yet running broker.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Builds the broker from settings.
    pub async fn build(mut settings: Settings) -> Result<Self, StartError> {
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| StartError::Bind(settings.bind.to_string(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Bind(settings.bind.to_string(), e))?
            .port();
        if settings.issuer.port() == Some(0) {
            let _ = settings.issuer.set_port(Some(port));
        }
        crate::aaguids::install(settings.aaguid_names.clone());
        let db = db::connect(&settings).await?;
        let writer = db::Writer::open(&settings, &db).await?;
        let signin = crate::store::signin::SignInStore::open(&settings, &db, &writer)?;
        let commits = web::Data::new(db::group_commit(&settings));
        let master = master_key(&settings)?;
        let keys = Keys::load(&db, master).await?;
        let fetcher = latchkey_well_known::Fetcher::new(latchkey_well_known::FetcherConfig {
            timeout: Duration::from_secs(5),
            resolve: settings.well_known_resolve.clone(),
            danger_accept_invalid_certs: settings.well_known_danger_accept_invalid_certs,
            ..Default::default()
        })
        .map_err(|e| StartError::Other(e.to_string()))?;
        let issuer = settings.issuer_str();
        if settings.demo {
            crate::demo::ensure_demo_tenant(&db, &settings).await?;
        }
        crate::admin::ensure_admin_tenant(&db, &settings).await?;
        let mailer = crate::mail::Mailer::from_settings(settings.smtp.as_ref())?;
        let state = web::Data::new(AppState {
            mailer,
            limiter: RateLimiter::new(settings.rate_limit_per_minute),
            admission: crate::admission::Admission::new(settings.max_in_flight),
            port,
            issuer,
            db,
            writer,
            signin,
            keys,
            fetcher,
            metrics: Metrics::default(),
            assets: Assets::new(),
            settings,
        });
        let tls = match &state.settings.tls {
            Some((cert, key)) => Some(tls_config(cert, key)?),
            None => None,
        };
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(commits.clone())
                .wrap(middleware::from_fn(crate::db::durability::barrier))
                .wrap(middleware::from_fn(crate::guard::guard))
                .wrap(middleware::from_fn(crate::web::observe))
                .configure(routes::configure)
        })
        .client_request_timeout(Duration::from_secs(state.settings.header_timeout))
        .client_disconnect_timeout(Duration::from_secs(2))
        .max_connection_rate(256)
        .shutdown_timeout(20);
        let server = match tls {
            Some(cfg) => server.listen_rustls_0_23(listener, cfg),
            None => server.listen(listener),
        }
        .map_err(|e| StartError::Bind(state.settings.bind.to_string(), e))?
        .run();
        spawn_janitor(state.clone());
        crate::security::spawn_counter_janitor(state.clone());
        spawn_key_refresher(state.clone());
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The issuer, with the bound port filled in.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// Makes a one-time invitation to the dashboard and returns its link (the demo prints
    /// one at start so that a newcomer reaches `/admin` at once).
    pub async fn admin_invite(&self, actor: &str) -> Result<String, sea_orm::DbErr> {
        let (row, secret) = store::admin::create_invite(&self.state.db, actor).await?;
        store::audit::record(
            &self.state.db,
            store::audit::Event {
                actor,
                action: "admin.invite",
                tenant_id: None,
                subject: Some(&row.id),
                detail: serde_json::json!({"expires_at": crate::util::rfc3339(row.expires_at)}),
            },
        )
        .await;
        Ok(crate::admin::invite_url(&self.state.issuer, &secret))
    }

    /// Runs until SIGTERM or SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Removes expired rows every minute; safe with many instances running it.
fn spawn_janitor(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store::flows::purge_expired(&state.db, crate::util::now()).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "janitor"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "janitor failed"),
            }
            if let Err(e) = store::email_tokens::purge_expired(&state.db, crate::util::now()).await
            {
                tracing::warn!(error = %e, "janitor failed on email links");
            }
            if let Err(e) =
                store::account_sessions::purge_expired(&state.db, crate::util::now()).await
            {
                tracing::warn!(error = %e, "janitor failed on account sessions");
            }
            let idle = state.settings.admin_session_idle;
            if let Err(e) = store::admin::purge_expired(&state.db, crate::util::now(), idle).await {
                tracing::warn!(error = %e, "janitor failed on admin sessions");
            }
        }
    });
}

/// Re-reads the signing key on every instance, and rotates it on schedule.
fn spawn_key_refresher(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut tick =
            actix_web::rt::time::interval(Duration::from_secs(state.settings.key_refresh));
        tick.tick().await;
        loop {
            tick.tick().await;
            if state.settings.key_rotation_days > 0 {
                let max_age = (state.settings.key_rotation_days * 86_400) as i64;
                match state.keys.rotate_if_older_than(&state.db, max_age).await {
                    Ok(Some(kid)) => tracing::info!(%kid, "signing key rotated on schedule"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed"),
                }
            }
            if let Err(e) = state.keys.refresh(&state.db).await {
                tracing::warn!(error = %e, "signing key refresh failed");
            }
        }
    });
}

/// The master key: from settings, or (embedded SQLite only) generated once into the data
/// directory with owner-only permissions.
pub fn master_key(settings: &Settings) -> Result<[u8; 32], StartError> {
    if let Some(key) = existing_master_key(settings)? {
        return Ok(key);
    }
    let path = settings.data_dir.join("master.key");
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        StartError::Other(format!(
            "cannot create {}: {e}",
            settings.data_dir.display()
        ))
    })?;
    let key: [u8; 32] = rand::random();
    let text = crate::util::hex(key);
    write_private(&path, &text)
        .map_err(|e| StartError::Other(format!("cannot write {}: {e}", path.display())))?;
    tracing::warn!(path = %path.display(), "generated a master key; set LATCHKEY_MASTER_KEY in production and back it up");
    Ok(key)
}

/// The master key from settings or the data directory's `master.key`, `None` when there
/// is neither; never generates one (the commands that work on a broker's data need the
/// key that broker seals its signing keys with).
pub fn existing_master_key(settings: &Settings) -> Result<Option<[u8; 32]>, StartError> {
    if let Some(k) = &settings.master_key {
        return decode_master_key(k.expose())
            .map(Some)
            .ok_or_else(|| StartError::Other("LATCHKEY_MASTER_KEY is not 32 bytes".into()));
    }
    let path = settings.data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_master_key(&text).map(Some).ok_or_else(|| {
            StartError::Other(format!("{} does not hold a 32-byte key", path.display()))
        }),
        Err(_) => Ok(None),
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, StartError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StartError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(StartError::Tls(format!(
            "{} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| StartError::Tls(format!("{}: {e}", key.display())))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Tls(e.to_string()))
}
