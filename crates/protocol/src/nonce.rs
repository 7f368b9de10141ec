//! Nonce freshness and replay rules, as a state machine with time as an input.
//!
//! Nothing here reads a clock: every call takes `now_ns`, the caller's wall-clock time in
//! nanoseconds since the Unix epoch (the same clock the SDK puts into nonces).
//!
//! # Use
//!
//! The SDK stores a nonce only after the signature verified, and so do we. The verifier is
//! used in two steps so the expensive signature check runs outside any lock:
//!
//! ```
//! use neuron_protocol::nonce::{Config, NonceInput, NonceVerifier};
//!
//! let mut nonces = NonceVerifier::new(Config::new());
//! let now_ns = 1_700_000_000_000_000_000;
//! let req = NonceInput {
//!     hotkey: "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
//!     uuid: Some("d90fcadc-e613-11f1-b657-02fc00000001"),
//!     nonce: Some(now_ns - 1_000_000),
//!     version: Some(10_005_000),
//!     timeout_s: Some(12.0),
//! };
//! nonces.check(&req, now_ns)?; // cheap: reject stale or replayed requests early
//! // ... verify the signature here, without holding the verifier's lock ...
//! nonces.commit(&req, now_ns)?; // re-checks atomically, then records the nonce
//! assert!(nonces.check(&req, now_ns).is_err()); // an exact replay is refused
//! # Ok::<(), neuron_protocol::nonce::NonceError>(())
//! ```
//!
//! `commit` repeats the check because two copies of one request can both pass `check`
//! while their signatures are being verified; only the first commit wins. Share one
//! verifier between threads behind a `Mutex` and take the lock once for `check` and once
//! for `commit`; each is a hash lookup and a few comparisons. Keys are hashed to 128 bits
//! with a randomly keyed SipHash, so the hot path allocates nothing but the state of a new
//! key.
//!
//! # Policies
//!
//! * [`NoncePolicy::Sdk`] is bittensor 10.5's `default_verify` exactly (wire-modern §6),
//!   messages and float arithmetic included. The SDK's map is unbounded; ours is an LRU of
//!   [`Config::max_keys`] keys (see *Deviations*).
//! * [`NoncePolicy::Strict`] (the default) requires the version header, bounds the window
//!   on both sides, and tolerates reordering: it remembers, per key, the accepted nonces
//!   that are still inside the window, so a request overtaken by later ones is still
//!   accepted while an exact replay is refused.
//!
//! # Strict memory: what is remembered and when a reordered request is refused
//!
//! Per key the strict policy keeps a *floor* (every nonce at or below it is refused) and the
//! sorted set of accepted nonces above the floor. Nonces leave the set into the floor only
//!
//! 1. by **time**: once they are older than the widest window (`window + max_timeout`), when
//!    the window check refuses them anyway;
//! 2. by the **per-key cap** ([`StrictConfig::with_max_nonces_per_key`], default 16 384,
//!    128 KiB): a key holding more accepted nonces than that folds its oldest ones;
//! 3. by the **global budget** ([`Config::with_max_nonces`], default 1 048 576 nonces,
//!    8 MiB, over all keys): when the total goes over it, the least recently used keys are
//!    folded whole (floor = their newest nonce) until the total is back under 7/8 of the
//!    budget; the key being committed is folded last.
//!
//! Folding only ever raises a floor, so it can refuse a late request but never accept a
//! replay. Without memory pressure, a client is refused for reordering only if more than
//! `max_nonces_per_key` of its later requests were accepted before the late one arrived
//! (one dendrite at 5 000 requests/s may then deliver a request more than 3 s late).
//!
//! [`LegacyNonces`] is the gRPC-era rule (wire-legacy §8 step 4): per `"{sender}:{uid}"`,
//! strictly increasing.
//!
//! # Deviations from the SDK, all under memory pressure only
//!
//! Every table is bounded. When a full table evicts a key that may still be live, the
//! key's newest nonce is folded into one slot of a small *tombstone* array indexed by the
//! key's hash; a key that is not in the table must then beat its slot's tombstone. This
//! keeps eviction from reopening a replay window, at the price of refusing a brand-new
//! key whose first nonce is older than an evicted key that shares its slot (rare: it needs
//! eviction of live keys, a slot collision and clock skew between the two clients). With
//! no evictions the tombstones are all zero and have no effect.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::num::NonZeroUsize;
use std::time::Duration;

