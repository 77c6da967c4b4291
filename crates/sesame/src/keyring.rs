//! Where the application encryption key comes from, and the work done with it on stored values:
//! sealing legacy plaintext rows at startup and `sesame keys reencrypt`.
//!
//! The key is `SESAME_ENCRYPTION_KEY` or the file `SESAME_ENCRYPTION_KEY_FILE` names; older
//! keys in `SESAME_ENCRYPTION_PREVIOUS_KEYS` only open values. With none configured, a SQLite
//! database gets one generated beside its file at first start (`sesame.db` → `sesame.key`, mode
//! 0600), written under a temporary name and hard-linked into place, so of two processes starting
//! at once exactly one key lands and both use it; an in-memory database gets a key that dies with
//! the process. A PostgreSQL deployment must configure one (nodes share the database, not a
//! disk).
//!
//! This module reads and writes the key file and walks the stored values; the cryptography is
//! the domain's (`sesame_domain::seal`), and no key, plaintext or key file content is ever
//! logged or put in an error (key ids and paths are).

use crate::config::{ConfigError, EncryptionConfig};
use crate::startup::StartupError;
use crate::storage::DataPlace;
use sesame_domain::seal::{EncryptionKey, KeyId, KeyParseError, Keyring, MaybeSealed, SecretKind};
use sesame_domain::store::Store;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What to do when no key is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnset {
    /// `serve`: generate one beside a SQLite database; on PostgreSQL, refuse to start (the
    /// Ed25519 signing key and any user's TOTP secret must be sealed, and a user can enrol an
    /// authenticator app at any time).
    Serve,
    /// An operator command: use the key file a SQLite database already has, never create one.
    Existing,
}

/// The key ring the configuration names (or, unset, the one [`WhenUnset`] says where to find).
///
/// # Errors
/// [`StartupError::Config`] naming the setting whose value is not a key (never the value), or
/// the missing setting on PostgreSQL; [`StartupError::Encryption`] when a key file cannot be
/// read or written.
pub fn resolve(
    cfg: &EncryptionConfig,
    database_url: &str,
    when_unset: WhenUnset,
) -> Result<Keyring, StartupError> {
    let previous = cfg
        .encryption_previous_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            EncryptionKey::from_base64(k.expose()).map_err(|e| {
                ConfigError(format!(
                    "SESAME_ENCRYPTION_PREVIOUS_KEYS: key {} of the list {e}",
                    i + 1
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let current = match (&cfg.encryption_key, &cfg.encryption_key_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(
                "set SESAME_ENCRYPTION_KEY or SESAME_ENCRYPTION_KEY_FILE, not both".into(),
            )
            .into())
        }
        (Some(k), None) => EncryptionKey::from_base64(k.expose())
            .map_err(|e| ConfigError(format!("SESAME_ENCRYPTION_KEY {e}")))?,
        (None, Some(path)) => read_key_file(path, "SESAME_ENCRYPTION_KEY_FILE")?,
        (None, None) => unset(database_url, when_unset)?,
    };
    Ok(Keyring { current, previous })
}

fn unset(url: &str, when: WhenUnset) -> Result<EncryptionKey, StartupError> {
    match (DataPlace::of(url)?, when) {
        (DataPlace::File(db), WhenUnset::Serve) => {
            load_or_create(&key_file_for(&db))
        }
        (DataPlace::File(db), WhenUnset::Existing) => {
            let path = key_file_for(&db);
            if path.exists() {
                read_key_file(&path, "the generated key file")
            } else {
                Err(ConfigError(format!(
                    "no encryption key: set SESAME_ENCRYPTION_KEY or SESAME_ENCRYPTION_KEY_FILE \
                     (the generated key file {} does not exist)",
                    path.display()
                ))
                .into())
            }
        }
        (DataPlace::Memory, _) => {
            tracing::info!(
                "in-memory database: using an encryption key that ends with the process"
            );
            Ok(EncryptionKey::generate())
        }
        (DataPlace::Server, _) => Err(ConfigError(
            "SESAME_ENCRYPTION_KEY (or SESAME_ENCRYPTION_KEY_FILE) is required on PostgreSQL: the \
             Ed25519 signing key and the users' TOTP secrets are stored sealed under it. Generate one with \
             `openssl rand -base64 32`, give every node the same value, and keep it apart from \
             database backups"
                .into(),
        )
        .into()),
    }
}

/// The key file generated for the SQLite database `db`: `sesame.db` → `sesame.key`, beside it.
#[must_use]
pub fn key_file_for(db: &Path) -> PathBuf {
    if db.extension().is_some_and(|e| e == "key") {
        let mut name = db.as_os_str().to_owned();
        name.push(".key");
        PathBuf::from(name)
    } else {
        db.with_extension("key")
    }
}

fn read_key_file(path: &Path, setting: &str) -> Result<EncryptionKey, StartupError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        StartupError::Encryption(format!("cannot read {setting} {}: {e}", path.display()))
    })?);
    let first = text.lines().next().unwrap_or_default();
    EncryptionKey::from_base64(first).map_err(|e: KeyParseError| {
        ConfigError(format!("{setting} {}: the key {e}", path.display())).into()
    })
}

