//! The command line: `carnet serve`, `migrate`, `backup`, `restore`, `migrate-data`, `admin create-user`, `admin create-token`, `admin grant-admin`,
//! `jobs run`, `config check`. Errors exit non-zero with a readable message.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use crate::access::Actor;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::identity::users::UserForm;

/// What `carnet --version` prints after the name: the release and the git commit built
/// (`unknown` when built outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CARNET_GIT_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(name = "carnet", version = VERSION, about = "Carnet: CRM and service desk")]
pub struct Cli {
    /// Configuration file (default: ./carnet.toml if present; also CARNET_CONFIG).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…); also DATABASE_URL.
    #[arg(long, global = true)]
    pub database: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web UI, the REST API and the background jobs.
    Serve {
        /// Address to listen on (also CARNET_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Load the French demo company (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Back up the SQLite database (live: Carnet may keep running) and the documents folder
    /// into one archive with a manifest and checksums. PostgreSQL: see docs/operations.md.
    Backup {
        /// The archive to write (a .tar.gz).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup made by `carnet backup` (Carnet stopped), then migrate forward.
    Restore {
        /// The archive to read.
        #[arg(long)]
        from: PathBuf,
        /// Replace a database (and fill a documents folder) that already holds something.
        #[arg(long)]
        force: bool,
    },
    /// Copy every table of a SQLite database into a fresh PostgreSQL database (or schema),
    /// then compare the counts. Documents stay where they are.
    MigrateData {
        /// The SQLite database: sqlite://carnet.db
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://user@host/db (empty, or migrated and empty)
        #[arg(long)]
        to: String,
        /// The PostgreSQL schema to fill (default: the server's search path)
        #[arg(long)]
        to_schema: Option<String>,
    },
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Background jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a staff user; the password is read from standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Role code, e.g. administrateur.
        #[arg(long)]
        role: String,
        /// Language: fr or en.
        #[arg(long, default_value = "fr")]
        language: String,
        /// Read the password from standard input (required).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Queue the test email to ADDRESS and deliver it now through the configured transport.
    SendTestEmail {
        #[arg(long)]
        to: String,
    },
    /// Make an existing user an active administrator (repairs an installation left without one).
    GrantAdmin {
        #[arg(long)]
        email: String,
    },
    /// Reset a user's second factor (a lost phone when no administrator can log in): its
    /// secret and recovery codes are deleted, the user's sessions end, and they set it up again.
    ResetTwoFactor {
        #[arg(long)]
        email: String,
    },
    /// Create an API token for a user and print it (shown once).
    CreateToken {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Days until the token stops working (default 90; 0: no expiry).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Run a job now (e.g. housekeeping) and print its outcome.
    Run { name: String },
    /// List the job kinds this binary knows.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Check,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("carnet: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log, config.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carnet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carnet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error: human-readable lines, or one JSON object per line
/// (`log_format = "json"`: the event's fields at the top level, with `timestamp`, `level`,
/// `target` and the request's span, so a collector needs no parsing rules).
fn init_tracing(filter: &str, format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARNET_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        crate::config::LogFormat::Text => fmt.with_target(false).try_init(),
        crate::config::LogFormat::Json => fmt.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}

async fn run(cli: Cli, mut config: Config) -> anyhow::Result<()> {
    if let Some(db) = cli.database {
        config.database_url = db;
    }
    let clock: SharedClock = Arc::new(SystemClock);
    // `config check` prints the configuration, then says what is wrong with it; every other
    // command refuses a wrong configuration before it opens anything.
    let checked = config.check().map_err(|e| anyhow!("invalid configuration: {e}"));
    match cli.command {
        Command::Config { command: ConfigCommand::Check } => {
            print!("{}", config.masked_toml());
            checked
        }
        _ if checked.is_err() => checked,
        Command::Migrate => {
            let db = crate::db::Db::connect(&config.database_url, config.database_schema.as_deref(), 2).await?;
            let n = crate::db::migrate(&db, clock.now_ms()).await?;
            println!("{n} migration(s) applied; schema is current.");
            Ok(())
        }
        Command::Backup { to } => {
            let s = crate::backup::backup(&config, &to, clock.now_ms()).await?;
            println!(
                "Backup written to {} ({} bytes): schema version {}, {} document(s).",
                to.display(),
                s.bytes,
                s.schema_version,
                s.documents
            );
            Ok(())
        }
        Command::Restore { from, force } => {
            let s = crate::backup::restore(&config, &from, force, clock.now_ms()).await?;
            println!(
                "Restored {} (schema version {}, {} document(s)); {} migration(s) applied since.",
                from.display(),
                s.schema_version,
                s.documents,
                s.migrated
            );
            Ok(())
        }
        Command::MigrateData { from, to, to_schema } => {
            let source = crate::db::Db::connect(&from, None, 2).await?;
            let target = crate::db::Db::connect(&to, to_schema.as_deref(), 2).await?;
            // Both at this release's schema (a source of an older release is upgraded first).
            crate::db::migrate(&source, clock.now_ms()).await?;
            crate::db::migrate(&target, clock.now_ms()).await?;
            let copied = crate::db::copy::copy_all(&source, &target).await;
            source.close().await;
            target.close().await;
            let copied = copied?;
            let rows: i64 = copied.iter().map(|c| c.rows).sum();
            for c in copied.iter().filter(|c| c.rows > 0) {
                println!("{:>9}  {}", c.rows, c.table);
            }
            println!(
                "Copied {rows} rows in {} tables to {}; counts verified. Point database_url at it; documents stay where they are.",
                copied.len(),
                crate::config::mask_url_password(&to)
            );
            Ok(())
        }
        Command::Serve { listen, demo } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            serve(config, clock, demo).await
        }
        Command::Admin { command } => {
            let st = crate::app::prepare(config, clock.clone()).await?;
            match command {
                AdminCommand::CreateUser { email, name, role, language, password_stdin } => {
                    if !password_stdin {
                        bail!("--password-stdin is required: pipe the password on standard input");
                    }
                    let mut pw = String::new();
                    std::io::stdin().read_to_string(&mut pw).context("reading the password from standard input")?;
                    let pw = pw.trim_end_matches(['\n', '\r']).to_string();
                    let form = UserForm {
                        email,
                        name,
                        language: Some(language),
                        role,
                        org_unit_id: None,
                        active: Some(true),
                        password: Some(pw.clone()),
                    };
                    let input = form.parse().map_err(describe)?;
                    let u = crate::identity::users::create(&st.db, &Actor::system(), clock.now_ms(), &input, Some(&pw))
                        .await
                        .map_err(describe)?;
                    println!("Created user {} <{}> with role {}.", u.name, u.email, u.role_code);
                    Ok(())
                }
                AdminCommand::SendTestEmail { to } => {
                    let to = crate::mail::Mailbox::parse(&to).map_err(|r| anyhow!("--to: {}", crate::i18n::t(crate::i18n::Lang::En, r)))?;
                    let id = crate::mail::send_test(&st.db, &Actor::system(), clock.now_ms(), to, crate::i18n::Lang::Fr)
                        .await
                        .map_err(describe)?;
                    // Deliver now, through the job queue (so a running server never sends it too);
                    // when a running server's worker took it first, its outcome is the answer.
                    let wait = std::time::Duration::from_millis(st.config.job_lease_ms)
                        + std::time::Duration::from_secs(st.config.smtp_timeout_secs);
                    let email = crate::mail::deliver_now(&st.job_context(), &st.jobs, id, wait).await.map_err(describe)?;
                    let to = email.to().first().map(|m| m.email.clone()).unwrap_or_default();
                    let error = email.last_error.clone().unwrap_or_else(|| "no error recorded".into());
                    match email.status.as_str() {
                        "sent" => {
                            println!(
                                "Test email {id} sent to {to} via {} (by worker {}).",
                                email.delivered_via.as_deref().unwrap_or("?"),
                                email.delivered_by.as_deref().unwrap_or("?")
                            );
                            Ok(())
                        }
                        "failed" => bail!("test email {id} to {to} failed: {error}"),
                        _ if email.attempts == 0 => {
                            bail!("test email {id} to {to} is still being delivered by another worker (a running server); see the outbox")
                        }
                        _ => bail!("test email {id} to {to} not sent yet (it stays queued and will be retried): {error}"),
                    }
                }
                AdminCommand::GrantAdmin { email } => {
                    let u =
                        crate::identity::users::grant_admin(&st.db, &Actor::system(), clock.now_ms(), &email).await.map_err(describe)?;
                    println!("{} <{}> is now an active administrator.", u.name, u.email);
                    Ok(())
                }
                AdminCommand::ResetTwoFactor { email } => {
                    let u = crate::identity::users::by_email(&st.db, &email).await?.ok_or_else(|| anyhow!("no user with email {email}"))?;
                    crate::identity::totp::reset(&st.db, &Actor::system(), clock.now_ms(), u.id).await.map_err(describe)?;
                    println!("The second factor of {} <{}> is reset: they set it up again.", u.name, u.email);
                    Ok(())
                }
                AdminCommand::CreateToken { user, name, expires_in_days } => {
                    let u = crate::identity::users::by_email(&st.db, &user).await?.ok_or_else(|| anyhow!("no user with email {user}"))?;
                    let expiry = crate::identity::token::Expiry::parse(expires_in_days).map_err(describe)?;
                    let (_, secret) = crate::identity::token::create_with(&st.db, &Actor::system(), clock.now_ms(), u.id, &name, expiry)
                        .await
                        .map_err(describe)?;
                    println!("{secret}");
                    Ok(())
                }
            }
        }
        Command::Jobs { command } => {
            let st = crate::app::prepare(config, clock).await?;
            match command {
                JobsCommand::List => {
                    for k in st.jobs.scheduled() {
                        println!("{k}");
                    }
                    Ok(())
                }
                JobsCommand::Run { name } => match crate::jobs::run_now(&st.job_context(), &st.jobs, &name).await.map_err(describe)? {
                    Ok(msg) => {
                        println!("{name}: {msg}");
                        Ok(())
                    }
                    Err(e) => bail!("{name} failed: {e}"),
                },
            }
        }
    }
}

/// A domain error as a command-line message (fields named).
fn describe(e: crate::error::Error) -> anyhow::Error {
    match e {
        crate::error::Error::Validation(f) | crate::error::Error::Conflict(f) => {
            let parts: Vec<String> =
                f.0.iter().map(|x| format!("{}: {}", x.field, crate::i18n::t(crate::i18n::Lang::En, x.reason))).collect();
            anyhow!("{}", parts.join("; "))
        }
        crate::error::Error::InvalidState { reason } => anyhow!("{}", crate::i18n::t(crate::i18n::Lang::En, reason)),
        other => anyhow!(other),
    }
}

async fn serve(config: Config, clock: SharedClock, demo: bool) -> anyhow::Result<()> {
    let listen = config.listen;
    // Signal handlers are installed before the port opens, so that a stop request sent as
    // soon as the server answers is a graceful shutdown, never the default kill.
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    let st = crate::app::prepare(config, clock).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    // Metrics on their own address: bound now, so that a wrong address stops the start.
    let metrics_listener = match (st.config.metrics_enabled, st.config.metrics_listen) {
        (true, Some(addr)) => {
            Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (metrics_listen)"))?)
        }
        _ => None,
    };
    if demo {
        let login = crate::demo::load(&st).await?;
        println!("Carnet is running at {url}");
        println!("Demo data loaded. Log in as {} with password {}", login.email, login.password);
        if let Some(p) = &login.portal_email {
            println!("Customer portal: {url}/portal/login as {p} with the same password");
        }
        if let Some(p) = &login.partner_email {
            println!("Partner portal: {url}/partner/login as {p} with the same password");
        }
        println!("(every demo user has the same password; see README.md)");
    } else {
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&st.db.pool).await?;
        println!("Carnet is running at {url}");
        if users == 0 {
            println!("No user yet. Create the first administrator with:");
            println!("  echo 'a-long-password' | carnet admin create-user --email you@example.com --name 'Your Name' --role administrateur --password-stdin");
        }
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let metrics_server = metrics_listener.map(|l| {
        if let Ok(a) = l.local_addr() {
            println!("Metrics at http://{a}/metrics");
        }
        let mut stop = rx.clone();
        tokio::spawn(crate::http::telemetry::serve(st.clone(), l, async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    });
    let worker =
        if st.config.run_jobs { Some(tokio::spawn(crate::jobs::worker_loop(st.job_context(), (*st.jobs).clone(), rx))) } else { None };
    let shutdown = async move {
        #[cfg(unix)]
        match (term, int) {
            (Some(mut t), Some(mut i)) => {
                tokio::select! { _ = t.recv() => {}, _ = i.recv() => {} }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    };
    crate::http::serve(st, listener, shutdown).await?;
    let _ = tx.send(true);
    if let Some(w) = worker {
        let _ = w.await;
    }
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    Ok(())
}