use lru::LruCache;

/// `bittensor` version (as int) from which the SDK applies the freshness window: 7.2.0.
pub const SDK_WINDOW_MIN_VERSION: i64 = 7_002_000;

/// The SDK's fixed allowance added to the request timeout: 4 s (`ALLOWED_DELTA`).
pub const SDK_ALLOWED_DELTA_NS: u64 = 4_000_000_000;

const NS_PER_S: u64 = 1_000_000_000;

/// What the nonce rules look at in one request (all from the *header* synapse).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonceInput<'a> {
    /// `bt_header_dendrite_hotkey`: the claimed (later verified) sender.
    pub hotkey: &'a str,
    /// `bt_header_dendrite_uuid`; absent is keyed as the text `None`, like the SDK.
    pub uuid: Option<&'a str>,
    /// `bt_header_dendrite_nonce`, nanoseconds since the Unix epoch.
    pub nonce: Option<u64>,
    /// `bt_header_dendrite_version` (`version_as_int`).
    pub version: Option<i64>,
    /// The `timeout` header in seconds (unsigned by the client, so untrusted).
    pub timeout_s: Option<f64>,
}

/// Why a nonce was refused. The texts are the SDK's where the SDK has the case; the axon
/// answers 401 `Not Verified with error: {text}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NonceError {
    /// The request carries no nonce.
    #[error("Missing Nonce")]
    MissingNonce,
    /// [`NoncePolicy::Strict`]: the request carries no version header.
    #[error("Missing Version")]
    MissingVersion,
    /// [`NoncePolicy::Strict`]: the client is older than the configured minimum version.
    #[error("Unsupported Version {version}: at least {minimum} is required")]
    UnsupportedVersion {
        /// The version the client sent.
        version: i64,
        /// The configured minimum.
        minimum: i64,
    },
    /// The nonce is older than the freshness window.
    #[error(
        "Nonce is too old: acceptable delta is {} seconds but request was {} seconds old",
        py_fixed2(*allowed_delta_s),
        py_fixed2(*age_s)
    )]
    TooOld {
        /// Window width in seconds (window + timeout).
        allowed_delta_s: f64,
        /// Age of the nonce in seconds.
        age_s: f64,
    },
    /// [`NoncePolicy::Strict`]: the nonce is further ahead of our clock than allowed.
    #[error(
        "Nonce is too new: acceptable skew is {} seconds but request was {} seconds ahead",
        py_fixed2(*allowed_skew_s),
        py_fixed2(*ahead_s)
    )]
    TooNew {
        /// The configured maximum skew in seconds.
        allowed_skew_s: f64,
        /// How far ahead the nonce is, in seconds.
        ahead_s: f64,
    },
    /// The nonce is not above what was last processed for this key (SDK), or below the
    /// replay floor of this key (strict).
    #[error("Nonce is too old, a newer one was last processed")]
    NotNewer,
    /// [`NoncePolicy::Strict`]: this exact nonce was already accepted for this key.
    #[error("Nonce was already used")]
    Replayed,
    /// [`LegacyNonces`]: the nonce is not above the last one of this sender and receptor.
    #[error("Nonce is too small")]
    TooSmall,
}

/// Which rules a [`NonceVerifier`] applies.
#[derive(Debug, Clone, PartialEq)]
pub enum NoncePolicy {
    /// bittensor 10.5 `default_verify`, exactly (wire-modern §6).
    Sdk,
    /// A two-sided window with a bounded replay set that tolerates reordering.
    Strict(StrictConfig),
}

impl Default for NoncePolicy {
    fn default() -> Self {
        Self::Strict(StrictConfig::default())
    }
}

