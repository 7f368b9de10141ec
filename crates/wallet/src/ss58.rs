//! SS58 address encoding (the substrate `Ss58Codec` format) for 32-byte public keys.
//!
//! `base58(prefix(1 or 2 bytes) ‖ pubkey(32) ‖ checksum(2))`, checksum = the first two bytes
//! of BLAKE2b-512(`"SS58PRE"` ‖ prefix ‖ pubkey). Prefixes `0..=63` take one byte,
//! `64..=16383` two bytes (substrate's bit layout). The reserved prefixes 46 and 47 are
//! refused both ways, as substrate and the Python SDK refuse them.

use blake2::{Blake2b512, Digest};

use crate::Error;

/// The SS58 address format Bittensor uses (the generic substrate one).
pub const DEFAULT_PREFIX: u16 = 42;
/// The largest prefix the two-byte form can carry.
pub const MAX_PREFIX: u16 = 16_383;
/// Prefixes substrate reserves and refuses (`Ss58AddressFormat::is_reserved`), and so does
/// the Python SDK ("Disallowed SS58 Address Format for this datatype.").
pub const RESERVED_PREFIXES: [u16; 2] = [46, 47];

const CHECKSUM_LEN: usize = 2;
/// A valid 32-byte-key address is at most 50 base58 characters (36 bytes); anything much
/// longer is refused before the quadratic base58 decoder runs.
const MAX_ADDRESS_CHARS: usize = 64;

fn checksum(prefix: &[u8], pubkey: &[u8; 32]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(prefix);
    hasher.update(pubkey);
    let out = hasher.finalize();
    [out[0], out[1]]
}

/// Encodes `pubkey` under `prefix`.
pub fn encode(prefix: u16, pubkey: &[u8; 32]) -> Result<String, Error> {
    if RESERVED_PREFIXES.contains(&prefix) {
        return Err(Error::InvalidSs58Prefix(prefix));
    }
    let mut buf = [0u8; 2 + 32 + CHECKSUM_LEN];
    let prefix_len = match prefix {
        0..=63 => {
            buf[0] = prefix as u8;
            1
        }
        64..=MAX_PREFIX => {
            // upper six bits of the lower byte, marked with 0b01 in the two top bits
            buf[0] = (((prefix & 0b0000_0000_1111_1100) as u8) >> 2) | 0b0100_0000;
            // lower two bits of the lower byte on top, the upper byte below
            buf[1] = ((prefix >> 8) as u8) | (((prefix & 0b11) as u8) << 6);
            2
        }
        _ => return Err(Error::InvalidSs58Prefix(prefix)),
    };
    buf[prefix_len..prefix_len + 32].copy_from_slice(pubkey);
    let sum = checksum(&buf[..prefix_len], pubkey);
    buf[prefix_len + 32..prefix_len + 32 + CHECKSUM_LEN].copy_from_slice(&sum);
    Ok(bs58::encode(&buf[..prefix_len + 32 + CHECKSUM_LEN]).into_string())
}

/// Decodes an address into `(prefix, pubkey)`, validating alphabet, length, prefix and
/// checksum. Never panics.
pub fn decode(address: &str) -> Result<(u16, [u8; 32]), Error> {
    if address.len() > MAX_ADDRESS_CHARS {
        return Err(Error::InvalidSs58("Length is bad"));
    }
    let mut buf = [0u8; MAX_ADDRESS_CHARS];
    let n = bs58::decode(address)
        .onto(&mut buf[..])
        .map_err(|e| match e {
            bs58::decode::Error::BufferTooSmall => Error::InvalidSs58("Length is bad"),
            _ => Error::InvalidSs58("Base 58 requirement is violated"),
        })?;
    let data = &buf[..n];
    if data.len() < 2 {
        return Err(Error::InvalidSs58("Length is bad"));
    }
    let (prefix_len, prefix) = match data[0] {
        0..=63 => (1usize, u16::from(data[0])),
        64..=127 => {
            // d[0] d[1] = 01aaaaaa bbcccccc → LE u16 aaaaaabb 00cccccc
            let lower = (data[0] << 2) | (data[1] >> 6);
            let upper = data[1] & 0b0011_1111;
            (2usize, u16::from(lower) | (u16::from(upper) << 8))
        }
        _ => return Err(Error::InvalidSs58("Unknown SS58 address format")),
    };
    if data.len() != prefix_len + 32 + CHECKSUM_LEN {
        return Err(Error::InvalidSs58("Length is bad"));
    }
    if RESERVED_PREFIXES.contains(&prefix) {
        return Err(Error::InvalidSs58(
            "Disallowed SS58 Address Format for this datatype.",
        ));
    }
    let mut pubkey = [0u8; 32];
    pubkey.copy_from_slice(&data[prefix_len..prefix_len + 32]);
    let sum = checksum(&data[..prefix_len], &pubkey);
    if data[prefix_len + 32..] != sum {
        return Err(Error::InvalidSs58("Invalid checksum"));
    }
    Ok((prefix, pubkey))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_prefix_layout_matches_substrate() {
        // Kusama-style two-byte example: prefix 255 and 16383 round trip and keep the marker.
        for prefix in [64u16, 255, 1000, MAX_PREFIX] {
            let addr = encode(prefix, &[7u8; 32]).expect("encodable");
            let raw = bs58::decode(&addr).into_vec().expect("base58");
            assert_eq!(raw.len(), 36);
            assert_eq!(raw[0] & 0b1100_0000, 0b0100_0000);
            assert_eq!(decode(&addr).expect("decodes"), (prefix, [7u8; 32]));
        }
    }

    #[test]
    fn out_of_range_and_reserved_prefixes_are_refused() {
        assert!(matches!(
            encode(MAX_PREFIX + 1, &[0u8; 32]),
            Err(Error::InvalidSs58Prefix(16_384))
        ));
        for prefix in RESERVED_PREFIXES {
            assert!(matches!(
                encode(prefix, &[0u8; 32]),
                Err(Error::InvalidSs58Prefix(_))
            ));
            // hand-made address with a reserved prefix and a valid checksum
            let mut raw = vec![prefix as u8];
            raw.extend_from_slice(&[3u8; 32]);
            let sum = checksum(&raw[..1], &[3u8; 32]);
            raw.extend_from_slice(&sum);
            let addr = bs58::encode(raw).into_string();
            assert!(
                matches!(decode(&addr), Err(Error::InvalidSs58(m)) if m.starts_with("Disallowed"))
            );
        }
    }

    #[test]
    fn overlong_input_is_refused_cheaply() {
        let long = "1".repeat(10_000);
        assert!(decode(&long).is_err());
    }
}
