//! The command line: `serve`, `migrate up|down|status`, `users create|seed`, `keys reencrypt`, `openapi`,
//! `completions`, `man`. Each subcommand parses its flags (and `SESAME_*` variables) and calls
//! into library code; `users create` runs the admin service as the local operator
//! ([`startup::operator`]).
//!
//! Owns what an operator reads: one `error:` line on stderr per failure (with the exit code; the
//! log is for `serve`), validation failures named by field, rule and sentence, the list of
//! migrations each `migrate` run applied or reverted, and the confirmation `migrate down` asks
//! for. It does not decide the rules themselves (the domain does) nor how the schema changes
//! (`storage`).

use crate::config::{CommonConfig, EncryptionConfig, HashConfig, ServeConfig};
use crate::startup::{self, Application, StartupError};
use crate::storage::MigrationStatus;
use clap::{CommandFactory, Parser, Subcommand};
use sesame_domain::clock::{Clock, SystemClock};
use sesame_domain::model::{ClientInfo, DisplayName, Email, RoleName, Username};
use sesame_domain::password::Password;
use sesame_domain::service::Registration;
use sesame_domain::{AuthError, FieldError};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "sesame",
    version,
    about = "Sesame: a self-hosted authentication server",
    long_about = "Sesame: a self-hosted authentication server.\n\nEvery flag can also be set \
                  through the environment variable named beside it (flags win). Run \
                  `sesame <COMMAND> --help` for a command's own flags.",
    subcommand_help_heading = "Commands"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonConfig,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first unless --auto-migrate false).
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
    /// Manage the registered OAuth / OpenID Connect clients (the applications that sign users
    /// in through Sesame). Each command prints JSON.
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Manage the encryption of secrets at rest.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the OpenAPI document (JSON).
    Openapi,
    /// Print a shell completion script.
    ///
    /// E.g. `sesame completions bash > ~/.local/share/bash-completion/completions/sesame`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page sesame(1) as roff.
    ///
    /// E.g. `sesame man > ~/.local/share/man/man1/sesame.1`, then `man sesame`.
    Man {
        /// Write sesame.1 and a page per subcommand (sesame-serve.1, …) into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (creates a missing SQLite file) and list them.
    Up,
    /// Revert the latest migration, or every migration after `--to VERSION`, and list them.
    /// Reverting deletes what those migrations hold (`--to 0`: every table, every user), so it
    /// asks first on a terminal and needs `--yes` otherwise.
    Down {
        /// Keep the migrations up to this version and revert every later one (`0`: all).
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        /// Revert without asking (scripts; without it, a run off a terminal is refused).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Re-seal every secret stored at rest (signing keys, …) under the current encryption key,
    /// opening each with whichever configured key sealed it, and print the counts. Rotate by
    /// setting the new key with the old one in SESAME_ENCRYPTION_PREVIOUS_KEYS, running this,
    /// then dropping the old key. Safe to run again, and while servers run.
    Reencrypt {
        #[command(flatten)]
        encryption: EncryptionConfig,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Register a client and print it as JSON, with `client_id` and, for a confidential client,
    /// `client_secret` (shown this once; only its hash is kept).
    Create {
        /// The name users see on the consent page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several): https, http only on a loopback address,
        /// or a native app's reversed-domain scheme (com.example.app:/callback).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the user back (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (a single-page or native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Trusted by the operator: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// A grant type it may use (repeatable): authorization_code, refresh_token,
        /// client_credentials, password. Default: authorization_code and refresh_token.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// A scope it may ask for (repeatable): openid, email, profile, offline_access. Default:
        /// all four.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Its access tokens' lifetime in seconds (60–86400), instead of SESAME_ACCESS_TOKEN_TTL.
        #[arg(long, value_name = "SECS")]
        access_token_ttl: Option<u64>,
        /// Its sessions' refresh-token lifetime in seconds (300–31536000), instead of
        /// SESAME_REFRESH_TOKEN_TTL.
        #[arg(long, value_name = "SECS")]
        refresh_token_ttl: Option<u64>,
        /// How its ID tokens are signed: RS256 (default) or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
    },
    /// Print every registered client as a JSON array (never their secrets).
    List,
    /// Give a confidential client a new secret and print the client with it; the old secret
    /// stops working at once.
    RotateSecret {
        /// The client's `client_id`.
        client_id: String,
    },
    /// Delete a client.
    Delete {
        /// The client's `client_id`.
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Fill the database with many test users at once (for benchmarks and scale tests): emails
    /// `PREFIX<i>@seed.example`, usernames `PREFIX<i>`, all with one password (hashed once).
    Seed {
        /// How many users to create.
        #[arg(long)]
        count: u64,
        /// The start of every seeded email address and username.
        #[arg(long, default_value = "seed")]
        prefix: String,
        /// Password of every seeded user (test data only).
        #[arg(long, default_value = "seed passphrase for load tests 42")]
        password: String,
        #[command(flatten)]
        hashing: HashConfig,
    },
    /// Create a user (email marked verified: the operator vouches for it). The password is read
    /// from the first line of standard input and must pass the password policy.
    Create {
        /// The user's email address; they log in with it.
        #[arg(long)]
        email: String,
        /// A username they can log in with instead of the email address (optional).
        #[arg(long)]
        username: Option<String>,
        /// The name shown for them, e.g. in the admin API (optional).
        #[arg(long)]
        display_name: Option<String>,
        /// Grant the `admin` role.
        #[arg(long)]
        admin: bool,
        /// The language of their emails: en, de, fr or es (default: SESAME_DEFAULT_LOCALE's, else en).
        #[arg(long, env = "SESAME_DEFAULT_LOCALE", value_parser = crate::config::parse_locale)]
        locale: Option<sesame_domain::locale::Locale>,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        hashing: HashConfig,
    },
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Input(String),
    /// Input the domain refused: the rules are named, not "the request has invalid fields".
    #[error("{}", invalid_fields(.0))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Auth(AuthError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An operation that deletes data was not confirmed.
    #[error("{0}")]
    NotConfirmed(String),
}

impl From<FieldError> for CliError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<AuthError> for CliError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(rules) => Self::Invalid(rules),
            other => Self::Auth(other),
        }
    }
}

