//! An in-process cache of live sessions: the answer to "is this session live, and who owns it"
//! for the token-checked hot path, so that a read with a valid access token does not need a
//! database round trip.
//!
//! Correctness rests on invalidation, not on expiry. Every write that can end a session or change
//! what `/users/me` shows invalidates the affected entries *after* it commits and *before* its
//! caller answers (see [`super::cached::CachedStore`]), so on one node a logout takes effect on
//! the very next request. Other nodes learn of it through [`super::pg_notify`]. The time to live
//! only bounds how long a lost notification could leave a stale entry.
//!
//! A miss that read the database before an invalidation must not put its (old) answer into the
//! cache after that invalidation ran. Each invalidation bumps a generation under the same lock
//! and is remembered in a short log; a miss takes a [`Ticket`] before it reads, and its insert is
//! dropped if any invalidation since then concerns its session or its user (or everything), or
//! if the log no longer reaches back to the ticket.
//!
//! An entry's age is read from a [`MonotonicClock`] (the system's unless
//! [`SessionCache::with_clock`] says otherwise); a session's own expiry is compared with the
//! wall-clock `now` its caller passes in.

use crate::monotonic::{MonotonicClock, SystemMonotonic};
use sesame_domain::clock::Timestamp;
use sesame_domain::model::{SessionId, UserId};
use sesame_domain::store::LiveSession;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a write made stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One session ended.
    Session(SessionId),
    /// Every session of the user ended, or the user changed (profile, roles, activity, email).
    User(UserId),
    /// Anything may have changed (a role deleted, notifications lost).
    All,
}

impl Invalidation {
    /// The wire form used between nodes: `s:<uuid>`, `u:<uuid>` or `*`.
    #[must_use]
    pub fn encode(&self) -> String {
        match self {
            Self::Session(s) => format!("s:{s}"),
            Self::User(u) => format!("u:{u}"),
            Self::All => "*".to_owned(),
        }
    }

    /// Parses [`Self::encode`]'s output; anything unreadable means "drop everything", the safe
    /// reading.
    #[must_use]
    pub fn decode(raw: &str) -> Self {
        let parsed = match raw.split_once(':') {
            Some(("s", id)) => uuid::Uuid::parse_str(id)
                .ok()
                .map(|u| Self::Session(SessionId::from_uuid(u))),
            Some(("u", id)) => uuid::Uuid::parse_str(id)
                .ok()
                .map(|u| Self::User(UserId::from_uuid(u))),
            _ => None,
        };
        parsed.unwrap_or(Self::All)
    }
}

/// Proof that a lookup started at a given generation; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

struct Entry {
    live: LiveSession,
    cached_at: Instant,
}

impl Entry {
    /// Whether the entry has been held for `ttl` or longer at `now`.
    fn is_older_than(&self, ttl: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.cached_at) >= ttl
    }
}

/// How many recent invalidations are remembered for judging late inserts.
const RECENT: usize = 1024;

#[derive(Default)]
struct Inner {
    generation: u64,
    /// The latest invalidations with the generation each produced, oldest first.
    recent: VecDeque<(u64, Invalidation)>,
    entries: HashMap<SessionId, Entry>,
    by_user: HashMap<UserId, Vec<SessionId>>,
}

