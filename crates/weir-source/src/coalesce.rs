//! Single flight: concurrent callers with the same key share one execution.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Condvar, Mutex},
};

struct Flight<V> {
    result: Mutex<Option<Option<V>>>,
    done: Condvar,
}

/// Runs one closure per key at a time; callers arriving meanwhile wait for and share its result.
pub struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

/// Whether a caller ran the closure or shared another's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This caller ran it.
    Leader,
    /// This caller waited for the leader.
    Follower,
}

impl<K: Eq + Hash + Clone, V: Clone> SingleFlight<K, V> {
    /// Runs `f` unless a call for `key` is in flight, in which case waits for its result.
    /// If the leader panics, waiting callers run `f` themselves.
    pub fn run(&self, key: &K, f: impl FnOnce() -> V) -> (V, Role) {
        let (flight, leader) = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            match flights.get(key) {
                Some(flight) => (flight.clone(), false),
                None => {
                    let flight = Arc::new(Flight {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    flights.insert(key.clone(), flight.clone());
                    (flight, true)
                }
            }
        };
        if leader {
            struct Finish<'a, K: Eq + Hash, V> {
                owner: &'a SingleFlight<K, V>,
                key: &'a K,
                flight: &'a Flight<V>,
                value: Option<V>,
            }
            impl<K: Eq + Hash, V> Drop for Finish<'_, K, V> {
                fn drop(&mut self) {
                    self.owner
                        .flights
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(self.key);
                    *self.flight.result.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(self.value.take());
                    self.flight.done.notify_all();
                }
            }
            let mut finish = Finish {
                owner: self,
                key,
                flight: &flight,
                value: None,
            };
            let value = f();
            finish.value = Some(value.clone());
            drop(finish);
            return (value, Role::Leader);
        }
        let mut result = flight.result.lock().unwrap_or_else(|p| p.into_inner());
        while result.is_none() {
            result = flight.done.wait(result).unwrap_or_else(|p| p.into_inner());
        }
        match result.as_ref().and_then(Clone::clone) {
            Some(value) => (value, Role::Follower),
            None => {
                drop(result);
                (f(), Role::Leader)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_should_share_one_call() {
        let flights = Arc::new(SingleFlight::<&'static str, usize>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (flights, calls, gate) = (flights.clone(), calls.clone(), gate.clone());
                std::thread::spawn(move || {
                    gate.wait();
                    flights
                        .run(&"k", || {
                            std::thread::sleep(std::time::Duration::from_millis(200));
                            calls.fetch_add(1, Ordering::SeqCst) + 41
                        })
                        .0
                })
            })
            .collect();
        let results: Vec<usize> = handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(results.iter().all(|&r| r == 41));
    }
}
