//! Time sources for the gossip driver: the system clock, or a manual one for simulations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the gossip driver reads time.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time since a fixed origin (heartbeats, TTLs, back-off).
    fn now(&self) -> Duration;
    /// Wall-clock milliseconds since the Unix epoch: the floor for own record versions,
    /// so a restarted neuron advertises versions above those of its previous run.
    fn unix_millis(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Virtual time that moves only when told to; its wall clock is its monotonic time.
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward by `by` (millisecond resolution).
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }

    fn unix_millis(&self) -> u64 {
        self.millis.load(Ordering::Relaxed)
    }
}
