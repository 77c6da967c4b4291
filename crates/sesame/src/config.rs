//! Configuration: one typed struct, read from `SESAME_*` environment variables or the
//! equivalent command-line flags (flags win), validated once at startup with messages that say
//! what to fix, and passed in — never a global.
//!
//! Secrets ([`Secret`], [`DatabaseUrl`]) print as `***` in `Debug`, so a logged config never
//! leaks them. This module does not open connections or start anything.

use crate::secret::Secret;
use clap::{Args, ValueEnum};
use sesame_domain::locale::Locale;
use sesame_domain::passkey::{PasskeyConfigError, PasskeyRp};
use std::fmt;
use std::time::Duration;

/// A database URL whose password, if any, is hidden in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any `user:password@` password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> String {
        let s = &self.0;
        let Some(scheme_end) = s.find("://") else {
            return s.clone();
        };
        let rest = &s[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => format!(
                "{}{}:***{}",
                &s[..scheme_end + 3],
                &authority[..colon],
                &rest[at..]
            ),
            _ => s.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Where `serve` listens: `HOST:PORT`, the host an IP address (`127.0.0.1`, `0.0.0.0`, `[::1]`)
/// or a name (`localhost`). A name is resolved when the listener is bound (the first of its
/// addresses that can be bound wins), not when the flag is read.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenAddr(String);

impl ListenAddr {
    /// The `HOST:PORT` text, as `tokio::net::TcpListener::bind` takes it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        if s.parse::<std::net::SocketAddr>().is_ok() {
            return Ok(Self(s.to_owned()));
        }
        let form = || {
            format!("`{raw}` is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080)")
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(form)?;
        port.parse::<u16>()
            .map_err(|_| format!("`{raw}`: the port must be a number from 0 to 65535"))?;
        // Not an IP address, so a host name (RFC 1123 section 2.1 labels). A bare IPv6 address
        // (`::1:8080`) lands here and is refused: it needs brackets (`[::1]:8080`).
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !name_ok {
            return Err(form());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Parses `500ms`, `30s`, `15m`, `12h` or `30d`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration: use e.g. 30s, 15m, 12h, 30d"))?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{raw}` is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        // A bare number is refused rather than guessed: `SESAME_ACCESS_TOKEN_TTL=15` meant as
        // minutes must not silently become 15 seconds.
        "" => Err(format!(
            "`{raw}` has no unit: add one of ms, s, m, h or d (e.g. {n}s or {n}m)"
        )),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!("`{raw}` has an unknown unit: use ms, s, m, h or d")),
    }
}

/// Parses a supported language tag (`en`, `de`, `fr`, `es`; a region such as `de-AT` is its
/// language).
///
/// # Errors
/// A message naming the accepted tags.
pub fn parse_locale(raw: &str) -> Result<Locale, String> {
    let tags: Vec<&str> = Locale::ALL.iter().map(|l| l.as_str()).collect();
    Locale::from_tag(raw.trim()).ok_or_else(|| {
        format!(
            "`{raw}` is not a supported language: use one of {}",
            tags.join(", ")
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlg {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "HS256")]
    Hs256,
}

/// The `--help` headings, so that `serve --help` reads as groups and the man page has a section
/// per group. Global flags (every subcommand) carry "(every command)" in theirs.
pub mod heading {
    pub const DATABASE_GLOBAL: &str = "Database (every command)";
    pub const LOGGING_GLOBAL: &str = "Logging (every command)";
    pub const HTTP: &str = "HTTP";
    pub const TOKENS: &str = "Tokens and sessions";
    pub const MAIL: &str = "Mail";
    pub const PAGES: &str = "Pages and languages";
    pub const ABUSE: &str = "Abuse protection";
    pub const PASSWORDS: &str = "Passwords and hashing";
    pub const STARTUP: &str = "Startup";
    pub const SECOND_FACTOR: &str = "Second factors and step-up";
    pub const PASSKEYS: &str = "Passkeys (WebAuthn)";
    pub const SECRETS: &str = "Secrets at rest";
}

/// Settings shared by every subcommand: where the data lives and how to log.
#[derive(Debug, Clone, Args)]
pub struct CommonConfig {
    /// Database URL: sqlite://PATH (the file is created by `serve` and `migrate up` only) or
    /// postgres://USER:PASS@HOST/DB.
    #[arg(
        long,
        env = "SESAME_DATABASE_URL",
        default_value = "sqlite://sesame.db",
        global = true,
        help_heading = heading::DATABASE_GLOBAL
    )]
    pub database_url: DatabaseUrl,

    /// Maximum open database connections per Sesame node.
    #[arg(
        long,
        env = "SESAME_DATABASE_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true,
        help_heading = heading::DATABASE_GLOBAL
    )]
    pub database_max_connections: u32,

    /// Longest wait for a database connection; beyond it the request answers 503
    /// `database_unavailable` (a stopped or unreachable database is noticed after this long).
    #[arg(
        long,
        env = "SESAME_DATABASE_ACQUIRE_TIMEOUT",
        default_value = "3s",
        value_parser = parse_duration,
        global = true,
        help_heading = heading::DATABASE_GLOBAL
    )]
    pub database_acquire_timeout: Duration,

    /// Longest one SQL statement may run (PostgreSQL `statement_timeout`); beyond it the
    /// request answers 503 `database_unavailable`. `0s`: no limit.
    #[arg(
        long,
        env = "SESAME_DATABASE_STATEMENT_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        global = true,
        help_heading = heading::DATABASE_GLOBAL
    )]
    pub database_statement_timeout: Duration,

    /// Log format; default: json when stdout is not a terminal, pretty when it is.
    #[arg(
        long,
        env = "SESAME_LOG_FORMAT",
        value_enum,
        global = true,
        help_heading = heading::LOGGING_GLOBAL
    )]
    pub log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `sesame=debug,sqlx=warn`.
    #[arg(
        long,
        env = "SESAME_LOG_LEVEL",
        default_value = "info",
        global = true,
        help_heading = heading::LOGGING_GLOBAL
    )]
    pub log_level: String,
}

