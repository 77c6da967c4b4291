//! One-at-a-time turns per key, within this process: [`KeyedLock::lock`] waits until no other
//! holder of the same key is running. The login uses it so that concurrent attempts on one
//! account (or unknown name) are checked in turn, each seeing the failures and the pause the
//! previous one recorded; without it, a burst of wrong passwords sent at once is checked in full
//! before the first failure is counted.
//!
//! It refuses to be more than that: it does not coordinate nodes (several nodes on one database
//! each take their own turns; the per-account rate limit, shared through Redis, bounds them), and
//! it holds no state once no one holds or waits for a key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-key async mutexes, created on demand and forgotten once unused.
#[derive(Debug, Default)]
pub struct KeyedLock {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    by_key: HashMap<String, Weak<AsyncMutex<()>>>,
    /// Sweep dead entries when the map grows past this; doubles with the live count.
    sweep_at: usize,
}

/// Held while it is the key's turn; dropping it lets the next waiter run.
#[derive(Debug)]
pub struct Turn {
    _guard: OwnedMutexGuard<()>,
}

impl KeyedLock {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for `key`'s turn. Cancel-safe: a dropped waiter takes no turn.
    pub async fn lock(&self, key: &str) -> Turn {
        let slot = self.slot(key);
        Turn {
            _guard: slot.lock_owned().await,
        }
    }

    fn slot(&self, key: &str) -> Arc<AsyncMutex<()>> {
        // A poisoned map only means a panic elsewhere mid-insert; its entries are still valid.
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(live) = slots.by_key.get(key).and_then(Weak::upgrade) {
            return live;
        }
        if slots.by_key.len() >= slots.sweep_at.max(64) {
            slots.by_key.retain(|_, w| w.strong_count() > 0);
            slots.sweep_at = slots.by_key.len() * 2;
        }
        let fresh = Arc::new(AsyncMutex::new(()));
        slots.by_key.insert(key.to_owned(), Arc::downgrade(&fresh));
        fresh
    }

    /// Keys currently remembered (live or not yet swept), for tests.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_key
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn holders_of_one_key_run_one_at_a_time_and_other_keys_do_not_wait() {
        let locks = Arc::new(KeyedLock::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = locks.lock("user:a").await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        let _a = locks.lock("user:a").await;
        // Another key is not blocked by a held one.
        let _b = tokio::time::timeout(std::time::Duration::from_secs(5), locks.lock("user:b"))
            .await
            .expect("another key's turn comes at once");
    }

    #[tokio::test]
    async fn unused_keys_are_forgotten() {
        let locks = KeyedLock::new();
        for i in 0..1000 {
            drop(locks.lock(&format!("name:{i}")).await);
        }
        assert!(locks.remembered() <= 128, "{}", locks.remembered());
    }
}
