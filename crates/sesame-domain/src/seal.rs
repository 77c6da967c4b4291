//! Secrets at rest: values the store keeps (the Ed25519 signing key; later the TOTP secrets) are
//! sealed under an application key the database does not hold, so a dump of the database alone
//! neither signs tokens nor computes second-factor codes.
//!
//! The AEAD is XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`, audited, no C, constant
//! time in software). Its 24-byte nonce is drawn at random for every value: with that many bits,
//! random nonces never repeat in practice however many values one key seals and however many
//! nodes seal at once, which AES-GCM's 12 bytes do not promise; AES-256-GCM-SIV would survive a
//! repeat, but wants AES hardware to be fast and constant-time, and nothing here is hot (values
//! are opened at startup or once per second-factor check). A sealed value is
//! `nonce (24) ‖ ciphertext ‖ tag (16)`; the key that sealed it is named beside it
//! ([`Sealed::key_id`]), never inside the ciphertext.
//!
//! Every value is sealed with associated data naming its row ([`SecretKind::aad`], e.g.
//! `signing_key:<kid>`), so a value copied into another row (or another kind's column) fails to
//! open instead of being taken for that row's secret.
//!
//! Key ids are derived from the key ([`EncryptionKey::id`]), so an operator never names one and
//! two nodes given the same key agree on it. This module owns the cryptography, the key ring and
//! the kinds of sealed value; it does not read configuration, files or the database (the
//! `sesame` crate does), and it never prints key material: `Debug` shows key ids only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Domain separation of key ids: the id is a hash of the key, but of no other use of it.
const KEY_ID_LABEL: &[u8] = b"sesame encryption key id v1\0";

/// A 256-bit application key. Wiped from memory when dropped; `Debug` shows its id only.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    id: KeyId,
}

/// The public name of an [`EncryptionKey`]: the first 8 bytes of SHA-256 over a fixed label and
/// the key, in hex (16 characters). Stored beside every sealed value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// A key id as stored (no check: an unknown id simply matches no key).
    #[must_use]
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// Why a configured key was refused. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("is not base64")]
    NotBase64,
    #[error("must be 32 bytes (base64 of 32 random bytes, e.g. `openssl rand -base64 32`), not {0} bytes")]
    WrongLength(usize),
}

