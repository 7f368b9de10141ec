//! sr25519 keys and signatures with substrate semantics.

use std::fmt;
use std::str::FromStr;

use sp_core::Pair as _;
use sp_core::crypto::SecretStringError;
use sp_core::sr25519;
use zeroize::Zeroizing;

use crate::{Error, ss58};

/// The schnorrkel signing context substrate (and so Bittensor) uses.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";

const BYTES_OPEN: &[u8] = b"<Bytes>";
const BYTES_CLOSE: &[u8] = b"</Bytes>";

/// An sr25519 key pair (a Bittensor hotkey or coldkey).
///
/// Cheap to clone, `Send + Sync`. The secret parts are wiped on drop and never shown by
/// `Debug`.
#[derive(Clone)]
pub struct Keypair {
    pair: sr25519::Pair,
    public: PublicKey,
    ss58: String,
    seed: Option<Zeroizing<[u8; 32]>>,
    mnemonic: Option<Zeroizing<String>>,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("ss58", &self.ss58)
            .field("public", &format_args!("0x{}", hex::encode(self.public.0)))
            .finish_non_exhaustive()
    }
}

fn uri_error(e: SecretStringError) -> Error {
    let what = match e {
        SecretStringError::InvalidFormat(_) => "unrecognised format",
        SecretStringError::InvalidPhrase => "invalid mnemonic phrase",
        SecretStringError::InvalidPassword => "invalid password",
        SecretStringError::InvalidSeed => "invalid hex seed (expected 0x + 64 hex digits)",
        SecretStringError::InvalidSeedLength => "invalid seed length",
        SecretStringError::InvalidPath => "invalid derivation path",
    };
    Error::InvalidUri(what.to_owned())
}

impl Keypair {
    fn from_parts(pair: sr25519::Pair, seed: Option<[u8; 32]>, mnemonic: Option<String>) -> Self {
        let public = PublicKey(pair.public().0);
        let ss58 = public.to_ss58();
        Keypair {
            pair,
            public,
            ss58,
            seed: seed.map(Zeroizing::new),
            mnemonic: mnemonic.map(Zeroizing::new),
        }
    }

    /// Derives a key pair from a substrate secret URI, with exactly the semantics of
    /// `sp_core::sr25519::Pair::from_string_with_seed`:
    ///
    /// * `//Alice`, `//Alice//hotkey`: hard junctions on the dev phrase;
    /// * `<mnemonic>//hard/soft///password`: BIP-39 phrase (with optional password), then
    ///   hard (`//`) and soft (`/`) junctions;
    /// * `0x<32-byte seed hex>` optionally followed by junctions.
    ///
    /// [`seed`](Self::seed) is known afterwards unless a soft junction was used.
    pub fn from_uri(uri: &str) -> Result<Keypair, Error> {
        let (pair, seed) = sr25519::Pair::from_string_with_seed(uri, None).map_err(uri_error)?;
        // A bare phrase (no junction, no password) is the key's own mnemonic: keep it so a
        // keyfile written from this key carries `secretPhrase` like the Python wallet's.
        let mnemonic = (!uri.contains('/') && !uri.starts_with("0x")).then(|| uri.to_owned());
        Ok(Self::from_parts(pair, seed, mnemonic))
    }

    /// Derives a key pair from a BIP-39 mnemonic (substrate-bip39 mini-secret, expanded in
    /// Ed25519 mode), with an optional BIP-39 password.
    pub fn from_mnemonic(phrase: &str, password: Option<&str>) -> Result<Keypair, Error> {
        let (pair, seed) =
            sr25519::Pair::from_phrase(phrase, password).map_err(|_| Error::InvalidMnemonic)?;
        // The Python keyfile stores the phrase without any password: only keep it when it
        // alone reproduces the key.
        let mnemonic = match password {
            None | Some("") => Some(phrase.to_owned()),
            Some(_) => None,
        };
        Ok(Self::from_parts(pair, Some(seed), mnemonic))
    }

