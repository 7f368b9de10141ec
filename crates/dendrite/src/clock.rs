//! The nonce clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where request nonces come from: wall-clock nanoseconds since the Unix epoch, like the
/// SDK's `time.time_ns()`.
///
/// The default clock never repeats and never goes back: each reading is at least one more
/// than the previous one, so concurrent requests from one dendrite to one axon carry
/// distinct, increasing nonces (the SDK axon refuses a nonce not above the last it saw for
/// the same dendrite uuid). A custom clock ([`Clock::from_fn`]) is used as is, which lets
/// tests replay or age nonces.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The wall clock, made strictly increasing.
    pub fn system() -> Self {
        let last = AtomicU64::new(0);
        Self(Arc::new(move || {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0);
            let mut prev = last.load(Ordering::Relaxed);
            loop {
                let next = now.max(prev.saturating_add(1));
                match last.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return next,
                    Err(seen) => prev = seen,
                }
            }
        }))
    }

    /// A clock that calls `f` for every nonce.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// The next nonce.
    pub fn now_ns(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_strictly_increases() {
        let clock = Clock::system();
        let mut prev = clock.now_ns();
        for _ in 0..10_000 {
            let next = clock.now_ns();
            assert!(next > prev, "{next} <= {prev}");
            prev = next;
        }
        // Close to the wall clock (within a minute).
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        assert!(prev.abs_diff(wall) < 60_000_000_000);
    }

    #[test]
    fn custom_clock_is_used_as_is() {
        let clock = Clock::from_fn(|| 42);
        assert_eq!(clock.now_ns(), 42);
        assert_eq!(clock.now_ns(), 42);
    }
}
