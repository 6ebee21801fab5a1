//! Serialising work on the same key (a request id, a delivered alert id) without a global lock.
//!
//! Two retries of the same submission, or two deliveries of the same alert racing each other, must not
//! both append: the second waits for the first and then finds its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// A set of named async locks, created on demand and dropped when unused.
#[derive(Default)]
pub(crate) struct KeyedLocks {
    locks: Mutex<HashMap<Vec<u8>, Arc<AsyncMutex<()>>>>,
}

/// Holds the lock on one key until dropped.
pub(crate) struct KeyGuard<'a> {
    owner: &'a KeyedLocks,
    key: Vec<u8>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    /// Waits for and takes the lock on `key`.
    pub(crate) async fn lock(&self, key: Vec<u8>) -> KeyGuard<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            owner: self,
            key,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.owner.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only this map and live guards hold the Arc: a count of 1 means nobody else waits.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn same_key_is_serialised_and_the_map_empties() {
        let locks = Arc::new(KeyedLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (locks, inside) = (locks.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = locks.lock(b"k".to_vec()).await;
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert!(locks.locks.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let locks = KeyedLocks::default();
        let _a = locks.lock(b"a".to_vec()).await;
        let b = tokio::time::timeout(Duration::from_secs(1), locks.lock(b"b".to_vec())).await;
        assert!(b.is_ok());
    }
}
