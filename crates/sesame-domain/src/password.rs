//! Passwords: the [`Password`] newtype (NFKC, 8 to 256 bytes, never printed) and the
//! [`PasswordHasher`], which hashes with argon2id, verifies argon2 and imported bcrypt hashes, says
//! when a stored hash should be upgraded, and runs all of that off the async runtime on a bounded
//! pool so that a flood of logins cannot starve other requests or exhaust memory.
//!
//! The pool's threads run at a lower CPU priority (nice 10, on Linux), so that during a login
//! storm the runtime's threads preempt them and token-checked requests keep their latency;
//! hashing still gets every cycle nothing else wants. Each thread allocates its argon2 memory on
//! its first hash and reuses it after that; building the hasher runs no argon2 at all, so an idle
//! server holds no argon2 memory.
//!
//! It does not decide *when* to re-hash or what a failed login means; the service does.

use crate::error::{AuthError, FieldError};
use argon2::password_hash::{PasswordHash, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

/// A password that passed the length rules, NFKC-normalized. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 256;

    /// Normalizes with NFKC, then checks 8 characters to 256 bytes. Longer input is rejected,
    /// never truncated.
    ///
    /// # Errors
    /// A [`FieldError`] on `field` naming the rule that failed.
    pub fn parse_field(raw: &str, field: &'static str) -> Result<Self, FieldError> {
        let s: String = raw.nfkc().collect();
        if s.chars().count() < Self::MIN_CHARS {
            return Err(FieldError::new(
                field,
                "too_short",
                "a password has at least 8 characters",
            ));
        }
        if s.len() > Self::MAX_BYTES {
            return Err(FieldError::new(
                field,
                "too_long",
                "a password has at most 256 bytes (it is never truncated)",
            ));
        }
        Ok(Self(s))
    }

    /// [`Password::parse_field`] for the field named `password`.
    ///
    /// # Errors
    /// As [`Password::parse_field`].
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::parse_field(raw, "password")
    }

    /// A password presented at login is only normalized: length rules are for new passwords, and
    /// an old account may predate them. Input over the byte limit cannot match any hash we made,
    /// but it still costs the same hash so that the answer takes the same time.
    #[must_use]
    pub fn for_login(raw: &str) -> Self {
        Self(raw.nfkc().collect())
    }

    fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The normalized text, for the password policy to inspect. Never log or store it.
    pub(crate) fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// argon2id cost parameters. The default is OWASP's: m=19456 KiB, t=2, p=1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The hash is bcrypt, or argon2 with other parameters than the current ones.
    pub needs_rehash: bool,
}

/// A unit of work for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// The nice value of the hashing threads (0 is the default, 19 the lowest priority).
const HASHING_NICE: i32 = 10;

thread_local! {
    /// This thread's argon2 memory for the current parameters: empty until the thread's first
    /// hash with them, then reused by every later one.
    static ARGON2_MEMORY: RefCell<Vec<argon2::Block>> = const { RefCell::new(Vec::new()) };
}

/// Hashes and verifies on a fixed pool of dedicated threads (one per configured worker).
///
/// Dedicated threads, rather than the runtime's blocking pool, bound memory: each thread keeps
/// one argon2 memory block set (19 MiB by default), allocated on its first hash, so resident
/// memory is at most `workers` × the memory cost, however many logins arrive, and nothing while
/// no one has logged in.
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: HashParams,
    workers: Arc<Semaphore>,
    queue: std::sync::mpsc::Sender<Job>,
    pending: AtomicUsize,
    max_pending: usize,
    /// What unknown users' passwords are verified against; see [`dummy_hash`].
    dummy_hash: String,
    /// argon2 computations on the reused-memory path, so tests can see which path ran.
    #[cfg(test)]
    computations: AtomicUsize,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("max_pending", &self.max_pending)
            .finish_non_exhaustive()
    }
}