/// `password: a password must not contain … (rule contains_email)`, one per failed rule.
fn invalid_fields(rules: &[FieldError]) -> String {
    rules
        .iter()
        .map(|r| format!("{}: {} (rule {})", r.field, r.message, r.code))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses the command line and runs the chosen subcommand. A failure is printed once, as an
/// `error:` line on stderr, and ends the process with a non-zero exit code.
#[must_use]
pub fn main() -> ExitCode {
    // Before clap reads the environment, and before any thread exists (it sets variables).
    if let Err(e) = crate::envfile::load() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let Cli { common, command } = Cli::parse();
    // The commands that only print need neither a runtime nor a log.
    let job = match command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man { dir } => return report(man(dir.as_deref())),
        Command::Openapi => return report(openapi()),
        Command::Serve(cfg) => Job::Serve(cfg),
        Command::Migrate { action } => Job::Migrate(action),
        Command::Users { action } => Job::Users(action),
        Command::Clients { action } => Job::Clients(action),
        Command::Keys { action } => Job::Keys(action),
    };
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
    report(runtime.block_on(run(&common, job)))
}

/// The commands that work on the database (and so run on the async runtime, with a log).
enum Job {
    Serve(Box<ServeConfig>),
    Migrate(MigrateAction),
    Users(UsersAction),
    Clients(ClientsAction),
    Keys(KeysAction),
}

/// The one place a failure is shown: not also logged, so it is never printed twice.
fn report(outcome: Result<(), CliError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(common: &CommonConfig, job: Job) -> Result<(), CliError> {
    match job {
        Job::Serve(_) => crate::telemetry::init(common),
        Job::Migrate(_) | Job::Users(_) | Job::Clients(_) | Job::Keys(_) => {
            crate::telemetry::init_on_stderr(common)
        }
    }
    match job {
        Job::Serve(mut cfg) => serve(common, &mut cfg).await,
        Job::Migrate(action) => migrate(common, action).await,
        Job::Users(action) => users(common, action).await,
        Job::Clients(action) => clients(common, action).await,
        Job::Keys(action) => keys(common, action).await,
    }
}

/// `keys reencrypt`: one line per kind of secret, e.g. `signing keys: 1 re-sealed, 0 already
/// current`.
async fn keys(common: &CommonConfig, action: KeysAction) -> Result<(), CliError> {
    let KeysAction::Reencrypt { encryption } = action;
    let ring = crate::keyring::resolve(
        &encryption,
        common.database_url.expose(),
        crate::keyring::WhenUnset::Existing,
    )?;
    let db = startup::open_existing(common).await?;
    db.migrate_up().await.map_err(StartupError::from)?;
    let store = db.into_store();
    let report = crate::keyring::reencrypt(store.as_ref(), &ring).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "current encryption key: {}", ring.current.id())?;
    for r in report {
        writeln!(
            out,
            "{}: {} re-sealed, {} already current",
            r.kind.label(),
            r.resealed,
            r.current
        )?;
    }
    out.flush()?;
    Ok(())
}

