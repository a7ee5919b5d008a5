//! The work queue: fair across tenants, delayed items, one entry per object.
//!
//! Pure data structure, no I/O and no clock of its own (the caller passes `now`), so every
//! scheduling rule is tested exhaustively here:
//! - an object is queued at most once; asking again keeps the earlier of the two due times;
//! - an object being worked on is not handed out again until [`FairQueue::done`]; a request that
//!   arrives meanwhile is kept and served after;
//! - ready objects are served round-robin by tenant (namespace): a tenant with thousands of objects,
//!   or a 10 s interval, gets one turn in each round like any other.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

/// A queue of keys `K`, each belonging to a tenant `T`.
#[derive(Debug)]
pub struct FairQueue<K, T> {
    /// Due time of every queued key (ready or not).
    due: HashMap<K, (Instant, T)>,
    /// Keys not yet due, by time.
    delayed: BTreeSet<(Instant, K)>,
    /// Ready keys per tenant, in arrival order.
    ready: BTreeMap<T, VecDeque<K>>,
    /// Tenants with ready keys, in turn order.
    turns: VecDeque<T>,
    /// Keys handed out and not yet done; the value is a request that arrived meanwhile.
    active: HashMap<K, Option<(Instant, T)>>,
}

impl<K, T> Default for FairQueue<K, T> {
    fn default() -> Self {
        FairQueue {
            due: HashMap::new(),
            delayed: BTreeSet::new(),
            ready: BTreeMap::new(),
            turns: VecDeque::new(),
            active: HashMap::new(),
        }
    }
}

