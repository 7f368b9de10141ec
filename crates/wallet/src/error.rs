//! Error types of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while deriving keys, parsing encodings or touching keyfiles.
///
/// No variant ever carries secret material (phrases, seeds, private keys).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A secret URI (`//Alice`, `<phrase>//hard/soft///password`, `0x<seed>`) could not be
    /// interpreted.
    #[error("invalid secret URI: {0}")]
    InvalidUri(String),
    /// The BIP-39 mnemonic is not valid (unknown word, bad checksum or word count).
    #[error("invalid mnemonic phrase")]
    InvalidMnemonic,
    /// A seed or secret key had the wrong length.
    #[error("invalid seed length: expected {expected} bytes, got {actual}")]
    InvalidSeedLength {
        /// Accepted length(s), human readable.
        expected: &'static str,
        /// The length that was given.
        actual: usize,
    },
    /// Secret key bytes were rejected (e.g. a non-canonical scalar).
    #[error("invalid secret key: {0}")]
    InvalidSecretKey(&'static str),
    /// An SS58 address could not be decoded (`Invalid SS58 address: <reason>`, as the SDK says).
    #[error("Invalid SS58 address: {0}")]
    InvalidSs58(&'static str),
    /// An SS58 prefix outside `0..=16383`, or reserved (46, 47), cannot be encoded.
    #[error("SS58 prefix {0} cannot be encoded (out of 0..=16383, or reserved)")]
    InvalidSs58Prefix(u16),
    /// A signature string could not be parsed (same wording as the SDK's `Keypair.verify`).
    #[error("{0}")]
    InvalidSignature(&'static str),
    /// Reading or writing a wallet file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `create directory`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The keyfile does not exist.
    #[error("keyfile not found: {0}")]
    KeyfileNotFound(PathBuf),
    /// The keyfile is password-encrypted; this crate does not decrypt keyfiles.
    #[error(
        "keyfile {path} is encrypted ({method}); neuron-wallet cannot decrypt keyfiles: \
         re-create the key without a password (hotkeys are unencrypted by default) or \
         decrypt it with the Python wallet first"
    )]
    KeyfileEncrypted {
        /// The keyfile.
        path: PathBuf,
        /// `NaCl`, `Ansible Vault` or `legacy` (the Python names).
        method: &'static str,
    },
    /// The keyfile content is not a keyfile this crate understands.
    #[error("invalid keyfile {path}: {reason}")]
    InvalidKeyfile {
        /// The keyfile.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The keyfile uses a key type other than sr25519 (`cryptoType` 0 is ed25519).
    #[error(
        "keyfile {path} holds a key of unsupported crypto type {crypto_type} (only sr25519 = 1 is supported)"
    )]
    UnsupportedCryptoType {
        /// The keyfile.
        path: PathBuf,
        /// The `cryptoType` value found.
        crypto_type: i64,
    },
    /// The secret in the keyfile does not produce the public key / address stored next to it.
    #[error(
        "keyfile {path}: the secret does not match the stored {field} (expected {expected}, derived {derived})"
    )]
    KeyMismatch {
        /// The keyfile.
        path: PathBuf,
        /// `publicKey`, `accountId` or `ss58Address`.
        field: &'static str,
        /// What the file says.
        expected: String,
        /// What the secret gives.
        derived: String,
    },
    /// Refused to overwrite an existing file.
    #[error("{0} already exists (pass overwrite = true to replace it)")]
    AlreadyExists(PathBuf),
}
