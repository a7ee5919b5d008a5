//! What a fetch reports while it runs: bytes received, objects in the pack, files written.
//!
//! The caller decides how progress shows (a bar in weir-cli, `weir_*` counters in the controller,
//! nothing in tests): [`Progress`] is a small trait with no-op defaults, passed in as an
//! `Arc<dyn Progress>` and called from the thread doing the work, so implementations must be cheap
//! (an atomic store, a bar update).

use std::sync::atomic::{AtomicU64, Ordering};

/// Receives the progress of one fetch. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// `total` bytes received from the remote so far in this operation (ref listing and pack);
    /// called after each read, monotonically increasing.
    fn bytes_received(&self, total: u64) {
        let _ = total;
    }
    /// The pack held `count` objects; called once it is received and indexed.
    fn objects_received(&self, count: u64) {
        let _ = count;
    }
    /// `count` files are in the artifact so far.
    fn files_written(&self, count: u64) {
        let _ = count;
    }
}

/// Ignores all progress.
#[derive(Clone, Copy, Debug, Default)]
pub struct Discard;

impl Progress for Discard {}

/// Keeps the latest value of each measure; tests and simple callers read it afterwards.
#[derive(Debug, Default)]
pub struct Totals {
    /// Latest [`Progress::bytes_received`].
    pub bytes: AtomicU64,
    /// Latest [`Progress::objects_received`].
    pub objects: AtomicU64,
    /// Latest [`Progress::files_written`].
    pub files: AtomicU64,
}

impl Progress for Totals {
    fn bytes_received(&self, total: u64) {
        self.bytes.store(total, Ordering::Relaxed);
    }
    fn objects_received(&self, count: u64) {
        self.objects.store(count, Ordering::Relaxed);
    }
    fn files_written(&self, count: u64) {
        self.files.store(count, Ordering::Relaxed);
    }
}