/// Decrements the pending count when a hashing job leaves, however it leaves.
struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// `workers` hashes run at once (one per core is right: argon2 is CPU-bound); at most
    /// `max_pending` jobs (running plus queued) are admitted, the rest are refused with
    /// [`AuthError::Overloaded`].
    ///
    /// # Errors
    /// An error naming the bad parameter when argon2 rejects the cost parameters.
    pub fn new(params: HashParams, workers: usize, max_pending: usize) -> Result<Self, String> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let workers = workers.max(1);
        let dummy_hash =
            dummy_hash(&argon).map_err(|e| format!("cannot build the dummy hash: {e}"))?;
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for n in 0..workers {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("sesame-hash-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        // The lock is held only to take one job; it ends when the hasher is
                        // dropped.
                        let next = match jobs.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match next {
                            // A panicking job loses its answer (the caller gets an internal
                            // error), never the thread.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
        }
        Ok(Self {
            argon,
            params,
            queue,
            workers: Arc::new(Semaphore::new(workers)),
            pending: AtomicUsize::new(0),
            max_pending: max_pending.max(workers),
            dummy_hash,
            #[cfg(test)]
            computations: AtomicUsize::new(0),
        })
    }

    #[must_use]
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a new password with argon2id and the current parameters, as a PHC string.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the pool is full; [`AuthError::Internal`] if hashing fails.
    pub async fn hash(self: &Arc<Self>, password: &Password) -> Result<String, AuthError> {
        let this = Arc::clone(self);
        let pw = password.clone();
        self.run(move || this.hash_blocking(&pw)).await?
    }

    /// Verifies `password` against `stored`; with no stored hash (unknown user) it verifies against
    /// a dummy hash with the current parameters, on the same path as a real one, so that the
    /// answer takes the same time, and never matches.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the pool is full; [`AuthError::Internal`] if the pool fails.
    pub async fn verify(
        self: &Arc<Self>,
        password: &Password,
        stored: Option<String>,
    ) -> Result<Verified, AuthError> {
        let this = Arc::clone(self);
        let pw = password.clone();
        self.run(move || match stored {
            Some(hash) => this.verify_blocking(&pw, &hash),
            None => {
                let _ = this.verify_blocking(&pw, &this.dummy_hash);
                Verified {
                    matches: false,
                    needs_rehash: false,
                }
            }
        })
        .await
    }

    /// Hashes synchronously, for the CLI and for tests. Never call this on the async runtime.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if argon2 fails.
    pub fn hash_blocking(&self, password: &Password) -> Result<String, AuthError> {
        let internal = |e: &dyn fmt::Display| AuthError::Internal(e.to_string().into());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| internal(&e))?;
        let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
        self.raw_hash(password.expose(), salt_raw, &mut out)
            .map_err(|e| internal(&e))?;
        phc_string(&self.argon, &salt, &out).map_err(|e| internal(&e))
    }

    /// argon2id with the current parameters into `out`, reusing this thread's memory blocks:
    /// a hashing thread allocates its memory cost once, on its first call, not on every call (no
    /// allocation, no zeroing, no page faults per login, and resident memory stays at threads ×
    /// memory cost).
    fn raw_hash(&self, pwd: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
        #[cfg(test)]
        self.computations.fetch_add(1, Ordering::Relaxed);
        let needed = self.argon.params().block_count();
        ARGON2_MEMORY.with(|cell| {
            let mut blocks = cell.borrow_mut();
            if blocks.len() != needed {
                *blocks = vec![argon2::Block::default(); needed];
            }
            self.argon
                .hash_password_into_with_memory(pwd, salt, out, &mut blocks[..])
        })
    }

    /// Verifies synchronously. A stored value that is no hash we understand never matches.
    #[must_use]
    pub fn verify_blocking(&self, password: &Password, stored: &str) -> Verified {
        let no = Verified {
            matches: false,
            needs_rehash: false,
        };
        if is_bcrypt(stored) {
            return match bcrypt::verify(password.expose(), stored) {
                Ok(matches) => Verified {
                    matches,
                    needs_rehash: true,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "stored bcrypt hash is unreadable");
                    no
                }
            };
        }
        let Ok(parsed) = PasswordHash::new(stored) else {
            tracing::warn!("stored password hash is not a PHC string");
            return no;
        };
        let matches = if self.is_current(&parsed) {
            // The common case: current parameters, verified on this thread's reused memory.
            self.verify_current(password, &parsed)
        } else {
            // Older parameters: verify with those recorded in the hash (Argon2's verifier reads them).
            Argon2::default()
                .verify_password(password.expose(), &parsed)
                .is_ok()
        };
        Verified {
            matches,
            needs_rehash: matches && !self.is_current(&parsed),
        }
    }

    fn verify_current(&self, password: &Password, parsed: &PasswordHash<'_>) -> bool {
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let mut out = vec![0u8; expected.len()];
        if self.raw_hash(password.expose(), salt, &mut out).is_err() {
            return false;
        }
        // `Output` compares in constant time.
        argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
    }

    fn is_current(&self, h: &PasswordHash<'_>) -> bool {
        let Ok(p) = Params::try_from(h) else {
            return false;
        };
        h.algorithm.as_str() == "argon2id"
            && h.version == Some(0x13)
            && p.m_cost() == self.params.memory_kib
            && p.t_cost() == self.params.iterations
            && p.p_cost() == self.params.parallelism
    }

    /// Runs other CPU-heavy password work (the strength estimate) on the same bounded pool.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] when the pool is full.
    pub async fn offload<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        self.run(job).await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let before = self.pending.fetch_add(1, Ordering::AcqRel);
        let _guard = PendingGuard(&self.pending);
        if before >= self.max_pending {
            return Err(AuthError::Overloaded {
                retry_after_secs: 1,
            });
        }
        let permit = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .map_err(AuthError::internal)?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue
            .send(Box::new(move || {
                let _permit = permit;
                let _ = done.send(job());
            }))
            .map_err(|_| AuthError::Internal("the hashing threads have stopped".into()))?;
        result
            .await
            .map_err(|_| AuthError::Internal("a hashing job was lost".into()))
    }
}

