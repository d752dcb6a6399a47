//! Typed settings (PROTOCOL §0) from one declaration. [`Declared`] names every setting,
//! its default and its meaning: a key of the optional TOML file, and the environment
//! variable of the same name in upper case with the prefix `LATCHKEY_` (`code_ttl`,
//! `LATCHKEY_CODE_TTL`). figment layers the file (read with `toml`) and the environment
//! (which wins) over the declared defaults; [`Settings`] is the validated, typed result.
//! A bad value stops start-up with one line that names the setting. A unit test holds
//! the README's configuration table to [`Declared`], name by name and default by default.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::RpId;
use crate::util::Secret;

/// The prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "LATCHKEY_";

/// A setting that could not be used; its `Display` is the one line shown at start-up.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault, or `--config` for the settings file.
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

/// Every setting as the operator writes it, with its default: the one declaration of the
/// settings. A field is a key of the TOML file and, in upper case after `LATCHKEY_`, an
/// environment variable. Lists are TOML arrays, or comma-separated in the environment;
/// switches are TOML booleans, or `true`/`false`/`1`/`0`/`yes`/`no` in the environment.
/// A setting whose default is computed from others is optional here and computed by
/// [`Settings`]. The README's configuration table lists the same names and defaults.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Declared {
    /// Address to listen on.
    pub bind: String,
    /// Public base URL, also the WebAuthn origin, without path. `http://` only on
    /// localhost. A port of `0` takes the port bound.
    pub issuer: String,
    /// The broker's RP ID: a domain name, never an IP address. Default: the issuer's host.
    pub rp_id: Option<String>,
    /// Directory of the embedded database and the generated dev master key.
    pub data_dir: String,
    /// `sqlite:…` or `postgres://…`. Default: `sqlite://<data dir>/latchkey.db?mode=rwc`.
    pub database_url: Option<String>,
    /// PostgreSQL only: the schema to use, created when missing.
    pub database_schema: Option<String>,
    /// Database pool size.
    #[serde(deserialize_with = "de::number")]
    pub db_max_connections: u32,
    /// Seconds to wait for a database connection before answering 503.
    #[serde(deserialize_with = "de::number")]
    pub db_acquire_timeout: u64,
    /// Embedded SQLite only: `group` (one WAL fsync shared by concurrent requests before
    /// they are answered) or `full` (`synchronous=FULL`, one fsync per commit).
    pub sqlite_sync: String,
    /// Seconds between re-reads of the signing key, so a rotation reaches every instance.
    #[serde(deserialize_with = "de::number")]
    pub key_refresh: u64,
    /// Rotate the signing key when older than this many days; `0` turns it off.
    #[serde(deserialize_with = "de::number")]
    pub key_rotation_days: u64,
    /// 32 bytes (hex or base64) that encrypt signing keys at rest; required with
    /// PostgreSQL. Default (SQLite only): generated into the data directory.
    pub master_key: Option<String>,
    /// A file holding the master key, read when `master_key` is unset.
    pub master_key_file: Option<String>,
    /// Bootstrap admin API token, at least 24 characters.
    pub admin_token: Option<String>,
    /// A file holding the bootstrap admin token, read when `admin_token` is unset.
    pub admin_token_file: Option<String>,
    /// Seconds without a request after which a dashboard session ends (at most a day).
    #[serde(deserialize_with = "de::number")]
    pub admin_session_idle: u64,
    /// Seconds after sign-in after which a dashboard session ends (at most 30 days).
    #[serde(deserialize_with = "de::number")]
    pub admin_session_max: u64,
    /// PEM certificate chain for direct HTTPS (with `tls_key`).
    pub tls_cert: Option<String>,
    /// PEM private key for direct HTTPS (with `tls_cert`).
    pub tls_key: Option<String>,
    /// Requests per minute per client IP on the front and back channels (per instance).
    #[serde(deserialize_with = "de::number")]
    pub rate_limit_per_minute: u32,
    /// Flows one client IP may open per flow lifetime, counted across instances.
    #[serde(deserialize_with = "de::number")]
    pub flows_per_ip: u32,
    /// Ceremony attempts (options calls) per flow, counted across instances.
    #[serde(deserialize_with = "de::number")]
    pub ceremony_attempts_per_flow: u32,
    /// Failed redeems per tenant, client address and minute before that address's
    /// redeems of that tenant answer `slow_down`; counted across instances.
    #[serde(deserialize_with = "de::number")]
    pub redeem_failures_per_ip: u32,
    /// Failed redeems per tenant and minute from all addresses together before every
    /// redeem of that tenant answers `slow_down`; counted across instances.
    #[serde(deserialize_with = "de::number")]
    pub redeem_failures_per_minute: u32,
    /// CIDR ranges exempt from every rate limit.
    #[serde(deserialize_with = "de::list")]
    pub rate_limit_exempt: Vec<String>,
    /// Seconds a whole request may take, body included, before `408`.
    #[serde(deserialize_with = "de::number")]
    pub request_timeout: u64,
    /// Seconds a client has to send its request line and headers before `408`.
    #[serde(deserialize_with = "de::number")]
    pub header_timeout: u64,
    /// Requests handled at once before further ones answer `503`; new sign-ins are
    /// admitted only below half of it. See [`crate::admission::Admission`].
    #[serde(deserialize_with = "de::number")]
    pub max_in_flight: u32,
    /// CIDR ranges of proxies whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "de::list")]
    pub trusted_proxies: Vec<String>,
    /// Lifetime of a code, seconds (at most 600).
    #[serde(deserialize_with = "de::number")]
    pub code_ttl: u64,
    /// Lifetime of a flow, seconds (at most 3600).
    #[serde(deserialize_with = "de::number")]
    pub flow_ttl: u64,
    /// Lifetime of a WebAuthn challenge, seconds (at most 3600).
    #[serde(deserialize_with = "de::number")]
    pub challenge_ttl: u64,
    /// Seconds without use after which an account-page session (PROTOCOL §9) ends (at
    /// most 3600).
    #[serde(deserialize_with = "de::number")]
    pub account_session_idle: u64,
    /// Seconds after its sign-in after which an account-page session ends (at most a
    /// day).
    #[serde(deserialize_with = "de::number")]
    pub account_session_ttl: u64,
    /// How old (seconds) the account page's sign-in may be for adding a passkey (at most
    /// 3600).
    #[serde(deserialize_with = "de::number")]
    pub account_reauth: u64,
    /// Lifetime of an access token and id_token, seconds (at most 600).
    #[serde(deserialize_with = "de::number")]
    pub access_token_ttl: u64,
    /// `text` or `json` (one object per line).
    pub log_format: String,
    /// Which log lines are written: a `tracing` filter such as `debug,sqlx=warn`.
    pub log: String,
    /// `host=ip:port` overrides for fetching sites' `/.well-known/webauthn`.
    #[serde(deserialize_with = "de::list")]
    pub well_known_resolve: Vec<String>,
    /// Accept any certificate when fetching sites' documents. Tests only.
    #[serde(deserialize_with = "de::switch")]
    pub well_known_danger_accept_invalid_certs: bool,
    /// Create the `demo` tenant and serve `/demo`.
    #[serde(deserialize_with = "de::switch")]
    pub demo: bool,
    /// A JSON file of authenticator names by AAGUID, read over the bundled list.
    pub aaguid_names: Option<String>,
    /// A PEM bundle of the attestation roots tenants with `attestation: direct` trust.
    pub attestation_roots: Option<String>,
    /// SMTP server for email links, in lettre's URL form (`smtp://host:25`,
    /// `smtps://user:pass@host`, `smtp://host:587?tls=required`). Unset: no email.
    pub smtp_url: Option<String>,
    /// The sender of that email, e.g. `Latchkey <no-reply@example.com>`.
    pub smtp_from: Option<String>,
}

