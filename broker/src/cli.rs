//! The command line: `latchkey serve`, `latchkey migrate`, `latchkey tenant …`,
//! `latchkey keys …`, `latchkey admin …`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::app::Application;
use crate::config::{LogFormat, Settings};
use crate::store::tenants::{self, TenantInput};

/// Latchkey, a hosted passkey sign-in broker.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
pub struct Cli {
    /// TOML settings file; LATCHKEY_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: the embedded SQLite database (unless LATCHKEY_DATABASE_URL names
    /// another) and the generated development master key. Overrides LATCHKEY_DATA_DIR and
    /// the settings file; default ./latchkey-data.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker.
    Serve {
        /// Create the `demo` tenant (redirecting to the demo site on localhost:8081).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants (the sites that use this broker).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage the id_token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Admin access: invitations to the dashboard and admin API tokens.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Print a one-time link (15 minutes, single use) that registers an admin passkey
    /// for the dashboard at /admin.
    Invite,
    /// Manage admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Mint a token for the admin API; it is printed once and stored only as a hash.
    Create {
        /// What the token is for; the audit log names its changes after it.
        #[arg(long)]
        name: String,
    },
    /// List tokens: id, name, created, last used, revoked.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke {
        /// The token's id (from `list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new signing key and retire the current one. Every instance signs with the
    /// new key after its next refresh (LATCHKEY_KEY_REFRESH); the JWKS keeps the retired
    /// key while tokens it signed may live.
    Rotate,
    /// List signing keys: id, created, retired.
    List,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Register a tenant.
    Add {
        /// Public client id: 3 to 64 of A-Z a-z 0-9 . _ -
        #[arg(long)]
        client_id: String,
        /// Name shown on the sign-in page.
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI, matched exactly (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where passkeys live: `site` (the site's own RP ID) or `broker`.
        #[arg(long, default_value = "broker")]
        rp_mode: String,
        /// The site's registrable domain (site mode).
        #[arg(long)]
        rp_id: Option<String>,
        /// `required` or `preferred`.
        #[arg(long)]
        user_verification: Option<String>,
        /// `record` or `reject`.
        #[arg(long)]
        counter_policy: Option<String>,
        /// A related origin allowed to run ceremonies (broker mode; repeatable).
        #[arg(long = "related-origin")]
        related_origins: Vec<String>,
        /// Issue a client secret (shown once).
        #[arg(long)]
        confidential: bool,
        /// Let verified email addresses enrol a new passkey when all are lost (needs
        /// LATCHKEY_SMTP_URL).
        #[arg(long)]
        email_recovery: bool,
    },
    /// List tenants.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with its users and passkeys.
    Remove {
        /// The tenant's client id.
        client_id: String,
    },
}

impl Command {
    /// The command as typed, for messages: `admin invite`, `tenant list`, …
    fn name(&self) -> &'static str {
        match self {
            Command::Serve { .. } => "serve",
            Command::Migrate => "migrate",
            Command::Tenant(TenantCommand::Add { .. }) => "tenant add",
            Command::Tenant(TenantCommand::List { .. }) => "tenant list",
            Command::Tenant(TenantCommand::Remove { .. }) => "tenant remove",
            Command::Keys(KeysCommand::Rotate) => "keys rotate",
            Command::Keys(KeysCommand::List) => "keys list",
            Command::Admin(AdminCommand::Invite) => "admin invite",
            Command::Admin(AdminCommand::Token(TokenCommand::Create { .. })) => {
                "admin token create"
            }
            Command::Admin(AdminCommand::Token(TokenCommand::List { .. })) => "admin token list",
            Command::Admin(AdminCommand::Token(TokenCommand::Revoke { .. })) => {
                "admin token revoke"
            }
        }
    }
}

/// Runs the command line; the process exit code follows.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let data_dir = cli.data_dir.clone();
    let mut vars = crate::config::process_environment();
    if let Some(dir) = data_dir {
        vars.push(("LATCHKEY_DATA_DIR".into(), dir));
    }
    // The mail settings are checked as lettre reads them here too, so that every command
    // refuses a bad one as it refuses any other setting.
    let settings = Settings::from_sources(cli.config.as_deref(), vars).and_then(|s| {
        crate::mail::Mailer::from_settings(s.smtp.as_ref())?;
        Ok(s)
    });
    let mut settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format, &settings.log);
    let name = cli.command.name();
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command {
            Command::Serve { demo } => {
                settings.demo |= demo;
                serve(settings).await
            }
            Command::Migrate => crate::db::connect(&settings)
                .await
                .map(|_| ())
                .map_err(|e| format!("database: {e}")),
            Command::Tenant(cmd) => {
                let db = existing_database(&settings, name).await?;
                tenant(settings, db, cmd).await
            }
            Command::Keys(cmd) => {
                let db = existing_database(&settings, name).await?;
                keys(settings, db, cmd).await
            }
            Command::Admin(cmd) => {
                let db = existing_database(&settings, name).await?;
                admin(settings, db, cmd).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.lines() {
                eprintln!("latchkey: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Opens the database of a broker that already exists, for `latchkey {command}`; when
/// there is none where the settings point, says where it looked and how to point it at
/// the server's, and creates nothing.
async fn existing_database(
    settings: &Settings,
    command: &str,
) -> Result<DatabaseConnection, String> {
    match crate::db::connect_existing(settings).await {
        Ok(db) => Ok(db),
        Err(e @ crate::db::ExistingError::Db(..)) => Err(e.to_string()),
        Err(e @ crate::db::ExistingError::Missing(_)) => Err(format!(
            "{e}.\n\
             `latchkey {command}` works on the database of an existing broker and does not create one.\n\
             Run it with the server's settings: --data-dir DIR or LATCHKEY_DATA_DIR (the server's data \
             directory), LATCHKEY_DATABASE_URL (and LATCHKEY_DATABASE_SCHEMA) for its database, or \
             --config FILE (its settings file).\n\
             `latchkey serve` and `latchkey migrate` create a new database."
        )),
    }
}

/// Logs go to standard error: text or JSON lines, coloured only for a person at a
/// terminal (see [`colour`]).
fn init_logging(format: LogFormat, filter: &str) {
    use std::io::IsTerminal as _;
    // Checked with the settings (`LATCHKEY_LOG`).
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let bind = settings.bind;
    let demo = settings.demo;
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    let addr = std::net::SocketAddr::new(bind.ip(), app.port());
    // One line on standard output that scripts and tests wait for.
    println!("latchkey listening on {addr} issuer {}", app.issuer());
    tracing::info!(%addr, issuer = app.issuer(), "listening");
    if demo {
        match app.admin_invite("demo").await {
            Ok(link) => {
                println!("latchkey demo: admin dashboard invitation (one use, 15 minutes): {link}")
            }
            Err(e) => tracing::warn!(error = %e, "could not make the demo admin invitation"),
        }
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn keys(settings: Settings, db: DatabaseConnection, cmd: KeysCommand) -> Result<(), String> {
    match cmd {
        KeysCommand::Rotate => {
            let master = crate::app::existing_master_key(&settings)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "no master key: LATCHKEY_MASTER_KEY is not set and there is no {}.\n\
                         The signing keys are sealed with the server's master key: run this with \
                         the server's LATCHKEY_MASTER_KEY (or LATCHKEY_MASTER_KEY_FILE) or its data \
                         directory (--data-dir DIR or LATCHKEY_DATA_DIR).",
                        settings.data_dir.join("master.key").display()
                    )
                })?;
            let keys = crate::keys::Keys::load(&db, master)
                .await
                .map_err(|e| e.to_string())?;
            let kid = keys.rotate(&db).await.map_err(|e| e.to_string())?;
            crate::store::audit::record(
                &db,
                crate::store::audit::Event {
                    actor: "cli",
                    action: "key.rotate",
                    tenant_id: None,
                    subject: Some(&kid),
                    detail: serde_json::json!({}),
                },
            )
            .await;
            println!("{kid}");
        }
        KeysCommand::List => {
            println!("{:<44} {:<21} RETIRED", "KEY ID", "CREATED");
            for k in crate::keys::Keys::list(&db)
                .await
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{:<44} {:<21} {}",
                    k.kid,
                    crate::util::rfc3339(k.created_at),
                    k.retired_at
                        .map(crate::util::rfc3339)
                        .unwrap_or_else(|| "-".into())
                );
            }
        }
    }
    Ok(())
}

async fn admin(
    settings: Settings,
    db: DatabaseConnection,
    cmd: AdminCommand,
) -> Result<(), String> {
    use crate::store::admin as admins;
    use crate::store::audit::{Event, record};
    let db_err = |e: sea_orm::DbErr| format!("database: {e}");
    match cmd {
        AdminCommand::Invite => {
            let (row, secret) = admins::create_invite(&db, "cli").await.map_err(db_err)?;
            record(
                &db,
                Event {
                    actor: "cli",
                    action: "admin.invite",
                    tenant_id: None,
                    subject: Some(&row.id),
                    detail: serde_json::json!({"expires_at": crate::util::rfc3339(row.expires_at)}),
                },
            )
            .await;
            eprintln!(
                "latchkey: open this link within 15 minutes to register an admin passkey; it works once"
            );
            println!(
                "{}",
                crate::admin::invite_url(&settings.issuer_str(), &secret)
            );
        }
        AdminCommand::Token(TokenCommand::Create { name }) => {
            let name = admins::check_token_name(&name).map_err(|e| e.to_string())?;
            let (row, token) = admins::create_token(&db, &name, "cli")
                .await
                .map_err(db_err)?;
            record(
                &db,
                Event {
                    actor: "cli",
                    action: "token.create",
                    tenant_id: None,
                    subject: Some(&row.id),
                    detail: serde_json::json!({"name": row.name}),
                },
            )
            .await;
            eprintln!(
                "latchkey: token {} ({name}) is shown only now; store it safely",
                row.id
            );
            println!("{token}");
        }
        AdminCommand::Token(TokenCommand::List { json }) => {
            let list = admins::list_tokens(&db).await.map_err(db_err)?;
            if json {
                let v: Vec<_> = list.iter().map(crate::admin::token_json).collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                let time =
                    |t: Option<i64>| t.map(crate::util::rfc3339).unwrap_or_else(|| "-".into());
                println!(
                    "{:<12} {:<24} {:<21} {:<21} REVOKED",
                    "ID", "NAME", "CREATED", "LAST USED"
                );
                for t in &list {
                    println!(
                        "{:<12} {:<24} {:<21} {:<21} {}",
                        t.id,
                        t.name,
                        crate::util::rfc3339(t.created_at),
                        time(t.last_used_at),
                        time(t.revoked_at)
                    );
                }
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { id }) => {
            let Some(row) = admins::revoke_token(&db, &id).await.map_err(db_err)? else {
                return Err(format!("no admin token with id {id:?}"));
            };
            record(
                &db,
                Event {
                    actor: "cli",
                    action: "token.revoke",
                    tenant_id: None,
                    subject: Some(&row.id),
                    detail: serde_json::json!({"name": row.name}),
                },
            )
            .await;
            println!("revoked {id}");
        }
    }
    Ok(())
}

async fn tenant(
    settings: Settings,
    db: DatabaseConnection,
    cmd: TenantCommand,
) -> Result<(), String> {
    match cmd {
        TenantCommand::Add {
            client_id,
            name,
            redirect_uris,
            rp_mode,
            rp_id,
            user_verification,
            counter_policy,
            related_origins,
            confidential,
            email_recovery,
        } => {
            if client_id == crate::admin::ADMIN_CLIENT_ID {
                return Err(format!(
                    "{client_id:?} is the dashboard's own tenant; choose another client id"
                ));
            }
            let input = TenantInput {
                client_id: Some(client_id),
                name,
                redirect_uris: Some(redirect_uris),
                rp_mode: Some(rp_mode),
                rp_id,
                user_verification,
                counter_policy,
                related_origins: (!related_origins.is_empty()).then_some(related_origins),
                confidential: Some(confidential),
                rotate_secret: None,
                email_recovery: Some(email_recovery),
                ..Default::default()
            };
            tenants::check_settings(&input, &settings).map_err(|e| e.to_string())?;
            let (t, secret) = tenants::create(&db, &settings.rp_id, input)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = t.to_json();
            if let Some(s) = secret {
                out["client_secret"] = s.into();
                eprintln!("latchkey: the client secret is shown only now; store it safely");
            }
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            crate::store::audit::record(
                &db,
                crate::store::audit::Event {
                    actor: "cli",
                    action: "tenant.create",
                    tenant_id: Some(&t.client_id),
                    subject: Some(&t.client_id),
                    detail: t.to_json(),
                },
            )
            .await;
        }
        TenantCommand::List { json } => {
            let mut list = tenants::list(&db)
                .await
                .map_err(|e| format!("database: {e}"))?;
            list.retain(|t| t.client_id != crate::admin::ADMIN_CLIENT_ID);
            if json {
                let v: Vec<_> = list.iter().map(|t| t.to_json()).collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!(
                    "{:<24} {:<7} {:<24} REDIRECT URIS",
                    "CLIENT ID", "MODE", "RP ID"
                );
                for t in &list {
                    println!(
                        "{:<24} {:<7} {:<24} {}",
                        t.client_id,
                        t.rp_mode.as_str(),
                        t.rp_id,
                        t.redirect_uris.join(" ")
                    );
                }
            }
        }
        TenantCommand::Remove { client_id } => {
            if client_id == crate::admin::ADMIN_CLIENT_ID
                || !tenants::remove(&db, &client_id)
                    .await
                    .map_err(|e| format!("database: {e}"))?
            {
                return Err(format!("no tenant with client_id {client_id:?}"));
            }
            crate::store::audit::record(
                &db,
                crate::store::audit::Event {
                    actor: "cli",
                    action: "tenant.delete",
                    tenant_id: Some(&client_id),
                    subject: Some(&client_id),
                    detail: serde_json::json!({}),
                },
            )
            .await;
            println!("removed {client_id}");
        }
    }
    Ok(())
}

/// Whether log lines carry ANSI colours: only when they go to a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>). A file, a
/// pipe or journald gets plain text.
fn colour(to_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    to_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_at_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some("".as_ref())),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some("1".as_ref())));
        assert!(!colour(false, None), "a file or a pipe gets no colour");
        assert!(!colour(false, Some("1".as_ref())));
    }

    #[test]
    fn every_command_has_a_name_that_parses_back_to_it() {
        for args in [
            &["serve"][..],
            &["migrate"],
            &[
                "tenant",
                "add",
                "--client-id",
                "x",
                "--redirect-uri",
                "https://x.example/cb",
            ],
            &["tenant", "list"],
            &["tenant", "remove", "x"],
            &["keys", "rotate"],
            &["keys", "list"],
            &["admin", "invite"],
            &["admin", "token", "list"],
            &["admin", "token", "revoke", "x"],
            &["admin", "token", "create", "--name", "x"],
        ] {
            let cli = Cli::try_parse_from(std::iter::once("latchkey").chain(args.iter().copied()))
                .unwrap();
            let name = cli.command.name();
            assert!(args.join(" ").starts_with(name), "{args:?} → {name}");
        }
    }
}
