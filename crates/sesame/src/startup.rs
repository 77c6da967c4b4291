//! Turning configuration into a running application: connect the database, migrate, load or
//! create the signing key, build the hasher and the services. Shared by `sesame serve`, the CLI
//! and the tests, so all three start the server the same way; the CLI's operator commands get
//! the same services from [`operator`].

use crate::config::{CommonConfig, HashConfig, JwtAlg, ListenAddr, ServeConfig};
use crate::http::{self, AppState, Shared};
use crate::storage::{ConnectError, Create, Database};
use sesame_domain::client::IdTokenAlg;
use sesame_domain::clock::{Clock, SystemClock, Timestamp};
use sesame_domain::id_token::IdTokenSigner;
use sesame_domain::mail::MailTransport;
use sesame_domain::outbox::{OutboxSettings, OutboxWorker};
use sesame_domain::password::{HashParams, PasswordHasher};
use sesame_domain::policy::PasswordPolicy;
use sesame_domain::seal::{Keyring, SecretKind};
use sesame_domain::service::{
    Admin, Core, EmailSettings, LockoutSettings, MfaSettings, Services, SessionSettings,
};
use sesame_domain::store::Store;
use sesame_domain::token::{StoredKey, TokenIssuer, TokenSettings};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("encryption key: {0}")]
    Encryption(String),
    #[error("mail: {0}")]
    Mail(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: ListenAddr,
        source: std::io::Error,
    },
}

/// Connects to the configured database, creating a missing SQLite file: for the commands that
/// build the schema (`serve`, `migrate up`).
///
/// # Errors
/// [`StartupError::Database`] with what to fix.
pub async fn connect(common: &CommonConfig) -> Result<Database, StartupError> {
    open(common, Create::IfMissing).await
}

/// Connects to the configured database, which must exist: for every other command, so that one
/// run in the wrong directory says so instead of creating an empty `sesame.db`.
///
/// # Errors
/// [`StartupError::Database`] with what to fix ([`ConnectError::Missing`] for a SQLite file
/// that is not there).
pub async fn open_existing(common: &CommonConfig) -> Result<Database, StartupError> {
    open(common, Create::Never).await
}

async fn open(common: &CommonConfig, create: Create) -> Result<Database, StartupError> {
    let settings = crate::storage::pool::PoolSettings {
        max_connections: common.database_max_connections,
        acquire_timeout: common.database_acquire_timeout,
        statement_timeout: common.database_statement_timeout,
    };
    Ok(Database::open(common.database_url.expose(), &settings, create).await?)
}

/// The password hasher for these settings. Builds its dummy hash off the async runtime.
///
/// # Errors
/// [`StartupError::Config`] when argon2 rejects the parameters.
pub async fn hasher(
    hashing: &HashConfig,
    workers: usize,
    queue: usize,
) -> Result<Arc<PasswordHasher>, StartupError> {
    let params = HashParams {
        memory_kib: hashing.argon2_memory_kib,
        iterations: hashing.argon2_iterations,
        parallelism: hashing.argon2_parallelism,
    };
    tokio::task::spawn_blocking(move || PasswordHasher::new(params, workers, queue))
        .await
        .map_err(|e| crate::config::ConfigError(e.to_string()))?
        .map(Arc::new)
        .map_err(|e| crate::config::ConfigError(format!("SESAME_ARGON2_*: {e}")).into())
}

/// Every active signing key, opened. A first key of each algorithm (Ed25519 for access and ID
/// tokens, RSA for RS256 ID tokens) is generated, stamped `now`, when the store holds none; the
/// store's unique index lets exactly one node's insert win, and every node then reads the same
/// rows. The keys are stored sealed under `ring`: legacy plaintext rows are sealed in place
/// first, then every key is opened once, here, so signing never touches the ring.
async fn signing_keys(
    store: &dyn Store,
    ring: &Keyring,
    now: Timestamp,
) -> Result<Vec<StoredKey>, StartupError> {
    let keys_err = |e: sesame_domain::StoreError| StartupError::Keys(e.to_string());
    crate::keyring::seal_legacy(store, ring, SecretKind::SigningKey).await?;
    let mut rows = store.signing_keys().await.map_err(keys_err)?;
    for alg in [IdTokenAlg::EdDsa, IdTokenAlg::Rs256] {
        if rows.iter().any(|k| k.algorithm == alg.as_str()) {
            continue;
        }
        // RSA key generation takes a good part of a second (many seconds in an unoptimised
        // build): off the async runtime, and at most once per process (see `rsa_key`).
        let key = tokio::task::spawn_blocking(move || match alg {
            IdTokenAlg::EdDsa => StoredKey::generate_ed25519(now),
            IdTokenAlg::Rs256 => rsa_key(now),
        })
        .await
        .map_err(|e| StartupError::Keys(e.to_string()))?
        .map_err(|e| StartupError::Keys(e.to_string()))?;
        let stored = store
            .insert_primary_signing_key(&key.seal(ring))
            .await
            .map_err(keys_err)?;
        if stored {
            tracing::info!(kid = %key.kid, algorithm = alg.as_str(), key_id = %ring.current.id(), "generated a new signing key");
        }
        rows = store.signing_keys().await.map_err(keys_err)?;
    }
    rows.iter()
        .map(|k| {
            k.open(ring)
                .map_err(|e| StartupError::Keys(format!("key {}: {e}", k.kid)))
        })
        .collect()
}