impl<K, T> FairQueue<K, T>
where
    K: Clone + Eq + Hash + Ord,
    T: Clone + Ord,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for `key` to be worked on at `at` (now or later). An earlier request wins.
    pub fn push(&mut self, key: K, tenant: T, at: Instant) {
        if let Some(pending) = self.active.get_mut(&key) {
            match pending {
                Some((t, _)) if *t <= at => {}
                _ => *pending = Some((at, tenant)),
            }
            return;
        }
        if let Some((t, _)) = self.due.get(&key) {
            if *t <= at {
                return;
            }
            let old = *t;
            // Only delayed keys can move earlier; a ready key is already as early as it gets.
            if !self.delayed.remove(&(old, key.clone())) {
                return;
            }
        }
        self.due.insert(key.clone(), (at, tenant));
        self.delayed.insert((at, key));
    }

    /// Moves every key due at `now` to its tenant's ready list.
    fn promote(&mut self, now: Instant) {
        while let Some((at, _)) = self.delayed.first() {
            if *at > now {
                break;
            }
            let Some((_, key)) = self.delayed.pop_first() else {
                break;
            };
            let Some((_, tenant)) = self.due.get(&key) else {
                continue;
            };
            let tenant = tenant.clone();
            let list = self.ready.entry(tenant.clone()).or_default();
            if list.is_empty() {
                self.turns.push_back(tenant);
            }
            list.push_back(key);
        }
    }

    /// The next ready key, the tenants taking turns. The key is active until [`Self::done`].
    pub fn pop(&mut self, now: Instant) -> Option<K> {
        self.promote(now);
        let tenant = self.turns.pop_front()?;
        let list = self.ready.get_mut(&tenant)?;
        let key = list.pop_front()?;
        if list.is_empty() {
            self.ready.remove(&tenant);
        } else {
            self.turns.push_back(tenant);
        }
        self.due.remove(&key);
        self.active.insert(key.clone(), None);
        Some(key)
    }

    /// Ends the work on `key`; a request that arrived while it was active is queued now.
    pub fn done(&mut self, key: &K) {
        if let Some(Some((at, tenant))) = self.active.remove(key) {
            self.push(key.clone(), tenant, at);
        }
    }

    /// Forgets `key` (the object was deleted). An active key finishes; nothing is queued after it.
    pub fn remove(&mut self, key: &K) {
        if let Some((at, _)) = self.due.remove(key)
            && !self.delayed.remove(&(at, key.clone()))
        {
            for list in self.ready.values_mut() {
                list.retain(|k| k != key);
            }
            self.ready.retain(|_, l| !l.is_empty());
            let ready = &self.ready;
            self.turns.retain(|t| ready.contains_key(t));
        }
        if let Some(pending) = self.active.get_mut(key) {
            *pending = None;
        }
    }

    /// When the next delayed key becomes due, if any (for the worker's sleep).
    pub fn next_due(&self) -> Option<Instant> {
        self.delayed.first().map(|(at, _)| *at)
    }

    /// Keys ready now (served before any wait).
    pub fn has_ready(&self, now: Instant) -> bool {
        !self.turns.is_empty() || self.next_due().is_some_and(|at| at <= now)
    }

    /// Queued keys (ready or delayed), not counting active ones.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// True while a worker holds `key`.
    pub fn is_active(&self, key: &K) -> bool {
        self.active.contains_key(key)
    }

    /// Keys being worked on.
    pub fn active(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn drain(q: &mut FairQueue<&'static str, &'static str>, now: Instant) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some(k) = q.pop(now) {
            q.done(&k);
            out.push(k);
        }
        out
    }

    #[test]
    fn tenants_take_turns() {
        let t0 = Instant::now();
        let mut q = FairQueue::new();
        for k in ["a1", "a2", "a3", "a4"] {
            q.push(k, "a", t0);
        }
        q.push("b1", "b", t0);
        q.push("c1", "c", t0);
        q.push("b2", "b", t0);
        assert_eq!(
            drain(&mut q, t0),
            ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn one_entry_per_key_earliest_wins() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut q = FairQueue::new();
        q.push("x", "t", later);
        q.push("x", "t", t0 + Duration::from_secs(20));
        assert_eq!(q.len(), 1);
        assert_eq!(q.next_due(), Some(later));
        q.push("x", "t", t0);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(t0), Some("x"));
        assert_eq!(q.pop(t0), None);
    }

    #[test]
    fn delayed_keys_wait_for_their_time() {
        let t0 = Instant::now();
        let mut q = FairQueue::new();
        q.push("later", "t", t0 + Duration::from_secs(5));
        q.push("now", "u", t0);
        assert_eq!(q.pop(t0), Some("now"));
        assert_eq!(q.pop(t0), None);
        assert!(!q.has_ready(t0));
        assert!(q.has_ready(t0 + Duration::from_secs(5)));
        assert_eq!(q.pop(t0 + Duration::from_secs(5)), Some("later"));
    }

    #[test]
    fn active_key_is_not_handed_out_twice() {
        let t0 = Instant::now();
        let mut q = FairQueue::new();
        q.push("x", "t", t0);
        assert_eq!(q.pop(t0), Some("x"));
        q.push("x", "t", t0);
        assert_eq!(q.pop(t0), None, "x is still being worked on");
        assert_eq!(q.active(), 1);
        q.done(&"x");
        assert_eq!(q.pop(t0), Some("x"), "the request made meanwhile is served");
        q.done(&"x");
        assert_eq!(q.pop(t0), None);
    }

    #[test]
    fn removed_keys_are_forgotten() {
        let t0 = Instant::now();
        let mut q = FairQueue::new();
        q.push("x", "t", t0);
        q.push("y", "t", t0 + Duration::from_secs(1));
        q.push("z", "u", t0);
        assert_eq!(q.pop(t0), Some("x"));
        q.push("x", "t", t0);
        q.remove(&"x");
        q.done(&"x");
        q.remove(&"y");
        q.remove(&"z");
        assert!(q.is_empty());
        assert_eq!(q.pop(t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn a_busy_tenant_does_not_starve_another() {
        // Tenant "big" has 1000 objects due now; "small" one object due a little later.
        let t0 = Instant::now();
        let mut q = FairQueue::new();
        let keys: Vec<String> = (0..1000).map(|i| format!("big-{i}")).collect();
        for k in &keys {
            q.push(k.clone(), "big".to_string(), t0);
        }
        let mut served = 0;
        for _ in 0..10 {
            let k = q.pop(t0).unwrap();
            q.done(&k);
            served += 1;
        }
        q.push(
            "small".to_string(),
            "small".to_string(),
            t0 + Duration::from_millis(1),
        );
        let now = t0 + Duration::from_millis(1);
        let first = q.pop(now).unwrap();
        q.done(&first);
        let second = q.pop(now).unwrap();
        assert!(
            first == "small" || second == "small",
            "small waited behind {served}+ big items: got {first}, {second}"
        );
    }
}
