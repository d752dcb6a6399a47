//! Typed settings (PROTOCOL §0): an optional TOML file overlaid by `LATCHKEY_*` environment
//! variables. A bad value stops start-up with one line that names the setting.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::domain::RpId;
use crate::util::Secret;

/// A setting that could not be used; its `Display` is the one line shown at start-up.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {message}")]
pub struct ConfigError {
    /// The environment variable (or TOML key) at fault.
    pub name: String,
    /// What is wrong and what is expected.
    pub message: String,
}

fn err(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        message: message.into(),
    }
}

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    issuer: Option<String>,
    database_url: Option<String>,
    database_schema: Option<String>,
    data_dir: Option<String>,
    rp_id: Option<String>,
    master_key: Option<String>,
    master_key_file: Option<String>,
    admin_token: Option<String>,
    admin_token_file: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    rate_limit_exempt: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    rate_limit_per_minute: Option<u32>,
    flows_per_ip: Option<u32>,
    ceremony_attempts_per_flow: Option<u32>,
    redeem_failures_per_minute: Option<u32>,
    redeem_failures_per_ip: Option<u32>,
    request_timeout: Option<u64>,
    header_timeout: Option<u64>,
    max_in_flight: Option<u32>,
    code_ttl: Option<u64>,
    flow_ttl: Option<u64>,
    challenge_ttl: Option<u64>,
    account_session_idle: Option<u64>,
    account_session_ttl: Option<u64>,
    account_reauth: Option<u64>,
    access_token_ttl: Option<u64>,
    db_max_connections: Option<u32>,
    db_acquire_timeout: Option<u64>,
    sqlite_sync: Option<String>,
    key_refresh: Option<u64>,
    key_rotation_days: Option<u64>,
    log_format: Option<String>,
    demo: Option<bool>,
    well_known_resolve: Option<Vec<String>>,
    well_known_danger_accept_invalid_certs: Option<bool>,
    aaguid_names: Option<String>,
    attestation_roots: Option<String>,
    admin_session_idle: Option<u64>,
    admin_session_max: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable key=value lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The broker's settings, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on (`LATCHKEY_BIND`).
    pub bind: SocketAddr,
    /// Public base URL and WebAuthn origin (`LATCHKEY_ISSUER`), without trailing slash. A
    /// port of 0 is replaced by the port actually bound (handy for tests and local runs).
    pub issuer: Url,
    /// Database URL (`LATCHKEY_DATABASE_URL`).
    pub database_url: String,
    /// PostgreSQL schema to use, created when missing (`LATCHKEY_DATABASE_SCHEMA`).
    pub database_schema: Option<String>,
    /// Directory for the embedded database and the generated dev master key.
    pub data_dir: PathBuf,
    /// The broker's own RP ID (`LATCHKEY_RP_ID`), default the issuer's host.
    pub rp_id: RpId,
    /// Key that encrypts signing keys at rest (`LATCHKEY_MASTER_KEY`, 32 bytes, base64 or hex).
    pub master_key: Option<Secret>,
    /// Bootstrap admin API token (`LATCHKEY_ADMIN_TOKEN`).
    pub admin_token: Option<Secret>,
    /// PEM certificate chain and key for direct HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Client ranges exempt from rate limits.
    pub rate_limit_exempt: Vec<IpNet>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per minute per client IP on the front and back channels.
    pub rate_limit_per_minute: u32,
    /// Flows one client IP may open per flow lifetime, counted across instances
    /// (`LATCHKEY_FLOWS_PER_IP`, default 100).
    pub flows_per_ip: u32,
    /// Ceremony attempts (options calls) per flow, counted across instances
    /// (`LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW`, default 20).
    pub ceremony_attempts_per_flow: u32,
    /// Failed redeems per tenant and minute, from all addresses together, before every
    /// redeem of that tenant answers `slow_down`: a ceiling far above what one address may
    /// fail, counted across instances (`LATCHKEY_REDEEM_FAILURES_PER_MINUTE`, default 6000).
    pub redeem_failures_per_minute: u32,
    /// Failed redeems per tenant, client address and minute before that address's redeems
    /// of that tenant answer `slow_down`, so one client's failures do not lock out the
    /// others; counted across instances (`LATCHKEY_REDEEM_FAILURES_PER_IP`, default 60).
    pub redeem_failures_per_ip: u32,
    /// Seconds a whole request may take, body included, before `408`
    /// (`LATCHKEY_REQUEST_TIMEOUT`, default 30).
    pub request_timeout: u64,
    /// Seconds a client has to send its request line and headers before `408`
    /// (`LATCHKEY_HEADER_TIMEOUT`, default 10).
    pub header_timeout: u64,
    /// Requests handled at once by this instance before further ones are answered `503`
    /// at once (`LATCHKEY_MAX_IN_FLIGHT`, default 256); new sign-ins (`GET /authorize`)
    /// are admitted only below half of it, so that flows already started finish first.
    /// See [`crate::admission::Admission`].
    pub max_in_flight: u32,
    /// Lifetime of a code, seconds (`LATCHKEY_CODE_TTL`, default 60).
    pub code_ttl: i64,
    /// Lifetime of a flow, seconds (default 600).
    pub flow_ttl: i64,
    /// Lifetime of a WebAuthn challenge, seconds (default 300).
    pub challenge_ttl: i64,
    /// An account session (PROTOCOL §9) ends after this many seconds without use
    /// (`LATCHKEY_ACCOUNT_SESSION_IDLE`, default 600).
    pub account_session_idle: i64,
    /// An account session ends this many seconds after its sign-in
    /// (`LATCHKEY_ACCOUNT_SESSION_TTL`, default 3600).
    pub account_session_ttl: i64,
    /// Adding a passkey on the account page needs a sign-in at most this many seconds
    /// old (`LATCHKEY_ACCOUNT_REAUTH`, default 300).
    pub account_reauth: i64,
    /// Lifetime of an access token and id_token, seconds (default 600, at most 600).
    pub access_token_ttl: i64,
    /// Database pool size.
    pub db_max_connections: u32,
    /// Seconds to wait for a database connection before answering 503.
    pub db_acquire_timeout: u64,
    /// How embedded SQLite makes commits durable (`LATCHKEY_SQLITE_SYNC`): `group`
    /// (default: one WAL fsync shared by concurrent requests before they are answered)
    /// or `full` (SQLite's `synchronous=FULL`, one fsync per commit). Both keep every
    /// answered change across a power loss.
    pub sqlite_sync: crate::db::durability::SqliteSync,
    /// Seconds between re-reads of the signing key, so that a rotation reaches every
    /// instance (`LATCHKEY_KEY_REFRESH`, default 60).
    pub key_refresh: u64,
    /// Rotate the signing key when it is older than this many days; 0 turns scheduled
    /// rotation off (`LATCHKEY_KEY_ROTATION_DAYS`, default 90).
    pub key_rotation_days: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// Create the demo tenant at start-up.
    pub demo: bool,
    /// Host overrides for fetching sites' `/.well-known/webauthn` (`host=ip:port`), for
    /// staging and tests (`LATCHKEY_WELL_KNOWN_RESOLVE`).
    pub well_known_resolve: Vec<(String, SocketAddr)>,
    /// A dashboard session ends after this many seconds without a request
    /// (`LATCHKEY_ADMIN_SESSION_IDLE`, default 1800).
    pub admin_session_idle: i64,
    /// A dashboard session ends this many seconds after sign-in whatever happens
    /// (`LATCHKEY_ADMIN_SESSION_MAX`, default 43200: 12 hours).
    pub admin_session_max: i64,
    /// Accept any TLS certificate when fetching sites' documents. Tests only
    /// (`LATCHKEY_WELL_KNOWN_DANGER_ACCEPT_INVALID_CERTS`).
    pub well_known_danger_accept_invalid_certs: bool,
    /// Authenticator names by AAGUID: the bundled list, overlaid with the file of
    /// `LATCHKEY_AAGUID_NAMES` (community `aaguid.json` format) when set.
    pub aaguid_names: crate::aaguids::AaguidNames,
    /// Attestation root certificates (PEM, one per entry) from the bundle of
    /// `LATCHKEY_ATTESTATION_ROOTS`: the roots a tenant with `attestation: direct` trusts
    /// to prove an authenticator's AAGUID.
    pub attestation_roots: Vec<String>,
    /// Where email is sent (`LATCHKEY_SMTP_URL`, lettre's URL form: `smtp://host:25`,
    /// `smtps://user:pass@host`, `smtp://host:587?tls=required`). Unset: no email is ever
    /// sent and recovery by email is unavailable. A secret: it may hold a password.
    pub smtp_url: Option<Secret>,
    /// The sender of that email (`LATCHKEY_SMTP_FROM`, e.g. `Latchkey <no-reply@example.com>`).
    pub smtp_from: Option<String>,
}