impl Default for Declared {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://localhost:8080".into(),
            rp_id: None,
            data_dir: "./latchkey-data".into(),
            database_url: None,
            database_schema: None,
            db_max_connections: 16,
            db_acquire_timeout: 5,
            sqlite_sync: "group".into(),
            key_refresh: 60,
            key_rotation_days: 90,
            master_key: None,
            master_key_file: None,
            admin_token: None,
            admin_token_file: None,
            admin_session_idle: 1800,
            admin_session_max: 43_200,
            tls_cert: None,
            tls_key: None,
            rate_limit_per_minute: 300,
            flows_per_ip: 100,
            ceremony_attempts_per_flow: 20,
            redeem_failures_per_ip: 60,
            redeem_failures_per_minute: 6000,
            rate_limit_exempt: Vec::new(),
            request_timeout: 30,
            header_timeout: 10,
            max_in_flight: 256,
            trusted_proxies: Vec::new(),
            code_ttl: 60,
            flow_ttl: 600,
            challenge_ttl: 300,
            account_session_idle: 600,
            account_session_ttl: 3600,
            account_reauth: 300,
            access_token_ttl: 600,
            log_format: "text".into(),
            log: "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".into(),
            well_known_resolve: Vec::new(),
            well_known_danger_accept_invalid_certs: false,
            demo: false,
            aaguid_names: None,
            attestation_roots: None,
            smtp_url: None,
            smtp_from: None,
        }
    }
}

