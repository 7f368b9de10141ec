//! A thread-safe, bounded cache of decoded public keys for request verification.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::keys::{self, Signature};
use crate::{Error, ss58};

/// Why [`VerifierCache::verify`] refused a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signer address is not a valid SS58 address (`Invalid SS58 address: <reason>`).
    #[error("Invalid SS58 address: {0}")]
    BadAddress(&'static str),
    /// The signature string is malformed. The message is the SDK's
    /// (`Invalid signature format. Expected hex string.` when `0x` is missing).
    #[error("{0}")]
    BadSignatureFormat(&'static str),
    /// Well-formed, but not a valid signature of the message by that key (neither raw nor
    /// `<Bytes>`-wrapped).
    #[error("Signature mismatch")]
    Mismatch,
}

impl VerifyError {
    /// True for a missing `0x` prefix (the SDK's "Expected hex string" case).
    pub fn is_missing_hex_prefix(&self) -> bool {
        matches!(self, VerifyError::BadSignatureFormat(m) if *m == keys::MSG_EXPECTED_HEX)
    }
}

/// Verifies SDK-style signatures, keeping up to `capacity` decoded public keys (SS58 decode,
/// checksum and Ristretto decompression done once per address) in an LRU keyed by the SS58
/// string. Shared by reference between threads.
pub struct VerifierCache {
    keys: Mutex<LruCache<String, Option<schnorrkel::PublicKey>>>,
}

impl std::fmt::Debug for VerifierCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl VerifierCache {
    /// A cache holding at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        VerifierCache {
            keys: Mutex::new(crate::bounded_lru(cap)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Option<schnorrkel::PublicKey>>> {
        // The critical sections cannot panic half-way, so a poisoned lock is still consistent.
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The decoded key for `ss58`: `Ok(None)` for a well-formed address whose 32 bytes are
    /// not a valid Ristretto point (no signature can verify, as in the SDK).
    fn key(&self, ss58: &str) -> Result<Option<schnorrkel::PublicKey>, VerifyError> {
        if let Some(hit) = self.lock().get(ss58) {
            return Ok(*hit);
        }
        let (_, raw) = ss58::decode(ss58).map_err(|e| match e {
            Error::InvalidSs58(reason) => VerifyError::BadAddress(reason),
            _ => VerifyError::BadAddress("undecodable"),
        })?;
        let key = schnorrkel::PublicKey::from_bytes(&raw).ok();
        self.lock().put(ss58.to_owned(), key);
        Ok(key)
    }

    /// Verifies `signature_hex` (`0x` + 128 hex) over `message` by the key of `ss58`, like the
    /// SDK axon: address first, then signature format, then the raw message and finally the
    /// `<Bytes>`-wrapped one.
    pub fn verify(
        &self,
        ss58: &str,
        message: &[u8],
        signature_hex: &str,
    ) -> Result<(), VerifyError> {
        let (key, sig) = self.decode(ss58, signature_hex)?;
        if keys::verify_sdk(&key, message, &sig) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// [`VerifierCache::verify`] with the signature checked in a batch with the others
    /// waiting ([`crate::batch`]): the same answers, at a lower cost per signature when many
    /// requests arrive together.
    pub async fn verify_batched(
        &self,
        ss58: &str,
        message: Vec<u8>,
        signature_hex: &str,
    ) -> Result<(), VerifyError> {
        let (key, sig) = self.decode(ss58, signature_hex)?;
        if crate::batch::verify(key, message, sig).await {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// The key and signature of a request, or why it cannot verify.
    fn decode(
        &self,
        ss58: &str,
        signature_hex: &str,
    ) -> Result<(schnorrkel::PublicKey, schnorrkel::Signature), VerifyError> {
        let key = self.key(ss58)?;
        let signature = Signature::from_hex(signature_hex).map_err(|e| match e {
            Error::InvalidSignature(msg) => VerifyError::BadSignatureFormat(msg),
            _ => VerifyError::BadSignatureFormat(keys::MSG_BAD_LENGTH),
        })?;
        match (key, signature.schnorrkel()) {
            (Some(key), Some(sig)) => Ok((key, sig)),
            _ => Err(VerifyError::Mismatch),
        }
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given at construction.
    pub fn capacity(&self) -> usize {
        self.lock().cap().get()
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

impl Default for VerifierCache {
    /// A cache of 4096 keys, ample for a subnet's metagraph.
    fn default() -> Self {
        VerifierCache::new(4096)
    }
}