impl Settings {
    /// Loads settings from an optional TOML file and the process environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |k| std::env::var(k).ok())
    }

    /// Loads settings from an optional TOML file and an environment lookup function.
    pub fn from_sources(
        file: Option<&std::path::Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut f = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("--config", format!("cannot read {}: {e}", path.display())))?;
                toml::from_str::<FileSettings>(&text)
                    .map_err(|e| err("--config", format!("{}: {}", path.display(), e.message())))?
            }
            None => FileSettings::default(),
        };
        overlay_env(&mut f, &env)?;
        Self::validate(f)
    }

    fn validate(f: FileSettings) -> Result<Self, ConfigError> {
        let bind_s = f.bind.unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_s.parse().map_err(|_| {
            err(
                "LATCHKEY_BIND",
                format!("{bind_s:?} is not an address such as 127.0.0.1:8080"),
            )
        })?;

        let issuer_s = f.issuer.unwrap_or_else(|| "http://localhost:8080".into());
        let issuer = parse_issuer(&issuer_s)?;
        let host = issuer.host_str().unwrap_or_default().to_owned();

        let rp_id = match f.rp_id {
            Some(s) => RpId::parse("rp_id", &s).map_err(|e| err("LATCHKEY_RP_ID", e.message))?,
            None => RpId::parse("rp_id", &host).map_err(|_| {
                err(
                    "LATCHKEY_RP_ID",
                    format!("the issuer's host {host:?} is not a domain name; WebAuthn needs one: set LATCHKEY_RP_ID or use a host name such as localhost"),
                )
            })?,
        };
        if !rp_id.covers_host(&host) {
            return Err(err(
                "LATCHKEY_RP_ID",
                format!(
                    "{:?} must be the issuer's host {host:?} or a parent domain of it",
                    rp_id.as_str()
                ),
            ));
        }

        let data_dir = PathBuf::from(f.data_dir.unwrap_or_else(|| "./latchkey-data".into()));
        let database_url = match f.database_url {
            Some(u)
                if u.starts_with("sqlite:")
                    || u.starts_with("postgres://")
                    || u.starts_with("postgresql://") =>
            {
                u
            }
            Some(u) => {
                return Err(err(
                    "LATCHKEY_DATABASE_URL",
                    format!("{:?} is neither sqlite: nor postgres://", redact_url(&u)),
                ));
            }
            None => format!("sqlite://{}/latchkey.db?mode=rwc", data_dir.display()),
        };

        let database_schema = match f.database_schema {
            Some(s) if !database_url.starts_with("postgres") => {
                return Err(err(
                    "LATCHKEY_DATABASE_SCHEMA",
                    format!("{s:?} applies to PostgreSQL only"),
                ));
            }
            Some(s) => {
                let ok = (1..=63).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && !s.as_bytes()[0].is_ascii_digit();
                if !ok {
                    return Err(err(
                        "LATCHKEY_DATABASE_SCHEMA",
                        format!(
                            "{s:?} must be 1 to 63 of a-z, 0-9 and _, not starting with a digit"
                        ),
                    ));
                }
                Some(s)
            }
            None => None,
        };
        let master_key = match (f.master_key, f.master_key_file) {
            (Some(k), _) => Some(Secret::new(k)),
            (None, Some(path)) => Some(Secret::new(read_secret_file(
                "LATCHKEY_MASTER_KEY_FILE",
                &path,
            )?)),
            (None, None) => None,
        };
        if let Some(k) = &master_key {
            decode_master_key(k.expose()).ok_or_else(|| {
                err(
                    "LATCHKEY_MASTER_KEY",
                    "must be 32 bytes, as 64 hex digits or base64",
                )
            })?;
        } else if !database_url.starts_with("sqlite:") {
            return Err(err(
                "LATCHKEY_MASTER_KEY",
                "is required with PostgreSQL: every instance must share it (generate one with `openssl rand -hex 32`)",
            ));
        }

        let admin_token = match (f.admin_token, f.admin_token_file) {
            (Some(t), _) => Some(Secret::new(t)),
            (None, Some(path)) => Some(Secret::new(read_secret_file(
                "LATCHKEY_ADMIN_TOKEN_FILE",
                &path,
            )?)),
            (None, None) => None,
        };
        if let Some(t) = &admin_token
            && t.expose().len() < 24
        {
            return Err(err(
                "LATCHKEY_ADMIN_TOKEN",
                "must be at least 24 characters",
            ));
        }

        let tls = match (f.tls_cert, f.tls_key) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(err(
                    "LATCHKEY_TLS_KEY",
                    "is required with LATCHKEY_TLS_CERT",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "LATCHKEY_TLS_CERT",
                    "is required with LATCHKEY_TLS_KEY",
                ));
            }
        };

        let rate_limit_exempt = parse_nets("LATCHKEY_RATE_LIMIT_EXEMPT", f.rate_limit_exempt)?;
        let trusted_proxies = parse_nets("LATCHKEY_TRUSTED_PROXIES", f.trusted_proxies)?;

        let ttl =
            |name: &str, v: Option<u64>, default: u64, max: u64| -> Result<i64, ConfigError> {
                let v = v.unwrap_or(default);
                if v == 0 || v > max {
                    Err(err(name, format!("must be between 1 and {max} seconds")))
                } else {
                    Ok(v as i64)
                }
            };
        let log_format = match f.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(err(
                    "LATCHKEY_LOG_FORMAT",
                    format!("{other:?} is not \"text\" or \"json\""),
                ));
            }
        };
        let well_known_resolve = f
            .well_known_resolve
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                let (host, addr) = s.trim().split_once('=').ok_or_else(|| {
                    err(
                        "LATCHKEY_WELL_KNOWN_RESOLVE",
                        format!("{s:?} is not host=ip:port"),
                    )
                })?;
                let addr: SocketAddr = addr.parse().map_err(|_| {
                    err(
                        "LATCHKEY_WELL_KNOWN_RESOLVE",
                        format!("{addr:?} is not ip:port"),
                    )
                })?;
                Ok((host.to_ascii_lowercase(), addr))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let db_max_connections = f.db_max_connections.unwrap_or(16);
        if db_max_connections == 0 {
            return Err(err("LATCHKEY_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        let aaguid_names = match f.aaguid_names.as_deref().filter(|p| !p.trim().is_empty()) {
            None => crate::aaguids::AaguidNames::bundled(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    err("LATCHKEY_AAGUID_NAMES", format!("cannot read {path}: {e}"))
                })?;
                crate::aaguids::AaguidNames::with_overrides(&text)
                    .map_err(|e| err("LATCHKEY_AAGUID_NAMES", format!("{path}: {e}")))?
            }
        };
        let attestation_roots = match f
            .attestation_roots
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    err(
                        "LATCHKEY_ATTESTATION_ROOTS",
                        format!("cannot read {path}: {e}"),
                    )
                })?;
                crate::passkeys::split_pem_certificates(&text)
                    .map_err(|e| err("LATCHKEY_ATTESTATION_ROOTS", format!("{path}: {e}")))?
            }
        };
        let sqlite_sync = match f.sqlite_sync.as_deref() {
            None => crate::db::durability::SqliteSync::Group,
            Some(v) => crate::db::durability::SqliteSync::parse(v).ok_or_else(|| {
                err(
                    "LATCHKEY_SQLITE_SYNC",
                    format!("{v:?} is not \"group\" or \"full\""),
                )
            })?,
        };
        let (smtp_url, smtp_from) = parse_smtp(f.smtp_url, f.smtp_from)?;
        Ok(Self {
            smtp_url,
            smtp_from,
            aaguid_names,
            attestation_roots,
            bind,
            issuer,
            database_url,
            database_schema,
            data_dir,
            rp_id,
            master_key,
            admin_token,
            tls,
            rate_limit_exempt,
            trusted_proxies,
            rate_limit_per_minute: f.rate_limit_per_minute.unwrap_or(300),
            flows_per_ip: at_least_one("LATCHKEY_FLOWS_PER_IP", f.flows_per_ip, 100)?,
            ceremony_attempts_per_flow: at_least_one(
                "LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW",
                f.ceremony_attempts_per_flow,
                20,
            )?,
            redeem_failures_per_minute: at_least_one(
                "LATCHKEY_REDEEM_FAILURES_PER_MINUTE",
                f.redeem_failures_per_minute,
                6000,
            )?,
            redeem_failures_per_ip: at_least_one(
                "LATCHKEY_REDEEM_FAILURES_PER_IP",
                f.redeem_failures_per_ip,
                60,
            )?,
            request_timeout: seconds("LATCHKEY_REQUEST_TIMEOUT", f.request_timeout, 30)?,
            header_timeout: seconds("LATCHKEY_HEADER_TIMEOUT", f.header_timeout, 10)?,
            max_in_flight: match f.max_in_flight.unwrap_or(256) {
                n @ 2.. => n,
                _ => return Err(err("LATCHKEY_MAX_IN_FLIGHT", "must be at least 2")),
            },
            code_ttl: ttl("LATCHKEY_CODE_TTL", f.code_ttl, 60, 600)?,
            flow_ttl: ttl("LATCHKEY_FLOW_TTL", f.flow_ttl, 600, 3600)?,
            challenge_ttl: ttl("LATCHKEY_CHALLENGE_TTL", f.challenge_ttl, 300, 3600)?,
            account_session_idle: ttl(
                "LATCHKEY_ACCOUNT_SESSION_IDLE",
                f.account_session_idle,
                600,
                3600,
            )?,
            account_session_ttl: ttl(
                "LATCHKEY_ACCOUNT_SESSION_TTL",
                f.account_session_ttl,
                3600,
                86400,
            )?,
            account_reauth: ttl("LATCHKEY_ACCOUNT_REAUTH", f.account_reauth, 300, 3600)?,
            access_token_ttl: ttl("LATCHKEY_ACCESS_TOKEN_TTL", f.access_token_ttl, 600, 600)?,
            db_max_connections,
            db_acquire_timeout: match f.db_acquire_timeout.unwrap_or(5) {
                0 => {
                    return Err(err(
                        "LATCHKEY_DB_ACQUIRE_TIMEOUT",
                        "must be at least 1 second",
                    ));
                }
                n => n,
            },
            sqlite_sync,
            key_refresh: match f.key_refresh.unwrap_or(60) {
                0 => return Err(err("LATCHKEY_KEY_REFRESH", "must be at least 1 second")),
                n => n,
            },
            key_rotation_days: f.key_rotation_days.unwrap_or(90),
            log_format,
            demo: f.demo.unwrap_or(false),
            well_known_resolve,
            admin_session_idle: ttl(
                "LATCHKEY_ADMIN_SESSION_IDLE",
                f.admin_session_idle,
                1800,
                86_400,
            )?,
            admin_session_max: ttl(
                "LATCHKEY_ADMIN_SESSION_MAX",
                f.admin_session_max,
                43_200,
                30 * 86_400,
            )?,
            well_known_danger_accept_invalid_certs: f
                .well_known_danger_accept_invalid_certs
                .unwrap_or(false),
        })
    }

    /// The issuer as a string without trailing slash: `iss` of tokens and redirects.
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// Whether the broker is reached over HTTPS (cookies get `Secure` and `__Host-`).
    pub fn is_https(&self) -> bool {
        self.issuer.scheme() == "https"
    }

    /// Whether `ip` is in an exempt range.
    pub fn is_rate_limit_exempt(&self, ip: IpAddr) -> bool {
        self.rate_limit_exempt.iter().any(|n| n.contains(&ip))
    }
}