impl Declared {
    /// Every setting's key, as declared.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Self::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The environment variable of a setting's key (`code_ttl` → `LATCHKEY_CODE_TTL`).
    pub fn variable(key: &str) -> String {
        format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
    }

    /// Layers the declared defaults, the TOML file `file` (its text) and the
    /// environment `vars` (only the variables of declared settings; others are left
    /// alone, as the environment is shared).
    fn load(
        file: Option<(&std::path::Path, &str)>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env = Environment::of_declared(vars);
        let mut figment = Figment::new();
        if let Some((path, text)) = file {
            let table: toml::Table = toml::from_str(text)
                .map_err(|e| err("--config", format!("{}: {}", path.display(), e.message())))?;
            figment = figment.merge(Serialized::defaults(table));
        }
        figment
            .merge(env)
            .extract()
            .map_err(|e| describe(e, file.map(|(path, _)| path)))
    }
}

/// The `LATCHKEY_*` variables of declared settings, each value as the operator typed it
/// (figment's own `Env` provider would read `0123…` as a number and strip quotes, which
/// would change a secret or a sender's name).
struct Environment(Dict);

/// The name of the environment among figment's sources.
const ENVIRONMENT: &str = "the environment";

impl Environment {
    fn of_declared(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let keys: BTreeMap<String, String> = Declared::keys()
            .into_iter()
            .map(|k| (Declared::variable(&k), k))
            .collect();
        Self(
            vars.into_iter()
                .filter_map(|(name, value)| Some((keys.get(&name)?.clone(), Value::from(value))))
                .collect(),
        )
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENVIRONMENT)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// One line for a value figment could not read: the variable at fault, or the file
/// and its key.
fn describe(e: figment::Error, file: Option<&std::path::Path>) -> ConfigError {
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name == ENVIRONMENT);
    let key = e.path.join(".");
    let message = match &e.kind {
        figment::error::Kind::Message(m) => m.clone(),
        figment::error::Kind::UnknownField(field, _) => {
            let hint = closest_key(field)
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            return err(
                "--config",
                format!(
                    "{}: unknown key {field:?}{hint} (keys are the settings' names in lower case without LATCHKEY_, as in the README)",
                    file.map(|p| p.display().to_string()).unwrap_or_default()
                ),
            );
        }
        other => other.to_string(),
    };
    match (from_env, file) {
        (true, _) | (false, None) => err(&Declared::variable(&key), message),
        (false, Some(path)) if key.is_empty() => {
            err("--config", format!("{}: {message}", path.display()))
        }
        (false, Some(path)) => err("--config", format!("{}: {key}: {message}", path.display())),
    }
}