/// A new RS256 key for a store that has none. The RSA key pair is generated once per process:
/// a server process opens one database, so this changes nothing for it, while a process that
/// starts many servers on fresh databases (the test suite) does not pay for a prime search each
/// time. Each store still gets its own `kid` and creation time.
fn rsa_key(now: Timestamp) -> Result<StoredKey, sesame_domain::AuthError> {
    static PAIR: std::sync::OnceLock<StoredKey> = std::sync::OnceLock::new();
    let pair = match PAIR.get() {
        Some(p) => p.clone(),
        None => {
            let fresh = sesame_domain::id_token::generate_rs256(now)?;
            PAIR.get_or_init(|| fresh).clone()
        }
    };
    let mine = sesame_domain::id_token::generate_kid();
    Ok(StoredKey {
        kid: mine,
        created_at: now,
        ..pair
    })
}

/// The configured access-token issuer over `keys` (Ed25519), or the HS256 shared secret.
fn token_issuer(cfg: &ServeConfig, keys: &[StoredKey]) -> Result<TokenIssuer, StartupError> {
    let settings = TokenSettings {
        issuer: cfg.public_url.clone(),
        audience: cfg.jwt_audience.clone(),
        access_ttl: cfg.access_token_ttl,
        leeway: cfg.jwt_leeway,
    };
    match cfg.jwt_algorithm {
        JwtAlg::Hs256 => {
            let secret = cfg.secret_key.as_ref().ok_or_else(|| {
                StartupError::Keys("SESAME_SECRET_KEY is required for HS256".into())
            })?;
            Ok(TokenIssuer::hs256(secret.expose().as_bytes(), settings))
        }
        JwtAlg::EdDsa => TokenIssuer::ed25519(keys, settings).map_err(StartupError::Keys),
    }
}

/// The key ring of `serve`: always present, generated beside a SQLite database when unset, and
/// required on PostgreSQL even with HS256 tokens: TOTP secrets are sealed under it, and any user
/// can enrol an authenticator app (once this allowed HS256 without a key, and enrolling one
/// failed with a 500).
///
/// # Errors
/// As [`crate::keyring::resolve`].
pub fn serve_keyring(common: &CommonConfig, cfg: &ServeConfig) -> Result<Keyring, StartupError> {
    crate::keyring::resolve(
        &cfg.encryption,
        common.database_url.expose(),
        crate::keyring::WhenUnset::Serve,
    )
}

/// The configured mail transport.
fn transport(cfg: &ServeConfig) -> Result<Arc<dyn MailTransport>, StartupError> {
    use crate::mail::{
        templates::Templates, FileTransport, LogTransport, SmtpTransport, TransportKind,
    };
    let m = &cfg.mail;
    let templates = Arc::new(
        Templates::load(m.mail_templates_dir.as_deref(), m.default_locale)
            .map_err(StartupError::Mail)?,
    );
    let from = m
        .mail_from
        .parse()
        .map_err(|e| StartupError::Mail(format!("SESAME_MAIL_FROM: {e}")))?;
    Ok(match m.mail_transport {
        TransportKind::Log => Arc::new(LogTransport::new(templates)),
        TransportKind::Smtp => {
            let url = m.smtp_url.as_ref().ok_or_else(|| {
                StartupError::Mail("SESAME_SMTP_URL is required with the smtp transport".into())
            })?;
            Arc::new(
                SmtpTransport::new(
                    url.expose(),
                    m.smtp_ca_file.as_deref(),
                    from,
                    m.smtp_timeout,
                    templates,
                )
                .map_err(StartupError::Mail)?,
            )
        }
        TransportKind::File => Arc::new(
            FileTransport::new(m.mail_dir.clone(), from, templates).map_err(StartupError::Mail)?,
        ),
    })
}