/// A count setting that must be at least 1.
fn at_least_one(name: &str, v: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    match v.unwrap_or(default) {
        0 => Err(err(name, "must be at least 1")),
        n => Ok(n),
    }
}

/// A timeout setting: 1 to 3600 seconds.
fn seconds(name: &str, v: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match v.unwrap_or(default) {
        n @ 1..=3600 => Ok(n),
        _ => Err(err(name, "must be between 1 and 3600 seconds")),
    }
}

/// Decodes a 32-byte master key from hex or base64 (standard or URL-safe).
pub fn decode_master_key(s: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let s = s.trim();
    let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        let nopad = [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines
            .iter()
            .chain(nopad.iter())
            .find_map(|e| e.decode(s).ok())?
    };
    bytes.try_into().ok()
}

fn parse_issuer(s: &str) -> Result<Url, ConfigError> {
    const NAME: &str = "LATCHKEY_ISSUER";
    let url = Url::parse(s).map_err(|e| err(NAME, format!("{s:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(
            NAME,
            format!("{s:?} must be an http:// or https:// URL"),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            NAME,
            format!(
                "{s:?} must be an origin without path, query or fragment (it is the WebAuthn origin)"
            ),
        ));
    }
    if url.scheme() == "http" && !matches!(url.host_str(), Some("localhost" | "127.0.0.1")) {
        return Err(err(
            NAME,
            format!("{s:?}: http:// is only allowed on localhost; use https://"),
        ));
    }
    Ok(url)
}

