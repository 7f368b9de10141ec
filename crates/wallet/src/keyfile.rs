//! The bittensor-wallet keyfile format (JSON, as written by `bittensor_wallet` 4.x).
//!
//! A secret keyfile (`coldkey`, `hotkeys/<name>`) is a compact JSON object with
//! `accountId`, `publicKey` (both `0x` + 64 hex), `privateKey` (`0x` + 128 hex, the 64-byte
//! expanded sr25519 secret), optionally `secretPhrase` and `secretSeed` (`0x` + 64 hex
//! mini-secret), `ss58Address` and `cryptoType` (1 = sr25519, 0 = ed25519). A public keyfile
//! (`coldkeypub.txt`, `hotkeys/<name>pub.txt`) has only the public parts. Older SDKs wrote
//! `null` for absent fields and no `cryptoType`. Encrypted keyfiles start with `$NACL`,
//! `$ANSIBLE_VAULT` or `gAAAAA` (legacy Fernet).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{Error, Keypair, PublicKey};

/// `cryptoType` of sr25519 keys.
pub const CRYPTO_SR25519: i64 = 1;

/// The encryption scheme of keyfile data, by its magic prefix, with the Python names.
pub fn encryption_method(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"$NACL") {
        Some("NaCl")
    } else if data.starts_with(b"$ANSIBLE_VAULT") {
        Some("Ansible Vault")
    } else if data.starts_with(b"gAAAAA") {
        Some("legacy")
    } else {
        None
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidKeyfile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a keyfile's bytes, mapping "not found" to [`Error::KeyfileNotFound`].
pub(crate) fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(data) => Ok(Zeroizing::new(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::KeyfileNotFound(path.to_path_buf()))
        }
        Err(source) => Err(Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses the JSON object, refusing encrypted data and non-sr25519 keys.
fn parse_object(path: &Path, data: &[u8]) -> Result<Map<String, Value>, Error> {
    if let Some(method) = encryption_method(data) {
        return Err(Error::KeyfileEncrypted {
            path: path.to_path_buf(),
            method,
        });
    }
    let text = std::str::from_utf8(data).map_err(|_| invalid(path, "not UTF-8 text"))?;
    let value: Value = serde_json::from_str(text.trim())
        .map_err(|e| invalid(path, format!("not a JSON keyfile ({})", e.classify_name())))?;
    let Value::Object(map) = value else {
        return Err(invalid(path, "not a JSON object"));
    };
    match map.get("cryptoType") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => match n.as_i64() {
            Some(CRYPTO_SR25519) => {}
            Some(other) => {
                return Err(Error::UnsupportedCryptoType {
                    path: path.to_path_buf(),
                    crypto_type: other,
                });
            }
            None => return Err(invalid(path, "cryptoType is not an integer")),
        },
        Some(_) => return Err(invalid(path, "cryptoType is not a number")),
    }
    Ok(map)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        // Never echo the content: it may be a secret.
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "data error",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

/// A string field; `null` and absence are both `None`.
fn field<'a>(
    path: &Path,
    map: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, Error> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(path, format!("{key} is not a string"))),
    }
}

fn hex_field<const N: usize>(
    path: &Path,
    key: &'static str,
    value: &str,
) -> Result<Zeroizing<[u8; N]>, Error> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    let mut out = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(digits, &mut out[..])
        .map_err(|_| invalid(path, format!("{key} is not 0x + {} hex digits", 2 * N)))?;
    Ok(out)
}

