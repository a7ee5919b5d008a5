//! What each object's last reconcile saw, so an unchanged object costs nothing until it is due.
//!
//! A reconcile records a fingerprint of its inputs (generation, source revision, `requestedAt`,
//! dependency readiness, ...) and when it is next due. A later wake-up with the same fingerprint
//! before that time (a status write of our own coming back through the watch, a sibling's event)
//! is skipped without any API request.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

use crate::Key;

/// A hash of the inputs of one reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn of(parts: &impl Hash) -> Self {
        let mut h = DefaultHasher::new();
        parts.hash(&mut h);
        Fingerprint(h.finish())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fingerprint: Fingerprint,
    next_due: Instant,
}

/// The last fingerprint and due time of every object.
#[derive(Debug, Default)]
pub struct Memos(Mutex<HashMap<Key, Entry>>);

impl Memos {
    /// True when `key` was reconciled with these inputs and is not due yet.
    pub fn is_fresh(&self, key: &Key, fingerprint: Fingerprint, now: Instant) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .is_some_and(|e| e.fingerprint == fingerprint && now < e.next_due)
    }

    /// When `key` is next due, if it was reconciled.
    pub fn next_due(&self, key: &Key) -> Option<Instant> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map(|e| e.next_due)
    }

    pub fn record(&self, key: &Key, fingerprint: Fingerprint, next_due: Instant) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            key.clone(),
            Entry {
                fingerprint,
                next_due,
            },
        );
    }

    /// Makes the next wake-up of `key` run (drift, a dependency became ready, a source changed).
    pub fn invalidate(&self, key: &Key) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Kind;

    #[test]
    fn fresh_until_due_or_changed() {
        let memos = Memos::default();
        let key = Key::new(Kind::Kustomization, "ns", "a");
        let t0 = Instant::now();
        let f1 = Fingerprint::of(&("gen", 1, "rev-a"));
        let f2 = Fingerprint::of(&("gen", 2, "rev-a"));
        assert!(!memos.is_fresh(&key, f1, t0));
        memos.record(&key, f1, t0 + Duration::from_secs(60));
        assert!(memos.is_fresh(&key, f1, t0));
        assert!(!memos.is_fresh(&key, f2, t0), "new inputs run at once");
        assert!(
            !memos.is_fresh(&key, f1, t0 + Duration::from_secs(60)),
            "due"
        );
        memos.invalidate(&key);
        assert!(!memos.is_fresh(&key, f1, t0));
    }
}