/// argon2id parameters of new password hashes: for the commands that hash (`serve`, `users
/// create`, `users seed`).
#[derive(Debug, Clone, Args)]
pub struct HashConfig {
    /// argon2id memory cost in KiB (OWASP: 19456).
    #[arg(
        long,
        env = "SESAME_ARGON2_MEMORY_KIB",
        default_value_t = 19_456,
        help_heading = heading::PASSWORDS
    )]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (OWASP: 2).
    #[arg(
        long,
        env = "SESAME_ARGON2_ITERATIONS",
        default_value_t = 2,
        help_heading = heading::PASSWORDS
    )]
    pub argon2_iterations: u32,

    /// argon2id lanes (OWASP: 1).
    #[arg(
        long,
        env = "SESAME_ARGON2_PARALLELISM",
        default_value_t = 1,
        help_heading = heading::PASSWORDS
    )]
    pub argon2_parallelism: u32,
}

/// The application key that seals secrets at rest (the Ed25519 signing key; TOTP secrets): for
/// the commands that read or write them (`serve`, `keys reencrypt`). Where a missing key comes
/// from (generated beside a SQLite database, refused on PostgreSQL) is `startup`'s decision.
#[derive(Debug, Clone, Args)]
pub struct EncryptionConfig {
    /// Application key sealing secrets at rest (the signing key, TOTP secrets): base64 of 32
    /// random bytes, e.g. `openssl rand -base64 32`. Unset on SQLite: generated at first start
    /// into a `.key` file beside the database file (`sesame.db` → `sesame.key`); required on
    /// PostgreSQL (also with HS256 tokens). Keep it apart from database backups.
    #[arg(
        long,
        env = "SESAME_ENCRYPTION_KEY",
        hide_env_values = true,
        help_heading = heading::SECRETS
    )]
    pub encryption_key: Option<Secret>,

    /// A file holding that key (base64, first line), e.g. a mounted secret; instead of
    /// SESAME_ENCRYPTION_KEY.
    #[arg(long, env = "SESAME_ENCRYPTION_KEY_FILE", help_heading = heading::SECRETS)]
    pub encryption_key_file: Option<std::path::PathBuf>,

    /// Earlier keys, comma-separated, that still open values but never seal new ones: set them
    /// while rotating, run `sesame keys reencrypt`, then remove them.
    #[arg(
        long,
        env = "SESAME_ENCRYPTION_PREVIOUS_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        num_args = 0..,
        help_heading = heading::SECRETS
    )]
    pub encryption_previous_keys: Vec<Secret>,
}

