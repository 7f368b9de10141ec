//! Bloom-filter digests: a request says which record versions its sender holds, so the
//! reply carries only what the sender lacks.
//!
//! Without a digest, a neuron that lacks the last few of `n` records waits for them to be
//! drawn by chance into batches of 256, a coupon collector's tail. With one, every reply
//! is made of records the requester lacks (up to 256), and the tail disappears.
//!
//! # Wire format (`GossipBatch.digest`, `digest_hashes`, `digest_seed`)
//!
//! * The key of a record is the first 16 bytes of
//!   `SHA3-256("neuron-metagraph/digest/v1" ‖ u64 big-endian version ‖ hotkey UTF-8)`,
//!   read as two little-endian `u64`s `h1` (bytes 0..8) and `h2` (bytes 8..16).
//! * With `m` = 8 × the digest's byte length, seed `s` and `k` = `digest_hashes`, the key
//!   sets bits `(a + i·b) mod m` for `i` in `0..k`, where `a = h1 ^ s`,
//!   `b = (h2 ^ s.rotate_left(32)) | 1`, and the arithmetic wraps in `u64`.
//! * Bit `j` is bit `j % 8` (least significant first) of byte `j / 8`.
//!
//! The seed changes with every request, so a record that a false positive held back in
//! one exchange is very likely to go through in the next. A sender sizes the filter at 10
//! bits per record with 7 hashes (about 1% false positives), up to [`MAX_DIGEST_BYTES`].

use sha3::{Digest as _, Sha3_256};

use super::state::BatchError;

/// Largest digest accepted, in bytes.
pub const MAX_DIGEST_BYTES: usize = 64 * 1024;
/// Most hash functions accepted.
pub const MAX_DIGEST_HASHES: u32 = 16;
const DOMAIN: &[u8] = b"neuron-metagraph/digest/v1";
const BITS_PER_RECORD: usize = 10;
const HASHES: u32 = 7;

/// The digest key of one record version (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    h1: u64,
    h2: u64,
}

impl Key {
    /// The key of version `version` of `hotkey`'s record.
    pub fn of(hotkey: &str, version: u64) -> Self {
        let hash = Sha3_256::new()
            .chain_update(DOMAIN)
            .chain_update(version.to_be_bytes())
            .chain_update(hotkey)
            .finalize();
        let word = |range: std::ops::Range<usize>| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&hash[range]);
            u64::from_le_bytes(bytes)
        };
        Self {
            h1: word(0..8),
            h2: word(8..16),
        }
    }

    fn bits(self, seed: u64, hashes: u32, m: u64) -> impl Iterator<Item = usize> {
        let a = self.h1 ^ seed;
        let b = (self.h2 ^ seed.rotate_left(32)) | 1;
        // m <= 8 * MAX_DIGEST_BYTES, so every position fits in usize.
        (0..u64::from(hashes)).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) % m) as usize)
    }
}

/// A filter being built for an outgoing request.
pub struct Builder {
    bits: Vec<u8>,
    seed: u64,
}

impl Builder {
    /// A filter sized for `records` keys.
    pub fn new(records: usize, seed: u64) -> Self {
        let bytes = (records * BITS_PER_RECORD)
            .div_ceil(8)
            .clamp(8, MAX_DIGEST_BYTES);
        Self {
            bits: vec![0; bytes],
            seed,
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: Key) {
        let m = self.bits.len() as u64 * 8;
        for bit in key.bits(self.seed, HASHES, m) {
            self.bits[bit / 8] |= 1 << (bit % 8);
        }
    }

    /// The wire fields: digest bytes, hash count, seed.
    pub fn finish(self) -> (Vec<u8>, u32, u64) {
        (self.bits, HASHES, self.seed)
    }
}

/// A received filter.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    bits: &'a [u8],
    hashes: u32,
    seed: u64,
}

impl<'a> Filter<'a> {
    /// The filter of a request's wire fields: `Ok(None)` when the digest is empty, an error
    /// when it is over the limits.
    pub fn parse(bits: &'a [u8], hashes: u32, seed: u64) -> Result<Option<Self>, BatchError> {
        if bits.is_empty() {
            return Ok(None);
        }
        if bits.len() > MAX_DIGEST_BYTES || !(1..=MAX_DIGEST_HASHES).contains(&hashes) {
            return Err(BatchError::Digest);
        }
        Ok(Some(Self { bits, hashes, seed }))
    }

    /// True if the sender probably holds `key` (false positives at the sender's rate; no
    /// false negatives).
    pub fn contains(&self, key: Key) -> bool {
        let m = self.bits.len() as u64 * 8;
        key.bits(self.seed, self.hashes, m)
            .all(|bit| self.bits[bit / 8] & (1 << (bit % 8)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let mut builder = Builder::new(1000, 99);
        for i in 0..1000 {
            builder.insert(Key::of(&format!("hk{i}"), 1));
        }
        let (bits, hashes, seed) = builder.finish();
        let filter = Filter::parse(&bits, hashes, seed)
            .expect("within limits")
            .expect("not empty");
        assert!((0..1000).all(|i| filter.contains(Key::of(&format!("hk{i}"), 1))));
        let false_positives = (0..10_000)
            .filter(|i| filter.contains(Key::of(&format!("hk{i}"), 2)))
            .count();
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 10 000"
        );
    }

    #[test]
    fn the_key_is_the_documented_hash() {
        let hash = Sha3_256::digest([DOMAIN, &7u64.to_be_bytes(), b"5Grw"].concat());
        let key = Key::of("5Grw", 7);
        assert_eq!(key.h1.to_le_bytes(), hash[..8]);
        assert_eq!(key.h2.to_le_bytes(), hash[8..16]);
    }

    #[test]
    fn limits() {
        assert!(matches!(Filter::parse(&[], 0, 0), Ok(None)));
        assert!(Filter::parse(&[1], 0, 0).is_err());
        assert!(Filter::parse(&[1], MAX_DIGEST_HASHES + 1, 0).is_err());
        assert!(Filter::parse(&vec![0; MAX_DIGEST_BYTES + 1], 7, 0).is_err());
        assert!(Filter::parse(&vec![0; MAX_DIGEST_BYTES], 7, 0).is_ok());
    }
}