/// Settings of [`NoncePolicy::Strict`].
#[derive(Debug, Clone, PartialEq)]
pub struct StrictConfig {
    window: Duration,
    max_future: Duration,
    max_timeout: Duration,
    min_version: i64,
    max_nonces_per_key: usize,
}

impl StrictConfig {
    /// The defaults:
    ///
    /// * `window` **4 s**: a nonce is too old when `nonce <= now - (window + timeout)`,
    ///   the SDK's rule and width;
    /// * `max_future` **2 s**: a nonce is too new when `nonce - now > max_future`
    ///   (btauth/1's skew; the SDK has no upper bound);
    /// * `max_timeout` **60 s**: the request's `timeout` widens the window by at most
    ///   this much (the header is not signed); it also sets how long nonces are kept,
    ///   `window + max_timeout`;
    /// * `min_version` **7 002 000** (7.2.0, the first SDK that sends wall-clock nonces);
    /// * `max_nonces_per_key` **16 384** (128 KiB): how many accepted nonces each key
    ///   remembers at most; a request overtaken by more than this many later ones of the
    ///   same key is refused. Nonces older than the widest window are dropped earlier.
    pub fn new() -> Self {
        Self {
            window: Duration::from_secs(4),
            max_future: Duration::from_secs(2),
            max_timeout: Duration::from_secs(60),
            min_version: SDK_WINDOW_MIN_VERSION,
            max_nonces_per_key: DEFAULT_MAX_NONCES_PER_KEY,
        }
    }

    /// Sets the base width of the freshness window.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets how far ahead of our clock a nonce may be.
    pub fn with_max_future(mut self, max_future: Duration) -> Self {
        self.max_future = max_future;
        self
    }

    /// Sets the largest request timeout that widens the window.
    pub fn with_max_timeout(mut self, max_timeout: Duration) -> Self {
        self.max_timeout = max_timeout;
        self
    }

    /// Sets the minimum client version.
    pub fn with_min_version(mut self, min_version: i64) -> Self {
        self.min_version = min_version;
        self
    }

    /// Sets how many recent nonces each key remembers (at least 1).
    pub fn with_max_nonces_per_key(mut self, n: usize) -> Self {
        self.max_nonces_per_key = n.max(1);
        self
    }

    fn window_ns(&self) -> u64 {
        duration_ns(self.window)
    }

    /// How long a nonce can stay acceptable: the widest window.
    fn retention_ns(&self) -> u64 {
        duration_ns(self.window).saturating_add(duration_ns(self.max_timeout))
    }
}

impl Default for StrictConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Default of [`StrictConfig::with_max_nonces_per_key`].
const DEFAULT_MAX_NONCES_PER_KEY: usize = 16_384;

/// Default of [`Config::with_max_nonces`].
const DEFAULT_MAX_NONCES: usize = 1 << 20;

/// Settings of a [`NonceVerifier`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    policy: NoncePolicy,
    max_keys: usize,
    tombstone_slots: usize,
    max_nonces: usize,
}

impl Config {
    /// Strict policy ([`StrictConfig::new`]), at most **65 536** keys, **65 536**
    /// tombstone slots (512 KiB), at most **1 048 576** remembered nonces over all keys
    /// (8 MiB). Worst case about 16 MiB with every table full; typical use is a few
    /// hundred keys.
    pub fn new() -> Self {
        Self {
            policy: NoncePolicy::default(),
            max_keys: 65_536,
            tombstone_slots: 65_536,
            max_nonces: DEFAULT_MAX_NONCES,
        }
    }

    /// SDK policy, at most **1 048 576** keys (about 100 MiB when full; the SDK keeps
    /// every key forever), **65 536** tombstone slots.
    pub fn sdk() -> Self {
        Self {
            policy: NoncePolicy::Sdk,
            max_keys: 1 << 20,
            tombstone_slots: 65_536,
            max_nonces: DEFAULT_MAX_NONCES,
        }
    }

    /// Sets the budget of remembered strict nonces over all keys (at least 1); see the
    /// module docs, "Strict memory".
    pub fn with_max_nonces(mut self, n: usize) -> Self {
        self.max_nonces = n.max(1);
        self
    }

