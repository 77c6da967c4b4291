//! The command line: `serve`, `migrate up|down|status`, `users create`, `openapi`. Each
//! subcommand parses its flags (and `SESAME_*` variables) and calls into library code; `users
//! create` runs the admin service as the local operator ([`startup::operator`]).

use crate::config::{CommonConfig, ServeConfig};
use crate::startup::{self, Application, StartupError};
use clap::{Parser, Subcommand};
use sesame_domain::clock::{Clock, SystemClock};
use sesame_domain::model::{DisplayName, Email, RoleName, Username};
use sesame_domain::password::Password;
use sesame_domain::service::Registration;
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "sesame",
    version,
    about = "Sesame: a self-hosted authentication server"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeConfig>),
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage users from the shell.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Print the OpenAPI document (JSON).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the latest migration, or every migration after `--to VERSION` (`--to 0`: all).
    Down {
        #[arg(long)]
        to: Option<i64>,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Fill the database with many test users at once (for benchmarks and scale tests): emails
    /// `PREFIX<i>@seed.example`, usernames `PREFIX<i>`, all with one password (hashed once).
    Seed {
        #[arg(long)]
        count: u64,
        #[arg(long, default_value = "seed")]
        prefix: String,
        /// Password of every seeded user (test data only).
        #[arg(long, default_value = "seed passphrase for load tests 42")]
        password: String,
    },
    /// Create a user (email marked verified: the operator vouches for it). The password is read
    /// from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Grant the `admin` role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Auth(#[from] sesame_domain::AuthError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Parses the command line and runs the chosen subcommand.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "sesame failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    crate::telemetry::init(&cli.common);
    match cli.command {
        Command::Serve(mut cfg) => serve(&cli.common, &mut cfg).await,
        Command::Migrate { action } => migrate(&cli.common, action).await,
        Command::Users { action } => users(&cli.common, action).await,
        Command::Openapi => {
            let doc = crate::http::openapi()
                .to_pretty_json()
                .map_err(|e| CliError::Input(e.to_string()))?;
            println!("{doc}");
            Ok(())
        }
    }
}

async fn serve(common: &CommonConfig, cfg: &mut ServeConfig) -> Result<(), CliError> {
    let app = Application::build(common, cfg).await?;
    tracing::info!(
        listen = %app.local_addr()?,
        database = %common.database_url.redacted(),
        public_url = %cfg.public_url,
        "sesame is listening"
    );
    app.run(shutdown_signal()).await?;
    tracing::info!("sesame stopped");
    Ok(())
}

async fn seed(
    common: &CommonConfig,
    count: u64,
    prefix: &str,
    password: &str,
) -> Result<(), CliError> {
    let bad = |e: sesame_domain::FieldError| CliError::Input(e.to_string());
    let password = Password::parse(password).map_err(bad)?;
    let db = startup::connect(common).await?;
    db.migrate_up().await.map_err(StartupError::from)?;
    let store = db.into_store();
    let hasher = startup::hasher(common, 1, 1).await?;
    let hash = hasher.hash(&password).await?;
    let started = std::time::Instant::now();
    let batch = 10_000u64;
    let mut done = 0u64;
    while done < count {
        let n = batch.min(count - done);
        // An operator command: nothing injects a clock here, the records are stamped by the system's.
        let now = SystemClock.now();
        let users: Vec<sesame_domain::model::NewUser> = (done..done + n)
            .map(|i| {
                Ok(sesame_domain::model::NewUser {
                    id: sesame_domain::model::UserId::new(),
                    email: Email::parse(&format!("{prefix}{i}@seed.example")).map_err(bad)?,
                    username: Some(Username::parse(&format!("{prefix}{i}")).map_err(bad)?),
                    display_name: None,
                    password_hash: hash.clone(),
                    email_verified: true,
                    roles: Vec::new(),
                    locale: sesame_domain::locale::Locale::default(),
                    now,
                })
            })
            .collect::<Result<_, CliError>>()?;
        store
            .bulk_insert_users(&users)
            .await
            .map_err(sesame_domain::AuthError::from)?;
        done += n;
        if done.is_multiple_of(100_000) || done == count {
            println!("{done} users");
        }
    }
    println!(
        "seeded {count} users ({prefix}<i>@seed.example) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn migrate(common: &CommonConfig, action: MigrateAction) -> Result<(), CliError> {
    let db = startup::connect(common).await?;
    match action {
        MigrateAction::Up => {
            db.migrate_up().await.map_err(StartupError::from)?;
            println!("migrations applied");
        }
        MigrateAction::Down { to } => {
            db.migrate_down(to).await.map_err(StartupError::from)?;
            println!("migrations reverted");
        }
        MigrateAction::Status => {
            for m in db.status().await.map_err(StartupError::from)? {
                let state = if m.applied { "applied" } else { "pending" };
                println!("{:>4}  {:<8} {}", m.version, state, m.description);
            }
        }
    }
    Ok(())
}

async fn users(common: &CommonConfig, action: UsersAction) -> Result<(), CliError> {
    let (email, username, display_name, admin) = match action {
        UsersAction::Create {
            email,
            username,
            display_name,
            admin,
            password_stdin: _,
        } => (email, username, display_name, admin),
        UsersAction::Seed {
            count,
            prefix,
            password,
        } => return seed(common, count, &prefix, &password).await,
    };
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    let bad = |e: sesame_domain::FieldError| CliError::Input(e.to_string());
    let reg = Registration {
        email: Email::parse(&email).map_err(bad)?,
        username: username
            .as_deref()
            .map(Username::parse)
            .transpose()
            .map_err(bad)?,
        display_name: display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(bad)?,
        password: Password::parse(password).map_err(bad)?,
        // The operator's configuration has no mail settings: English (a PATCH changes it).
        locale: None,
    };
    // The shell user holds the database and the configuration: the local operator.
    let operator = startup::operator(common).await?;
    let roles = if admin {
        vec![RoleName::admin()]
    } else {
        Vec::new()
    };
    let user = operator.create_verified_user(reg, roles).await?;
    println!(
        "created user {} <{}>{}",
        user.id,
        user.email.as_str(),
        if admin { " with role admin" } else { "" }
    );
    Ok(())
}