fn openapi() -> Result<(), CliError> {
    let doc = crate::http::openapi()
        .to_pretty_json()
        .map_err(|e| CliError::Input(e.to_string()))?;
    println!("{doc}");
    Ok(())
}

/// The manual: sesame(1) on stdout, or every page (one per subcommand too) into `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<(), CliError> {
    // `help` is no page of its own (`generate_to` leaves it out too).
    let cmd = Cli::command().disable_help_subcommand(true);
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(cmd, dir)?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
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
    hashing: &HashConfig,
    count: u64,
    prefix: &str,
    password: &str,
) -> Result<(), CliError> {
    let password = Password::parse(password)?;
    let db = startup::open_existing(common).await?;
    db.migrate_up().await.map_err(StartupError::from)?;
    let store = db.into_store();
    let hasher = startup::hasher(hashing, 1, 1).await?;
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
                    email: Email::parse(&format!("{prefix}{i}@seed.example"))?,
                    username: Some(Username::parse(&format!("{prefix}{i}"))?),
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
            .map_err(AuthError::from)?;
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
    let db = match action {
        // Only `up` builds a schema, so only `up` may create a missing SQLite file.
        MigrateAction::Up => startup::connect(common).await?,
        MigrateAction::Down { .. } | MigrateAction::Status => {
            startup::open_existing(common).await?
        }
    };
    match action {
        MigrateAction::Up => {
            let applied = db.migrate_up().await.map_err(StartupError::from)?;
            let version = schema_version(&db).await?;
            if applied.is_empty() {
                println!("no pending migrations; schema at version {version}");
            } else {
                for m in &applied {
                    println!("applied  {:>4}  {}", m.version, m.description);
                }
                println!("schema at version {version}");
            }
        }
        MigrateAction::Down { to, yes } => {
            let plan = db.down_plan(to).await.map_err(StartupError::from)?;
            if plan.is_empty() {
                let version = schema_version(&db).await?;
                println!("nothing to revert; schema at version {version}");
                return Ok(());
            }
            confirm_down(&plan, yes)?;
            let reverted = db.migrate_down(to).await.map_err(StartupError::from)?;
            for m in &reverted {
                println!("reverted {:>4}  {}", m.version, m.description);
            }
            println!("schema at version {}", schema_version(&db).await?);
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

/// The highest applied migration (0: none).
async fn schema_version(db: &crate::storage::Database) -> Result<i64, CliError> {
    Ok(db
        .status()
        .await
        .map_err(StartupError::from)?
        .iter()
        .filter(|m| m.applied)
        .map(|m| m.version)
        .max()
        .unwrap_or(0))
}

/// Reverting a migration deletes what it holds (its tables and columns with their rows; the
/// first one holds every user), so `migrate down` goes ahead only with `--yes` or a "yes" typed
/// on a terminal. Off a terminal without `--yes` (a script, a pipe) it refuses.
fn confirm_down(plan: &[MigrationStatus], yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    let noun = if plan.len() == 1 {
        "migration"
    } else {
        "migrations"
    };
    let list = format!(
        "{noun} {}",
        plan.iter()
            .map(|m| format!("{} ({})", m.version, m.description))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let what = if plan.iter().any(|m| m.version == 1) {
        "every table and all the data in them, every user included"
    } else if plan.len() == 1 {
        "the tables and columns it added, with the data in them"
    } else {
        "the tables and columns they added, with the data in them"
    };
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::NotConfirmed(format!(
            "`migrate down` would revert {list}, deleting {what}; nothing was reverted. \
             Run it again with --yes to go ahead"
        )));
    }
    eprint!("This reverts {list}, deleting {what}.\nType yes to go ahead: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    // A blocking read on the runtime's thread is fine here: nothing else runs meanwhile.
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::NotConfirmed(
            "not confirmed; nothing was reverted".into(),
        ))
    }
}

/// `clients …`: every answer is the admin API's JSON for the client(s), one document on stdout.
async fn clients(common: &CommonConfig, action: ClientsAction) -> Result<(), CliError> {
    use crate::http::clients::ClientResponse;
    use sesame_domain::client::{ClientId, ClientInput, ClientKind};
    // No password is hashed here; the operator's hasher is built with the defaults and unused.
    let hashing = HashConfig {
        argon2_memory_kib: 19_456,
        argon2_iterations: 2,
        argon2_parallelism: 1,
    };
    let id = |raw: &str| {
        ClientId::parse(raw).ok_or_else(|| CliError::Input(format!("`{raw}` is not a client_id")))
    };
    let here = ClientInfo::default();
    let out = match action {
        ClientsAction::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            grants,
            scopes,
            access_token_ttl,
            refresh_token_ttl,
            id_token_alg,
        } => {
            let settings = ClientInput {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grants: (!grants.is_empty()).then_some(grants),
                scopes: (!scopes.is_empty()).then_some(scopes),
                first_party,
                access_token_ttl,
                refresh_token_ttl,
                id_token_alg,
            }
            .parse()
            .map_err(CliError::Invalid)?;
            let kind = if public {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            };
            let operator = startup::operator(common, &hashing).await?;
            let (c, secret) = operator.create_client(&here, kind, settings).await?;
            serde_json::to_value(ClientResponse::new(&c, secret.as_ref()))
        }
        ClientsAction::List => {
            let operator = startup::operator(common, &hashing).await?;
            let all = operator.clients().await?;
            serde_json::to_value(
                all.iter()
                    .map(|c| ClientResponse::new(c, None))
                    .collect::<Vec<_>>(),
            )
        }
        ClientsAction::RotateSecret { client_id } => {
            let client_id = id(&client_id)?;
            let operator = startup::operator(common, &hashing).await?;
            let (c, secret) = operator.rotate_client_secret(&here, client_id).await?;
            serde_json::to_value(ClientResponse::new(&c, Some(&secret)))
        }
        ClientsAction::Delete { client_id } => {
            let client_id = id(&client_id)?;
            let operator = startup::operator(common, &hashing).await?;
            operator.delete_client(&here, client_id).await?;
            Ok(serde_json::json!({ "deleted": client_id.to_string() }))
        }
    }
    .map_err(|e| CliError::Input(e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &out).map_err(|e| CliError::Input(e.to_string()))?;
    writeln!(stdout)?;
    Ok(())
}

async fn users(common: &CommonConfig, action: UsersAction) -> Result<(), CliError> {
    let (email, username, display_name, admin, locale, hashing) = match action {
        UsersAction::Create {
            email,
            username,
            display_name,
            admin,
            locale,
            password_stdin: _,
            hashing,
        } => (email, username, display_name, admin, locale, hashing),
        UsersAction::Seed {
            count,
            prefix,
            password,
            hashing,
        } => return seed(common, &hashing, count, &prefix, &password).await,
    };
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    // Every field is checked before anything is refused, so one run names every problem.
    let mut invalid = Vec::new();
    let email = noted(Email::parse(&email), &mut invalid);
    let username = noted(
        username.as_deref().map(Username::parse).transpose(),
        &mut invalid,
    );
    let display_name = noted(
        display_name.as_deref().map(DisplayName::parse).transpose(),
        &mut invalid,
    );
    let password = noted(Password::parse(password), &mut invalid);
    let (Some(email), Some(username), Some(display_name), Some(password)) =
        (email, username, display_name, password)
    else {
        return Err(CliError::Invalid(invalid));
    };
    let reg = Registration {
        email,
        username,
        display_name,
        password,
        locale,
    };
    // The shell user holds the database and the configuration: the local operator.
    let operator = startup::operator(common, &hashing).await?;
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

/// The value, or `None` with its error added to `invalid`.
fn noted<T>(parsed: Result<T, FieldError>, invalid: &mut Vec<FieldError>) -> Option<T> {
    parsed.map_err(|e| invalid.push(e)).ok()
}