/// The SMTP settings: a URL lettre understands and a sender mailbox, both or neither.
fn parse_smtp(
    url: Option<String>,
    from: Option<String>,
) -> Result<(Option<Secret>, Option<String>), ConfigError> {
    let url = url.filter(|u| !u.trim().is_empty());
    let from = from.filter(|f| !f.trim().is_empty());
    let Some(url) = url else {
        return Ok((None, None));
    };
    const NAME: &str = "LATCHKEY_SMTP_URL";
    let parsed = Url::parse(url.trim()).map_err(|_| {
        err(
            NAME,
            format!(
                "{:?} is not a URL such as smtp://127.0.0.1:25 or smtps://user:pass@mail.example.com",
                redact_url(&url)
            ),
        )
    })?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
        return Err(err(
            NAME,
            format!(
                "{:?} must be smtp:// or smtps:// with a host",
                redact_url(&url)
            ),
        ));
    }
    // The URL as the mailer will read it (lettre's form), checked here so that a bad
    // setting stops start-up with one line naming it.
    if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.trim()) {
        return Err(err(
            NAME,
            format!(
                "{:?}: not an SMTP URL lettre understands: {e}",
                redact_url(&url)
            ),
        ));
    }
    let Some(from) = from else {
        return Err(err(
            "LATCHKEY_SMTP_FROM",
            "is required with LATCHKEY_SMTP_URL: the sender, e.g. \"Latchkey <no-reply@example.com>\"",
        ));
    };
    if from.trim().parse::<lettre::message::Mailbox>().is_err() {
        return Err(err(
            "LATCHKEY_SMTP_FROM",
            format!("{from:?} is not a mailbox such as \"Latchkey <no-reply@example.com>\""),
        ));
    }
    Ok((Some(Secret::new(url.trim())), Some(from.trim().to_owned())))
}