/// The declared key nearest to a mistyped one (at most two edits away).
fn closest_key(typed: &str) -> Option<String> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    Declared::keys()
        .into_iter()
        .map(|k| (distance(typed, &k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// How the settings' values are read from either source: the TOML file gives numbers,
/// booleans and arrays; the environment gives text.
mod de {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{Error, SeqAccess, Visitor};

    /// A whole number: an integer in the file, digits in the environment.
    pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a whole number")))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<u64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("{v:?} is not a whole number")))
            }
        }
        let n = d.deserialize_any(Number)?;
        T::try_from(n).map_err(|_| D::Error::custom(format!("{n} is too large")))
    }

    /// A switch: a boolean in the file; `true`, `yes`, `1` or `false`, `no`, `0` (or
    /// nothing) in the environment.
    pub fn switch<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        struct Switch;
        impl Visitor<'_> for Switch {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<bool, E> {
                match v {
                    "1" | "true" | "yes" => Ok(true),
                    "0" | "false" | "no" | "" => Ok(false),
                    _ => Err(E::custom(format!("{v:?} is not true or false"))),
                }
            }
        }
        d.deserialize_any(Switch)
    }

    /// A list: an array of strings in the file, comma-separated in the environment.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Vec<String>, E> {
                Ok(v.split(',').map(|s| s.trim().to_owned()).collect())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    out.push(item);
                }
                Ok(out)
            }
        }
        d.deserialize_any(List)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable key=value lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How commits are made durable on embedded SQLite ([`Declared::sqlite_sync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// `synchronous=NORMAL` and one shared WAL fsync before each answer (the default).
    Group,
    /// `synchronous=FULL`: SQLite fsyncs the WAL at every commit.
    Full,
}

impl SqliteSync {
    /// Parses the setting's value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "group" => Some(Self::Group),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Full => "full",
        }
    }
}

/// Where email goes: an SMTP URL in lettre's form and a sender mailbox, checked for
/// their shape here; the mailer (`mail.rs`) builds its transport from them.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The SMTP URL (a secret: it may hold a password).
    pub url: Secret,
    /// The sender, e.g. `Latchkey <no-reply@example.com>`.
    pub from: String,
}

/// The broker's settings, validated. Each field is the typed form of the [`Declared`]
/// setting of the same name (see there for its meaning and default).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Public base URL and WebAuthn origin. A port of 0 is replaced by the port actually
    /// bound (handy for tests and local runs).
    pub issuer: Url,
    /// Database URL.
    pub database_url: String,
    /// PostgreSQL schema to use, created when missing.
    pub database_schema: Option<String>,
    /// Directory for the embedded database and the generated dev master key.
    pub data_dir: PathBuf,
    /// The broker's own RP ID.
    pub rp_id: RpId,
    /// Key that encrypts signing keys at rest (from the variable or its file).
    pub master_key: Option<Secret>,
    /// Bootstrap admin API token (from the variable or its file).
    pub admin_token: Option<Secret>,
    /// PEM certificate chain and key for direct HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Client ranges exempt from rate limits.
    pub rate_limit_exempt: Vec<IpNet>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per minute per client IP on the front and back channels.
    pub rate_limit_per_minute: u32,
    /// Flows one client IP may open per flow lifetime.
    pub flows_per_ip: u32,
    /// Ceremony attempts (options calls) per flow.
    pub ceremony_attempts_per_flow: u32,
    /// Failed redeems per tenant and minute, from all addresses together.
    pub redeem_failures_per_minute: u32,
    /// Failed redeems per tenant, client address and minute.
    pub redeem_failures_per_ip: u32,
    /// Seconds a whole request may take.
    pub request_timeout: u64,
    /// Seconds a client has to send its request line and headers.
    pub header_timeout: u64,
    /// Requests handled at once by this instance. See [`crate::admission::Admission`].
    pub max_in_flight: u32,
    /// Lifetime of a code, seconds.
    pub code_ttl: i64,
    /// Lifetime of a flow, seconds.
    pub flow_ttl: i64,
    /// Lifetime of a WebAuthn challenge, seconds.
    pub challenge_ttl: i64,
    /// An account session (PROTOCOL §9) ends after this many seconds without use.
    pub account_session_idle: i64,
    /// An account session ends this many seconds after its sign-in.
    pub account_session_ttl: i64,
    /// Adding a passkey on the account page needs a sign-in at most this many seconds old.
    pub account_reauth: i64,
    /// Lifetime of an access token and id_token, seconds.
    pub access_token_ttl: i64,
    /// Database pool size.
    pub db_max_connections: u32,
    /// Seconds to wait for a database connection before answering 503.
    pub db_acquire_timeout: u64,
    /// How embedded SQLite makes commits durable. Both modes keep every answered change
    /// across a power loss.
    pub sqlite_sync: SqliteSync,
    /// Seconds between re-reads of the signing key.
    pub key_refresh: u64,
    /// Rotate the signing key when older than this many days; 0: never.
    pub key_rotation_days: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// The log filter (`tracing-subscriber`'s `EnvFilter` syntax), checked.
    pub log: String,
    /// Create the demo tenant at start-up.
    pub demo: bool,
    /// Host overrides for fetching sites' `/.well-known/webauthn`.
    pub well_known_resolve: Vec<(String, SocketAddr)>,
    /// A dashboard session ends after this many seconds without a request.
    pub admin_session_idle: i64,
    /// A dashboard session ends this many seconds after sign-in whatever happens.
    pub admin_session_max: i64,
    /// Accept any TLS certificate when fetching sites' documents. Tests only.
    pub well_known_danger_accept_invalid_certs: bool,
    /// Authenticator names by AAGUID: the bundled list, overlaid with the operator's file.
    pub aaguid_names: crate::aaguids::AaguidNames,
    /// Attestation root certificates (PEM, one per entry): the roots a tenant with
    /// `attestation: direct` trusts to prove an authenticator's AAGUID.
    pub attestation_roots: Vec<String>,
    /// Where email is sent; `None`: no email is ever sent and recovery by email is
    /// unavailable.
    pub smtp: Option<SmtpSettings>,
}

impl Settings {
    /// Loads settings from an optional TOML file and the process environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, process_environment())
    }

    /// Loads settings from an optional TOML file and environment variables (name,
    /// value); the variables win over the file.
    pub fn from_sources(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| err("--config", format!("cannot read {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let declared = Declared::load(file.zip(text.as_deref()), vars)?;
        Self::validate(declared)
    }

    fn validate(f: Declared) -> Result<Self, ConfigError> {
        let bind: SocketAddr = f.bind.parse().map_err(|_| {
            err(
                "LATCHKEY_BIND",
                format!("{:?} is not an address such as 127.0.0.1:8080", f.bind),
            )
        })?;

        let issuer = parse_issuer(&f.issuer)?;
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

        let data_dir = PathBuf::from(f.data_dir);
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

        let rate_limit_exempt = parse_nets("LATCHKEY_RATE_LIMIT_EXEMPT", &f.rate_limit_exempt)?;
        let trusted_proxies = parse_nets("LATCHKEY_TRUSTED_PROXIES", &f.trusted_proxies)?;

        let ttl = |name: &str, v: u64, max: u64| -> Result<i64, ConfigError> {
            if v == 0 || v > max {
                Err(err(name, format!("must be between 1 and {max} seconds")))
            } else {
                Ok(v as i64)
            }
        };
        let log_format = match f.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(err(
                    "LATCHKEY_LOG_FORMAT",
                    format!("{other:?} is not \"text\" or \"json\""),
                ));
            }
        };
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&f.log) {
            return Err(err(
                "LATCHKEY_LOG",
                format!(
                    "{:?} is not a log filter such as debug,sqlx=warn: {e}",
                    f.log
                ),
            ));
        }
        let well_known_resolve = f
            .well_known_resolve
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
        let sqlite_sync = SqliteSync::parse(&f.sqlite_sync).ok_or_else(|| {
            err(
                "LATCHKEY_SQLITE_SYNC",
                format!("{:?} is not \"group\" or \"full\"", f.sqlite_sync),
            )
        })?;
        let smtp = parse_smtp(f.smtp_url, f.smtp_from)?;
        Ok(Self {
            smtp,
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
            rate_limit_per_minute: f.rate_limit_per_minute,
            flows_per_ip: at_least_one("LATCHKEY_FLOWS_PER_IP", f.flows_per_ip)?,
            ceremony_attempts_per_flow: at_least_one(
                "LATCHKEY_CEREMONY_ATTEMPTS_PER_FLOW",
                f.ceremony_attempts_per_flow,
            )?,
            redeem_failures_per_minute: at_least_one(
                "LATCHKEY_REDEEM_FAILURES_PER_MINUTE",
                f.redeem_failures_per_minute,
            )?,
            redeem_failures_per_ip: at_least_one(
                "LATCHKEY_REDEEM_FAILURES_PER_IP",
                f.redeem_failures_per_ip,
            )?,
            request_timeout: seconds("LATCHKEY_REQUEST_TIMEOUT", f.request_timeout)?,
            header_timeout: seconds("LATCHKEY_HEADER_TIMEOUT", f.header_timeout)?,
            max_in_flight: match f.max_in_flight {
                n @ 2.. => n,
                _ => return Err(err("LATCHKEY_MAX_IN_FLIGHT", "must be at least 2")),
            },
            code_ttl: ttl("LATCHKEY_CODE_TTL", f.code_ttl, 600)?,
            flow_ttl: ttl("LATCHKEY_FLOW_TTL", f.flow_ttl, 3600)?,
            challenge_ttl: ttl("LATCHKEY_CHALLENGE_TTL", f.challenge_ttl, 3600)?,
            account_session_idle: ttl(
                "LATCHKEY_ACCOUNT_SESSION_IDLE",
                f.account_session_idle,
                3600,
            )?,
            account_session_ttl: ttl(
                "LATCHKEY_ACCOUNT_SESSION_TTL",
                f.account_session_ttl,
                86_400,
            )?,
            account_reauth: ttl("LATCHKEY_ACCOUNT_REAUTH", f.account_reauth, 3600)?,
            access_token_ttl: ttl("LATCHKEY_ACCESS_TOKEN_TTL", f.access_token_ttl, 600)?,
            db_max_connections: at_least_one("LATCHKEY_DB_MAX_CONNECTIONS", f.db_max_connections)?,
            db_acquire_timeout: match f.db_acquire_timeout {
                0 => {
                    return Err(err(
                        "LATCHKEY_DB_ACQUIRE_TIMEOUT",
                        "must be at least 1 second",
                    ));
                }
                n => n,
            },
            sqlite_sync,
            key_refresh: match f.key_refresh {
                0 => return Err(err("LATCHKEY_KEY_REFRESH", "must be at least 1 second")),
                n => n,
            },
            key_rotation_days: f.key_rotation_days,
            log_format,
            log: f.log,
            demo: f.demo,
            well_known_resolve,
            admin_session_idle: ttl("LATCHKEY_ADMIN_SESSION_IDLE", f.admin_session_idle, 86_400)?,
            admin_session_max: ttl(
                "LATCHKEY_ADMIN_SESSION_MAX",
                f.admin_session_max,
                30 * 86_400,
            )?,
            well_known_danger_accept_invalid_certs: f.well_known_danger_accept_invalid_certs,
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

/// The process's environment variables whose names and values are Unicode (others
/// cannot be settings).
pub fn process_environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// A count setting that must be at least 1.
fn at_least_one(name: &str, v: u32) -> Result<u32, ConfigError> {
    match v {
        0 => Err(err(name, "must be at least 1")),
        n => Ok(n),
    }
}

/// A timeout setting: 1 to 3600 seconds.
fn seconds(name: &str, v: u64) -> Result<u64, ConfigError> {
    match v {
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

/// The SMTP settings: a URL and a sender, both or neither. Their shape is checked here
/// (`smtp://` or `smtps://` with a host; a mailbox such as `Name <local@domain>`); what
/// lettre makes of them is checked when the mailer (`mail.rs`) builds its transport,
/// which names the same settings.
fn parse_smtp(
    url: Option<String>,
    from: Option<String>,
) -> Result<Option<SmtpSettings>, ConfigError> {
    let url = url.filter(|u| !u.trim().is_empty());
    let from = from.filter(|f| !f.trim().is_empty());
    let Some(url) = url else {
        return Ok(None);
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
    let Some(from) = from else {
        return Err(err(
            "LATCHKEY_SMTP_FROM",
            "is required with LATCHKEY_SMTP_URL: the sender, e.g. \"Latchkey <no-reply@example.com>\"",
        ));
    };
    if !is_mailbox(from.trim()) {
        return Err(err(
            "LATCHKEY_SMTP_FROM",
            format!("{from:?} is not a mailbox such as \"Latchkey <no-reply@example.com>\""),
        ));
    }
    Ok(Some(SmtpSettings {
        url: Secret::new(url.trim()),
        from: from.trim().to_owned(),
    }))
}

/// Whether `s` has the shape of a mailbox: `local@domain`, or a display name followed by
/// `<local@domain>`.
fn is_mailbox(s: &str) -> bool {
    let address = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        (None, None) => s,
        _ => return false,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
}

fn parse_nets(name: &str, v: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    v.iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_sources(None, vars_of(vars))
    }

    fn vars_of(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A settings file with `text`, in a directory of its own.
    fn file(text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("latchkey-cfg-{}", crate::util::random_token(6)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latchkey.toml");
        std::fs::write(&path, text).unwrap();
        path
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
        assert_eq!(s.sqlite_sync, SqliteSync::Group);
        assert!(s.database_url.starts_with("sqlite://./latchkey-data/"));
        assert!(s.smtp.is_none() && !s.demo);
    }

    #[test]
    fn a_bad_value_names_the_setting() {
        let e = load(&[("LATCHKEY_CODE_TTL", "soon")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_CODE_TTL");
        assert_eq!(
            e.to_string(),
            "invalid setting LATCHKEY_CODE_TTL: \"soon\" is not a whole number"
        );
        let e = load(&[("LATCHKEY_DEMO", "maybe")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid setting LATCHKEY_DEMO: \"maybe\" is not true or false"
        );
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
        let e = load(&[("LATCHKEY_FLOWS_PER_IP", "4294967296")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_FLOWS_PER_IP");
        let e = load(&[("LATCHKEY_REQUEST_TIMEOUT", "0")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_REQUEST_TIMEOUT");
        let e = load(&[("LATCHKEY_MASTER_KEY", "short")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_MASTER_KEY");
        let e = load(&[("LATCHKEY_DATABASE_URL", "postgres://u:pw@db/x")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_MASTER_KEY");
        let e = load(&[("LATCHKEY_LOG", "debug,=[")]).unwrap_err();
        assert_eq!(e.name, "LATCHKEY_LOG");
    }

    #[test]
    fn environment_values_are_taken_as_typed() {
        // 64 decimal digits are a hex master key, not a number; quotes stay part of a name.
        let key = "1".repeat(64);
        let s = load(&[
            ("LATCHKEY_MASTER_KEY", &key),
            ("LATCHKEY_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("LATCHKEY_SMTP_FROM", "\"Latchkey\" <no-reply@example.com>"),
            ("LATCHKEY_RATE_LIMIT_EXEMPT", "127.0.0.0/8, ::1/128,"),
            ("LATCHKEY_DEMO", "yes"),
            ("LATCHKEY_CODE_TTL", " 30 "),
            // Variables of the prefix that are no setting belong to someone else.
            ("LATCHKEY_TEST_DATABASE", "postgres"),
            ("latchkey_code_ttl", "soon"),
        ])
        .unwrap();
        assert_eq!(s.master_key.unwrap().expose(), key);
        assert_eq!(s.smtp.unwrap().from, "\"Latchkey\" <no-reply@example.com>");
        assert_eq!(s.rate_limit_exempt.len(), 2);
        assert!(s.demo);
        assert_eq!(s.code_ttl, 30);
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
    fn smtp_needs_an_smtp_url_and_a_sender() {
        let s = load(&[
            ("LATCHKEY_SMTP_URL", "smtps://user:hunter2@mail.example.com"),
            ("LATCHKEY_SMTP_FROM", "Latchkey <no-reply@example.com>"),
        ])
        .unwrap();
        assert!(s.smtp.is_some());
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
        for bad in [
            "not a mailbox",
            "Latchkey <no-reply@example.com",
            "@example.com",
        ] {
            let e = load(&[
                ("LATCHKEY_SMTP_URL", "smtp://127.0.0.1:2525"),
                ("LATCHKEY_SMTP_FROM", bad),
            ])
            .unwrap_err();
            assert_eq!(e.name, "LATCHKEY_SMTP_FROM", "{bad}");
        }
    }

    #[test]
    fn the_settings_file_refuses_an_unknown_key_saying_which() {
        let path = file("bind = \"127.0.0.1:9000\"\nbnid = 1\n");
        let e = Settings::from_sources(Some(&path), vec![]).unwrap_err();
        assert_eq!(e.name, "--config");
        assert!(e.message.starts_with(&path.display().to_string()), "{e}");
        assert!(
            e.message
                .contains("unknown key \"bnid\"; did you mean \"bind\"?"),
            "{e}"
        );
        let e = Settings::from_sources(Some(&path.with_extension("missing")), vec![]).unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
        let path = file("code_ttl = \"soon\"\n");
        let e = Settings::from_sources(Some(&path), vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid setting --config: {}: code_ttl: \"soon\" is not a whole number",
                path.display()
            )
        );
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let path = file(
            "bind = \"127.0.0.1:9000\"\ncode_ttl = 30\ndemo = true\n\
             trusted_proxies = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\n",
        );
        let s = Settings::from_sources(Some(&path), vec![]).unwrap();
        assert_eq!((s.bind.port(), s.code_ttl, s.demo), (9000, 30, true));
        assert_eq!(s.trusted_proxies.len(), 2);
        let s = Settings::from_sources(
            Some(&path),
            vars_of(&[
                ("LATCHKEY_CODE_TTL", "20"),
                ("LATCHKEY_DEMO", "false"),
                ("LATCHKEY_TRUSTED_PROXIES", "172.16.0.0/12"),
            ]),
        )
        .unwrap();
        assert_eq!((s.bind.port(), s.code_ttl, s.demo), (9000, 20, false));
        assert_eq!(s.trusted_proxies.len(), 1);
        // A bad value in the environment is named as a variable even when the file has
        // a good one.
        let e = Settings::from_sources(Some(&path), vars_of(&[("LATCHKEY_CODE_TTL", "x")]))
            .unwrap_err();
        assert_eq!(e.name, "LATCHKEY_CODE_TTL");
    }

    /// Settings whose default is computed at start-up from others, as the README's
    /// table describes them.
    const COMPUTED_DEFAULTS: &[(&str, &str)] = &[
        ("rp_id", "the issuer's host"),
        ("database_url", "`sqlite://<data dir>/latchkey.db?mode=rwc`"),
        ("master_key", "generated into the data dir (SQLite only)"),
    ];

    /// The README's configuration table: each row's setting names (`LATCHKEY_MASTER_KEY`
    /// / `_FILE` names two) and its default cell.
    fn readme_table() -> Vec<(Vec<String>, String)> {
        let readme = include_str!("../../README.md");
        let mut rows = Vec::new();
        for line in readme.lines() {
            let Some(rest) = line.strip_prefix("| `LATCHKEY_") else {
                continue;
            };
            let row = format!("`LATCHKEY_{rest}");
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let mut names: Vec<String> = Vec::new();
            for (i, token) in cells[0].split('`').enumerate() {
                if i % 2 == 1 {
                    match (token.strip_prefix('_'), names.last()) {
                        (Some(suffix), Some(prev)) => names.push(format!("{prev}_{suffix}")),
                        _ => names.push(token.to_owned()),
                    }
                }
            }
            rows.push((names, cells[1].to_owned()));
        }
        rows
    }

    /// A declared default as the README writes it: `` `value` ``, or `None` for a
    /// setting unset by default.
    fn readme_default(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Null => None,
            serde_json::Value::Array(a) if a.is_empty() => None,
            serde_json::Value::String(s) => Some(format!("`{s}`")),
            other => Some(format!("`{other}`")),
        }
    }

    #[test]
    fn the_readme_table_lists_every_setting_with_its_declared_default() {
        let declared = serde_json::to_value(Declared::default()).unwrap();
        let declared = declared.as_object().unwrap();
        let rows = readme_table();
        let mut listed = std::collections::BTreeSet::new();
        for (names, default_cell) in &rows {
            for (i, name) in names.iter().enumerate() {
                let key = name.strip_prefix(ENV_PREFIX).unwrap().to_ascii_lowercase();
                let value = declared
                    .get(&key)
                    .unwrap_or_else(|| panic!("README lists {name}, which is no setting"));
                assert!(listed.insert(key.clone()), "README lists {name} twice");
                let computed = COMPUTED_DEFAULTS.iter().find(|(k, _)| *k == key);
                match (i, readme_default(value), computed) {
                    // The row's default belongs to its first name; the others (`_FILE`,
                    // the key of a certificate) are unset by default.
                    (1.., None, _) => {}
                    (1.., Some(v), _) => panic!("{name} has a default ({v}) of its own"),
                    (0, Some(v), None) => {
                        assert_eq!(default_cell, &v, "README default of {name}")
                    }
                    (0, None, Some((_, text))) => {
                        assert_eq!(default_cell, text, "README default of {name}")
                    }
                    (0, None, None) => assert!(
                        default_cell.starts_with("none"),
                        "README default of {name}: {default_cell:?}, but it is unset by default"
                    ),
                    (0, Some(v), Some(_)) => {
                        panic!("{name} is declared with {v} and listed as computed")
                    }
                }
            }
        }
        for key in declared.keys() {
            assert!(
                listed.contains(key),
                "{} is missing from the README's configuration table",
                Declared::variable(key)
            );
        }
    }
}