    /// Makes a key pair from a 32-byte mini-secret, expanded in Ed25519 mode (the substrate
    /// default, what the Python wallet's `create_from_seed` does).
    pub fn from_seed(seed: &[u8]) -> Result<Keypair, Error> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| Error::InvalidSeedLength {
            expected: "32",
            actual: seed.len(),
        })?;
        let pair = sr25519::Pair::from_seed_slice(&seed)
            .map_err(|_| Error::InvalidSecretKey("invalid mini-secret"))?;
        Ok(Self::from_parts(pair, Some(seed), None))
    }

    /// Makes a key pair from a 64-byte expanded sr25519 secret (`key ‖ nonce`, schnorrkel
    /// `SecretKey::to_bytes`), the `privateKey` of a keyfile. The mini-secret is then unknown.
    pub fn from_private_key(secret: &[u8]) -> Result<Keypair, Error> {
        if secret.len() != 64 {
            return Err(Error::InvalidSeedLength {
                expected: "64",
                actual: secret.len(),
            });
        }
        let pair = sr25519::Pair::from_seed_slice(secret)
            .map_err(|_| Error::InvalidSecretKey("not a canonical sr25519 secret key"))?;
        Ok(Self::from_parts(pair, None, None))
    }

    /// Generates a fresh key pair from a new random 12-word English mnemonic, returned too.
    pub fn generate() -> (Keypair, String) {
        let (pair, phrase, seed) = sr25519::Pair::generate_with_phrase(None);
        (
            Self::from_parts(pair, Some(seed), Some(phrase.clone())),
            phrase,
        )
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The SS58 address (prefix 42), computed once.
    pub fn ss58(&self) -> &str {
        &self.ss58
    }

    /// Signs `message` (raw bytes, no hashing) with context `b"substrate"`. sr25519
    /// signatures are randomized: two signatures of one message differ.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.pair.sign(message).0)
    }

    /// The 32-byte mini-secret, when known (keys from a seed, a mnemonic, or a URI without
    /// soft junctions).
    pub fn seed(&self) -> Option<[u8; 32]> {
        self.seed.as_deref().copied()
    }

    /// The mnemonic that alone reproduces this key, when known (keys from
    /// [`generate`](Self::generate), [`from_mnemonic`](Self::from_mnemonic) without password,
    /// or a bare-phrase URI).
    pub fn mnemonic(&self) -> Option<&str> {
        self.mnemonic.as_deref().map(String::as_str)
    }

    /// The 64-byte expanded secret (`privateKey` in keyfiles).
    pub(crate) fn private_key(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.pair.to_raw_vec())
    }
}