fn parse_nets(name: &str, v: Option<Vec<String>>) -> Result<Vec<IpNet>, ConfigError> {
    v.unwrap_or_default()
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    err(
                        name,
                        format!("{s:?} is not a CIDR range such as 127.0.0.0/8"),
                    )
                })
        })
        .collect()
}

fn read_secret_file(name: &str, path: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| err(name, format!("cannot read {path}: {e}")))
}

/// Hides a password in a database URL before it is printed.
pub fn redact_url(s: &str) -> String {
    match Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => s.to_owned(),
    }
}

fn overlay_env(
    f: &mut FileSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let string = |k: &str, slot: &mut Option<String>| {
        if let Some(v) = env(k) {
            *slot = Some(v);
        }
    };
    string("LATCHKEY_BIND", &mut f.bind);
    string("LATCHKEY_ISSUER", &mut f.issuer);
    string("LATCHKEY_DATABASE_URL", &mut f.database_url);
    string("LATCHKEY_DATABASE_SCHEMA", &mut f.database_schema);
    string("LATCHKEY_DATA_DIR", &mut f.data_dir);
    string("LATCHKEY_RP_ID", &mut f.rp_id);
    string("LATCHKEY_MASTER_KEY", &mut f.master_key);
    string("LATCHKEY_MASTER_KEY_FILE", &mut f.master_key_file);
    string("LATCHKEY_ADMIN_TOKEN", &mut f.admin_token);
    string("LATCHKEY_ADMIN_TOKEN_FILE", &mut f.admin_token_file);
    string("LATCHKEY_TLS_CERT", &mut f.tls_cert);
    string("LATCHKEY_TLS_KEY", &mut f.tls_key);
    string("LATCHKEY_LOG_FORMAT", &mut f.log_format);
    string("LATCHKEY_AAGUID_NAMES", &mut f.aaguid_names);
    string("LATCHKEY_ATTESTATION_ROOTS", &mut f.attestation_roots);
    string("LATCHKEY_SQLITE_SYNC", &mut f.sqlite_sync);
    string("LATCHKEY_SMTP_URL", &mut f.smtp_url);
    string("LATCHKEY_SMTP_FROM", &mut f.smtp_from);
    let list = |k: &str, slot: &mut Option<Vec<String>>| {
        if let Some(v) = env(k) {
            *slot = Some(v.split(',').map(|s| s.trim().to_owned()).collect());
        }
    };
    list("LATCHKEY_RATE_LIMIT_EXEMPT", &mut f.rate_limit_exempt);
    list("LATCHKEY_TRUSTED_PROXIES", &mut f.trusted_proxies);
    list("LATCHKEY_WELL_KNOWN_RESOLVE", &mut f.well_known_resolve);
    fn num<T: std::str::FromStr>(
        env: &impl Fn(&str) -> Option<String>,
        k: &str,
        slot: &mut Option<T>,
    ) -> Result<(), ConfigError> {
        if let Some(v) = env(k) {
            *slot = Some(
                v.trim()
                    .parse()
                    .map_err(|_| err(k, format!("{v:?} is not a whole number")))?,
            );
        }
        Ok(())
    }
    num(
        env,
        "LATCHKEY_RATE_LIMIT_PER_MINUTE",
        &mut f.rate_limit_per_minute,
    )?;
    num(env, "LATCHKEY_FLOWS_PER_IP", &mut f.flows_per_ip)?;
    num(
        env,
        "LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW",
        &mut f.ceremony_attempts_per_flow,
    )?;
    num(
        env,
        "LATCHKEY_REDEEM_FAILURES_PER_MINUTE",
        &mut f.redeem_failures_per_minute,
    )?;
    num(
        env,
        "LATCHKEY_REDEEM_FAILURES_PER_IP",
        &mut f.redeem_failures_per_ip,
    )?;
    num(env, "LATCHKEY_REQUEST_TIMEOUT", &mut f.request_timeout)?;
    num(env, "LATCHKEY_HEADER_TIMEOUT", &mut f.header_timeout)?;
    num(env, "LATCHKEY_MAX_IN_FLIGHT", &mut f.max_in_flight)?;
    num(env, "LATCHKEY_CODE_TTL", &mut f.code_ttl)?;
    num(env, "LATCHKEY_FLOW_TTL", &mut f.flow_ttl)?;
    num(env, "LATCHKEY_CHALLENGE_TTL", &mut f.challenge_ttl)?;
    num(
        env,
        "LATCHKEY_ACCOUNT_SESSION_IDLE",
        &mut f.account_session_idle,
    )?;
    num(
        env,
        "LATCHKEY_ACCOUNT_SESSION_TTL",
        &mut f.account_session_ttl,
    )?;
    num(env, "LATCHKEY_ACCOUNT_REAUTH", &mut f.account_reauth)?;
    num(env, "LATCHKEY_ACCESS_TOKEN_TTL", &mut f.access_token_ttl)?;
    num(
        env,
        "LATCHKEY_DB_MAX_CONNECTIONS",
        &mut f.db_max_connections,
    )?;
    num(
        env,
        "LATCHKEY_DB_ACQUIRE_TIMEOUT",
        &mut f.db_acquire_timeout,
    )?;
    num(env, "LATCHKEY_KEY_REFRESH", &mut f.key_refresh)?;
    num(env, "LATCHKEY_KEY_ROTATION_DAYS", &mut f.key_rotation_days)?;
    num(
        env,
        "LATCHKEY_ADMIN_SESSION_IDLE",
        &mut f.admin_session_idle,
    )?;
    num(env, "LATCHKEY_ADMIN_SESSION_MAX", &mut f.admin_session_max)?;
    boolean(env, "LATCHKEY_DEMO", &mut f.demo)?;
    boolean(
        env,
        "LATCHKEY_WELL_KNOWN_DANGER_ACCEPT_INVALID_CERTS",
        &mut f.well_known_danger_accept_invalid_certs,
    )?;
    Ok(())
}

