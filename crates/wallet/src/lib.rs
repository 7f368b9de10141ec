//! sr25519 hotkeys, SS58 addresses and `bittensor-wallet` keyfiles for the neuron stack.
//!
//! * [`Keypair`]: substrate-compatible sr25519 keys (`//Alice`, mnemonics, seeds) that sign
//!   with context `b"substrate"` exactly like the Python SDK.
//! * [`PublicKey`] / [`Signature`]: SS58 and `0x`-hex encodings, SDK-compatible verification
//!   (raw message, then `<Bytes>`-wrapped).
//! * [`VerifierCache`]: a thread-safe verifier that decodes each signer's key once.
//! * [`Wallet`]: the `~/.bittensor/wallets/<name>/hotkeys/<hotkey>` layout and its JSON
//!   keyfiles, readable and writable by the Python `bittensor-wallet`.

pub mod batch;
mod error;
pub mod keyfile;
mod keys;
pub mod ss58;
mod verifier;
mod wallet;

pub use error::Error;
pub use keys::{Keypair, PublicKey, SIGNING_CONTEXT, Signature};
pub use verifier::{VerifierCache, VerifyError};
pub use wallet::Wallet;

/// The signature-format messages of the Python SDK, for error responses.
pub mod messages {
    pub use crate::keys::{MSG_BAD_HEX, MSG_BAD_LENGTH, MSG_EXPECTED_HEX};
}

/// An LRU map bounded to `cap` entries whose table grows with use: `LruCache::new` would
/// allocate room for `cap` entries up front, megabytes for an idle peer. For every bounded
/// map of the workspace.
pub fn bounded_lru<K: std::hash::Hash + Eq, V>(cap: std::num::NonZeroUsize) -> lru::LruCache<K, V> {
    let mut map = lru::LruCache::unbounded();
    map.resize(cap);
    map
}