/// Builds the application state and the outbox worker: database (migrated unless turned off),
/// keys, hasher, mail transport, services, all reading time from `clock`.
///
/// # Errors
/// A [`StartupError`] saying what failed and what to fix.
pub async fn build_state(
    common: &CommonConfig,
    cfg: &ServeConfig,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, OutboxWorker), StartupError> {
    // The database first: an unreachable one is reported before anything else.
    let db = connect(common).await?;
    let keyring = serve_keyring(common, cfg)?;
    let schema = migrate_at_start(&db, cfg.auto_migrate).await?;
    let (store, session_cache) = db
        .into_server_store(common.database_url.expose(), cfg.session_cache_ttl)
        .await;
    let keys = signing_keys(store.as_ref(), &keyring, clock.now()).await?;
    let tokens = token_issuer(cfg, &keys)?.with_clock(Arc::clone(&clock));
    let ids = IdTokenSigner::new(&keys).map_err(StartupError::Keys)?;
    let hasher = hasher(&cfg.hashing, cfg.hash_workers(), cfg.hash_queue).await?;
    let m = &cfg.mail;
    let signal = Arc::new(tokio::sync::Notify::new());
    let limits = rate_limits(cfg)?;
    // One line that says what this node runs on; never a credential (see `describe_*`).
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        storage = %describe_storage(common),
        mail = %crate::mail::describe(
            m.mail_transport,
            m.smtp_url.as_ref().map(crate::config::DatabaseUrl::expose),
            &m.mail_dir,
        ),
        rate_limiter = %describe_rate_limiter(cfg),
        migrations = %schema.summary(),
        schema_version = schema.version,
        "sesame starting"
    );
    let worker = OutboxWorker::new(
        Arc::clone(&store),
        transport(cfg)?,
        Arc::clone(&signal),
        OutboxSettings {
            poll_interval: m.mail_poll_interval,
            base_backoff: m.mail_retry_base,
            max_backoff: m.mail_retry_max,
            max_attempts: m.mail_max_attempts,
            lease: m
                .smtp_timeout
                .saturating_mul(3)
                .max(std::time::Duration::from_secs(30)),
            batch: 20,
        },
    )
    .with_clock(Arc::clone(&clock));
    let passkeys = cfg.passkey_rp()?;
    match &passkeys {
        Some(rp) => tracing::info!(rp_id = rp.rp_id(), "passkeys enabled"),
        None => tracing::info!(
            "passkeys off: SESAME_PUBLIC_URL is an IP address or plain http off localhost; set SESAME_WEBAUTHN_RP_ID and SESAME_WEBAUTHN_ORIGINS to enable them"
        ),
    }
    let core = Arc::new(Core::new(
        store,
        hasher,
        PasswordPolicy::new(cfg.abuse.password_min_score)
            .map_err(|e| crate::config::ConfigError(format!("SESAME_PASSWORD_MIN_SCORE: {e}")))?,
        EmailSettings {
            link_base: m.app_url.clone().unwrap_or_else(|| cfg.public_url.clone()),
            verify_ttl: m.verify_token_ttl,
            reset_ttl: m.reset_token_ttl,
            change_ttl: m.email_change_token_ttl,
            invite_ttl: m.invite_token_ttl,
            default_locale: m.default_locale,
            require_verified: m.require_verified_email,
            resend_interval: m.verify_resend_interval,
        },
        signal,
        clock,
        MfaSettings {
            required: cfg.mfa_required.into(),
            challenge_ttl: cfg.mfa_challenge_ttl,
            max_challenge_failures: 5,
            reauth_max_age: cfg.reauth_max_age,
            totp_issuer: m.product_name.as_str().to_owned(),
        },
        Some(Arc::new(keyring)),
        passkeys,
    ));
    // Startup acts as the local operator: it holds the database and the configuration.
    bootstrap_admin(Admin::local_operator(Arc::clone(&core)), cfg).await?;
    let services = Services::new(
        core,
        tokens,
        ids,
        SessionSettings {
            refresh_ttl: cfg.refresh_token_ttl,
            reuse_grace: cfg.refresh_reuse_grace,
        },
        LockoutSettings {
            threshold: cfg.lockout_threshold,
            base: cfg.lockout_base,
            max: cfg.lockout_max,
            device_ttl: cfg.device_token_ttl,
        },
    );
    Ok((
        AppState::new(Shared {
            sign_in: services.sign_in,
            account: services.account,
            admin: services.admin,
            factors: services.factors,
            provider: services.provider,
            http: Arc::new(http::security::HttpSettings {
                cors_origins: cfg.http.cors_origins.clone(),
                hsts: cfg.public_url.starts_with("https://"),
                request_timeout: cfg.http.request_timeout,
                cookie_mode: cfg.http.cookie_mode,
                password_grant: cfg.http.password_grant,
                public_origin: origin_of(&cfg.public_url),
                refresh_ttl: cfg.refresh_token_ttl,
                device_ttl: cfg.device_token_ttl,
            }),
            in_flight: http::security::in_flight(cfg.http.max_in_flight),
            max_in_flight: cfg.http.max_in_flight,
            metrics: Arc::new(crate::metrics::Metrics::new(session_cache)),
            metrics_token: cfg.http.metrics_token.clone(),
            max_body_bytes: cfg.http.max_body_bytes,
            limits: Arc::new(limits),
            trusted_proxies: Arc::new(trusted_proxies(cfg)?),
            detached: tokio_util::task::TaskTracker::new(),
            client_bounds: Arc::new(http::client_bounds::ClientBounds::new(
                cfg.http.max_in_flight_per_client(),
                cfg.http.body_read_timeout,
                cfg.http.max_body_bytes,
            )),
            pages: Arc::new(http::pages::PageSettings::new(
                http::pages::Branding {
                    product_name: m.product_name.clone(),
                    logo_url: m.logo_url.clone(),
                    accent: m.accent_color,
                    app_url: m.app_url.clone(),
                },
                &origin_of(&cfg.public_url),
                cfg.abuse.password_min_score,
                m.default_locale,
            )),
        }),
        worker,
    ))
}