/// The PHC string of an argon2id output made with `argon`'s parameters and `salt`.
fn phc_string(
    argon: &Argon2<'_>,
    salt: &SaltString,
    out: &[u8],
) -> Result<String, argon2::password_hash::Error> {
    Ok(PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(argon.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(out)?),
    }
    .to_string())
}

/// The hash unknown users' passwords are checked against: the current parameters, a random salt
/// and a random output, put together without running argon2 (which would cost the memory cost in
/// allocation at startup). Verifying against it is one argon2id computation with the current
/// parameters, on the same reused-memory path as a real hash, and matches no password: that would
/// take an argon2 preimage of 256 random bits. It holds no secret.
fn dummy_hash(argon: &Argon2<'_>) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut out);
    phc_string(argon, &salt, &out)
}

/// Lowers the calling thread's CPU priority to nice [`HASHING_NICE`], never raising it. On Linux
/// `setpriority(PRIO_PROCESS, tid, …)` changes that one thread, not the whole process. A failure
/// leaves the thread as it was: hashing then merely competes with request handling as equals.
#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // SAFETY: `gettid` has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    let Ok(who) = libc::id_t::try_from(tid) else {
        tracing::warn!(tid, "unexpected thread id; hashing runs at normal priority");
        return;
    };
    // SAFETY: plain system calls on this thread's id; no memory is passed.
    let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, who) };
    // -1 is an error or a real nice of -1; either way, go on and set it.
    if current >= HASHING_NICE {
        return;
    }
    // SAFETY: as above.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, who, HASHING_NICE) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot lower a hashing thread's priority; hashing competes with requests as an equal"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The system allocator, noting the largest allocation each thread makes, so a test can show
    /// that some code allocated no argon2 memory (argon2 needs all of its memory cost at once).
    struct LargestPerThread;

    thread_local! {
        static LARGEST_ALLOCATION: Cell<usize> = const { Cell::new(0) };
    }

    fn note_allocation(size: usize) {
        let _ = LARGEST_ALLOCATION.try_with(|c| c.set(c.get().max(size)));
    }

    // SAFETY: every call is forwarded unchanged to `System`.
    unsafe impl GlobalAlloc for LargestPerThread {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note_allocation(layout.size());
            System.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note_allocation(layout.size());
            System.alloc_zeroed(layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note_allocation(new_size);
            System.realloc(ptr, layout, new_size)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout);
        }
    }

    #[global_allocator]
    static ALLOCATOR: LargestPerThread = LargestPerThread;

    fn fast() -> HashParams {
        HashParams {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn hasher(params: HashParams) -> Arc<PasswordHasher> {
        Arc::new(PasswordHasher::new(params, 2, 4).unwrap())
    }

    #[test]
    fn passwords_shorter_than_eight_characters_are_rejected() {
        assert_eq!(Password::parse("1234567").unwrap_err().code, "too_short");
        assert!(Password::parse("12345678").is_ok());
    }

    #[test]
    fn passwords_over_256_bytes_are_rejected_not_truncated() {
        assert!(Password::parse(&"a".repeat(256)).is_ok());
        assert_eq!(
            Password::parse(&"a".repeat(257)).unwrap_err().code,
            "too_long"
        );
        // 86 three-byte characters = 258 bytes
        assert_eq!(
            Password::parse(&"€".repeat(86)).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn passwords_are_nfkc_normalized() {
        let a = Password::parse("ﬁﬁﬁﬁﬁﬁﬁﬁ").unwrap(); // ligatures
        let b = Password::parse("fifififififififi").unwrap();
        assert_eq!(a.expose(), b.expose());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn a_hash_made_with_reused_memory_verifies_with_the_standard_verifier() {
        let h = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash_blocking(&pw).unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(pw.expose(), &parsed)
            .is_ok());
        let standard = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(256, 1, 1, None).unwrap(),
        )
        .hash_password(pw.expose(), &SaltString::generate(&mut rand::rngs::OsRng))
        .unwrap()
        .to_string();
        let v = h.verify_blocking(&pw, &standard);
        assert!(
            v.matches && !v.needs_rehash,
            "a standard hash verifies on the fast path"
        );
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!h.verify_blocking(&wrong, &standard).matches);
    }

    #[test]
    fn a_new_hash_is_argon2id_and_verifies() {
        let h = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash_blocking(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        let v = h.verify_blocking(&pw, &hash);
        assert!(v.matches && !v.needs_rehash);
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!h.verify_blocking(&wrong, &hash).matches);
    }

    #[test]
    fn the_default_parameters_are_owasps() {
        let d = HashParams::default();
        assert_eq!((d.memory_kib, d.iterations, d.parallelism), (19_456, 2, 1));
    }

    #[test]
    fn an_argon2_hash_with_old_parameters_verifies_and_asks_for_a_rehash() {
        let old = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = old.hash_blocking(&pw).unwrap();
        let new = hasher(HashParams {
            memory_kib: 512,
            ..fast()
        });
        let v = new.verify_blocking(&pw, &hash);
        assert!(v.matches && v.needs_rehash);
    }

    #[test]
    fn imported_bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let h = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        let b = bcrypt::hash("correct horse battery", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let variant = format!("{prefix}{}", &b[4..]);
            let v = h.verify_blocking(&pw, &variant);
            assert!(v.matches && v.needs_rehash, "{prefix}");
        }
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!h.verify_blocking(&wrong, &b).matches);
    }

    #[test]
    fn a_garbage_stored_hash_never_matches() {
        let h = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        assert!(!h.verify_blocking(&pw, "not a hash").matches);
        assert!(!h.verify_blocking(&pw, "").matches);
    }

    #[tokio::test]
    async fn verifying_without_a_stored_hash_never_matches() {
        let h = hasher(fast());
        let pw = Password::for_login("sesame-dummy-password-for-timing");
        assert!(!h.verify(&pw, None).await.unwrap().matches);
    }

    fn eight_mib() -> HashParams {
        HashParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// The length of the argon2 memory the hashing thread holds, asked on that thread.
    async fn memory_held_by_the_hashing_thread(h: &Arc<PasswordHasher>) -> usize {
        h.offload(|| ARGON2_MEMORY.with(|m| m.borrow().len()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn building_a_hasher_runs_no_argon2_and_allocates_no_argon2_memory() {
        let params = eight_mib();
        LARGEST_ALLOCATION.with(|c| c.set(0));
        let h = Arc::new(PasswordHasher::new(params, 1, 1).unwrap());
        let largest = LARGEST_ALLOCATION.with(Cell::get);
        assert!(
            largest < 8192 * 1024,
            "building allocated {largest} bytes at once: an argon2 run"
        );
        assert_eq!(h.computations.load(Ordering::Relaxed), 0);
        assert_eq!(
            memory_held_by_the_hashing_thread(&h).await,
            0,
            "a hashing thread holds no argon2 memory before its first hash"
        );
    }

    #[test]
    fn the_dummy_hash_has_the_current_parameters_and_matches_nothing() {
        let h = hasher(fast());
        let parsed = PasswordHash::new(&h.dummy_hash).unwrap();
        assert!(h.is_current(&parsed), "{}", h.dummy_hash);
        assert!(h.dummy_hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert_eq!(
            parsed.salt.unwrap().len(),
            22,
            "16 bytes, base64 without padding"
        );
        assert_eq!(parsed.hash.unwrap().len(), 32);
        for pw in [
            "sesame-dummy-password-for-timing",
            "correct horse battery",
            "",
        ] {
            let v = h.verify_blocking(&Password::for_login(pw), &h.dummy_hash);
            assert!(!v.matches && !v.needs_rehash, "{pw:?}");
        }
        assert_ne!(hasher(fast()).dummy_hash, h.dummy_hash, "random per hasher");
    }

    #[tokio::test]
    async fn an_unknown_user_costs_one_argon2_run_on_the_reused_memory_like_a_known_one() {
        let params = eight_mib();
        let h = Arc::new(PasswordHasher::new(params, 1, 1).unwrap());
        let pw = Password::parse("correct horse battery").unwrap();
        let stored = h.hash_blocking(&pw).unwrap();
        let before = h.computations.load(Ordering::Relaxed);

        assert!(!h.verify(&pw, None).await.unwrap().matches);
        assert_eq!(h.computations.load(Ordering::Relaxed), before + 1);
        assert_eq!(
            memory_held_by_the_hashing_thread(&h).await,
            Params::new(8192, 1, 1, None).unwrap().block_count(),
            "the dummy was verified on the hashing thread's reused memory"
        );

        assert!(h.verify(&pw, Some(stored)).await.unwrap().matches);
        assert_eq!(h.computations.load(Ordering::Relaxed), before + 2);
    }

    /// Field 19 of `/proc/self/task/<tid>/stat`, counting after the command name, which may hold
    /// spaces and parentheses, so the fields are read after its last `)`.
    #[cfg(target_os = "linux")]
    fn nice_of(tid: libc::pid_t) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let (_, fields) = stat.rsplit_once(')').unwrap();
        // After the name come field 3 (state) onwards: field 19 is the 17th.
        fields.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashing_threads_run_at_nice_10() {
        let h = hasher(fast());
        let pw = Password::parse("correct horse battery").unwrap();
        h.hash(&pw).await.unwrap();
        // Two jobs that wait for each other run on the two hashing threads at once, so this
        // reaches both threads of this hasher (and no other test's).
        let both = Arc::new(std::sync::Barrier::new(2));
        let on_a_hashing_thread = || {
            let both = Arc::clone(&both);
            let h = Arc::clone(&h);
            async move {
                h.offload(move || {
                    both.wait();
                    // SAFETY: `gettid` has no preconditions.
                    unsafe { libc::gettid() }
                })
                .await
                .unwrap()
            }
        };
        let (a, b) = tokio::join!(on_a_hashing_thread(), on_a_hashing_thread());
        assert_ne!(a, b);
        // SAFETY: as above.
        let base = nice_of(unsafe { libc::gettid() });
        for tid in [a, b] {
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap();
            assert!(comm.starts_with("sesame-hash-"), "{comm}");
            // Never raised: under `nice -n 15 cargo test` the threads stay at 15.
            assert_eq!(nice_of(tid), HASHING_NICE.max(base), "{comm}");
        }
        assert_eq!(HASHING_NICE, 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_pool_refuses_work_instead_of_queueing_it() {
        let h = Arc::new(
            PasswordHasher::new(
                HashParams {
                    memory_kib: 8192,
                    iterations: 4,
                    parallelism: 1,
                },
                1,
                2,
            )
            .unwrap(),
        );
        let pw = Password::parse("correct horse battery").unwrap();
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let h = Arc::clone(&h);
                let pw = pw.clone();
                tokio::spawn(async move { h.hash(&pw).await })
            })
            .collect();
        let mut ok = 0;
        let mut overloaded = 0;
        for j in jobs {
            match j.await.unwrap() {
                Ok(_) => ok += 1,
                Err(AuthError::Overloaded { .. }) => overloaded += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert!(ok >= 2, "admitted jobs complete: {ok}");
        assert!(
            overloaded >= 1,
            "jobs past the bound are refused: {overloaded}"
        );
        assert_eq!(h.pending.load(Ordering::Acquire), 0);
    }
}