    /// The budget of remembered strict nonces over all keys.
    pub fn max_nonces(&self) -> usize {
        self.max_nonces
    }

    /// Sets the policy (keeps the bounds).
    pub fn with_policy(mut self, policy: NoncePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the maximum number of `hotkey:uuid` keys remembered (at least 1).
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// Sets the number of tombstone slots (rounded up to a power of two).
    pub fn with_tombstone_slots(mut self, slots: usize) -> Self {
        self.tombstone_slots = slots.max(1).next_power_of_two();
        self
    }

    /// The policy.
    pub fn policy(&self) -> &NoncePolicy {
        &self.policy
    }

    /// The maximum number of keys.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// The nonce state machine of one axon (see the module docs).
#[derive(Debug)]
pub struct NonceVerifier {
    config: Config,
    table: KeyTable<KeyState>,
    /// Sum of `seen.len()` over the keys of `table`.
    remembered: usize,
}

/// Per-key state. SDK: `floor` is the last accepted nonce and `seen` is empty. Strict:
/// every nonce `<= floor` is refused and `seen` holds the accepted nonces above it,
/// ascending.
#[derive(Debug, Default)]
struct KeyState {
    floor: u64,
    seen: VecDeque<u64>,
}

impl KeyState {
    fn newest(&self) -> u64 {
        self.seen.back().copied().unwrap_or(self.floor)
    }

    /// Moves the `n` oldest remembered nonces into the floor.
    fn fold_oldest(&mut self, n: usize) {
        let n = n.min(self.seen.len());
        if n > 0 {
            self.floor = self.floor.max(self.seen[n - 1]);
            self.seen.drain(..n);
        }
        // Return memory after a burst: a set that shrank far below its allocation.
        if self.seen.capacity() > 64 && self.seen.capacity() > 4 * self.seen.len() {
            self.seen.shrink_to(2 * self.seen.len());
        }
    }

    /// Moves every remembered nonce into the floor.
    fn fold_all(&mut self) {
        self.floor = self.newest();
        self.seen = VecDeque::new();
    }
}

impl NonceVerifier {
    /// A verifier with no keys.
    pub fn new(config: Config) -> Self {
        let table = KeyTable::new(config.max_keys, config.tombstone_slots);
        Self {
            config,
            table,
            remembered: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of keys currently remembered.
    pub fn len(&self) -> usize {
        self.table.map.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.map.is_empty()
    }

    /// Total number of nonces remembered in strict seen-sets (for memory accounting).
    pub fn remembered_nonces(&self) -> usize {
        debug_assert_eq!(
            self.remembered,
            self.table
                .map
                .iter()
                .map(|(_, s)| s.seen.len())
                .sum::<usize>()
        );
        self.remembered
    }

    /// Checks `req` without recording anything.
    pub fn check(&self, req: &NonceInput<'_>, now_ns: u64) -> Result<(), NonceError> {
        let key = self.table.key(req.hotkey, req.uuid);
        self.check_key(key, req, now_ns)
    }

    /// Records `req` after its signature verified; checks it again first, so of two
    /// identical requests verified concurrently only one is accepted.
    pub fn commit(&mut self, req: &NonceInput<'_>, now_ns: u64) -> Result<(), NonceError> {
        let key = self.table.key(req.hotkey, req.uuid);
        self.check_key(key, req, now_ns)?;
        // `check_key` returned Ok, so the nonce is present.
        let nonce = req.nonce.ok_or(NonceError::MissingNonce)?;
        let remembered = &mut self.remembered;
        match &self.config.policy {
            NoncePolicy::Sdk => {
                self.table
                    .upsert(key, KeyState::default, KeyState::newest, |_| {})
                    .floor = nonce;
            }
            NoncePolicy::Strict(strict) => {
                let retention = strict.retention_ns();
                let cutoff = now_ns.saturating_sub(retention);
                self.table
                    .expire(4, |s| s.newest() < cutoff, |s| *remembered -= s.seen.len());
                let state = self
                    .table
                    .upsert(key, KeyState::default, KeyState::newest, |old| {
                        *remembered -= old.seen.len()
                    });
                let before = state.seen.len();
                insert_seen(state, nonce, cutoff, strict.max_nonces_per_key);
                *remembered = *remembered + state.seen.len() - before;
                if self.remembered > self.config.max_nonces {
                    self.fold_to_budget(key);
                }
            }
        }
        Ok(())
    }

    /// Brings the remembered nonces back under 7/8 of the budget by folding whole keys into
    /// their floors, least recently used first; `current` (the key just committed) last.
    fn fold_to_budget(&mut self, current: u128) {
        let target = self.config.max_nonces - self.config.max_nonces / 8;
        let remembered = &mut self.remembered;
        // `iter_mut` runs from the most to the least recently used key; the current key is
        // the most recently used, so reversed it comes last.
        for (&k, state) in self.table.map.iter_mut().rev() {
            if *remembered <= target {
                break;
            }
            if k == current || state.seen.is_empty() {
                continue;
            }
            *remembered -= state.seen.len();
            state.fold_all();
        }
        if *remembered > target
            && let Some(state) = self.table.map.peek_mut(&current)
        {
            let keep = state.seen.len().saturating_sub(*remembered - target);
            *remembered -= state.seen.len() - keep;
            state.fold_oldest(state.seen.len() - keep);
        }
    }

    /// [`check`](Self::check) and [`commit`](Self::commit) in one step, for callers that
    /// verified the signature first.
    pub fn check_and_commit(
        &mut self,
        req: &NonceInput<'_>,
        now_ns: u64,
    ) -> Result<(), NonceError> {
        self.commit(req, now_ns)
    }

    /// Drops every key whose nonces all left the window ([`NoncePolicy::Strict`] only;
    /// the SDK never forgets a key). `commit` already does a little of this each time;
    /// call this from a periodic task to return memory after a burst.
    pub fn expire(&mut self, now_ns: u64) {
        if let NoncePolicy::Strict(strict) = &self.config.policy {
            let cutoff = now_ns.saturating_sub(strict.retention_ns());
            let remembered = &mut self.remembered;
            self.table.expire(
                usize::MAX,
                |s| s.newest() < cutoff,
                |s| *remembered -= s.seen.len(),
            );
        }
    }

    fn check_key(&self, key: u128, req: &NonceInput<'_>, now_ns: u64) -> Result<(), NonceError> {
        let nonce = req.nonce.ok_or(NonceError::MissingNonce)?;
        let state = self.table.map.peek(&key);
        match &self.config.policy {
            NoncePolicy::Sdk => check_sdk(state, self.table.tombstone(key), req, nonce, now_ns),
            NoncePolicy::Strict(strict) => {
                check_strict(strict, state, self.table.tombstone(key), req, nonce, now_ns)
            }
        }
    }
}

/// bittensor 10.5 `default_verify`, nonce part.
fn check_sdk(
    state: Option<&KeyState>,
    tombstone: u64,
    req: &NonceInput<'_>,
    nonce: u64,
    now_ns: u64,
) -> Result<(), NonceError> {
    let stored = state.map(|s| s.floor);
    if req.version.is_some_and(|v| v >= SDK_WINDOW_MIN_VERSION)
        && stored.is_none()
        && let Some(err) = sdk_too_old(nonce, now_ns, req.timeout_s)
    {
        return Err(err);
    }
    match stored {
        Some(last) if nonce <= last => Err(NonceError::NotNewer),
        // Not in the SDK: see "Deviations" in the module docs.
        None if tombstone > 0 && nonce <= tombstone => Err(NonceError::NotNewer),
        _ => Ok(()),
    }
}

/// The SDK's window rule with its exact arithmetic: `allowed_window_ns = now - 4e9 -
/// (timeout or 0) * 1e9`, which is a Python int when the timeout is absent or zero and a
/// float otherwise; `nonce <= allowed_window_ns` compares an int with that value exactly.
fn sdk_too_old(nonce: u64, now_ns: u64, timeout_s: Option<f64>) -> Option<NonceError> {
    let base = i128::from(now_ns) - i128::from(SDK_ALLOWED_DELTA_NS);
    // `synapse.timeout or 0`: None, 0.0 and -0.0 are falsy and give the int 0.
    let timeout = timeout_s.filter(|t| *t != 0.0);
    let too_old = match timeout {
        None => i128::from(nonce) <= base,
        Some(t) => int_le_float(nonce, base as f64 - t * 1e9),
    };
    if !too_old {
        return None;
    }
    let age_s = int_div_1e9(i128::from(now_ns) - i128::from(nonce));
    let allowed_delta_s = match timeout {
        None => 4.0,
        Some(t) => (SDK_ALLOWED_DELTA_NS as f64 + t * 1e9) / 1e9,
    };
    Some(NonceError::TooOld {
        allowed_delta_s,
        age_s,
    })
}

/// The strict rules.
fn check_strict(
    cfg: &StrictConfig,
    state: Option<&KeyState>,
    tombstone: u64,
    req: &NonceInput<'_>,
    nonce: u64,
    now_ns: u64,
) -> Result<(), NonceError> {
    let version = req.version.ok_or(NonceError::MissingVersion)?;
    if version < cfg.min_version {
        return Err(NonceError::UnsupportedVersion {
            version,
            minimum: cfg.min_version,
        });
    }
    let timeout_ns = timeout_ns(req.timeout_s, cfg.max_timeout);
    let width = cfg.window_ns().saturating_add(timeout_ns);
    if i128::from(nonce) <= i128::from(now_ns) - i128::from(width) {
        return Err(NonceError::TooOld {
            allowed_delta_s: width as f64 / 1e9,
            age_s: int_div_1e9(i128::from(now_ns) - i128::from(nonce)),
        });
    }
    let max_future = duration_ns(cfg.max_future);
    if nonce.saturating_sub(now_ns) > max_future {
        return Err(NonceError::TooNew {
            allowed_skew_s: max_future as f64 / 1e9,
            ahead_s: int_div_1e9(i128::from(nonce) - i128::from(now_ns)),
        });
    }
    match state {
        Some(s) if nonce <= s.floor => Err(NonceError::NotNewer),
        Some(s) if s.seen.binary_search(&nonce).is_ok() => Err(NonceError::Replayed),
        None if tombstone > 0 && nonce <= tombstone => Err(NonceError::NotNewer),
        _ => Ok(()),
    }
}

/// Adds an accepted nonce to a strict seen-set: nonces that left the window and the
/// oldest ones beyond the cap move into the floor.
fn insert_seen(state: &mut KeyState, nonce: u64, cutoff: u64, cap: usize) {
    let expired = state.seen.partition_point(|&n| n < cutoff);
    state.fold_oldest(expired);
    // Requests mostly arrive in order: the common case appends.
    if state.seen.back().is_none_or(|&last| last < nonce) {
        state.seen.push_back(nonce);
    } else {
        let at = state.seen.partition_point(|&n| n < nonce);
        state.seen.insert(at, nonce);
    }
    if state.seen.len() > cap {
        state.fold_oldest(state.seen.len() - cap);
    }
}

/// The request timeout in ns, clamped to `[0, max]` (NaN counts as 0).
fn timeout_ns(timeout_s: Option<f64>, max: Duration) -> u64 {
    let t = timeout_s.unwrap_or(0.0);
    let max_s = max.as_secs_f64();
    let clamped = if t.is_nan() || t <= 0.0 {
        0.0
    } else {
        t.min(max_s)
    };
    // In range: 0 <= clamped <= max, and `as` saturates anyway.
    (clamped * 1e9) as u64
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Python's `int <= float`, which is exact (no rounding of the int).
fn int_le_float(n: u64, x: f64) -> bool {
    if x.is_nan() {
        false
    } else if x >= 18_446_744_073_709_551_616.0 {
        true
    } else if x < 0.0 {
        false
    } else {
        // 0 <= x < 2^64, so the floor fits in a u64.
        n <= x.floor() as u64
    }
}

/// Python's `a / 1_000_000_000` for ints: the correctly rounded quotient.
fn int_div_1e9(a: i128) -> f64 {
    let m = a.unsigned_abs();
    let q = if m < 1 << 53 {
        // `m` converts exactly, so the division rounds once.
        m as f64 / 1e9
    } else {
        // Scale so the integer quotient keeps far more than 53 bits, fold the remainder
        // into a sticky bit, and let the (correctly rounding) u128 -> f64 conversion round.
        let bits = 128 - m.leading_zeros();
        let shift = 126 - bits;
        let scaled = m << shift;
        let quotient = (scaled / u128::from(NS_PER_S))
            | u128::from(!scaled.is_multiple_of(u128::from(NS_PER_S)));
        // 2^-shift is a normal f64 (shift < 126); scaling by it is exact.
        quotient as f64 * f64::from_bits(u64::from(1023 - shift) << 52)
    };
    if a < 0 { -q } else { q }
}

/// Python's `format(x, '.2f')` (Rust's `{:.2}` rounds the same way; only NaN differs).
pub(crate) fn py_fixed2(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else {
        format!("{x:.2}")
    }
}

/// The legacy gRPC rule (wire-legacy §8 step 4): per `"{sender}:{uid}"`, every nonce
/// must be above the last accepted one. The SDK keeps every key forever; this keeps at
/// most `max_keys` (LRU) with tombstones (see the module docs).
#[derive(Debug)]
pub struct LegacyNonces {
    table: KeyTable<u64>,
}

impl LegacyNonces {
    /// Default bound: **65 536** keys (one per remote receptor), **65 536** tombstones.
    pub fn new() -> Self {
        Self::with_max_keys(65_536)
    }

    /// A table of at most `max_keys` keys (at least 1).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            table: KeyTable::new(max_keys.max(1), 65_536),
        }
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.table.map.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.map.is_empty()
    }

    /// Checks without recording: `"Nonce is too small"` unless `nonce` is above the last
    /// accepted nonce of `sender:uid`.
    pub fn check(&self, sender: &str, uid: &str, nonce: u64) -> Result<(), NonceError> {
        self.check_key(self.table.key(sender, Some(uid)), nonce)
    }

    /// Records a nonce after the signature verified (checks again first).
    pub fn commit(&mut self, sender: &str, uid: &str, nonce: u64) -> Result<(), NonceError> {
        let key = self.table.key(sender, Some(uid));
        self.check_key(key, nonce)?;
        *self.table.upsert(key, || 0, |last| *last, |_| {}) = nonce;
        Ok(())
    }

    fn check_key(&self, key: u128, nonce: u64) -> Result<(), NonceError> {
        let stale = match self.table.map.peek(&key) {
            Some(&last) => nonce <= last,
            None => self.table.evicted_above(key, nonce),
        };
        if stale {
            Err(NonceError::TooSmall)
        } else {
            Ok(())
        }
    }
}

impl Default for LegacyNonces {
    fn default() -> Self {
        Self::new()
    }
}

/// An LRU of per-key state keyed by a 128-bit hash of `"{hotkey}:{uuid}"`, with
/// tombstones for evicted keys.
#[derive(Debug)]
pub(crate) struct KeyTable<V> {
    map: LruCache<u128, V>,
    /// Empty until the first eviction, then `slots` entries: a table that never evicts
    /// costs nothing (each legacy axon used to zero 512 KiB at start).
    tombstones: Vec<u64>,
    /// The number of tombstone slots (a power of two).
    slots: usize,
    hasher: KeyHasher,
}

/// A 128-bit keyed hash of byte strings: two independent randomly keyed SipHashes, so
/// distinct keys never collide in practice and nobody can aim for a collision without
/// the (per-process random) keys.
#[derive(Debug, Clone)]
pub(crate) struct KeyHasher(RandomState, RandomState);

impl KeyHasher {
    pub(crate) fn new() -> Self {
        Self(RandomState::new(), RandomState::new())
    }

    /// The hash of the concatenation of `parts`.
    pub(crate) fn hash(&self, parts: &[&[u8]]) -> u128 {
        let half = |s: &RandomState| {
            let mut h = s.build_hasher();
            for part in parts {
                h.write(part);
            }
            h.finish()
        };
        (u128::from(half(&self.0)) << 64) | u128::from(half(&self.1))
    }
}

impl<V> KeyTable<V> {
    pub(crate) fn new(max_keys: usize, tombstone_slots: usize) -> Self {
        let cap = NonZeroUsize::new(max_keys).unwrap_or(NonZeroUsize::MIN);
        let slots = tombstone_slots.max(1).next_power_of_two();
        Self {
            map: crate::bounded_lru(cap),
            tombstones: Vec::new(),
            slots,
            hasher: KeyHasher::new(),
        }
    }

    /// The key of `"{hotkey}:{uuid}"` (uuid absent → `None`, as the SDK's f-string does).
    pub(crate) fn key(&self, hotkey: &str, uuid: Option<&str>) -> u128 {
        let uuid = uuid.unwrap_or("None");
        self.hasher
            .hash(&[hotkey.as_bytes(), b":", uuid.as_bytes()])
    }

    fn slot(&self, key: u128) -> usize {
        // The slot count is a power of two; the low bits of a SipHash are uniform.
        (key as usize) & (self.slots - 1)
    }

    pub(crate) fn tombstone(&self, key: u128) -> u64 {
        // No eviction yet: every tombstone is zero.
        self.tombstones.get(self.slot(key)).copied().unwrap_or(0)
    }

    /// True when a key sharing `key`'s slot was evicted with a nonce `>= nonce`.
    pub(crate) fn evicted_above(&self, key: u128, nonce: u64) -> bool {
        let t = self.tombstone(key);
        t > 0 && nonce <= t
    }

    /// The state of `key`, created if absent (evicting the least recently used key into
    /// a tombstone when full, after showing it to `evicted`), and marked most recently used.
    pub(crate) fn upsert(
        &mut self,
        key: u128,
        new: impl FnOnce() -> V,
        newest: impl Fn(&V) -> u64,
        evicted: impl FnOnce(&V),
    ) -> &mut V {
        if !self.map.contains(&key)
            && let Some((old_key, old)) = self.map.push(key, new())
            && old_key != key
        {
            if self.tombstones.is_empty() {
                self.tombstones = vec![0; self.slots];
            }
            let slot = self.slot(old_key);
            self.tombstones[slot] = self.tombstones[slot].max(newest(&old));
            evicted(&old);
        }
        // Present: inserted just above or already there.
        self.map.get_mut(&key).expect("key was just inserted")
    }

    /// Drops up to `limit` least recently used keys while `dead` says they are useless,
    /// showing each dropped value to `dropped`.
    pub(crate) fn expire(
        &mut self,
        limit: usize,
        dead: impl Fn(&V) -> bool,
        mut dropped: impl FnMut(&V),
    ) {
        for _ in 0..limit {
            match self.map.peek_lru() {
                Some((_, v)) if dead(v) => {
                    if let Some((_, v)) = self.map.pop_lru() {
                        dropped(&v);
                    }
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_div_matches_python_true_division() {
        // Values checked with CPython: (a / 10**9).hex() equals these bit patterns.
        assert_eq!(int_div_1e9(5_000_000_000), 5.0);
        assert_eq!(int_div_1e9(-1_500_000_000), -1.5);
        assert_eq!(
            int_div_1e9(1_795_310_834_565_781_717),
            1_795_310_834.565_781_8
        );
        let big = (1i128 << 64) - 1;
        assert_eq!(int_div_1e9(big), 18_446_744_073.709_553);
    }

    #[test]
    fn int_le_float_is_exact() {
        assert!(int_le_float(5, 5.0));
        assert!(!int_le_float(6, 5.999));
        assert!(!int_le_float(0, f64::NAN));
        assert!(int_le_float(u64::MAX, f64::INFINITY));
        assert!(!int_le_float(0, -0.5));
        // 2^53 + 1 is not a float; Python still compares exactly.
        assert!(!int_le_float((1 << 53) + 1, (1u64 << 53) as f64));
    }
}