/// What startup found and did to the schema, for the startup line.
struct SchemaAtStart {
    /// The migrations this start applied, as `VERSION description`.
    applied: Vec<String>,
    /// Still pending (only when auto-migration is off).
    pending: usize,
    /// The highest applied version (0: none).
    version: i64,
}

impl SchemaAtStart {
    fn summary(&self) -> String {
        match (self.applied.is_empty(), self.pending) {
            (true, 0) => format!("schema up to date at version {}", self.version),
            (true, n) => format!(
                "{n} migration(s) pending and SESAME_AUTO_MIGRATE is off (run `sesame migrate \
                 up`); schema at version {}",
                self.version
            ),
            (false, _) => format!(
                "applied {}; schema at version {}",
                self.applied.join(", "),
                self.version
            ),
        }
    }
}

/// Applies the pending migrations when `apply` is set, noting which ran.
async fn migrate_at_start(db: &Database, apply: bool) -> Result<SchemaAtStart, StartupError> {
    if !apply {
        let before = db.status().await?;
        return Ok(SchemaAtStart {
            applied: Vec::new(),
            pending: before.iter().filter(|m| !m.applied).count(),
            version: before
                .iter()
                .filter(|m| m.applied)
                .map(|m| m.version)
                .max()
                .unwrap_or(0),
        });
    }
    // Always through `migrate_up`, even with nothing pending: it also checks that the applied
    // migrations still match their files.
    let applied = db.migrate_up().await?;
    let version = db
        .status()
        .await?
        .iter()
        .filter(|m| m.applied)
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    Ok(SchemaAtStart {
        applied: applied
            .iter()
            .map(|m| format!("{} {}", m.version, m.description))
            .collect(),
        pending: 0,
        version,
    })
}

/// Binds the listening socket. A host name is resolved here; of its addresses, IPv4 ones are
/// tried first (so `localhost:8080` serves `http://127.0.0.1:8080`, the default public URL, on
/// systems that resolve `localhost` to `::1` first), and the first that binds is used. The
/// "listening" log line names the address actually bound.
async fn bind(listen: &crate::config::ListenAddr) -> Result<tokio::net::TcpListener, StartupError> {
    let failed = |source| StartupError::Bind {
        addr: listen.clone(),
        source,
    };
    let mut addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen.as_str())
        .await
        .map_err(failed)?
        .collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    let mut last = std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        "the host name resolves to no address",
    );
    for addr in addrs {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(failed(last))
}

/// The database for the startup line: `sqlite PATH` or `postgres HOST:PORT/DB`.
fn describe_storage(common: &CommonConfig) -> String {
    crate::storage::reach::Target::of_url(common.database_url.expose())
        .map_or_else(|| "unknown".to_owned(), |t| t.to_string())
}

