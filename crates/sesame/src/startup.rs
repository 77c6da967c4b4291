//! Turning configuration into a running application: connect the database, migrate, load or
//! create the signing key, build the hasher and the service. Shared by `sesame serve`, the CLI
//! and the tests, so all three start the server the same way.

use crate::config::{CommonConfig, JwtAlg, ServeConfig};
use crate::http::{self, AppState};
use crate::storage::{ConnectError, Database};
use sesame_domain::clock::now;
use sesame_domain::password::{HashParams, PasswordHasher};
use sesame_domain::service::{AuthService, SessionSettings};
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Connects to the configured database.
///
/// # Errors
/// [`StartupError::Database`] with what to fix.
pub async fn connect(common: &CommonConfig) -> Result<Database, StartupError> {
    Ok(Database::connect(
        common.database_url.expose(),
        common.database_max_connections,
    )
    .await?)
}

/// The password hasher for these settings. Builds its dummy hash off the async runtime.
///
/// # Errors
/// [`StartupError::Config`] when argon2 rejects the parameters.
pub async fn hasher(
    common: &CommonConfig,
    workers: usize,
    queue: usize,
) -> Result<Arc<PasswordHasher>, StartupError> {
    let params = HashParams {
        memory_kib: common.argon2_memory_kib,
        iterations: common.argon2_iterations,
        parallelism: common.argon2_parallelism,
    };
    tokio::task::spawn_blocking(move || PasswordHasher::new(params, workers, queue))
        .await
        .map_err(|e| crate::config::ConfigError(e.to_string()))?
        .map(Arc::new)
        .map_err(|e| crate::config::ConfigError(format!("SESAME_ARGON2_*: {e}")).into())
}

async fn token_issuer(store: &dyn Store, cfg: &ServeConfig) -> Result<TokenIssuer, StartupError> {
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
        JwtAlg::EdDsa => {
            let keys = store
                .signing_keys()
                .await
                .map_err(|e| StartupError::Keys(e.to_string()))?;
            let keys = if keys.iter().any(|k| k.algorithm == "EdDSA") {
                keys
            } else {
                let key = StoredKey::generate_ed25519(now())
                    .map_err(|e| StartupError::Keys(e.to_string()))?;
                let stored = store
                    .insert_primary_signing_key(&key)
                    .await
                    .map_err(|e| StartupError::Keys(e.to_string()))?;
                if stored {
                    tracing::info!(kid = %key.kid, "generated a new Ed25519 signing key");
                }
                store
                    .signing_keys()
                    .await
                    .map_err(|e| StartupError::Keys(e.to_string()))?
            };
            TokenIssuer::ed25519(&keys, settings).map_err(StartupError::Keys)
        }
    }
}

/// Builds the application state: database (migrated unless turned off), keys, hasher, service.
///
/// # Errors
/// A [`StartupError`] saying what failed and what to fix.
pub async fn build_state(
    common: &CommonConfig,
    cfg: &ServeConfig,
) -> Result<AppState, StartupError> {
    let db = connect(common).await?;
    if cfg.auto_migrate {
        db.migrate_up().await?;
    }
    let store = db.into_store();
    let tokens = token_issuer(store.as_ref(), cfg).await?;
    let hasher = hasher(common, cfg.hash_workers(), cfg.hash_queue).await?;
    let auth = AuthService::new(
        store,
        hasher,
        tokens,
        SessionSettings {
            refresh_ttl: cfg.refresh_token_ttl,
            reuse_grace: cfg.refresh_reuse_grace,
        },
    );
    Ok(AppState {
        auth: Arc::new(auth),
    })
}

/// A server bound to its port, not yet serving: tests bind `127.0.0.1:0` and read the port.
pub struct Application {
    pub listener: tokio::net::TcpListener,
    pub state: AppState,
}

impl Application {
    /// Validates the configuration, builds the state and binds the listener.
    ///
    /// # Errors
    /// A [`StartupError`] saying what failed and what to fix.
    pub async fn build(common: &CommonConfig, cfg: &mut ServeConfig) -> Result<Self, StartupError> {
        cfg.validate()?;
        let state = build_state(common, cfg).await?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: cfg.listen,
                source,
            })?;
        Ok(Self { listener, state })
    }

    /// The bound address (the real port when 0 was asked for).
    ///
    /// # Errors
    /// The socket's error if the address cannot be read.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    ///
    /// # Errors
    /// The I/O error that stopped the server.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        http::serve(self.listener, http::app(self.state), shutdown).await
    }
}