fn boolean(
    env: &impl Fn(&str) -> Option<String>,
    k: &str,
    slot: &mut Option<bool>,
) -> Result<(), ConfigError> {
    if let Some(v) = env(k) {
        *slot = Some(match v.as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" | "" => false,
            _ => return Err(err(k, format!("{v:?} is not true or false"))),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(None, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.issuer_str(), "http://localhost:8080");
        assert_eq!(s.rp_id.as_str(), "localhost");
        assert_eq!(s.code_ttl, 60);
        assert_eq!(
            (
                s.flows_per_ip,
                s.ceremony_attempts_per_flow,
                s.redeem_failures_per_minute,
                s.redeem_failures_per_ip
            ),
            (100, 20, 6000, 60)
        );
        assert_eq!((s.request_timeout, s.header_timeout), (30, 10));
        assert_eq!(s.max_in_flight, 256);
        assert!(load(&[("LATCHKEY_MAX_IN_FLIGHT", "1")]).is_err());
        assert_eq!(
            load(&[("LATCHKEY_MAX_IN_FLIGHT", "2")])
                .unwrap()
                .max_in_flight,
            2
        );
        assert_eq!(s.sqlite_sync, crate::db::durability::SqliteSync::Group);
        assert!(s.database_url.starts_with("sqlite://./latchkey-data/"));
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let e = load(&[("LATCHKEY_CODE_TTL", "soon")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_CODE_TTL");
        let e = load(&[("LATCHKEY_ISSUER", "http://example.com")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_ISSUER");
        let e = load(&[("LATCHKEY_ISSUER", "https://example.com/path")]).unwrap_err();
        assert!(e.to_string().starts_with("invalid setting LATCHKEY_ISSUER"));
        let e = load(&[("LATCHKEY_ISSUER", "http://127.0.0.1:8080")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_RP_ID");
        let e = load(&[("LATCHKEY_RATE_LIMIT_EXEMPT", "not-a-net")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_RATE_LIMIT_EXEMPT");
        let e = load(&[("LATCHKEY_FLOWS_PER_IP", "0")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_FLOWS_PER_IP");
        let e = load(&[("LATCHKEY_REQUEST_TIMEOUT", "0")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_REQUEST_TIMEOUT");
        let e = load(&[("LATCHKEY_MASTER_KEY", "short")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_MASTER_KEY");
        let e = load(&[("LATCHKEY_DATABASE_URL", "postgres://u:pw@db/x")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_MASTER_KEY");
    }

    #[test]
    fn rp_id_must_cover_the_issuer() {
        let s = load(&[
            ("LATCHKEY_ISSUER", "https://login.example.com"),
            ("LATCHKEY_RP_ID", "example.com"),
        ])
        .unwrap();
        assert_eq!(s.rp_id.as_str(), "example.com");
        assert!(s.is_https());
        assert!(
            load(&[
                ("LATCHKEY_ISSUER", "https://login.example.com"),
                ("LATCHKEY_RP_ID", "other.com")
            ])
            .is_err()
        );
    }

    #[test]
    fn master_keys_decode_from_hex_and_base64() {
        assert!(decode_master_key(&"ab".repeat(32)).is_some());
        assert!(decode_master_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_some());
        assert!(decode_master_key("AAAA").is_none());
    }

    #[test]
    fn smtp_needs_a_url_lettre_understands_and_a_sender() {
        let s = load(&[]).unwrap();
        assert!(s.smtp_url.is_none() && s.smtp_from.is_none());
        let s = load(&[
            ("LATCHKEY_SMTP_URL", "smtps://user:hunter2@mail.example.com"),
            ("LATCHKEY_SMTP_FROM", "Latchkey <no-reply@example.com>"),
        ])
        .unwrap();
        assert!(s.smtp_url.is_some());
        assert!(
            !format!("{s:?}").contains("hunter2"),
            "the password never prints"
        );
        let e = load(&[("LATCHKEY_SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_SMTP_FROM");
        let e = load(&[
            ("LATCHKEY_SMTP_URL", "http://user:hunter2@mail.example.com"),
            ("LATCHKEY_SMTP_FROM", "no-reply@example.com"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "LATCHKEY_SMTP_URL");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = load(&[
            ("LATCHKEY_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("LATCHKEY_SMTP_FROM", "not a mailbox"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "LATCHKEY_SMTP_FROM");
    }

    #[test]
    fn the_toml_file_refuses_unknown_keys() {
        let dir =
            std::env::temp_dir().join(format!("latchkey-cfg-{}", crate::util::random_token(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:9000\"\nbnid = 1\n").unwrap();
        let e = Settings::from_sources(Some(&path), |_| None).unwrap_err();
        assert!(e.message.contains("bnid"), "{e}");
        std::fs::write(&path, "bind = \"127.0.0.1:9000\"\ncode_ttl = 30\n").unwrap();
        let s = Settings::from_sources(Some(&path), |k| {
            (k == "LATCHKEY_CODE_TTL").then(|| "20".into())
        })
        .unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.code_ttl, 20);
    }
}
