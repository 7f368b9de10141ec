//! The on-disk wallet layout of the Python `bittensor-wallet`:
//!
//! ```text
//! <root>/<name>/coldkey               secret keyfile (usually encrypted)
//! <root>/<name>/coldkeypub.txt        public keyfile
//! <root>/<name>/hotkeys/<hotkey>      secret keyfile (usually unencrypted)
//! <root>/<name>/hotkeys/<hotkey>pub.txt  public keyfile (bittensor-wallet ≥ 3)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Keypair, PublicKey, keyfile};

/// A named wallet under a wallets root, with one selected hotkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    root: PathBuf,
    name: String,
    hotkey: String,
}

/// Expands a leading `~` to `$HOME`, as the SDK's `os.path.expanduser`.
fn expand_home(path: PathBuf) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path;
    };
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => path,
    }
}

fn check_component(what: &'static str, value: &str) -> Result<(), Error> {
    let bad =
        value.is_empty() || value == "." || value == ".." || value.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::InvalidKeyfile {
            path: PathBuf::from(value),
            reason: format!(
                "invalid {what} name {value:?} (empty, `.`/`..`, or contains a path separator)"
            ),
        });
    }
    Ok(())
}

fn list_dir(dir: &Path, keep: impl Fn(&fs::DirEntry, &str) -> bool) -> Result<Vec<String>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                action: "list",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            action: "list",
            path: dir.to_path_buf(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with('.') && keep(&entry, &name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

impl Wallet {
    /// A wallet `name` with hotkey `hotkey` under `path` (the wallets root, e.g.
    /// `~/.bittensor/wallets`; a leading `~` is expanded). Touches no file.
    pub fn new(path: impl Into<PathBuf>, name: &str, hotkey: &str) -> Wallet {
        Wallet {
            root: expand_home(path.into()),
            name: name.to_owned(),
            hotkey: hotkey.to_owned(),
        }
    }

    /// `$HOME/.bittensor/wallets`, the SDK default (relative `.bittensor/wallets` if `HOME`
    /// is unset).
    pub fn default_path() -> PathBuf {
        expand_home(PathBuf::from("~/.bittensor/wallets"))
    }

    /// The wallets root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The wallet (coldkey) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hotkey name.
    pub fn hotkey_name(&self) -> &str {
        &self.hotkey
    }

    /// `<root>/<name>`.
    pub fn wallet_dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// `<root>/<name>/hotkeys/<hotkey>`.
    pub fn hotkey_path(&self) -> PathBuf {
        self.wallet_dir().join("hotkeys").join(&self.hotkey)
    }

    /// `<root>/<name>/hotkeys/<hotkey>pub.txt`.
    pub fn hotkeypub_path(&self) -> PathBuf {
        self.wallet_dir()
            .join("hotkeys")
            .join(format!("{}pub.txt", self.hotkey))
    }

    /// `<root>/<name>/coldkeypub.txt`.
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkeypub.txt")
    }

    /// `<root>/<name>/coldkey`.
    pub fn coldkey_path(&self) -> PathBuf {
        self.wallet_dir().join("coldkey")
    }

    fn check_names(&self) -> Result<(), Error> {
        check_component("wallet", &self.name)?;
        check_component("hotkey", &self.hotkey)
    }

    /// Loads the hotkey pair. Encrypted keyfiles are detected and refused
    /// ([`Error::KeyfileEncrypted`]); the secret must match the stored public key.
    pub fn load_hotkey(&self) -> Result<Keypair, Error> {
        self.check_names()?;
        let path = self.hotkey_path();
        let data = keyfile::read(&path)?;
        keyfile::keypair_from_data(&path, &data)
    }

    /// Loads the coldkey pair (only possible when it was saved unencrypted).
    pub fn load_coldkey(&self) -> Result<Keypair, Error> {
        check_component("wallet", &self.name)?;
        let path = self.coldkey_path();
        let data = keyfile::read(&path)?;
        keyfile::keypair_from_data(&path, &data)
    }

    /// Generates a new hotkey (12-word mnemonic) and writes it with its `pub.txt`, like the
    /// SDK's `create_new_hotkey(use_password=False)`. Returns the pair and the mnemonic.
    pub fn create_hotkey(&self, overwrite: bool) -> Result<(Keypair, String), Error> {
        self.check_names()?;
        if !overwrite && fs::symlink_metadata(self.hotkey_path()).is_ok() {
            return Err(Error::AlreadyExists(self.hotkey_path()));
        }
        let (keypair, phrase) = Keypair::generate();
        self.write_hotkey(&keypair, overwrite)?;
        Ok((keypair, phrase))
    }

    /// Writes `keypair` as this wallet's hotkey (unencrypted, 0o600, atomically), plus the
    /// `<hotkey>pub.txt` public keyfile. With `overwrite == false` an existing hotkey file is
    /// an [`Error::AlreadyExists`].
    pub fn write_hotkey(&self, keypair: &Keypair, overwrite: bool) -> Result<(), Error> {
        self.check_names()?;
        let data = keyfile::keypair_to_data(keypair);
        keyfile::write_atomic(&self.hotkey_path(), &data, overwrite)?;
        keyfile::write_atomic(
            &self.hotkeypub_path(),
            &keyfile::public_to_data(&keypair.public()),
            true,
        )
    }

    /// The hotkey's public key from `<hotkey>pub.txt`, falling back to the public parts of
    /// the hotkey file itself (older SDKs wrote no `pub.txt`).
    pub fn hotkeypub(&self) -> Result<PublicKey, Error> {
        self.check_names()?;
        let path = self.hotkeypub_path();
        match keyfile::read(&path) {
            Ok(data) => keyfile::public_from_data(&path, &data),
            Err(Error::KeyfileNotFound(_)) => {
                let path = self.hotkey_path();
                let data = keyfile::read(&path)?;
                keyfile::public_from_data(&path, &data)
            }
            Err(e) => Err(e),
        }
    }

    /// The coldkey's public key from `coldkeypub.txt`.
    pub fn coldkeypub(&self) -> Result<PublicKey, Error> {
        check_component("wallet", &self.name)?;
        let path = self.coldkeypub_path();
        let data = keyfile::read(&path)?;
        keyfile::public_from_data(&path, &data)
    }

    /// Writes `coldkeypub.txt` (0o600, atomically).
    pub fn write_coldkeypub(&self, key: &PublicKey, overwrite: bool) -> Result<(), Error> {
        check_component("wallet", &self.name)?;
        keyfile::write_atomic(
            &self.coldkeypub_path(),
            &keyfile::public_to_data(key),
            overwrite,
        )
    }

    /// The hotkey names of this wallet (files in `hotkeys/`, without the `*pub.txt` public
    /// files and hidden files), sorted. Empty if the folder does not exist.
    pub fn list_hotkeys(&self) -> Result<Vec<String>, Error> {
        check_component("wallet", &self.name)?;
        let dir = self.wallet_dir().join("hotkeys");
        list_dir(&dir, |entry, name| {
            entry.file_type().map(|t| !t.is_dir()).unwrap_or(false) && !name.ends_with("pub.txt")
        })
    }

    /// The wallet names under `root` (its non-hidden sub-folders), sorted. Empty if `root`
    /// does not exist.
    pub fn list_wallets(root: impl AsRef<Path>) -> Result<Vec<String>, Error> {
        let root = expand_home(root.as_ref().to_path_buf());
        list_dir(&root, |entry, _| {
            entry.file_type().map(|t| t.is_dir()).unwrap_or(false)
        })
    }
}
