//! Options shared by subcommands, named as in the Python SDK (`--wallet.name`, ...).
//!
//! Flags only override: defaults, the `--config` file and the `BT_*` environment are
//! applied first by [`neuron::NeuronConfig::load`].

use std::path::PathBuf;

use clap::Args;
use neuron::NeuronConfig;

/// Wallet selection: a keyfile in the btcli layout, or a development URI.
#[derive(Clone, Debug, Default, Args)]
pub struct WalletOpts {
    /// Wallet name (directory under the wallet path) [default: default; env BT_WALLET_NAME].
    #[arg(id = "wallet.name", long = "wallet.name", global = true)]
    pub name: Option<String>,
    /// Hotkey name (file under `<wallet>/hotkeys/`) [default: default; env BT_WALLET_HOTKEY].
    #[arg(id = "wallet.hotkey", long = "wallet.hotkey", global = true)]
    pub hotkey: Option<String>,
    /// Root of the wallets [default: ~/.bittensor/wallets; env BT_WALLET_PATH].
    #[arg(id = "wallet.path", long = "wallet.path", global = true)]
    pub path: Option<PathBuf>,
    /// A development key instead of a keyfile, e.g. `//Alice` [env BT_WALLET_URI].
    #[arg(id = "wallet.uri", long = "wallet.uri", global = true)]
    pub uri: Option<String>,
}

impl WalletOpts {
    /// Writes the given flags over `config`.
    pub fn apply(&self, config: &mut NeuronConfig) {
        if let Some(v) = &self.name {
            config.wallet.name.clone_from(v);
        }
        if let Some(v) = &self.hotkey {
            config.wallet.hotkey.clone_from(v);
        }
        if let Some(v) = &self.path {
            config.wallet.path = Some(v.clone());
        }
        if let Some(v) = &self.uri {
            config.wallet.uri = Some(v.clone());
        }
    }
}

/// The wallets root `config` names.
pub fn wallet_root(config: &NeuronConfig) -> PathBuf {
    config
        .wallet
        .path
        .clone()
        .unwrap_or_else(neuron::wallet::Wallet::default_path)
}