/// Settings of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on: HOST:PORT, where HOST is an IP address (`0.0.0.0`, `[::1]`) or a
    /// name (`localhost`) resolved when the server starts.
    #[arg(long, env = "SESAME_LISTEN", default_value = "127.0.0.1:8080", help_heading = heading::HTTP)]
    pub listen: ListenAddr,

    /// Public base URL of this service: the token issuer (`iss`) and the base of links.
    #[arg(
        long,
        env = "SESAME_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080", help_heading = heading::HTTP)]
    pub public_url: String,

    /// Access-token lifetime.
    #[arg(long, env = "SESAME_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration, help_heading = heading::TOKENS)]
    pub access_token_ttl: Duration,

    /// Refresh-token (session) lifetime; every refresh slides it forward.
    #[arg(long, env = "SESAME_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_duration, help_heading = heading::TOKENS)]
    pub refresh_token_ttl: Duration,

    /// How long a rotated refresh token may still be presented (concurrent tabs) before reuse
    /// is treated as theft and the session revoked.
    #[arg(long, env = "SESAME_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = parse_duration, help_heading = heading::TOKENS)]
    pub refresh_reuse_grace: Duration,

    /// How long a node may answer "is this session live" from memory. Logout, revocation and
    /// account changes invalidate at once (on every node through PostgreSQL NOTIFY); this only
    /// bounds staleness if a notification is lost. `0s` turns the cache off.
    #[arg(long, env = "SESAME_SESSION_CACHE_TTL", default_value = "10s", value_parser = parse_duration, help_heading = heading::TOKENS)]
    pub session_cache_ttl: Duration,

    /// Access-token signing algorithm.
    #[arg(
        long,
        env = "SESAME_JWT_ALGORITHM",
        value_enum,
        default_value = "EdDSA", help_heading = heading::TOKENS)]
    pub jwt_algorithm: JwtAlg,

    /// HS256 signing secret, at least 32 bytes (required with SESAME_JWT_ALGORITHM=HS256).
    #[arg(long, env = "SESAME_SECRET_KEY", hide_env_values = true, help_heading = heading::TOKENS)]
    pub secret_key: Option<Secret>,

    /// Expected and issued `aud` claim.
    #[arg(long, env = "SESAME_JWT_AUDIENCE", default_value = "sesame", help_heading = heading::TOKENS)]
    pub jwt_audience: String,

    /// Clock-skew leeway when checking `exp`.
    #[arg(long, env = "SESAME_JWT_LEEWAY", default_value = "5s", value_parser = parse_duration, help_heading = heading::TOKENS)]
    pub jwt_leeway: Duration,

    /// Run pending migrations when the server starts.
    #[arg(long, env = "SESAME_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set, help_heading = heading::STARTUP)]
    pub auto_migrate: bool,

    /// Password hashes computed at once; default: the number of CPU cores.
    #[arg(long, env = "SESAME_HASH_WORKERS", help_heading = heading::PASSWORDS)]
    pub hash_workers: Option<usize>,

    /// Password hashes admitted at once (running plus queued); beyond it, 503 with Retry-After.
    #[arg(long, env = "SESAME_HASH_QUEUE", default_value_t = 256, help_heading = heading::PASSWORDS)]
    pub hash_queue: usize,

    /// Who must have a second factor: off, admins (accounts with the admin role) or all. An
    /// account that must and has none can sign in only to enrol one.
    #[arg(long, env = "SESAME_MFA_REQUIRED", value_enum, default_value = "off", help_heading = heading::SECOND_FACTOR)]
    pub mfa_required: MfaRequiredArg,

    /// How long the second-factor challenge of a correct password (and a passkey ceremony)
    /// stays valid.
    #[arg(long, env = "SESAME_MFA_CHALLENGE_TTL", default_value = "5m", value_parser = parse_duration, help_heading = heading::SECOND_FACTOR)]
    pub mfa_challenge_ttl: Duration,

    /// How recent a sign-in sensitive operations need (change password or email, delete the
    /// account, remove a factor, new recovery codes, role changes); older sessions step up at
    /// /api/v1/auth/reauthenticate.
    #[arg(long, env = "SESAME_REAUTH_MAX_AGE", default_value = "10m", value_parser = parse_duration, help_heading = heading::SECOND_FACTOR)]
    pub reauth_max_age: Duration,

    /// Failed logins in a row before sign-in pauses for the account (or unknown name).
    #[arg(long, env = "SESAME_LOCKOUT_THRESHOLD", default_value_t = 5, help_heading = heading::ABUSE)]
    pub lockout_threshold: u32,

    /// First pause; it doubles with every further failure.
    #[arg(long, env = "SESAME_LOCKOUT_BASE", default_value = "1m", value_parser = parse_duration, help_heading = heading::ABUSE)]
    pub lockout_base: Duration,

    /// Longest pause.
    #[arg(long, env = "SESAME_LOCKOUT_MAX", default_value = "1h", value_parser = parse_duration, help_heading = heading::ABUSE)]
    pub lockout_max: Duration,

    /// How long a known-device token is honoured after the sign-in that issued it (each sign-in
    /// renews it). A device presenting one is judged by its own failure streak, not the
    /// account's shared one.
    #[arg(long, env = "SESAME_DEVICE_TOKEN_TTL", default_value = "90d", value_parser = parse_duration, help_heading = heading::ABUSE)]
    pub device_token_ttl: Duration,

    #[command(flatten)]
    pub hashing: HashConfig,

    #[command(flatten)]
    pub encryption: EncryptionConfig,

    #[command(flatten)]
    pub mail: MailConfig,

    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub abuse: AbuseConfig,

    #[command(flatten)]
    pub webauthn: WebauthnConfig,

    /// Email of an admin to create at start when no active admin exists (container deployments).
    #[arg(long, env = "SESAME_BOOTSTRAP_ADMIN_EMAIL", help_heading = heading::STARTUP)]
    pub bootstrap_admin_email: Option<String>,

    /// Password of that admin. Prefer SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE.
    #[arg(long, env = "SESAME_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true, help_heading = heading::STARTUP)]
    pub bootstrap_admin_password: Option<Secret>,

    /// A file holding that admin's password (first line), e.g. a mounted secret.
    #[arg(long, env = "SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE", help_heading = heading::STARTUP)]
    pub bootstrap_admin_password_file: Option<std::path::PathBuf>,
}

