//! The nonce source of the legacy dialect: `time.monotonic_ns()` (wire-legacy §8).

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where receptor nonces come from. The default reads a monotonic clock in nanoseconds
/// (offset by the wall clock at process start, so values are large and never go back
/// within a process); a custom clock ([`NonceClock::from_fn`]) lets tests replay nonces.
#[derive(Clone)]
pub struct NonceClock(Arc<dyn Fn() -> u64 + Send + Sync>);

fn monotonic_ns() -> u64 {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    let (start, base) = ORIGIN.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        (Instant::now(), wall)
    });
    let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    base.saturating_add(elapsed)
}

impl NonceClock {
    /// The monotonic clock.
    pub fn monotonic() -> Self {
        Self(Arc::new(monotonic_ns))
    }

    /// A clock that calls `f` for every nonce.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// A reading.
    pub fn now_ns(&self) -> u64 {
        (self.0)()
    }
}

impl Default for NonceClock {
    fn default() -> Self {
        Self::monotonic()
    }
}

impl std::fmt::Debug for NonceClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceClock")
    }
}
