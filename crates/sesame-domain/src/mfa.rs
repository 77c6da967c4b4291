//! Second factors as values: the kinds of factor ([`FactorKind`]), a factor as listed to its
//! owner or an operator ([`Factor`], never a secret), TOTP codes checked by `totp-rs`
//! ([`TotpSecret`], RFC 6238), single-use recovery codes ([`RecoveryCode`]), how a session was
//! authenticated ([`Amr`], RFC 8176) and who must have a factor ([`MfaRequirement`]).
//!
//! It owns the rules of one factor check (which time steps a code may match, that a step is
//! accepted once, how a recovery code is normalised and hashed). It refuses storage (the store
//! keeps factors and marks steps and codes used atomically), the sealing of secrets at rest
//! (the caller seals and opens), and every flow (the services decide when a factor is asked).

use crate::clock::Timestamp;
use crate::error::FieldError;
use crate::model::UserId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

crate::model::id_type!(
    /// The id of one factor of an account.
    FactorId
);

/// What kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// An authenticator app (RFC 6238).
    Totp,
    /// A WebAuthn credential.
    Passkey,
}

impl FactorKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Totp, Self::Passkey]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The name an owner gives a factor ("Phone", "YubiKey"): 1–64 characters, no control
/// characters, surrounding space trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorName(String);

impl FactorName {
    pub const MAX_CHARS: usize = 64;

    /// # Errors
    /// `factor_name` / `required`, `too_long` or `invalid_characters`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new(
                "name",
                "required",
                "give the factor a name",
            ));
        }
        // The limit is on what was sent, as the API document states it (maxLength 64).
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                "name",
                "too_long",
                "a factor name has at most 64 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "invalid_characters",
                "a factor name cannot contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// A name read back from the store, where only parsed names are written.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A factor as its owner or an operator sees it: never its secret or credential.
