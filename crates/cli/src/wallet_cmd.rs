//! `neuron wallet`: create, list and show hotkeys in the btcli layout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use neuron::wallet::Wallet;

use neuron::NeuronConfig;

use crate::opts::wallet_root;

/// Wallet subcommands.
#[derive(Debug, Subcommand)]
pub enum WalletCmd {
    /// Create a new hotkey (unencrypted, as `btcli w new_hotkey --no-use-password`).
    Create {
        /// Replace an existing hotkey file.
        #[arg(long)]
        overwrite: bool,
    },
    /// List the wallets under the wallet path and their hotkeys.
    List,
    /// Show the selected hotkey's SS58 address and files.
    Show,
}

/// Runs a wallet subcommand.
pub fn run(cmd: &WalletCmd, config: &NeuronConfig) -> anyhow::Result<()> {
    let wallet = Wallet::new(
        wallet_root(config),
        &config.wallet.name,
        &config.wallet.hotkey,
    );
    match cmd {
        WalletCmd::Create { overwrite } => {
            let (kp, mnemonic) = wallet
                .create_hotkey(*overwrite)
                .with_context(|| format!("creating {}", wallet.hotkey_path().display()))?;
            println!("hotkey   {}", kp.ss58());
            println!("file     {}", wallet.hotkey_path().display());
            println!("mnemonic {mnemonic}");
            println!("(write the mnemonic down: it is the only way to recover this key)");
        }
        WalletCmd::List => {
            let root: PathBuf = wallet_root(config);
            let names = Wallet::list_wallets(&root)
                .with_context(|| format!("listing {}", root.display()))?;
            if names.is_empty() {
                println!("no wallets under {}", root.display());
            }
            for name in names {
                println!("{name}");
                let w = Wallet::new(&root, &name, "default");
                for hotkey in w.list_hotkeys().unwrap_or_default() {
                    let w = Wallet::new(&root, &name, &hotkey);
                    let address = w
                        .hotkeypub()
                        .map(|p| p.to_ss58())
                        .or_else(|_| w.load_hotkey().map(|k| k.ss58().to_string()))
                        .unwrap_or_else(|e| format!("<{e}>"));
                    println!("  {hotkey:<20} {address}");
                }
            }
        }
        WalletCmd::Show => {
            let kp = wallet
                .load_hotkey()
                .with_context(|| format!("loading {}", wallet.hotkey_path().display()))?;
            println!("wallet   {}", wallet.name());
            println!("hotkey   {} ({})", wallet.hotkey_name(), kp.ss58());
            println!("file     {}", wallet.hotkey_path().display());
            match wallet.coldkeypub() {
                Ok(pk) => println!("coldkey  {}", pk.to_ss58()),
                Err(_) => println!("coldkey  (no coldkeypub.txt)"),
            }
        }
    }
    Ok(())
}