impl Inner {
    fn remove_session(&mut self, session: SessionId) {
        if let Some(e) = self.entries.remove(&session) {
            let uid = e.live.user.id;
            if let Some(list) = self.by_user.get_mut(&uid) {
                list.retain(|s| *s != session);
                if list.is_empty() {
                    self.by_user.remove(&uid);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.by_user.clear();
    }

    fn record(&mut self, what: Invalidation) {
        self.generation = self.generation.wrapping_add(1);
        self.recent.push_back((self.generation, what));
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Whether an answer about `session` of `user`, read after `ticket` was taken, may still be
    /// stored.
    fn still_valid(&self, ticket: Ticket, session: SessionId, user: UserId) -> bool {
        if ticket.0 == self.generation {
            return true;
        }
        let Some(&(oldest, _)) = self.recent.front() else {
            return false;
        };
        if oldest > ticket.0.wrapping_add(1) {
            return false; // the log lost invalidations made since the ticket
        }
        !self.recent.iter().any(|(g, what)| {
            *g > ticket.0
                && match what {
                    Invalidation::All => true,
                    Invalidation::Session(s) => *s == session,
                    Invalidation::User(u) => *u == user,
                }
        })
    }
}

/// The cache. Disabled (every lookup misses, nothing is stored) when its time to live is zero,
/// and while a multi-node deployment cannot hear other nodes' invalidations.
pub struct SessionCache {
    ttl: Duration,
    capacity: usize,
    clock: Arc<dyn MonotonicClock>,
    enabled: AtomicBool,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    /// Session checks answered from memory.
    pub hits: u64,
    /// Session checks that went to the database (including while the cache is off).
    pub misses: u64,
    pub entries: usize,
    pub enabled: bool,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("enabled", &self.enabled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    /// A cache holding at most `capacity` sessions, each for at most `ttl`; `enabled` says
    /// whether it starts serving (see [`Self::set_enabled`]).
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize, enabled: bool) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            clock: Arc::new(SystemMonotonic),
            enabled: AtomicBool::new(enabled && !ttl.is_zero()),
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The same cache measuring entries' age on `clock` (tests pass a
    /// [`crate::monotonic::ManualMonotonic`]). For an empty cache: entries already held keep
    /// the previous clock's readings.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn MonotonicClock>) -> Self {
        self.clock = clock;
        self
    }

    /// Hits, misses, size and state, for the metrics endpoint.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.len(),
            enabled: self.is_enabled(),
        }
    }

    /// The map. No code panics while holding it, so a poisoned lock still holds consistent data.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether lookups may be answered from memory.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turns serving on or off; either way everything cached so far is dropped (turning it on
    /// follows a gap in which invalidations may have been missed).
    pub fn set_enabled(&self, on: bool) {
        let mut inner = self.lock();
        inner.record(Invalidation::All);
        inner.clear();
        self.enabled
            .store(on && !self.ttl.is_zero(), Ordering::Release);
    }

    /// Taken before a database lookup whose answer may be cached; `None` when disabled.
    #[must_use]
    pub fn ticket(&self) -> Option<Ticket> {
        if !self.is_enabled() {
            return None;
        }
        Some(Ticket(self.lock().generation))
    }

    /// The cached owner of `session` if it is cached for `user`, not past its expiry at `now`,
    /// and younger than the time to live.
    #[must_use]
    pub fn get(&self, session: SessionId, user: UserId, now: Timestamp) -> Option<LiveSession> {
        let found = self.is_enabled().then(|| {
            let inner = self.lock();
            let clock_now = self.clock.now();
            inner
                .entries
                .get(&session)
                .filter(|e| {
                    e.live.user.id == user
                        && e.live.expires_at > now
                        && !e.is_older_than(self.ttl, clock_now)
                })
                .map(|e| e.live.clone())
        });
        match found.flatten() {
            Some(live) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(live)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores a lookup's answer unless an invalidation that concerns it ran since `ticket` was
    /// taken. `now` is the lookup's time: a full cache first drops the entries expired by then.
    pub fn insert(&self, ticket: Ticket, session: SessionId, live: &LiveSession, now: Timestamp) {
        let mut inner = self.lock();
        if !self.is_enabled() || !inner.still_valid(ticket, session, live.user.id) {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&session) {
            let ttl = self.ttl;
            let clock_now = self.clock.now();
            let stale: Vec<SessionId> = inner
                .entries
                .iter()
                .filter(|(_, e)| e.is_older_than(ttl, clock_now) || e.live.expires_at <= now)
                .map(|(s, _)| *s)
                .collect();
            if stale.len() < self.capacity / 4 {
                // Mostly fresh entries: start over rather than scan again on the next insert.
                // Each dropped session costs one database lookup on its next request.
                inner.clear();
            } else {
                for s in stale {
                    inner.remove_session(s);
                }
            }
        }
        inner.remove_session(session);
        let uid = live.user.id;
        inner.entries.insert(
            session,
            Entry {
                live: live.clone(),
                cached_at: self.clock.now(),
            },
        );
        inner.by_user.entry(uid).or_default().push(session);
    }

    /// Drops what `what` made stale, and voids every ticket taken before.
    pub fn invalidate(&self, what: Invalidation) {
        let mut inner = self.lock();
        inner.record(what);
        match what {
            Invalidation::Session(s) => inner.remove_session(s),
            Invalidation::User(u) => {
                for s in inner.by_user.remove(&u).unwrap_or_default() {
                    inner.entries.remove(&s);
                }
            }
            Invalidation::All => inner.clear(),
        }
    }

    /// How many sessions are cached (for tests and metrics).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monotonic::ManualMonotonic;
    use sesame_domain::clock::now;
    use sesame_domain::model::{Email, User};

    fn live(user: UserId, expires_in: chrono::Duration) -> LiveSession {
        let t = now();
        LiveSession {
            user: User {
                id: user,
                email: Email::from_stored(format!("{user}@example.com")),
                username: None,
                display_name: None,
                email_verified: true,
                is_active: true,
                roles: Vec::new(),
                locale: sesame_domain::locale::Locale::En,
                created_at: t,
                updated_at: t,
                last_login_at: None,
            },
            expires_at: t + expires_in,
        }
    }

    fn cache() -> SessionCache {
        SessionCache::new(Duration::from_secs(60), 100, true)
    }

    fn on_a_manual_clock(ttl: Duration, capacity: usize) -> (SessionCache, Arc<ManualMonotonic>) {
        let clock = Arc::new(ManualMonotonic::new());
        let cache = SessionCache::new(ttl, capacity, true).with_clock(Arc::clone(&clock) as _);
        (cache, clock)
    }

    #[test]
    fn a_cached_session_is_served_only_to_its_own_user() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        let t = c.ticket().expect("enabled");
        c.insert(t, s, &live(u, chrono::Duration::hours(1)), now());
        assert_eq!(c.get(s, u, now()).map(|l| l.user.id), Some(u));
        assert!(c.get(s, UserId::new(), now()).is_none());
        assert!(c.get(SessionId::new(), u, now()).is_none());
    }

    #[test]
    fn a_cached_session_is_not_served_past_its_expiry() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        c.insert(
            c.ticket().expect("enabled"),
            s,
            &live(u, chrono::Duration::seconds(30)),
            now(),
        );
        assert!(c.get(s, u, now()).is_some());
        assert!(c.get(s, u, now() + chrono::Duration::seconds(31)).is_none());
    }

    #[test]
    fn entries_older_than_the_time_to_live_are_not_served() {
        let (c, clock) = on_a_manual_clock(Duration::from_millis(30), 100);
        let (s, u) = (SessionId::new(), UserId::new());
        c.insert(
            c.ticket().expect("enabled"),
            s,
            &live(u, chrono::Duration::hours(1)),
            now(),
        );
        assert!(c.get(s, u, now()).is_some());
        clock.advance(Duration::from_millis(29));
        assert!(c.get(s, u, now()).is_some(), "still younger than the TTL");
        clock.advance(Duration::from_millis(1));
        assert!(c.get(s, u, now()).is_none(), "exactly the TTL old");
        clock.advance(Duration::from_millis(10));
        assert!(c.get(s, u, now()).is_none());
    }

    #[test]
    fn a_full_cache_makes_room_by_dropping_entries_older_than_the_time_to_live() {
        let (c, clock) = on_a_manual_clock(Duration::from_secs(60), 8);
        let u = UserId::new();
        let add = || {
            let s = SessionId::new();
            c.insert(
                c.ticket().expect("enabled"),
                s,
                &live(u, chrono::Duration::hours(1)),
                now(),
            );
            s
        };
        let old: Vec<SessionId> = (0..4).map(|_| add()).collect();
        clock.advance(Duration::from_secs(60));
        let fresh: Vec<SessionId> = (0..4).map(|_| add()).collect();
        assert_eq!(c.len(), 8);
        let newest = add();
        assert_eq!(c.len(), 5, "the four stale entries made room");
        for s in fresh.iter().chain([&newest]) {
            assert!(c.get(*s, u, now()).is_some());
        }
        assert!(old.iter().all(|s| c.get(*s, u, now()).is_none()));
    }

    #[test]
    fn invalidating_a_session_or_its_user_drops_it() {
        let c = cache();
        let u = UserId::new();
        let (a, b, other) = (SessionId::new(), SessionId::new(), SessionId::new());
        let ou = UserId::new();
        for (s, owner) in [(a, u), (b, u), (other, ou)] {
            c.insert(
                c.ticket().expect("enabled"),
                s,
                &live(owner, chrono::Duration::hours(1)),
                now(),
            );
        }
        c.invalidate(Invalidation::Session(a));
        assert!(c.get(a, u, now()).is_none());
        assert!(c.get(b, u, now()).is_some());
        c.invalidate(Invalidation::User(u));
        assert!(c.get(b, u, now()).is_none());
        assert!(
            c.get(other, ou, now()).is_some(),
            "another user's session stays"
        );
        c.invalidate(Invalidation::All);
        assert!(c.is_empty());
    }

    #[test]
    fn a_lookup_that_started_before_an_invalidation_is_not_cached() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        let ticket = c.ticket().expect("enabled");
        // The database answered "live" to this lookup, then a logout committed and invalidated.
        c.invalidate(Invalidation::Session(s));
        c.insert(ticket, s, &live(u, chrono::Duration::hours(1)), now());
        assert!(c.get(s, u, now()).is_none());
        // A lookup that starts afterwards may cache again.
        c.insert(
            c.ticket().expect("enabled"),
            s,
            &live(u, chrono::Duration::hours(1)),
            now(),
        );
        assert!(c.get(s, u, now()).is_some());
    }

