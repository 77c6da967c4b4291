//! The raw hashing limit: how many argon2id verifications per second this machine does on all
//! cores with the server's default parameters (OWASP: m=19456 KiB, t=2, p=1). Login throughput
//! is compared with this number.
//!
//! Two ways, both against a hash made by the server's own `PasswordHasher`:
//! - [`Mode::ServerCode`]: `PasswordHasher::verify_blocking`, exactly what a login runs (PHC
//!   parsing, then argon2 on the calling thread's reused memory, then a constant-time compare);
//! - [`Mode::ReusedMemory`]: the argon2 crate with one memory buffer per thread, allocated once:
//!   the pure computation, the ceiling no server can beat.

use crate::load::Outcome;
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use sesame_domain::password::{HashParams, Password, PasswordHasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Every seeded user's password: it passes Sesame's policy (zxcvbn score ≥ 3, not a common one).
/// It lives here, with the hashing it is measured by, so the scenarios depend on this module and
/// never the other way round.
pub const PASSWORD: &str = "plum-Vortex-harbor-1729!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ServerCode,
    ReusedMemory,
}

/// Verifications on `threads` threads for about `duration`, as an [`Outcome`] (`ok` is the
/// count; no latencies).
///
/// # Errors
/// When argon2 rejects the parameters (never with the defaults) or a verification fails.
pub fn verify_for(threads: usize, duration: Duration, mode: Mode) -> Result<Outcome, String> {
    let hasher = PasswordHasher::new(HashParams::default(), 1, 1)?;
    let password = Password::parse(PASSWORD).map_err(|e| e.to_string())?;
    let stored = hasher.hash_blocking(&password).map_err(|e| e.to_string())?;
    let raw = RawVerifier::new(&stored)?;
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut memory = vec![Block::default(); raw.params.block_count()];
                while !stop.load(Ordering::Relaxed) {
                    let ok = match mode {
                        Mode::ServerCode => hasher.verify_blocking(&password, &stored).matches,
                        Mode::ReusedMemory => raw.verify(&mut memory),
                    };
                    if !ok {
                        failed.store(true, Ordering::Relaxed);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    // Every thread finished its last verification before the scope ended: count them all.
    let elapsed = start.elapsed();
    if failed.load(Ordering::Relaxed) {
        return Err("a raw verification did not match".into());
    }
    Ok(Outcome {
        ok: count.load(Ordering::Relaxed),
        elapsed,
        ..Outcome::default()
    })
}

/// A PHC hash taken apart once, so that each verification is only the argon2 computation and a
/// comparison.
struct RawVerifier {
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl RawVerifier {
    fn new(stored: &str) -> Result<Self, String> {
        let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or("the hash has no salt")?
            .decode_b64(&mut buf)
            .map_err(|e| e.to_string())?
            .to_vec();
        let expected = parsed
            .hash
            .ok_or("the hash has no output")?
            .as_bytes()
            .to_vec();
        Ok(Self {
            params,
            salt,
            expected,
        })
    }

    fn verify(&self, memory: &mut [Block]) -> bool {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = vec![0u8; self.expected.len()];
        // The password is ASCII, so its NFKC form (what the server hashes) is itself.
        argon
            .hash_password_into_with_memory(PASSWORD.as_bytes(), &self.salt, &mut out, memory)
            .is_ok()
            && out == self.expected
    }
}
