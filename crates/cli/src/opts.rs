//! Options shared by subcommands, named as in the Python SDK (`--wallet.name`, ...).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use neuron_wallet::{Keypair, Wallet};

/// Wallet selection: a keyfile in the btcli layout, or a development URI.
#[derive(Clone, Debug, Args)]
pub struct WalletOpts {
    /// Wallet name (directory under the wallet path).
    #[arg(
        id = "wallet.name",
        long = "wallet.name",
        global = true,
        env = "BT_WALLET_NAME",
        default_value = "default"
    )]
    pub name: String,
    /// Hotkey name (file under `<wallet>/hotkeys/`).
    #[arg(
        id = "wallet.hotkey",
        long = "wallet.hotkey",
        global = true,
        env = "BT_WALLET_HOTKEY",
        default_value = "default"
    )]
    pub hotkey: String,
    /// Root of the wallets (default `~/.bittensor/wallets`).
    #[arg(
        id = "wallet.path",
        long = "wallet.path",
        global = true,
        env = "BT_WALLET_PATH"
    )]
    pub path: Option<PathBuf>,
    /// A development key instead of a keyfile, e.g. `//Alice`.
    #[arg(
        id = "wallet.uri",
        long = "wallet.uri",
        global = true,
        env = "BT_WALLET_URI"
    )]
    pub uri: Option<String>,
}

impl WalletOpts {
    /// The wallets root.
    pub fn path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(Wallet::default_path)
    }

    /// Loads the hotkey: the URI when given, else the keyfile.
    pub fn keypair(&self) -> anyhow::Result<Keypair> {
        if let Some(uri) = &self.uri {
            return Keypair::from_uri(uri).with_context(|| format!("bad --wallet.uri {uri:?}"));
        }
        let wallet = Wallet::new(self.path(), &self.name, &self.hotkey);
        wallet.load_hotkey().with_context(|| {
            format!(
                "loading hotkey {} (create it with `neuron wallet create` or pass --wallet.uri //Alice)",
                wallet.hotkey_path().display()
            )
        })
    }
}