/// The rate limiter for the startup line: `memory`, or `redis HOST:PORT (fail open|closed)`.
/// The URL's password is never part of it.
fn describe_rate_limiter(cfg: &ServeConfig) -> String {
    let a = &cfg.abuse;
    let Some(url) = &a.redis_url else {
        return "memory".to_owned();
    };
    let mode = match a.rate_limit_fail_mode {
        crate::config::FailModeArg::Open => "fail open",
        crate::config::FailModeArg::Closed => "fail closed",
    };
    let place = url::Url::parse(url.expose())
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!(" {h}:{}", u.port().unwrap_or(6379)))
        })
        .unwrap_or_default();
    format!("redis{place} ({mode})")
}

/// The admin capability of the local operator, for the CLI's `users` commands: the same
/// services the server runs, over the configured database (which must exist; it is migrated
/// first), with the default
/// password policy. They send no mail (the operator vouches for the addresses it creates), so
/// the email settings carry no link base and no lifetimes.
///
/// # Errors
/// A [`StartupError`] when the database or the hasher cannot be set up.
pub async fn operator(common: &CommonConfig, hashing: &HashConfig) -> Result<Admin, StartupError> {
    let db = open_existing(common).await?;
    db.migrate_up().await?;
    let core = Core::new(
        db.into_store(),
        hasher(hashing, 1, 1).await?,
        PasswordPolicy::default(),
        EmailSettings {
            link_base: String::new(),
            verify_ttl: std::time::Duration::ZERO,
            reset_ttl: std::time::Duration::ZERO,
            change_ttl: std::time::Duration::ZERO,
            invite_ttl: std::time::Duration::ZERO,
            default_locale: sesame_domain::locale::Locale::default(),
            require_verified: false,
            resend_interval: std::time::Duration::ZERO,
        },
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(SystemClock),
        MfaSettings::default(),
        None,
        None,
    );
    Ok(Admin::local_operator(Arc::new(core)))
}