#[derive(Debug, Clone)]
pub struct Factor {
    pub id: FactorId,
    pub user_id: UserId,
    pub kind: FactorKind,
    pub name: FactorName,
    pub created_at: Timestamp,
    /// `None` while an authenticator app's enrolment waits for its first code.
    pub confirmed_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl Factor {
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// An authentication method reference (RFC 8176 §2), as carried in the `amr` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time code: an authenticator app's, or a recovery code.
    Otp,
    /// Proof of possession of a hardware-secured key: a device-bound passkey.
    Hwk,
    /// Proof of possession of a software-secured key: a synced (backup-eligible) passkey.
    Swk,
    /// A user-verification check by the authenticator (PIN or biometric) during a passkey
    /// assertion; RFC 8176 has no value for "some user verification", `user` is its closest.
    User,
    /// More than one factor.
    Mfa,
}

impl AuthMethod {
    pub const ALL: [Self; 6] = [
        Self::Pwd,
        Self::Otp,
        Self::Hwk,
        Self::Swk,
        Self::User,
        Self::Mfa,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::User => "user",
            Self::Mfa => "mfa",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// How a session was authenticated: a set of [`AuthMethod`]s, kept sorted. `mfa` is added
/// whenever the set proves two factors: a password with a code or a key, or a passkey with
/// user verification (possession plus knowledge or inherence, as WebAuthn Level 3 §6.2.3
/// describes multi-factor authentication).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Amr(Vec<AuthMethod>);

impl Amr {
    /// A password alone.
    #[must_use]
    pub fn password() -> Self {
        Self(vec![AuthMethod::Pwd])
    }

    /// These methods, with `mfa` added when they make two factors.
    #[must_use]
    pub fn of(methods: &[AuthMethod]) -> Self {
        let mut v: Vec<AuthMethod> = methods
            .iter()
            .copied()
            .filter(|m| *m != AuthMethod::Mfa)
            .collect();
        v.sort();
        v.dedup();
        let knows = v.contains(&AuthMethod::Pwd) || v.contains(&AuthMethod::User);
        let has = v
            .iter()
            .any(|m| matches!(m, AuthMethod::Otp | AuthMethod::Hwk | AuthMethod::Swk));
        if knows && has {
            v.push(AuthMethod::Mfa);
            v.sort();
        }
        Self(v)
    }

    #[must_use]
    pub fn contains(&self, m: AuthMethod) -> bool {
        self.0.contains(&m)
    }

    /// Two factors were proved.
    #[must_use]
    pub fn is_multi_factor(&self) -> bool {
        self.contains(AuthMethod::Mfa)
    }

    #[must_use]
    pub fn methods(&self) -> &[AuthMethod] {
        &self.0
    }

    /// The stored form: values separated by spaces.
    #[must_use]
    pub fn stored(&self) -> String {
        self.0
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form; unknown words (written by a newer version) are skipped.
    #[must_use]
    pub fn from_stored(s: &str) -> Self {
        Self::of(
            &s.split_whitespace()
                .filter_map(AuthMethod::parse)
                .collect::<Vec<_>>(),
        )
    }
}

/// Which accounts must have a second factor (`SESAME_MFA_REQUIRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MfaRequirement {
    /// Factors are optional.
    #[default]
    Off,
    /// Accounts holding the `admin` role.
    Admins,
    /// Every account.
    All,
}

impl MfaRequirement {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Admins => "admins",
            Self::All => "all",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Off, Self::Admins, Self::All]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// Whether an account with these roles must have a factor.
    #[must_use]
    pub fn applies_to(self, roles: &[crate::model::RoleName]) -> bool {
        match self {
            Self::Off => false,
            Self::Admins => roles.iter().any(|r| r.as_str() == "admin"),
            Self::All => true,
        }
    }
}

/// The parameters every authenticator app supports (RFC 6238 §4 defaults, as Google
/// Authenticator reads them): HMAC-SHA-1, 6 digits, 30-second steps, one step of clock skew
/// either way.
const TOTP_DIGITS: u8 = 6;
const TOTP_STEP_SECS: u64 = 30;
const TOTP_SKEW_STEPS: u16 = 1;
/// RFC 4226 §4 R6 asks for at least 128 bits and recommends 160: 20 bytes, as RFC 6238's SHA-1
/// test key.
pub const TOTP_SECRET_BYTES: usize = 20;

/// The shared secret of an authenticator app. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// A code that matched: the RFC 6238 time step it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpStep(pub i64);

impl TotpSecret {
    /// A fresh random secret.
    #[must_use]
    pub fn generate() -> Self {
        let mut b = vec![0u8; TOTP_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    /// A secret read back (opened) from the store.
    #[must_use]
    pub fn from_bytes(b: Vec<u8>) -> Self {
        Self(b)
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps accept it typed in.
    #[must_use]
    pub fn base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }

    fn totp(&self, issuer: Option<&str>, account: &str) -> Result<totp_rs::Totp, String> {
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(TOTP_DIGITS)
            // The window is walked by [`TotpSecret::check`], one exact step at a time.
            .with_skew(0)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(self.0.clone())
            .with_issuer(issuer.map(otpauth_label))
            .with_account_name(otpauth_label(account))
            .build()
            .map_err(|e| e.to_string())
    }

    /// The `otpauth://totp/…` URI an authenticator app scans (the Key Uri Format Google
    /// Authenticator defines), labelled `issuer:account`. A `:` in either is replaced, as the
    /// format reserves it as the separator.
    ///
    /// # Errors
    /// A message if `totp-rs` refuses the parameters (never expected with these constants).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, String> {
        self.totp(Some(issuer), account)?
            .to_url()
            .map_err(|e| e.to_string())
    }

    /// The time step `code` matches at `now`, among the current step and one either side,
    /// if it is later than `last_used` (RFC 6238 §5.2: "the verifier MUST NOT accept the second
    /// attempt of the OTP after the successful validation has been issued for the first OTP").
    /// The store then records the step with a conditional update, so two nodes cannot both
    /// accept it.
    #[must_use]
    pub fn check(
        &self,
        code: &str,
        now: Timestamp,
        last_used: Option<TotpStep>,
    ) -> Option<TotpStep> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(TOTP_DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp(None, "sesame").ok()?;
        let now = u64::try_from(now.timestamp()).ok()?;
        let current = now / TOTP_STEP_SECS;
        // Every step of the window is checked (the library compares in constant time), and the
        // newest match wins, so a replay of an older step never hides a fresh one.
        let window = current.saturating_sub(u64::from(TOTP_SKEW_STEPS))
            ..=current.saturating_add(u64::from(TOTP_SKEW_STEPS));
        let mut matched = None;
        for step in window {
            if totp.check(&code, step * TOTP_STEP_SECS) == Some(step) {
                matched = Some(step);
            }
        }
        let step = TotpStep(i64::try_from(matched?).ok()?);
        match last_used {
            Some(last) if step.0 <= last.0 => None,
            _ => Some(step),
        }
    }

    /// The code at `at` (for tests and the benchmark, which play the authenticator app).
    #[must_use]
    pub fn code_at(&self, at: Timestamp) -> String {
        let t = u64::try_from(at.timestamp()).unwrap_or(0);
        self.totp(None, "sesame")
            .map(|t2| t2.generate(t).to_string())
            .unwrap_or_default()
    }
}

/// Replaces `:` (the label separator of the otpauth format) in an issuer or account name.
fn otpauth_label(s: &str) -> String {
    let cleaned: String = s.chars().map(|c| if c == ':' { '-' } else { c }).collect();
    if cleaned.trim().is_empty() {
        "account".to_owned()
    } else {
        cleaned
    }
}

/// How many recovery codes a set holds.
pub const RECOVERY_CODES: usize = 10;
/// Each code: 16 characters of Crockford-like base32 (80 bits), shown in four groups.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RECOVERY_CHARS: usize = 16;

/// A single-use recovery code as shown once to its owner (`XXXX-XXXX-XXXX-XXXX`).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// The stored form of a recovery code: SHA-256 over the owner's id and the normalised code.
/// With 80 random bits per code, a fast hash is enough (there is nothing to guess faster than
/// the code itself); the owner's id keeps equal codes of two users apart.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RecoveryHash(pub [u8; 32]);

impl fmt::Debug for RecoveryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryHash(..)")
    }
}

impl RecoveryCode {
    /// A fresh set of [`RECOVERY_CODES`] codes.
    #[must_use]
    pub fn generate_set() -> Vec<Self> {
        (0..RECOVERY_CODES).map(|_| Self::generate()).collect()
    }

