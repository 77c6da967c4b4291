//! The raw hashing limit: how many argon2id verifications per second this machine does on all
//! cores, with the server's own code (`PasswordHasher::verify_blocking`) and its default
//! parameters (OWASP: m=19456 KiB, t=2, p=1). Login throughput is compared with this number.

use sesame_domain::password::{HashParams, Password, PasswordHasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Verifications per second on `threads` threads for `duration`.
///
/// # Errors
/// When argon2 rejects the parameters (never with the defaults) or a verification fails.
pub fn verify_rate(threads: usize, duration: Duration) -> Result<(f64, u64), String> {
    let hasher = PasswordHasher::new(HashParams::default(), 1, 1)?;
    let password = Password::parse(crate::scenarios::PASSWORD).map_err(|e| e.to_string())?;
    let stored = hasher.hash_blocking(&password).map_err(|e| e.to_string())?;
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if !hasher.verify_blocking(&password, &stored).matches {
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
    let n = count.load(Ordering::Relaxed);
    Ok((n as f64 / elapsed.as_secs_f64(), n))
}
