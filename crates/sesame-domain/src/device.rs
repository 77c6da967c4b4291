//! Known-device tokens: the OWASP "device cookie" that lets a user's own browser or app keep
//! signing in while an attacker holds the account's shared sign-in pause.
//!
//! After a successful login the service hands out a token naming the user and a random device
//! id, with the time it was issued, authenticated by HMAC-SHA256 under a key derived from the
//! signing secret (so every node accepts it, it survives restarts, and no request can choose the
//! key). A later login that presents a valid token *for the account it names* is judged against
//! that device's own failure counter instead of the account's shared one.
//!
//! This module only issues and checks tokens; what a valid one changes (which lockout counter a
//! login uses, which rate-limit bucket) is decided by the service and the HTTP layer. It keeps no
//! state: tokens are not stored, so they cannot be listed or revoked one by one; they expire
//! after their lifetime, and rotating the signing key ends them all.

use crate::clock::Timestamp;
use crate::model::UserId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

/// The derivation label of the device-token key; a new label is a new key.
pub const KEY_PURPOSE: &[u8] = b"sesame device token v1";

/// The version prefix of every device token.
const PREFIX: &str = "d1.";
/// user id (16) + device id (16) + issued at, Unix milliseconds big-endian (8).
const PAYLOAD_LEN: usize = 40;
const MAC_LEN: usize = 32;
/// How far in the future an issue time may lie (clock skew between nodes).
const SKEW_MS: i64 = 60_000;

/// A device's identity: 128 random bits, chosen by the server at the device's first sign-in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId([u8; 16]);

impl DeviceId {
    #[must_use]
    pub fn generate() -> Self {
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    /// 32 lower-case hex digits: the form used in lockout and rate-limit keys.
    #[must_use]
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`DeviceId::hex`] back (as a sign-in challenge stores it); `None` for anything
    /// else.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(b))
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.hex())
    }
}

/// What a valid device token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDevice {
    pub user: UserId,
    pub device: DeviceId,
}

/// Issues and checks device tokens.
pub struct DeviceTokens {
    key: [u8; 32],
    ttl: Duration,
}

impl fmt::Debug for DeviceTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DeviceTokens {
    /// `key` comes from [`crate::token::TokenIssuer::derived_key`] with [`KEY_PURPOSE`].
    #[must_use]
    pub fn new(key: [u8; 32], ttl: Duration) -> Self {
        Self { key, ttl }
    }

    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }

    /// A token for `device` of `user`, issued at `t`.
    #[must_use]
    pub fn issue(&self, user: UserId, device: DeviceId, t: Timestamp) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..16].copy_from_slice(user.as_uuid().as_bytes());
        payload[16..32].copy_from_slice(&device.0);
        payload[32..].copy_from_slice(&t.timestamp_millis().to_be_bytes());
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{PREFIX}{}.{}", B64.encode(payload), B64.encode(tag))
    }

    /// The device a token names, if its MAC checks out (compared in constant time) and it was
    /// issued within its lifetime before `t`. Anything else — junk, a forged or altered token, an
    /// expired one — is `None`: the caller treats it as no token at all.
    #[must_use]
    pub fn verify(&self, raw: &str, t: Timestamp) -> Option<KnownDevice> {
        let rest = raw.trim().strip_prefix(PREFIX)?;
        let (payload, tag) = rest.split_once('.')?;
        // Bounded before decoding: a token is 54 + 1 + 43 characters.
        if payload.len() != 54 || tag.len() != 43 {
            return None;
        }
        let payload = B64.decode(payload).ok()?;
        let tag = B64.decode(tag).ok()?;
        if payload.len() != PAYLOAD_LEN || tag.len() != MAC_LEN {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        let user = uuid::Uuid::from_slice(&payload[..16]).ok()?;
        let mut device = [0u8; 16];
        device.copy_from_slice(&payload[16..32]);
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&payload[32..]);
        let issued_ms = i64::from_be_bytes(issued);
        let now_ms = t.timestamp_millis();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let fresh = issued_ms <= now_ms.saturating_add(SKEW_MS)
            && now_ms < issued_ms.saturating_add(ttl_ms);
        fresh.then_some(KnownDevice {
            user: UserId::from_uuid(user),
            device: DeviceId(device),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{now, Clock, ManualClock};

    fn tokens(ttl_secs: u64) -> DeviceTokens {
        DeviceTokens::new([7u8; 32], Duration::from_secs(ttl_secs))
    }

    #[test]
    fn a_device_id_reads_back_from_its_hex_and_nothing_else() {
        let d = DeviceId::generate();
        assert_eq!(DeviceId::from_hex(&d.hex()), Some(d));
        for bad in [
            "",
            "00",
            &"g".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
            "é0000000000000000000000000000000",
        ] {
            assert_eq!(DeviceId::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_token_names_the_user_and_device_it_was_issued_for() {
        let d = tokens(3600);
        let (user, device, t) = (UserId::new(), DeviceId::generate(), now());
        let raw = d.issue(user, device, t);
        assert_eq!(d.verify(&raw, t), Some(KnownDevice { user, device }));
    }

    #[test]
    fn a_token_is_trusted_until_its_lifetime_ends() {
        let d = tokens(3600);
        let clock = ManualClock::new(now());
        let raw = d.issue(UserId::new(), DeviceId::generate(), clock.now());
        clock.advance(Duration::from_secs(3599));
        assert!(d.verify(&raw, clock.now()).is_some());
        clock.advance(Duration::from_secs(1));
        assert_eq!(d.verify(&raw, clock.now()), None, "expired");
    }

    #[test]
    fn a_token_issued_too_far_in_the_future_is_refused() {
        let d = tokens(3600);
        let t = now();
        let raw = d.issue(
            UserId::new(),
            DeviceId::generate(),
            t + chrono::Duration::hours(1),
        );
        assert_eq!(d.verify(&raw, t), None);
    }

    #[test]
    fn an_altered_or_foreign_token_is_refused() {
        let d = tokens(3600);
        let t = now();
        let raw = d.issue(UserId::new(), DeviceId::generate(), t);
        // Another key (another server, or a rotated signing key) does not accept it.
        let other = DeviceTokens::new([8u8; 32], Duration::from_secs(3600));
        assert_eq!(other.verify(&raw, t), None);
        // Any changed character of the payload or the tag breaks it.
        for i in PREFIX.len()..raw.len() {
            let mut bytes = raw.clone().into_bytes();
            if bytes[i] == b'.' {
                continue;
            }
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != raw {
                assert_eq!(d.verify(&altered, t), None, "altered at {i}");
            }
        }
        for junk in ["", "d1.", "d1.a.b", "x", &"d1.".repeat(40)] {
            assert_eq!(d.verify(junk, t), None);
        }
    }
}