    fn generate() -> Self {
        let mut raw = [0u8; RECOVERY_CHARS];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let chars: Vec<char> = raw
            .iter()
            .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
            .collect();
        let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
        Self(groups.join("-"))
    }

    #[must_use]
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The hash of `typed` for `user`, if it has the shape of a code: case, dashes and spaces
    /// do not matter, and the look-alikes `O`, `I` and `L` read as `0`, `1` and `1`.
    #[must_use]
    pub fn hash_typed(user: UserId, typed: &str) -> Option<RecoveryHash> {
        let normal: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            })
            .collect();
        if normal.len() != RECOVERY_CHARS || !normal.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))
        {
            return None;
        }
        let mut h = Sha256::new();
        h.update(b"sesame-recovery-code:");
        h.update(user.as_uuid().as_bytes());
        h.update(normal.as_bytes());
        Some(RecoveryHash(h.finalize().into()))
    }

    /// The stored hash of this code for `user`.
    #[must_use]
    pub fn hash(&self, user: UserId) -> RecoveryHash {
        Self::hash_typed(user, &self.0).unwrap_or(RecoveryHash([0; 32]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(secs: i64) -> Timestamp {
        Utc.timestamp_opt(secs, 0).single().unwrap()
    }

    /// RFC 6238 Appendix B, the SHA-1 rows (the 20-byte ASCII key "12345678901234567890"); the
    /// RFC's codes have 8 digits, ours 6: the last six digits of each (RFC 4226 §5.3 truncation
    /// is modulo 10^digits).
    #[test]
    fn totp_codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (t, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(at(t)), eight[2..], "T = {t}");
            assert!(
                secret.check(&eight[2..], at(t), None).is_some(),
                "the code at T = {t} is accepted"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_not_two() {
        let s = TotpSecret::generate();
        let t = at(1_700_000_015);
        let code = s.code_at(t);
        assert!(s
            .check(&code, t + chrono::Duration::seconds(30), None)
            .is_some());
        assert!(s
            .check(&code, t - chrono::Duration::seconds(30), None)
            .is_some());
        assert!(s
            .check(&code, t + chrono::Duration::seconds(60), None)
            .is_none());
        assert!(s
            .check(&code, t - chrono::Duration::seconds(60), None)
            .is_none());
    }

    #[test]
    fn a_code_is_not_accepted_again_once_its_step_was_used() {
        let s = TotpSecret::generate();
        let t = at(1_700_000_015);
        let code = s.code_at(t);
        let step = s.check(&code, t, None).expect("fresh code");
        assert_eq!(
            s.check(&code, t, Some(step)),
            None,
            "replay in the same window"
        );
        // An earlier step's code is refused too once a later one was used.
        let earlier = s.code_at(t - chrono::Duration::seconds(30));
        assert_eq!(s.check(&earlier, t, Some(step)), None);
        // The next step's code is still good.
        let next = s.code_at(t + chrono::Duration::seconds(30));
        assert!(s
            .check(&next, t + chrono::Duration::seconds(30), Some(step))
            .is_some());
    }

    #[test]
    fn malformed_codes_are_refused_without_panicking() {
        let s = TotpSecret::generate();
        let t = at(1_700_000_015);
        for bad in ["", "12345", "1234567", "abcdef", "12 34 5x", "１２３４５６"] {
            assert_eq!(s.check(bad, t, None), None, "{bad:?}");
        }
        let spaced = s.code_at(t);
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert!(s.check(&spaced, t, None).is_some(), "spaces are ignored");
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let uri = s.otpauth_uri("Sesame", "alice@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Sesame:alice%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Sesame"), "{uri}");
        let odd = s.otpauth_uri("A:B", "c:d@example.com").unwrap();
        assert!(
            odd.starts_with("otpauth://totp/A-B:c-d%40example.com?"),
            "{odd}"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_forgivingly() {
        let user = UserId::new();
        let set = RecoveryCode::generate_set();
        assert_eq!(set.len(), RECOVERY_CODES);
        let mut hashes: Vec<[u8; 32]> = set.iter().map(|c| c.hash(user).0).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), RECOVERY_CODES, "no two codes alike");
        let code = set[0].reveal();
        assert_eq!(code.len(), 19);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(
            RecoveryCode::hash_typed(user, &typed),
            Some(set[0].hash(user))
        );
        assert_ne!(
            set[0].hash(UserId::new()),
            set[0].hash(user),
            "salted by owner"
        );
        assert_eq!(RecoveryCode::hash_typed(user, "123456"), None);
    }

    #[test]
    fn amr_adds_mfa_only_for_two_factors() {
        use AuthMethod::*;
        assert_eq!(Amr::password().stored(), "pwd");
        assert_eq!(Amr::of(&[Pwd, Otp]).stored(), "pwd otp mfa");
        assert_eq!(Amr::of(&[Hwk, User]).stored(), "hwk user mfa");
        assert_eq!(
            Amr::of(&[Swk]).stored(),
            "swk",
            "a key without verification is one factor"
        );
        assert_eq!(Amr::from_stored("otp pwd bogus"), Amr::of(&[Pwd, Otp]));
        assert!(!Amr::from_stored("").is_multi_factor());
    }
}