/// A 32-byte sr25519 public key (the account id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Decodes an SS58 address of any prefix (1- and 2-byte forms), validating the base58
    /// alphabet, the length, the prefix (46 and 47 are reserved and refused, as by the SDK)
    /// and the checksum.
    pub fn from_ss58(address: &str) -> Result<PublicKey, Error> {
        ss58::decode(address).map(|(_, key)| PublicKey(key))
    }

    /// Decodes an SS58 address and also returns its prefix.
    pub fn from_ss58_with_prefix(address: &str) -> Result<(u16, PublicKey), Error> {
        ss58::decode(address).map(|(prefix, key)| (prefix, PublicKey(key)))
    }

    /// The SS58 address with prefix 42.
    pub fn to_ss58(&self) -> String {
        self.to_ss58_with_prefix(ss58::DEFAULT_PREFIX)
    }

    /// The SS58 address with `prefix`.
    ///
    /// # Panics
    /// If `prefix > 16383` (SS58 cannot represent it) or is reserved (46, 47); see
    /// [`try_to_ss58_with_prefix`](Self::try_to_ss58_with_prefix).
    pub fn to_ss58_with_prefix(&self, prefix: u16) -> String {
        match ss58::encode(prefix, &self.0) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// The SS58 address with `prefix`, or an error if `prefix > 16383` or reserved (46, 47).
    pub fn try_to_ss58_with_prefix(&self, prefix: u16) -> Result<String, Error> {
        ss58::encode(prefix, &self.0)
    }

    /// Verifies like the Python SDK (`bittensor_wallet.Keypair.verify`): the raw message
    /// first, then `"<Bytes>" ‖ message ‖ "</Bytes>"` (polkadot.js wrapping).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        match (self.schnorrkel(), signature.schnorrkel()) {
            (Some(pk), Some(sig)) => verify_sdk(&pk, message, &sig),
            _ => false,
        }
    }

    /// Verifies over the raw message only.
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> bool {
        match (self.schnorrkel(), signature.schnorrkel()) {
            (Some(pk), Some(sig)) => verify_raw(&pk, message, &sig),
            _ => false,
        }
    }

    /// Hex `0x…` (lowercase), as in keyfiles' `publicKey`.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    pub(crate) fn schnorrkel(&self) -> Option<schnorrkel::PublicKey> {
        schnorrkel::PublicKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Display for PublicKey {
    /// The SS58 address (prefix 42).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl FromStr for PublicKey {
    type Err = Error;
    /// Parses an SS58 address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_ss58(s)
    }
}

pub(crate) fn verify_raw(
    pk: &schnorrkel::PublicKey,
    message: &[u8],
    sig: &schnorrkel::Signature,
) -> bool {
    pk.verify_simple(SIGNING_CONTEXT, message, sig).is_ok()
}

pub(crate) fn verify_sdk(
    pk: &schnorrkel::PublicKey,
    message: &[u8],
    sig: &schnorrkel::Signature,
) -> bool {
    if verify_raw(pk, message, sig) {
        return true;
    }
    let mut wrapped = Vec::with_capacity(BYTES_OPEN.len() + message.len() + BYTES_CLOSE.len());
    wrapped.extend_from_slice(BYTES_OPEN);
    wrapped.extend_from_slice(message);
    wrapped.extend_from_slice(BYTES_CLOSE);
    verify_raw(pk, &wrapped, sig)
}

/// A 64-byte sr25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// The SDK's message when a signature string lacks the `0x` prefix.
pub const MSG_EXPECTED_HEX: &str = "Invalid signature format. Expected hex string.";
/// The SDK's message when a signature has the wrong length.
pub const MSG_BAD_LENGTH: &str = "Invalid SR25519 signature.";
/// The message when a signature has non-hex characters.
pub const MSG_BAD_HEX: &str = "Invalid hex string in signature.";

impl Signature {
    /// `"0x"` + 128 lowercase hex digits, the wire form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(130);
        s.push_str("0x");
        s.push_str(&hex::encode(self.0));
        s
    }

    /// Parses the wire form. Like the SDK axon it requires the `0x` prefix (lowercase `x`);
    /// hex digits may be of either case; the length must be exactly 64 bytes.
    pub fn from_hex(s: &str) -> Result<Signature, Error> {
        let digits = s
            .strip_prefix("0x")
            .ok_or(Error::InvalidSignature(MSG_EXPECTED_HEX))?;
        if digits.len() != 128 {
            // hex errors first when the digits are not hex at all, like the SDK
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidSignature(MSG_BAD_HEX));
            }
            return Err(Error::InvalidSignature(MSG_BAD_LENGTH));
        }
        let mut out = [0u8; 64];
        hex::decode_to_slice(digits, &mut out).map_err(|_| Error::InvalidSignature(MSG_BAD_HEX))?;
        Ok(Signature(out))
    }

    pub(crate) fn schnorrkel(&self) -> Option<schnorrkel::Signature> {
        schnorrkel::Signature::from_bytes(&self.0).ok()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Signature {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signature::from_hex(s)
    }
}