impl EncryptionKey {
    /// The key with these 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(bytes.as_slice());
        let digest = h.finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut_slice());
        Self::from_bytes(*bytes)
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace ignored, so a key file
    /// may end with a newline).
    ///
    /// # Errors
    /// [`KeyParseError`] saying what is wrong, without the value.
    pub fn from_base64(text: &str) -> Result<Self, KeyParseError> {
        let raw = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyParseError::NotBase64)?,
        );
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyParseError::WrongLength(raw.len()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as standard base64, e.g. to write a generated key to its file.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }

    #[must_use]
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_slice().into())
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A sealed value as stored: the id of the key that sealed it, and `nonce ‖ ciphertext ‖ tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: KeyId,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No configured key has this id: the value was sealed under a key this node was not given.
    #[error(
        "the value was sealed under encryption key {0}, which is not configured: set \
         SESAME_ENCRYPTION_KEY (or SESAME_ENCRYPTION_KEY_FILE) to that key, or list it in \
         SESAME_ENCRYPTION_PREVIOUS_KEYS"
    )]
    UnknownKey(KeyId),
    /// The key matched but the value did not authenticate: altered bytes, or a value moved from
    /// another row.
    #[error("a value sealed under encryption key {0} failed to authenticate (altered, or copied from another row)")]
    Tampered(KeyId),
}

/// The keys this node holds: `current` seals, every one opens.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub current: EncryptionKey,
    /// Older keys, accepted for opening only, until `sesame keys reencrypt` has moved every value
    /// to `current`.
    pub previous: Vec<EncryptionKey>,
}

impl Keyring {
    /// A ring of one key.
    #[must_use]
    pub fn new(current: EncryptionKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Seals `plaintext` under the current key, bound to `aad`.
    ///
    /// # Panics
    /// Never in practice: XChaCha20-Poly1305 refuses only messages over 256 GiB.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 seals any message under 256 GiB"));
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: self.current.id.clone(),
            bytes,
        }
    }

    /// Opens `sealed` with the configured key its id names.
    ///
    /// # Errors
    /// [`SealError::UnknownKey`] when no configured key has that id; [`SealError::Tampered`]
    /// when the bytes or `aad` are not what was sealed.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Tampered(sealed.key_id.clone()));
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        key.cipher()
            .decrypt(
                &XNonce::from(n),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Tampered(sealed.key_id.clone()))
    }

    /// The configured key with this id, current or previous.
    #[must_use]
    pub fn key(&self, id: &KeyId) -> Option<&EncryptionKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| &k.id == id)
    }
}

/// The kinds of sealed value the store holds: each names its row in the associated data, and the
/// store knows its table and columns. Adding a kind is a variant here and its table in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The PKCS#8 DER of an Ed25519 signing key (`signing_keys.private_der`, row `kid`).
    SigningKey,
    /// The shared secret of an authenticator app (`mfa_factors.secret_sealed`, row `id`).
    TotpSecret,
}

impl SecretKind {
    /// Every kind, for the commands that walk them all (`sesame keys reencrypt`).
    pub const ALL: &'static [Self] = &[Self::SigningKey, Self::TotpSecret];

    /// A short name for operators: `signing keys`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::SigningKey => "signing keys",
            Self::TotpSecret => "authenticator app secrets",
        }
    }

    /// The associated data that binds a value of this kind to row `row`: `signing_key:<kid>`.
    #[must_use]
    pub fn aad(self, row: &RowId) -> Vec<u8> {
        let prefix = match self {
            Self::SigningKey => "signing_key",
            Self::TotpSecret => "totp",
        };
        format!("{prefix}:{row}").into_bytes()
    }
}

/// The primary key of a row holding a sealed value (a signing key's `kid`, a factor's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowId {
    Text(String),
    Uuid(Uuid),
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Uuid(u) => write!(f, "{u}"),
        }
    }
}

/// One stored value of a [`SecretKind`], as the store returns it for re-sealing.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub row: RowId,
    pub value: MaybeSealed,
}

/// A stored secret: sealed, or a plaintext value written before sealing existed (a legacy row,
/// whose key id column is NULL), which startup seals in place.
#[derive(Clone)]
pub enum MaybeSealed {
    Sealed(Sealed),
    Plain(Zeroizing<Vec<u8>>),
}

impl fmt::Debug for MaybeSealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sealed(s) => s.fmt(f),
            Self::Plain(_) => f.write_str("Plain(***)"),
        }
    }
}

impl MaybeSealed {
    /// The key id stored with it (`None` for a legacy plaintext value).
    #[must_use]
    pub fn key_id(&self) -> Option<&KeyId> {
        match self {
            Self::Sealed(s) => Some(&s.key_id),
            Self::Plain(_) => None,
        }
    }

    /// The plaintext: opened with `ring` and `aad`, or as stored when it was never sealed.
    ///
    /// # Errors
    /// [`SealError`] as [`Keyring::open`].
    pub fn open(&self, ring: &Keyring, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match self {
            Self::Sealed(s) => ring.open(s, aad),
            Self::Plain(p) => Ok(p.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(EncryptionKey::generate())
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_key_and_binding() {
        let r = ring();
        let s = r.seal(b"pkcs8 bytes", b"signing_key:a");
        assert_eq!(s.key_id, *r.current.id());
        assert_eq!(s.bytes.len(), NONCE_LEN + b"pkcs8 bytes".len() + TAG_LEN);
        assert_eq!(
            r.open(&s, b"signing_key:a").unwrap().as_slice(),
            b"pkcs8 bytes"
        );
    }

    #[test]
    fn sealing_twice_gives_different_bytes() {
        let r = ring();
        assert_ne!(r.seal(b"x", b"a").bytes, r.seal(b"x", b"a").bytes);
    }

    #[test]
    fn a_value_sealed_under_another_key_is_refused_naming_its_key_id() {
        let s = ring().seal(b"secret", b"a");
        let e = ring().open(&s, b"a").unwrap_err();
        assert_eq!(e, SealError::UnknownKey(s.key_id.clone()));
        assert!(e.to_string().contains(s.key_id.as_str()), "{e}");
        assert!(e.to_string().contains("SESAME_ENCRYPTION_KEY"), "{e}");
    }

    #[test]
    fn a_key_claiming_another_keys_id_does_not_open_its_values() {
        let r = ring();
        let mut s = r.seal(b"secret", b"a");
        let other = ring();
        s.key_id = other.current.id().clone();
        assert_eq!(
            other.open(&s, b"a"),
            Err(SealError::Tampered(s.key_id.clone()))
        );
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let r = ring();
        let s = r.seal(b"secret", b"a");
        for i in 0..s.bytes.len() {
            let mut t = s.clone();
            t.bytes[i] ^= 1;
            assert_eq!(
                r.open(&t, b"a"),
                Err(SealError::Tampered(s.key_id.clone())),
                "byte {i}"
            );
        }
        let mut short = s.clone();
        short.bytes.truncate(NONCE_LEN + TAG_LEN - 1);
        assert!(r.open(&short, b"a").is_err());
    }

    #[test]
    fn a_value_moved_to_another_row_is_refused() {
        let r = ring();
        let a = RowId::Text("kid-a".into());
        let b = RowId::Text("kid-b".into());
        let s = r.seal(b"secret", &SecretKind::SigningKey.aad(&a));
        assert!(r.open(&s, &SecretKind::SigningKey.aad(&a)).is_ok());
        assert_eq!(
            r.open(&s, &SecretKind::SigningKey.aad(&b)),
            Err(SealError::Tampered(s.key_id.clone()))
        );
    }

    #[test]
    fn after_rotation_the_previous_key_still_opens_and_new_values_use_the_current_one() {
        let old = ring();
        let s = old.seal(b"secret", b"a");
        let rotated = Keyring {
            current: EncryptionKey::generate(),
            previous: vec![old.current.clone()],
        };
        assert_eq!(rotated.open(&s, b"a").unwrap().as_slice(), b"secret");
        let fresh = rotated.seal(b"secret", b"a");
        assert_eq!(fresh.key_id, *rotated.current.id());
        assert!(old.open(&fresh, b"a").is_err());
    }

    #[test]
    fn key_ids_are_derived_from_the_key_and_stable() {
        let k = EncryptionKey::from_bytes([7; 32]);
        assert_eq!(k.id(), EncryptionKey::from_bytes([7; 32]).id());
        assert_ne!(k.id(), EncryptionKey::from_bytes([8; 32]).id());
        assert_eq!(k.id().as_str().len(), 16);
        assert!(k.id().as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let expected: String = Sha256::digest([KEY_ID_LABEL, &[7u8; 32][..]].concat())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(k.id().as_str(), expected);
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes_only() {
        let k = EncryptionKey::generate();
        let text = k.to_base64();
        let back = EncryptionKey::from_base64(&format!("{}\n", text.as_str())).unwrap();
        assert_eq!(back.id(), k.id());
        assert_eq!(
            EncryptionKey::from_base64("not base64!").unwrap_err(),
            KeyParseError::NotBase64
        );
        assert_eq!(
            EncryptionKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err(),
            KeyParseError::WrongLength(16)
        );
    }

    #[test]
    fn debug_never_prints_key_material() {
        let k = EncryptionKey::from_bytes([0xAB; 32]);
        let r = Keyring::new(k.clone());
        let s = r.seal(b"plaintext-secret", b"a");
        for shown in [
            format!("{k:?}"),
            format!("{r:?}"),
            format!("{s:?}"),
            format!(
                "{:?}",
                MaybeSealed::Plain(Zeroizing::new(b"plaintext-secret".to_vec()))
            ),
        ] {
            assert!(
                !shown.contains("ab, ab") && !shown.contains("171"),
                "{shown}"
            );
            assert!(!shown.contains(k.to_base64().as_str()), "{shown}");
            assert!(!shown.contains("plaintext-secret"), "{shown}");
        }
    }
}
