//! The `neuron` command: run and talk to neurons of the stack.

mod opts;
mod wallet_cmd;

use clap::{Parser, Subcommand};

/// A Rust neuron stack for Bittensor-style networks.
#[derive(Debug, Parser)]
#[command(name = "neuron", version, about)]
struct Cli {
    /// Verbose logs (same as RUST_LOG=debug).
    #[arg(long = "logging.debug", global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list and show hotkeys in the btcli layout.
    Wallet {
        #[command(flatten)]
        wallet: opts::WalletOpts,
        #[command(subcommand)]
        cmd: wallet_cmd::WalletCmd,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.debug);
    match &cli.command {
        Command::Wallet { wallet, cmd } => wallet_cmd::run(cmd, wallet),
    }
}

fn init_tracing(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "debug" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