    #[test]
    fn an_unrelated_invalidation_does_not_void_a_lookup_in_flight() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        let ticket = c.ticket().expect("enabled");
        // Other users log in and out meanwhile.
        for _ in 0..10 {
            c.invalidate(Invalidation::User(UserId::new()));
            c.invalidate(Invalidation::Session(SessionId::new()));
        }
        c.insert(ticket, s, &live(u, chrono::Duration::hours(1)), now());
        assert!(c.get(s, u, now()).is_some());
        // But one for this session's owner, or for everything, does.
        for what in [Invalidation::User(u), Invalidation::All] {
            let (s2, t2) = (SessionId::new(), c.ticket().expect("enabled"));
            c.invalidate(what);
            c.insert(t2, s2, &live(u, chrono::Duration::hours(1)), now());
            assert!(c.get(s2, u, now()).is_none(), "{what:?}");
        }
    }

    #[test]
    fn a_lookup_older_than_the_invalidation_log_is_not_cached() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        let ticket = c.ticket().expect("enabled");
        for _ in 0..(RECENT + 1) {
            c.invalidate(Invalidation::Session(SessionId::new()));
        }
        c.insert(ticket, s, &live(u, chrono::Duration::hours(1)), now());
        assert!(
            c.get(s, u, now()).is_none(),
            "cannot tell whether an invalidation concerned it"
        );
    }

    #[test]
    fn a_disabled_cache_serves_and_stores_nothing() {
        let c = cache();
        let (s, u) = (SessionId::new(), UserId::new());
        c.insert(
            c.ticket().expect("enabled"),
            s,
            &live(u, chrono::Duration::hours(1)),
            now(),
        );
        c.set_enabled(false);
        assert!(c.ticket().is_none());
        assert!(c.get(s, u, now()).is_none());
        c.set_enabled(true);
        assert!(c.get(s, u, now()).is_none(), "re-enabling starts empty");
        let zero = SessionCache::new(Duration::ZERO, 100, true);
        assert!(!zero.is_enabled(), "a zero time to live turns it off");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let c = SessionCache::new(Duration::from_secs(60), 8, true);
        let u = UserId::new();
        for _ in 0..50 {
            c.insert(
                c.ticket().expect("enabled"),
                SessionId::new(),
                &live(u, chrono::Duration::hours(1)),
                now(),
            );
            assert!(c.len() <= 8);
        }
        c.invalidate(Invalidation::User(u));
        assert!(c.is_empty(), "the per-user index followed every eviction");
    }

    #[test]
    fn a_full_cache_drops_the_sessions_expired_at_the_lookups_time_and_keeps_the_rest() {
        let c = SessionCache::new(Duration::from_secs(60), 8, true);
        let u = UserId::new();
        let mut keep = Vec::new();
        for i in 0..8 {
            let (s, expires_in) = (
                SessionId::new(),
                chrono::Duration::seconds(30 + 3600 * (i % 2)),
            );
            c.insert(c.ticket().expect("enabled"), s, &live(u, expires_in), now());
            if i % 2 == 1 {
                keep.push(s);
            }
        }
        // Half the entries have expired by the lookup's time, though not by the system clock.
        let later = now() + chrono::Duration::seconds(31);
        let fresh = SessionId::new();
        c.insert(
            c.ticket().expect("enabled"),
            fresh,
            &live(u, chrono::Duration::hours(1)),
            later,
        );
        assert_eq!(c.len(), 5, "the four expired entries made room");
        for s in keep.into_iter().chain([fresh]) {
            assert!(c.get(s, u, later).is_some());
        }
    }

    #[test]
    fn invalidations_survive_the_trip_between_nodes() {
        let (s, u) = (SessionId::new(), UserId::new());
        for i in [
            Invalidation::Session(s),
            Invalidation::User(u),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&i.encode()), i);
        }
        assert_eq!(Invalidation::decode("garbage"), Invalidation::All);
        assert_eq!(Invalidation::decode("s:not-a-uuid"), Invalidation::All);
    }
}
