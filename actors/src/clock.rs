//! Time as the actors see it: milliseconds on a monotonic clock anchored to the Unix epoch at
//! start-up, so values are both comparable (never go back) and meaningful to clients (reset
//! times). Tests use [`ManualClock`] to move time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, monotonic.
    fn now_ms(&self) -> u64;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock {
    epoch_ms_at_start: u64,
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        let epoch_ms_at_start = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Self { epoch_ms_at_start, start: Instant::now() }
    }

    pub fn shared() -> SharedClock {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.epoch_ms_at_start + self.start.elapsed().as_millis() as u64
    }
}

/// A clock that only moves when told to.
#[derive(Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn at(ms: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(ms)))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