/// A rate-limit quota on the command line: `N/PERIOD`, e.g. `20/1m`.
///
/// # Errors
/// A message naming the accepted form.
pub fn parse_quota(raw: &str) -> Result<crate::limits::Quota, String> {
    let (n, period) = raw
        .split_once('/')
        .ok_or_else(|| format!("`{raw}` is not a quota: use N/PERIOD such as 20/1m"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}`: the count before / must be a whole number"))?;
    let period = parse_duration(period)?;
    crate::limits::Quota::new(n, period).map_err(|e| format!("`{raw}`: {e}"))
}

/// Abuse protection: rate limits, proxies, password policy.
#[derive(Debug, Clone, Args)]
pub struct AbuseConfig {
    /// Redis for rate limits shared by every node (redis://[:PASS@]HOST:6379[/DB]); unset:
    /// each node limits in its own memory. The password is never logged.
    #[arg(long, env = "SESAME_REDIS_URL", hide_env_values = true, help_heading = heading::ABUSE)]
    pub redis_url: Option<DatabaseUrl>,

    /// While Redis is unreachable: `open` limits from each node's memory (and logs it),
    /// `closed` refuses the limited endpoints.
    #[arg(
        long,
        env = "SESAME_RATE_LIMIT_FAIL_MODE",
        value_enum,
        default_value = "open", help_heading = heading::ABUSE)]
    pub rate_limit_fail_mode: FailModeArg,

    /// Reverse proxies whose forwarding headers are believed (comma-separated CIDRs or IPs).
    /// Unset: the socket peer is the client.
    #[arg(long, env = "SESAME_TRUSTED_PROXIES", default_value = "", help_heading = heading::ABUSE)]
    pub trusted_proxies: String,

    /// Which header the trusted proxies write: x-forwarded-for, forwarded, or
    /// prefer-forwarded (Forwarded when present, else X-Forwarded-For).
    #[arg(
        long,
        env = "SESAME_TRUSTED_PROXY_HEADER",
        value_enum,
        default_value = "x-forwarded-for", help_heading = heading::ABUSE)]
    pub trusted_proxy_header: ProxyHeaderArg,

    /// Minimum zxcvbn strength score (0-4) of new passwords.
    #[arg(long, env = "SESAME_PASSWORD_MIN_SCORE", default_value_t = 3, help_heading = heading::PASSWORDS)]
    pub password_min_score: u8,

    /// Logins per client IP (second-factor answers, passkey sign-ins and step-ups count too).
    #[arg(long, env = "SESAME_RATE_LOGIN_IP", default_value = "20/1m", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_login_ip: crate::limits::Quota,
    /// Logins per account name.
    #[arg(long, env = "SESAME_RATE_LOGIN_ACCOUNT", default_value = "10/1m", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_login_account: crate::limits::Quota,
    /// Registrations per client IP.
    #[arg(long, env = "SESAME_RATE_REGISTER_IP", default_value = "10/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_register_ip: crate::limits::Quota,
    /// Password-reset requests per client IP.
    #[arg(long, env = "SESAME_RATE_FORGOT_IP", default_value = "10/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_forgot_ip: crate::limits::Quota,
    /// Password-reset requests per email address.
    #[arg(long, env = "SESAME_RATE_FORGOT_EMAIL", default_value = "3/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_forgot_email: crate::limits::Quota,
    /// Verification resends per client IP.
    #[arg(long, env = "SESAME_RATE_RESEND_IP", default_value = "10/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_resend_ip: crate::limits::Quota,
    /// Verification resends per email address.
    #[arg(long, env = "SESAME_RATE_RESEND_EMAIL", default_value = "3/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_resend_email: crate::limits::Quota,
    /// Email-change requests per client IP.
    #[arg(long, env = "SESAME_RATE_EMAIL_CHANGE_IP", default_value = "10/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_email_change_ip: crate::limits::Quota,
    /// Email-change requests per user.
    #[arg(long, env = "SESAME_RATE_EMAIL_CHANGE_USER", default_value = "5/1h", value_parser = parse_quota, help_heading = heading::ABUSE)]
    pub rate_email_change_user: crate::limits::Quota,
}

/// `SESAME_MFA_REQUIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MfaRequiredArg {
    Off,
    Admins,
    All,
}

impl From<MfaRequiredArg> for sesame_domain::mfa::MfaRequirement {
    fn from(a: MfaRequiredArg) -> Self {
        match a {
            MfaRequiredArg::Off => Self::Off,
            MfaRequiredArg::Admins => Self::Admins,
            MfaRequiredArg::All => Self::All,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailModeArg {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyHeaderArg {
    XForwardedFor,
    Forwarded,
    PreferForwarded,
}

impl AbuseConfig {
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.password_min_score > 4 {
            return Err(ConfigError(
                "SESAME_PASSWORD_MIN_SCORE must be 0 to 4".into(),
            ));
        }
        crate::http::client_ip::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ConfigError(format!("SESAME_TRUSTED_PROXIES: {e}")))?;
        if let Some(url) = &self.redis_url {
            let u = url.expose();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(ConfigError(
                    "SESAME_REDIS_URL must start with redis:// or rediss://".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The HTTP edge: browsers (CORS, cookies), size and time bounds, proxies.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Origins allowed to call the API from a browser, comma-separated and exact
    /// (`https://app.example.com,https://admin.example.com`). Empty: no cross-origin access.
    #[arg(long, env = "SESAME_CORS_ORIGINS", value_delimiter = ',', num_args = 0.., help_heading = heading::HTTP)]
    pub cors_origins: Vec<String>,

    /// Browser mode: the refresh token travels in an HttpOnly cookie (with CSRF protection)
    /// instead of the response body.
    #[arg(long, env = "SESAME_COOKIE_MODE", default_value_t = false, action = clap::ArgAction::Set, help_heading = heading::HTTP)]
    pub cookie_mode: bool,

    /// The OAuth password grant (`grant_type=password` at the token endpoint, and its mfa
    /// grant). `false` turns it off for everyone (OAuth 2.1 drops it); a registered client uses
    /// it only when registered with it (first-party clients).
    #[arg(long, env = "SESAME_PASSWORD_GRANT", default_value_t = true, action = clap::ArgAction::Set, help_heading = heading::HTTP)]
    pub password_grant: bool,

    /// When set, `GET /metrics` requires `Authorization: Bearer <this token>`; unset, it is open
    /// (it reveals only counts and timings per route template).
    #[arg(long, env = "SESAME_METRICS_TOKEN", hide_env_values = true, help_heading = heading::HTTP)]
    pub metrics_token: Option<Secret>,

    /// Largest request body in bytes.
    #[arg(long, env = "SESAME_MAX_BODY_BYTES", default_value_t = 65_536, help_heading = heading::HTTP)]
    pub max_body_bytes: usize,

    /// Largest request head (request line plus headers) in bytes; larger gets 431.
    #[arg(long, env = "SESAME_MAX_HEADER_BYTES", default_value_t = 16_384, help_heading = heading::HTTP)]
    pub max_header_bytes: usize,

    /// Time a client has to send the request head.
    #[arg(long, env = "SESAME_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = heading::HTTP)]
    pub header_read_timeout: Duration,

    /// Time a client has to send the whole request body once its head is in (beyond: 408).
    /// The body is read before the request takes an in-flight permit.
    #[arg(long, env = "SESAME_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = heading::HTTP)]
    pub body_read_timeout: Duration,

    /// Longest time one request may take once its body is in (beyond: 408).
    #[arg(long, env = "SESAME_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, help_heading = heading::HTTP)]
    pub request_timeout: Duration,

    /// Requests handled at once; beyond it, 503 at once instead of queueing.
    #[arg(long, env = "SESAME_MAX_IN_FLIGHT", default_value_t = 1024, help_heading = heading::HTTP)]
    pub max_in_flight: usize,

    /// Requests one client (one IPv4 address or IPv6 /64, behind trusted proxies the address
    /// they report) may have open at once, body reading included; beyond it, 429 at once.
    /// Default: a quarter of SESAME_MAX_IN_FLIGHT.
    #[arg(long, env = "SESAME_MAX_IN_FLIGHT_PER_CLIENT", help_heading = heading::HTTP)]
    pub max_in_flight_per_client: Option<usize>,
}

impl HttpConfig {
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.cors_origins = self
            .cors_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        for o in &self.cors_origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.split_once("://").is_some_and(|(_, rest)| {
                    rest.is_empty() || rest.contains(['/', '*', '?', '#', '@'])
                });
            if !ok {
                return Err(ConfigError(format!(
                    "SESAME_CORS_ORIGINS entry `{o}` must be an exact origin such as https://app.example.com \
                     (scheme and host, optional port, no path; wildcards are not accepted)"
                )));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError(
                "SESAME_MAX_BODY_BYTES must be at least 1024".into(),
            ));
        }
        if self.max_header_bytes < 8192 {
            return Err(ConfigError(
                "SESAME_MAX_HEADER_BYTES must be at least 8192".into(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError(
                "SESAME_MAX_IN_FLIGHT must be at least 1".into(),
            ));
        }
        if self.max_in_flight_per_client == Some(0) {
            return Err(ConfigError(
                "SESAME_MAX_IN_FLIGHT_PER_CLIENT must be at least 1".into(),
            ));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ConfigError(
                "SESAME_BODY_READ_TIMEOUT must be longer than 0 (e.g. 10s)".into(),
            ));
        }
        Ok(())
    }

    /// Requests one client may have open at once: the configured value, else a quarter of the
    /// in-flight bound (at least 1).
    #[must_use]
    pub fn max_in_flight_per_client(&self) -> usize {
        self.max_in_flight_per_client
            .unwrap_or(self.max_in_flight / 4)
            .max(1)
    }
}

/// Email: flows, links and delivery.
#[derive(Debug, Clone, Args)]
pub struct MailConfig {
    /// Base URL of the integrator's own pages for emailed links (`/verify-email`,
    /// `/reset-password`, `/confirm-email`, `/set-password` are appended); default: Sesame's
    /// built-in pages at SESAME_PUBLIC_URL.
    #[arg(long, env = "SESAME_APP_URL", help_heading = heading::MAIL)]
    pub app_url: Option<String>,

    /// Product name on the built-in pages (their heading and title).
    #[arg(long, env = "SESAME_PRODUCT_NAME", default_value = "Sesame", value_parser = crate::branding::ProductName::parse, help_heading = heading::PAGES)]
    pub product_name: crate::branding::ProductName,

    /// Logo on the built-in pages: an https:// URL or a path on this server (/static/logo.svg);
    /// their CSP admits exactly this image.
    #[arg(long, env = "SESAME_LOGO_URL", value_parser = crate::branding::LogoUrl::parse, help_heading = heading::PAGES)]
    pub logo_url: Option<crate::branding::LogoUrl>,

    /// Accent colour of the built-in pages' buttons, #rrggbb; their text is white or black,
    /// whichever contrasts more.
    #[arg(long, env = "SESAME_ACCENT_COLOR", default_value = crate::branding::AccentColor::DEFAULT, value_parser = crate::branding::AccentColor::parse, help_heading = heading::PAGES)]
    pub accent_color: crate::branding::AccentColor,

    /// Refuse login until the email address is verified.
    #[arg(long, env = "SESAME_REQUIRE_VERIFIED_EMAIL", default_value_t = true, action = clap::ArgAction::Set, help_heading = heading::MAIL)]
    pub require_verified_email: bool,

    /// Lifetime of email-verification links.
    #[arg(long, env = "SESAME_VERIFY_TOKEN_TTL", default_value = "24h", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub verify_token_ttl: Duration,

    /// Lifetime of password-reset links.
    #[arg(long, env = "SESAME_RESET_TOKEN_TTL", default_value = "1h", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub reset_token_ttl: Duration,

    /// Lifetime of the set-password links of admin invitations (`"invite": "set_password"`).
    #[arg(long, env = "SESAME_INVITE_TOKEN_TTL", default_value = "7d", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub invite_token_ttl: Duration,

    /// Language (en, de, fr, es) of the pages when the browser asks for none Sesame speaks, of
    /// the emails of accounts created without one, and of mail queued before mail had a language.
    #[arg(long, env = "SESAME_DEFAULT_LOCALE", default_value = "en", value_parser = parse_locale, help_heading = heading::PAGES)]
    pub default_locale: Locale,

    /// Lifetime of email-change confirmation links.
    #[arg(long, env = "SESAME_EMAIL_CHANGE_TOKEN_TTL", default_value = "24h", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub email_change_token_ttl: Duration,

    /// At most one verification email per address within this interval.
    #[arg(long, env = "SESAME_VERIFY_RESEND_INTERVAL", default_value = "60s", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub verify_resend_interval: Duration,

    /// How mail is delivered: log (print it), smtp, or file (.eml files in SESAME_MAIL_DIR).
    #[arg(long, env = "SESAME_MAIL_TRANSPORT", value_enum, default_value = "log", help_heading = heading::MAIL)]
    pub mail_transport: crate::mail::TransportKind,

    /// smtp://USER:PASS@HOST:587 (STARTTLS; add ?tls=none for a plain local relay) or
    /// smtps://USER:PASS@HOST:465 (implicit TLS). The password is never logged.
    #[arg(long, env = "SESAME_SMTP_URL", hide_env_values = true, help_heading = heading::MAIL)]
    pub smtp_url: Option<DatabaseUrl>,

    /// PEM file of CA certificates to trust for the SMTP server's TLS certificate, besides the
    /// bundled web PKI roots (a private CA, or a self-signed server).
    #[arg(long, env = "SESAME_SMTP_CA_FILE", help_heading = heading::MAIL)]
    pub smtp_ca_file: Option<std::path::PathBuf>,

    /// How long one SMTP exchange may take.
    #[arg(long, env = "SESAME_SMTP_TIMEOUT", default_value = "10s", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub smtp_timeout: Duration,

    /// Sender of every email, e.g. `Acme <no-reply@acme.example>`.
    #[arg(
        long,
        env = "SESAME_MAIL_FROM",
        default_value = "Sesame <no-reply@localhost>", help_heading = heading::MAIL)]
    pub mail_from: String,

    /// Folder for the file transport.
    #[arg(long, env = "SESAME_MAIL_DIR", default_value = "mail", help_heading = heading::MAIL)]
    pub mail_dir: std::path::PathBuf,

    /// Folder whose template files replace the built-in ones: `<kind>.<part>` for every
    /// language, `<tag>/<kind>.<part>` for one (`<part>`: subject.txt, txt, html).
    #[arg(long, env = "SESAME_MAIL_TEMPLATES_DIR", help_heading = heading::MAIL)]
    pub mail_templates_dir: Option<std::path::PathBuf>,

    /// How often the outbox is checked when no new mail signals itself.
    #[arg(long, env = "SESAME_MAIL_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub mail_poll_interval: Duration,

    /// First retry delay after a transient failure; doubles per attempt.
    #[arg(long, env = "SESAME_MAIL_RETRY_BASE", default_value = "5s", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub mail_retry_base: Duration,

    /// Longest retry delay.
    #[arg(long, env = "SESAME_MAIL_RETRY_MAX", default_value = "1h", value_parser = parse_duration, help_heading = heading::MAIL)]
    pub mail_retry_max: Duration,

    /// Attempts before a message is marked dead.
    #[arg(long, env = "SESAME_MAIL_MAX_ATTEMPTS", default_value_t = 12, help_heading = heading::MAIL)]
    pub mail_max_attempts: u32,
}

impl MailConfig {
    /// Checks the mail settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable to fix.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(url) = &self.app_url {
            let url = url.trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "SESAME_APP_URL must be an http:// or https:// URL (got `{url}`)"
                )));
            }
            self.app_url = Some(url);
        }
        if self.mail_transport == crate::mail::TransportKind::Smtp {
            match &self.smtp_url {
                Some(u) if u.expose().starts_with("smtp://") || u.expose().starts_with("smtps://") => {}
                Some(_) => {
                    return Err(ConfigError(
                        "SESAME_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)".into(),
                    ))
                }
                None => {
                    return Err(ConfigError(
                        "SESAME_MAIL_TRANSPORT=smtp needs SESAME_SMTP_URL, e.g. smtp://user:pass@mail.example.com:587".into(),
                    ))
                }
            }
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!(
                "SESAME_MAIL_FROM `{}` is not an address such as `Acme <no-reply@acme.example>`",
                self.mail_from
            )));
        }
        if self.mail_max_attempts == 0 {
            return Err(ConfigError(
                "SESAME_MAIL_MAX_ATTEMPTS must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Passkeys: who Sesame is to an authenticator. Unset, both come from SESAME_PUBLIC_URL.
#[derive(Debug, Clone, Args)]
pub struct WebauthnConfig {
    /// Relying-party id passkeys are bound to: the public host or a parent domain of it
    /// (`example.com` serves `auth.example.com`). Changing it orphans every registered passkey.
    /// Default: the host of SESAME_PUBLIC_URL.
    #[arg(long, env = "SESAME_WEBAUTHN_RP_ID", help_heading = heading::PASSKEYS)]
    pub webauthn_rp_id: Option<String>,

    /// Origins (scheme://host[:port], comma-separated) whose pages may use passkeys; https, or
    /// http for localhost. Default: the origin of SESAME_PUBLIC_URL.
    #[arg(long, env = "SESAME_WEBAUTHN_ORIGINS", value_delimiter = ',', help_heading = heading::PASSKEYS)]
    pub webauthn_origins: Vec<String>,

    /// Name an authenticator shows for this service. Default: SESAME_PRODUCT_NAME.
    #[arg(long, env = "SESAME_WEBAUTHN_RP_NAME", help_heading = heading::PASSKEYS)]
    pub webauthn_rp_name: Option<String>,
}

impl WebauthnConfig {
    /// The passkey relying party these settings describe, over `public_url` (validated) and the
    /// product name for the defaults.
    ///
    /// `Ok(None)` when nothing is set and SESAME_PUBLIC_URL cannot serve passkeys (an IP
    /// address, such as the default `http://127.0.0.1:8080`, or plain http to a host other
    /// than localhost): browsers refuse both (WebAuthn §5.1.3), so passkeys are off rather than
    /// the server refusing to start.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting to fix when SESAME_WEBAUTHN_RP_ID or
    /// SESAME_WEBAUTHN_ORIGINS is set and wrong, or derived from a public URL they cannot serve.
    pub fn relying_party(
        &self,
        public_url: &str,
        product_name: &str,
    ) -> Result<Option<PasskeyRp>, ConfigError> {
        let explicit = self.webauthn_rp_id.is_some() || !self.webauthn_origins.is_empty();
        // A name given explicitly is checked even when passkeys end up off.
        if self
            .webauthn_rp_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(ConfigError(format!(
                "SESAME_WEBAUTHN_RP_NAME: {}",
                PasskeyConfigError::EmptyName
            )));
        }
        let public = url::Url::parse(public_url).map_err(|e| {
            ConfigError(format!(
                "SESAME_PUBLIC_URL `{public_url}` is not a URL: {e}"
            ))
        })?;
        let origins: Vec<url::Url> = if self.webauthn_origins.is_empty() {
            vec![public.clone()]
        } else {
            self.webauthn_origins
                .iter()
                .map(|o| o.trim())
                .filter(|o| !o.is_empty())
                .map(|o| {
                    url::Url::parse(o).map_err(|e| {
                        ConfigError(format!(
                            "SESAME_WEBAUTHN_ORIGINS: `{o}` is not an origin such as https://auth.example.com ({e})"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        // An origin is scheme://host[:port]; SESAME_PUBLIC_URL may carry a path.
        let origins: Vec<url::Url> = if self.webauthn_origins.is_empty() {
            origins
                .into_iter()
                .filter_map(|u| url::Url::parse(&u.origin().ascii_serialization()).ok())
                .collect()
        } else {
            origins
        };
        let rp_id = match &self.webauthn_rp_id {
            Some(id) => id.trim().to_ascii_lowercase(),
            None => match origins.first().and_then(url::Url::domain) {
                Some(host) => host.to_owned(),
                None if !explicit => return Ok(None),
                None => {
                    return Err(ConfigError(
                        "SESAME_WEBAUTHN_RP_ID is needed: the first of SESAME_WEBAUTHN_ORIGINS has no domain name to take it from".into(),
                    ))
                }
            },
        };
        let name = self.webauthn_rp_name.as_deref().unwrap_or(product_name);
        match PasskeyRp::new(&rp_id, &origins, name) {
            Ok(rp) => Ok(Some(rp)),
            Err(_) if !explicit => Ok(None),
            Err(e) => Err(ConfigError(format!("{}: {e}", webauthn_setting(&e)))),
        }
    }
}

/// Which setting a relying-party refusal is about.
fn webauthn_setting(e: &PasskeyConfigError) -> &'static str {
    match e {
        PasskeyConfigError::NoOrigin
        | PasskeyConfigError::InsecureOrigin(_)
        | PasskeyConfigError::NotAnOrigin(_) => "SESAME_WEBAUTHN_ORIGINS",
        PasskeyConfigError::RpIdNotSuffix { .. } => "SESAME_WEBAUTHN_RP_ID",
        PasskeyConfigError::EmptyName => "SESAME_WEBAUTHN_RP_NAME",
    }
}

/// A configuration error, phrased as what to change.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl ServeConfig {
    /// Checks the rules that span several settings.
    ///
    /// # Errors
    /// A [`ConfigError`] saying which variable to fix and how.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let url = self.public_url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() <= "https://".len()
        {
            return Err(ConfigError(format!(
                "SESAME_PUBLIC_URL must be an http:// or https:// URL such as https://auth.example.com (got `{}`)",
                self.public_url
            )));
        }
        self.public_url = url;
        if self.access_token_ttl < Duration::from_secs(1) {
            return Err(ConfigError(
                "SESAME_ACCESS_TOKEN_TTL must be at least 1s".into(),
            ));
        }
        if self.refresh_token_ttl <= self.access_token_ttl {
            return Err(ConfigError(
                "SESAME_REFRESH_TOKEN_TTL must be longer than SESAME_ACCESS_TOKEN_TTL".into(),
            ));
        }
        if self.jwt_audience.trim().is_empty() {
            return Err(ConfigError("SESAME_JWT_AUDIENCE cannot be empty".into()));
        }
        if self.jwt_algorithm == JwtAlg::Hs256 {
            match &self.secret_key {
                Some(s) if s.expose().len() >= 32 => {}
                Some(_) => {
                    return Err(ConfigError(
                        "SESAME_SECRET_KEY must be at least 32 bytes for HS256; generate one with `openssl rand -base64 48`".into(),
                    ))
                }
                None => {
                    return Err(ConfigError(
                        "SESAME_JWT_ALGORITHM=HS256 needs SESAME_SECRET_KEY (at least 32 bytes; e.g. `openssl rand -base64 48`)".into(),
                    ))
                }
            }
        }
        self.mail.validate()?;
        self.http.validate()?;
        self.abuse.validate()?;
        if self.bootstrap_admin_email.is_some()
            && self.bootstrap_admin_password.is_none()
            && self.bootstrap_admin_password_file.is_none()
        {
            return Err(ConfigError(
                "SESAME_BOOTSTRAP_ADMIN_EMAIL needs SESAME_BOOTSTRAP_ADMIN_PASSWORD or SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE".into(),
            ));
        }
        if self.lockout_threshold == 0 {
            return Err(ConfigError(
                "SESAME_LOCKOUT_THRESHOLD must be at least 1".into(),
            ));
        }
        if self.hash_workers == Some(0) {
            return Err(ConfigError("SESAME_HASH_WORKERS must be at least 1".into()));
        }
        self.passkey_rp()?;
        Ok(())
    }

    /// The passkey relying party, or `None` when passkeys are off (see
    /// [`WebauthnConfig::relying_party`]). Call after [`ServeConfig::validate`].
    ///
    /// # Errors
    /// A [`ConfigError`] naming the SESAME_WEBAUTHN_* setting to fix.
    pub fn passkey_rp(&self) -> Result<Option<PasskeyRp>, ConfigError> {
        self.webauthn
            .relying_party(&self.public_url, self.mail.product_name.as_str())
    }

    /// The number of concurrent hashing threads.
    #[must_use]
    pub fn hash_workers(&self) -> usize {
        self.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_documented_units() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("15 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn an_unsupported_default_locale_is_refused_naming_the_accepted_tags() {
        assert_eq!(parse_locale("de"), Ok(Locale::De));
        assert_eq!(parse_locale("fr-CA"), Ok(Locale::Fr));
        let e = parse_locale("it").unwrap_err();
        assert_eq!(
            e,
            "`it` is not a supported language: use one of en, de, fr, es"
        );
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_with_the_accepted_units() {
        let e = parse_duration("15").unwrap_err();
        assert!(e.contains("no unit"), "{e}");
        assert!(e.contains("ms, s, m, h or d"), "{e}");
        assert!(parse_duration("0").is_err());
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn listen_takes_ip_addresses_and_host_names_with_a_port() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:8080",
            "[::1]:8080",
            "[::]:0",
            "localhost:8080",
            "auth.internal.example:443",
        ] {
            let parsed: Result<ListenAddr, _> = ok.parse();
            assert_eq!(parsed.map(|a| a.to_string()), Ok(ok.to_owned()));
        }
        for bad in [
            "localhost",
            ":8080",
            "localhost:http",
            "localhost:99999",
            "::1:8080",
            "exa mple:80",
            "-bad.example:80",
        ] {
            let e = bad.parse::<ListenAddr>().unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn database_url_debug_hides_the_password() {
        let u: DatabaseUrl = "postgres://sesame:hunter2@db:5432/sesame".parse().unwrap();
        let shown = format!("{u:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "postgres://sesame:***@db:5432/sesame");
        let plain: DatabaseUrl = "sqlite://sesame.db".parse().unwrap();
        assert_eq!(format!("{plain:?}"), "sqlite://sesame.db");
    }

    fn webauthn(rp_id: Option<&str>, origins: &[&str], name: Option<&str>) -> WebauthnConfig {
        WebauthnConfig {
            webauthn_rp_id: rp_id.map(str::to_owned),
            webauthn_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            webauthn_rp_name: name.map(str::to_owned),
        }
    }

    fn rp(
        config: &WebauthnConfig,
        public_url: &str,
    ) -> Result<Option<(String, Vec<String>)>, String> {
        config
            .relying_party(public_url, "Acme Login")
            .map(|rp| {
                rp.map(|rp| {
                    let origins = rp.origins().iter().map(|o| o.as_str().to_owned()).collect();
                    (rp.rp_id().to_owned(), origins)
                })
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn passkeys_default_to_the_host_and_origin_of_the_public_url() {
        let none = webauthn(None, &[], None);
        assert_eq!(
            rp(&none, "https://auth.example.com:8443/sesame"),
            Ok(Some((
                "auth.example.com".into(),
                vec!["https://auth.example.com:8443/".into()]
            )))
        );
        assert_eq!(
            rp(&none, "http://localhost:8080"),
            Ok(Some((
                "localhost".into(),
                vec!["http://localhost:8080/".into()]
            )))
        );
    }

    #[test]
    fn passkeys_are_off_when_the_default_public_url_cannot_serve_them() {
        let none = webauthn(None, &[], None);
        assert_eq!(rp(&none, "http://127.0.0.1:8080"), Ok(None));
        assert_eq!(rp(&none, "http://auth.example.com"), Ok(None));
    }

    #[test]
    fn explicit_passkey_settings_override_the_public_url() {
        let config = webauthn(
            Some("Example.com"),
            &["https://auth.example.com", " https://example.com:8443"],
            None,
        );
        assert_eq!(
            rp(&config, "http://127.0.0.1:8080"),
            Ok(Some((
                "example.com".into(),
                vec![
                    "https://auth.example.com/".into(),
                    "https://example.com:8443/".into()
                ]
            )))
        );
        let origins_only = webauthn(None, &["http://localhost:3000"], None);
        assert_eq!(
            rp(&origins_only, "https://auth.example.com"),
            Ok(Some((
                "localhost".into(),
                vec!["http://localhost:3000/".into()]
            )))
        );
    }

    #[test]
    fn the_relying_party_name_defaults_to_the_product_name() {
        let named = webauthn(None, &[], Some("Acme SSO"));
        let built = named
            .relying_party("https://auth.example.com", "Acme Login")
            .expect("valid")
            .expect("on");
        let options = built.start_passwordless().expect("starts").options;
        assert!(options["publicKey"].get("rpId").is_some());
        let user = sesame_domain::passkey::PasskeyUser {
            id: uuid::Uuid::nil(),
            name: "a",
            display_name: "a",
        };
        let named_options = built.start_registration(user, &[]).expect("starts").options;
        assert_eq!(named_options["publicKey"]["rp"]["name"], "Acme SSO");
        let unnamed = webauthn(None, &[], None)
            .relying_party("https://auth.example.com", "Acme Login")
            .expect("valid")
            .expect("on");
        let unnamed_options = unnamed
            .start_registration(user, &[])
            .expect("starts")
            .options;
        assert_eq!(unnamed_options["publicKey"]["rp"]["name"], "Acme Login");
        assert_eq!(
            rp(&webauthn(None, &[], Some(" ")), "https://auth.example.com").map(|_| ()),
            Err("configuration error: SESAME_WEBAUTHN_RP_NAME: relying party name must not be empty".into())
        );
    }

    #[test]
    fn wrong_passkey_settings_are_refused_naming_the_setting() {
        let cases = [
            (
                webauthn(Some("other.com"), &[], None),
                "SESAME_WEBAUTHN_RP_ID: relying party id `other.com` is not the host of origin `https://auth.example.com` nor a parent domain of it",
            ),
            (
                webauthn(Some("login.example.com"), &["https://auth.example.com"], None),
                "SESAME_WEBAUTHN_RP_ID",
            ),
            (
                webauthn(None, &["http://auth.example.com"], None),
                "SESAME_WEBAUTHN_ORIGINS: origin `http://auth.example.com` must be https (plain http is allowed only for localhost)",
            ),
            (
                webauthn(Some("example.com"), &["https://example.com/login"], None),
                "SESAME_WEBAUTHN_ORIGINS: origin `https://example.com/login` must be scheme://host[:port]",
            ),
            (
                webauthn(None, &["auth.example.com"], None),
                "SESAME_WEBAUTHN_ORIGINS: `auth.example.com` is not an origin",
            ),
            (
                webauthn(None, &["https://10.0.0.1"], None),
                "SESAME_WEBAUTHN_RP_ID is needed",
            ),
        ];
        for (config, expected) in cases {
            let e = rp(&config, "https://auth.example.com").expect_err(expected);
            assert!(e.contains(expected), "{e}\n  should contain: {expected}");
        }
    }
}
