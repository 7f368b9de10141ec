//! The Bittensor wire protocol, sans I/O.
//!
//! This crate contains no networking code: no tokio, no sockets, no clock reads. Headers,
//! body hashing, signed messages and nonce rules take bytes and time as inputs and are
//! deterministic, so every dialect (Synapse/HTTP, TensorMessage/gRPC, native) and every
//! test can drive them directly.

pub mod hash;
pub mod headers;
pub mod legacy;
pub mod nonce;
pub mod pystr;
pub mod signing;
pub mod status;
pub mod synapse;
pub mod terminal;

/// An LRU map bounded to `cap` entries whose table grows with use: `LruCache::new` would
/// allocate room for `cap` entries up front, megabytes for an idle peer. For every bounded
/// map of the workspace.
pub fn bounded_lru<K: std::hash::Hash + Eq, V>(cap: std::num::NonZeroUsize) -> lru::LruCache<K, V> {
    let mut map = lru::LruCache::unbounded();
    map.resize(cap);
    map
}