/// Reads the key at `path`, or writes a fresh one there if there is none. Two processes racing
/// here both end up with the key that landed first: each writes its own temporary file and
/// hard-links it into place, which fails when `path` exists.
fn load_or_create(path: &Path) -> Result<EncryptionKey, StartupError> {
    if path.exists() {
        return read_key_file(path, "the generated key file");
    }
    let failed = |what: &str, e: std::io::Error| {
        StartupError::Encryption(format!("cannot {what} {}: {e}", path.display()))
    };
    let key = EncryptionKey::generate();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(key.to_base64().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("write the encryption key file", e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // Best effort: the link itself survives a crash once its directory is synced.
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            tracing::info!(
                path = %path.display(),
                key_id = %key.id(),
                "generated an encryption key for secrets at rest; back it up apart from the database"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key_file(path, "the generated key file")
        }
        Err(e) => Err(failed("create the encryption key file", e)),
    }
}

/// Seals, under the current key, every value of `kind` still stored in plaintext (rows written
/// before sealing existed). Each row is replaced only while it is still plaintext, so several
/// nodes starting at once seal it once. Returns how many rows this call sealed.
///
/// # Errors
/// [`StartupError::Keys`] on a storage failure.
pub async fn seal_legacy(
    store: &dyn Store,
    ring: &Keyring,
    kind: SecretKind,
) -> Result<usize, StartupError> {
    let mut sealed = 0;
    for secret in store.secrets(kind).await.map_err(storage)? {
        if let MaybeSealed::Plain(plain) = &secret.value {
            let value = ring.seal(plain, &kind.aad(&secret.row));
            if store
                .replace_secret(kind, &secret.row, None, &value)
                .await
                .map_err(storage)?
            {
                sealed += 1;
            }
        }
    }
    if sealed > 0 {
        tracing::info!(
            kind = kind.label(),
            count = sealed,
            key_id = %ring.current.id(),
            "sealed stored plaintext secrets under the encryption key"
        );
    }
    Ok(sealed)
}

/// What `sesame keys reencrypt` did to one kind of value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    pub kind: SecretKind,
    /// Values now sealed under the current key by this run.
    pub resealed: usize,
    /// Values that already were (or that another process re-sealed meanwhile).
    pub current: usize,
}

/// Re-seals every stored value under the current key, opening each with whichever configured
/// key sealed it (legacy plaintext values are sealed too). Idempotent: a second run finds every
/// value current.
///
/// # Errors
/// [`StartupError::Encryption`] naming the kind, row and key id of a value no configured key
/// opens; [`StartupError::Keys`] on a storage failure.
pub async fn reencrypt(store: &dyn Store, ring: &Keyring) -> Result<Vec<Resealed>, StartupError> {
    let current_id: &KeyId = ring.current.id();
    let mut report = Vec::new();
    for &kind in SecretKind::ALL {
        let mut done = Resealed {
            kind,
            resealed: 0,
            current: 0,
        };
        for secret in store.secrets(kind).await.map_err(storage)? {
            if secret.value.key_id() == Some(current_id) {
                done.current += 1;
                continue;
            }
            let aad = kind.aad(&secret.row);
            let plain = secret.value.open(ring, &aad).map_err(|e| {
                StartupError::Encryption(format!("{} {}: {e}", kind.label(), secret.row))
            })?;
            let value = ring.seal(&plain, &aad);
            if store
                .replace_secret(kind, &secret.row, secret.value.key_id(), &value)
                .await
                .map_err(storage)?
            {
                done.resealed += 1;
            } else {
                done.current += 1;
            }
        }
        report.push(done);
    }
    Ok(report)
}

fn storage(e: sesame_domain::StoreError) -> StartupError {
    StartupError::Keys(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_database_named_after_it() {
        assert_eq!(
            key_file_for(Path::new("sesame.db")),
            Path::new("sesame.key")
        );
        assert_eq!(
            key_file_for(Path::new("/var/lib/sesame/data.sqlite")),
            Path::new("/var/lib/sesame/data.key")
        );
        assert_eq!(key_file_for(Path::new("db")), Path::new("db.key"));
        assert_eq!(key_file_for(Path::new("odd.key")), Path::new("odd.key.key"));
    }

    #[test]
    fn racing_creators_end_up_with_one_key() {
        let dir = std::env::temp_dir().join(format!("sesame-keyring-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sesame.key");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&path).unwrap().id().to_string()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
        assert_eq!(load_or_create(&path).unwrap().id().as_str(), ids[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
