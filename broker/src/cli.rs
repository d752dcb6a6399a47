//! The command line: `latchkey serve`, `latchkey migrate`, `latchkey tenant …`,
//! `latchkey keys …`, `latchkey admin …`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

/// Runs the command line; the process exit code follows.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(settings.log_format);
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
            Command::Tenant(cmd) => tenant(settings, cmd).await,
            Command::Keys(cmd) => keys(settings, cmd).await,
            Command::Admin(cmd) => admin(settings, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

async fn keys(settings: Settings, cmd: KeysCommand) -> Result<(), String> {
    let db = crate::db::connect(&settings)
        .await
        .map_err(|e| format!("database: {e}"))?;
    match cmd {
        KeysCommand::Rotate => {
            let master = crate::app::master_key(&settings).map_err(|e| e.to_string())?;
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

async fn admin(settings: Settings, cmd: AdminCommand) -> Result<(), String> {
    use crate::store::admin as admins;
    use crate::store::audit::{Event, record};
    let db = crate::db::connect(&settings)
        .await
        .map_err(|e| format!("database: {e}"))?;
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

async fn tenant(settings: Settings, cmd: TenantCommand) -> Result<(), String> {
    let db = crate::db::connect(&settings)
        .await
        .map_err(|e| format!("database: {e}"))?;
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