/// Creates the configured first admin when no active admin exists.
async fn bootstrap_admin(operator: Admin, cfg: &ServeConfig) -> Result<(), StartupError> {
    use crate::config::ConfigError;
    let Some(email) = &cfg.bootstrap_admin_email else {
        return Ok(());
    };
    let email = sesame_domain::model::Email::parse(email)
        .map_err(|e| ConfigError(format!("SESAME_BOOTSTRAP_ADMIN_EMAIL: {e}")))?;
    let password = match (
        &cfg.bootstrap_admin_password,
        &cfg.bootstrap_admin_password_file,
    ) {
        (_, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| {
                ConfigError(format!(
                    "SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE {}: {e}",
                    path.display()
                ))
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        (Some(p), None) => p.expose().to_owned(),
        (None, None) => return Ok(()),
    };
    let password = sesame_domain::password::Password::parse(&password)
        .map_err(|e| ConfigError(format!("SESAME_BOOTSTRAP_ADMIN_PASSWORD: {e}")))?;
    operator
        .bootstrap_admin(email, password)
        .await
        .map_err(|e| ConfigError(bootstrap_failure(&e)))?;
    Ok(())
}

/// What an operator reads when the bootstrap admin cannot be created: a policy refusal names
/// the setting and every failing rule (code and sentence), not only "invalid fields".
fn bootstrap_failure(e: &sesame_domain::AuthError) -> String {
    match e {
        sesame_domain::AuthError::Validation(rules) => {
            let rules: Vec<String> = rules
                .iter()
                .map(|r| format!("{} `{}`: {}", r.field, r.code, r.message))
                .collect();
            format!(
                "bootstrap admin: SESAME_BOOTSTRAP_ADMIN_PASSWORD breaks the password policy: {}",
                rules.join("; ")
            )
        }
        other => format!("bootstrap admin: {other}"),
    }
}

/// The rate limiter: Redis with an in-process fallback when `SESAME_REDIS_URL` is set, else
/// in-process only.
fn rate_limits(cfg: &ServeConfig) -> Result<http::ratelimit::RateLimits, StartupError> {
    use crate::limits::{FailMode, FallbackLimiter, MemoryLimiter, RateLimiter, RedisLimiter};
    let a = &cfg.abuse;
    let limiter: Arc<dyn RateLimiter> = match &a.redis_url {
        None => Arc::new(MemoryLimiter::new()),
        Some(url) => {
            let redis = RedisLimiter::new(url.expose())
                .map_err(|e| crate::config::ConfigError(format!("SESAME_REDIS_URL: {e}")))?;
            let mode = match a.rate_limit_fail_mode {
                crate::config::FailModeArg::Open => FailMode::Open,
                crate::config::FailModeArg::Closed => FailMode::Closed,
            };
            Arc::new(FallbackLimiter::new(redis, MemoryLimiter::new(), mode))
        }
    };
    Ok(http::ratelimit::RateLimits {
        limiter,
        rules: http::ratelimit::RateRules {
            login_ip: a.rate_login_ip,
            login_account: a.rate_login_account,
            register_ip: a.rate_register_ip,
            forgot_ip: a.rate_forgot_ip,
            forgot_email: a.rate_forgot_email,
            resend_ip: a.rate_resend_ip,
            resend_email: a.rate_resend_email,
            email_change_ip: a.rate_email_change_ip,
            email_change_user: a.rate_email_change_user,
        },
    })
}

fn trusted_proxies(cfg: &ServeConfig) -> Result<http::client_ip::TrustedProxies, StartupError> {
    use http::client_ip::{ProxyHeader, TrustedProxies};
    let header = match cfg.abuse.trusted_proxy_header {
        crate::config::ProxyHeaderArg::XForwardedFor => ProxyHeader::XForwardedFor,
        crate::config::ProxyHeaderArg::Forwarded => ProxyHeader::Forwarded,
        crate::config::ProxyHeaderArg::PreferForwarded => ProxyHeader::PreferForwarded,
    };
    Ok(TrustedProxies::parse(&cfg.abuse.trusted_proxies)
        .map_err(|e| crate::config::ConfigError(format!("SESAME_TRUSTED_PROXIES: {e}")))?
        .reading(header))
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}")
}

/// A server bound to its port, not yet serving: tests bind `127.0.0.1:0` and read the port.
pub struct Application {
    pub listener: tokio::net::TcpListener,
    pub state: AppState,
    pub worker: OutboxWorker,
    pub limits: http::server::ConnLimits,
}

impl Application {
    /// Validates the configuration, builds the state and binds the listener.
    ///
    /// # Errors
    /// A [`StartupError`] saying what failed and what to fix.
    pub async fn build(common: &CommonConfig, cfg: &mut ServeConfig) -> Result<Self, StartupError> {
        Self::build_with_clock(common, cfg, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with every time-based rule reading `clock`: the tests' hook
    /// for moving time (a `ManualClock`) instead of sleeping. Not a setting: a deployment always
    /// runs on the system clock.
    ///
    /// # Errors
    /// A [`StartupError`] saying what failed and what to fix.
    pub async fn build_with_clock(
        common: &CommonConfig,
        cfg: &mut ServeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        cfg.validate()?;
        let (state, worker) = build_state(common, cfg, clock).await?;
        let listener = bind(&cfg.listen).await?;
        let h = &cfg.http;
        Ok(Self {
            listener,
            state,
            worker,
            limits: http::server::ConnLimits {
                max_header_bytes: h.max_header_bytes,
                header_read_timeout: h.header_read_timeout,
                shutdown_grace: std::time::Duration::from_secs(10),
            },
        })
    }

    /// The bound address (the real port when 0 was asked for).
    ///
    /// # Errors
    /// The socket's error if the address cannot be read.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves HTTP and runs the outbox worker until `shutdown` resolves. The worker stops with
    /// the server (also when serving fails); it is awaited, so the deliveries it has claimed are
    /// recorded rather than left leased.
    ///
    /// # Errors
    /// The I/O error that stopped the server.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Dropping the sender (when serving ends, however it ends) stops the worker.
        let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(self.worker.run(async move {
            let _ = worker_stopped.await;
        }));
        let detached = self.state.detached.clone();
        let grace = self.limits.shutdown_grace;
        let served = http::server::serve(
            self.listener,
            http::app(self.state),
            self.limits,
            async move {
                shutdown.await;
                drop(stop_worker);
            },
        )
        .await;
        // Requests whose clients left still finish their work (see `http/detach.rs`).
        detached.close();
        if tokio::time::timeout(grace, detached.wait()).await.is_err() {
            tracing::warn!(
                remaining = detached.len(),
                "shutdown grace period over with request work still running"
            );
        }
        if let Err(e) = worker.await {
            if e.is_panic() {
                tracing::error!(error = %e, "the outbox worker panicked");
            }
        }
        served
    }
}