/// Public parts of a keyfile: `publicKey`, `accountId`, `ss58Address`, checked against each
/// other. `None` if none is present.
fn stored_public(path: &Path, map: &Map<String, Value>) -> Result<Option<PublicKey>, Error> {
    let mut found: Option<(PublicKey, &'static str)> = None;
    for key in ["publicKey", "accountId"] {
        if let Some(v) = field(path, map, key)? {
            let pk = PublicKey(*hex_field::<32>(path, key, v)?);
            check_same(path, &mut found, pk, key)?;
        }
    }
    if let Some(v) = field(path, map, "ss58Address")? {
        let pk = PublicKey::from_ss58(v).map_err(|e| invalid(path, format!("ss58Address: {e}")))?;
        check_same(path, &mut found, pk, "ss58Address")?;
    }
    Ok(found.map(|(pk, _)| pk))
}

fn check_same(
    path: &Path,
    found: &mut Option<(PublicKey, &'static str)>,
    pk: PublicKey,
    field: &'static str,
) -> Result<(), Error> {
    match found {
        Some((first, _)) if *first != pk => Err(Error::KeyMismatch {
            path: path.to_path_buf(),
            field,
            expected: first.to_ss58(),
            derived: pk.to_ss58(),
        }),
        Some(_) => Ok(()),
        None => {
            *found = Some((pk, field));
            Ok(())
        }
    }
}

fn mismatch(path: &Path, field: &'static str, expected: &PublicKey, derived: &PublicKey) -> Error {
    Error::KeyMismatch {
        path: path.to_path_buf(),
        field,
        expected: expected.to_ss58(),
        derived: derived.to_ss58(),
    }
}

/// Loads the key pair of a secret keyfile's bytes.
///
/// The secret comes from `secretSeed`, else `secretPhrase`, else `privateKey`; every other
/// secret present must give the same key (the Python wallet prefers `secretPhrase`, so a
/// disagreement would make the two load different keys), and so must the stored public parts.
pub fn keypair_from_data(path: &Path, data: &[u8]) -> Result<Keypair, Error> {
    let map = parse_object(path, data)?;
    let seed = field(path, &map, "secretSeed")?;
    let phrase = field(path, &map, "secretPhrase")?;
    let private = field(path, &map, "privateKey")?;

    let from_phrase = |phrase: &str| {
        Keypair::from_mnemonic(phrase, None)
            .map_err(|_| invalid(path, "secretPhrase is not a valid mnemonic"))
    };
    let from_private = |private: &str| {
        let bytes = hex_field::<64>(path, "privateKey", private)?;
        Keypair::from_private_key(&bytes[..])
            .map_err(|_| invalid(path, "privateKey is not a valid sr25519 secret key"))
    };

    let keypair = match (seed, phrase, private) {
        (Some(seed), _, _) => {
            let seed = hex_field::<32>(path, "secretSeed", seed)?;
            let kp = Keypair::from_seed(&seed[..])?;
            match phrase {
                Some(phrase) => {
                    let by_phrase = from_phrase(phrase)?;
                    if by_phrase.public() != kp.public() {
                        return Err(mismatch(
                            path,
                            "secretPhrase",
                            &kp.public(),
                            &by_phrase.public(),
                        ));
                    }
                    by_phrase
                }
                None => kp,
            }
        }
        (None, Some(phrase), _) => from_phrase(phrase)?,
        (None, None, Some(private)) => from_private(private)?,
        (None, None, None) => {
            return Err(invalid(
                path,
                "no secret in keyfile (secretSeed, secretPhrase or privateKey); is it a public keyfile?",
            ));
        }
    };
    if let (Some(private), true) = (private, seed.is_some() || phrase.is_some()) {
        let by_private = from_private(private)?;
        if by_private.public() != keypair.public() {
            return Err(mismatch(
                path,
                "privateKey",
                &keypair.public(),
                &by_private.public(),
            ));
        }
    }
    if let Some(stored) = stored_public(path, &map)?
        && stored != keypair.public()
    {
        return Err(mismatch(path, "publicKey", &stored, &keypair.public()));
    }
    Ok(keypair)
}

/// Loads the public key of a (public or secret) keyfile's bytes, from its public parts only.
pub fn public_from_data(path: &Path, data: &[u8]) -> Result<PublicKey, Error> {
    let map = parse_object(path, data)?;
    stored_public(path, &map)?
        .ok_or_else(|| invalid(path, "no publicKey, accountId or ss58Address in keyfile"))
}

fn public_fields(map: &mut Map<String, Value>, public: &PublicKey) {
    let hex = public.to_hex();
    map.insert("accountId".into(), Value::String(hex.clone()));
    map.insert("publicKey".into(), Value::String(hex));
}

/// The JSON of a secret keyfile, as the Python wallet writes it (compact JSON; `secretPhrase`
/// and `secretSeed` only when known).
pub fn keypair_to_data(keypair: &Keypair) -> Zeroizing<Vec<u8>> {
    let mut map = Map::new();
    public_fields(&mut map, &keypair.public());
    let private = keypair.private_key();
    map.insert(
        "privateKey".into(),
        Value::String(format!("0x{}", hex::encode(&private[..]))),
    );
    if let Some(phrase) = keypair.mnemonic() {
        map.insert("secretPhrase".into(), Value::String(phrase.to_owned()));
    }
    if let Some(seed) = keypair.seed() {
        let seed = Zeroizing::new(seed);
        map.insert(
            "secretSeed".into(),
            Value::String(format!("0x{}", hex::encode(&seed[..]))),
        );
    }
    map.insert(
        "ss58Address".into(),
        Value::String(keypair.ss58().to_owned()),
    );
    map.insert("cryptoType".into(), Value::from(CRYPTO_SR25519));
    let value = Value::Object(map);
    let text = Zeroizing::new(value.to_string());
    // Wipe the intermediate strings too.
    if let Value::Object(mut map) = value {
        for (_, v) in map.iter_mut() {
            if let Value::String(s) = v {
                zeroize::Zeroize::zeroize(s);
            }
        }
    }
    Zeroizing::new(text.as_bytes().to_vec())
}

/// The JSON of a public keyfile (`coldkeypub.txt`, `<hotkey>pub.txt`).
pub fn public_to_data(public: &PublicKey) -> Vec<u8> {
    let mut map = Map::new();
    public_fields(&mut map, public);
    map.insert("ss58Address".into(), Value::String(public.to_ss58()));
    map.insert("cryptoType".into(), Value::from(CRYPTO_SR25519));
    Value::Object(map).to_string().into_bytes()
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `contents` to `path` atomically: a fresh owner-only (0o600 on Unix) temporary file
/// in the same directory, fsynced, then renamed over `path` (`overwrite`) or hard-linked to it
/// (no clobber: fails with [`Error::AlreadyExists`] if `path` exists). Parent directories are
/// created.
pub fn write_atomic(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
    if !overwrite && fs::symlink_metadata(path).is_ok() {
        return Err(Error::AlreadyExists(path.to_path_buf()));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_tmp_then_move(&tmp, path, contents, overwrite);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename durable; not all platforms can open a directory, so best effort.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_tmp_then_move(
    tmp: &Path,
    path: &Path,
    contents: &[u8],
    overwrite: bool,
) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp).map_err(io("create", tmp))?;
    #[cfg(unix)]
    {
        // The mode above is filtered by the umask; make sure it is exactly 0o600.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io("chmod", tmp))?;
    }
    file.write_all(contents).map_err(io("write", tmp))?;
    file.sync_all().map_err(io("sync", tmp))?;
    drop(file);
    if overwrite {
        return fs::rename(tmp, path).map_err(io("rename into", path));
    }
    match fs::hard_link(tmp, path) {
        Ok(()) => {
            fs::remove_file(tmp).map_err(io("remove", tmp))?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::AlreadyExists(path.to_path_buf()))
        }
        // Filesystems without hard links: fall back to a checked rename.
        Err(_) => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(Error::AlreadyExists(path.to_path_buf()));
            }
            fs::rename(tmp, path).map_err(io("rename into", path))
        }
    }
}
