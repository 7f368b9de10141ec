//! Per-hotkey rate limits: a token bucket for each verified caller.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; each request takes one.
//! A request that finds the bucket empty is refused at once with the time until a token
//! will be there, before its body is read or any handler work is queued (HTTP answers 429
//! with `retry-after`, the native dialect status 429). The check runs on the *verified*
//! hotkey, after the signature and the blacklist, so a caller cannot spend someone else's
//! budget.
//!
//! Memory is bounded: at most `max_hotkeys` buckets, least recently used evicted first. An
//! evicted hotkey starts again with a full bucket, which it would mostly have regained
//! anyway (it is the one seen longest ago); a caller that churns through more hotkeys than
//! that to reset its own bucket needs that many registered hotkeys, and each request still
//! costs it a signature.
//!
//! Time is an argument (sans-IO), so the rules are tested without waiting.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// The status message of a rate-limited request (constant, like every error body).
pub(crate) const RATE_LIMITED: &str = "Rate limit exceeded";

/// How fast one hotkey may call: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (requests per second sustained). Must be positive.
    pub per_second: f64,
    /// Bucket size: requests a fresh caller may make at once (at least 1).
    pub burst: u32,
    /// Hotkeys tracked at once (least recently used evicted first).
    pub max_hotkeys: usize,
}

impl RateLimit {
    /// `per_second` sustained with bursts of `burst`, tracking up to 65 536 hotkeys.
    /// A rate that is not a positive finite number is replaced by the smallest positive
    /// one (effectively: one request per `burst`, then nothing), a burst of 0 by 1.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second
            } else {
                f64::MIN_POSITIVE
            },
            burst: burst.max(1),
            max_hotkeys: 65_536,
        }
    }

    /// Sets how many hotkeys are tracked at once.
    pub fn with_max_hotkeys(mut self, n: usize) -> Self {
        self.max_hotkeys = n;
        self
    }
}

/// One caller's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every caller seen recently.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<LruCache<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter applying `limit` to every hotkey.
    pub fn new(limit: RateLimit) -> Self {
        let limit =
            RateLimit::new(limit.per_second, limit.burst).with_max_hotkeys(limit.max_hotkeys);
        let cap = NonZeroUsize::new(limit.max_hotkeys).unwrap_or(NonZeroUsize::MIN);
        Self {
            limit,
            buckets: Mutex::new(neuron_protocol::bounded_lru(cap)),
        }
    }

    /// The limit applied.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes a token for `hotkey` at `now`: `Ok` if there was one, else `Err` with the
    /// time until the next token.
    ///
    /// # Errors
    /// The wait until a token is available, when the bucket is empty.
    pub fn check(&self, hotkey: &str, now: Instant) -> Result<(), Duration> {
        let RateLimit {
            per_second, burst, ..
        } = self.limit;
        let full = f64::from(burst);
        // No critical section can panic half-way, so a poisoned map is still consistent.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(bucket) = buckets.get_mut(hotkey) else {
            // A new caller: a full bucket, less this request.
            let tokens = full - 1.0;
            buckets.push(hotkey.to_owned(), Bucket { tokens, at: now });
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(full);
        bucket.at = now.max(bucket.at);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / per_second;
        Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
    }

    /// Hotkeys with a bucket right now.
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = RateLimiter::new(RateLimit::new(10.0, 3));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check("a", t0), Ok(()));
        }
        let wait = l.check("a", t0).expect_err("the bucket is empty");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // another hotkey has its own bucket
        assert_eq!(l.check("b", t0), Ok(()));
        // one token back after 100 ms, not two
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.check("a", t1), Ok(()));
        assert!(l.check("a", t1).is_err());
        // a long pause refills up to the burst only
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.check("a", t2), Ok(()));
        }
        assert!(l.check("a", t2).is_err());
    }

    #[test]
    fn time_going_backwards_grants_nothing() {
        let l = RateLimiter::new(RateLimit::new(1.0, 1));
        let t0 = Instant::now() + Duration::from_secs(10);
        assert_eq!(l.check("a", t0), Ok(()));
        assert!(l.check("a", t0 - Duration::from_secs(5)).is_err());
        assert!(l.check("a", t0).is_err());
        assert_eq!(l.check("a", t0 + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn memory_is_bounded_by_max_hotkeys() {
        let l = RateLimiter::new(RateLimit::new(1.0, 1).with_max_hotkeys(100));
        let t0 = Instant::now();
        for i in 0..1000 {
            assert_eq!(l.check(&format!("k{i}"), t0), Ok(()));
        }
        assert_eq!(l.tracked(), 100);
        // the most recent ones are still limited
        assert!(l.check("k999", t0).is_err());
    }

    #[test]
    fn odd_settings_are_made_safe() {
        let l = RateLimiter::new(RateLimit {
            per_second: f64::NAN,
            burst: 0,
            max_hotkeys: 0,
        });
        let t0 = Instant::now();
        assert_eq!(l.check("a", t0), Ok(()));
        let wait = l
            .check("a", t0 + Duration::from_secs(3600))
            .expect_err("empty");
        assert!(wait > Duration::from_secs(3600));
        assert_eq!(l.limit().burst, 1);
        assert_eq!(l.tracked(), 1);
    }
}
