//! The `neuron` command: run and talk to neurons of the stack.

mod localnet;
mod metagraph_cmd;
mod model;
mod opts;
mod query;
mod serve;
mod wallet_cmd;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use neuron::NeuronConfig;

/// mimalloc instead of glibc malloc: the stack allocates many small, short-lived buffers
/// across threads (HTTP/2 frames, headers, tensors), where glibc's arenas spend more time
/// than the work (the legacy fan-out benchmark: 24 ms → 20 ms; docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Rust neuron stack for Bittensor-style networks.
///
/// Settings come from defaults, then `--config FILE` (TOML), then `BT_*` environment
/// variables (`BT_AXON_PORT`, `BT_WALLET_NAME`, ...), then flags.
#[derive(Debug, Parser)]
#[command(name = "neuron", version, about)]
struct Cli {
    /// A TOML configuration file (sections axon, wallet, logging, metrics, metagraph).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Debug logs (same as RUST_LOG=debug).
    #[arg(long = "logging.debug", global = true)]
    debug: bool,
    /// Trace logs (same as RUST_LOG=trace).
    #[arg(long = "logging.trace", global = true)]
    trace: bool,
    #[command(flatten)]
    wallet: opts::WalletOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a whole network on 127.0.0.1 and exercise every dialect (the main job).
    Localnet {
        #[command(flatten)]
        args: localnet::LocalnetArgs,
    },
    /// Serve one neuron (example and text synapses, every dialect) until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        args: serve::ServeArgs,
    },
    /// One dendrite call; prints the response as JSON.
    Query {
        #[command(flatten)]
        args: query::QueryArgs,
    },
    /// Create, list and show hotkeys in the btcli layout.
    Wallet {
        #[command(subcommand)]
        cmd: wallet_cmd::WalletCmd,
    },
    /// Show a running peer's metagraph, or a saved one.
    Metagraph {
        #[command(flatten)]
        args: metagraph_cmd::MetagraphArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = NeuronConfig::load(cli.config.as_deref()).context("configuration")?;
    cli.wallet.apply(&mut config);
    if cli.debug {
        config.logging.debug = true;
    }
    if cli.trace {
        config.logging.trace = true;
    }
    init_tracing(config.log_filter());
    match &cli.command {
        Command::Wallet { cmd } => wallet_cmd::run(cmd, &config),
        Command::Serve { args } => runtime()?.block_on(serve::run(args, config)),
        Command::Query { args } => runtime()?.block_on(query::run(args, &config)),
        Command::Localnet { args } => runtime()?.block_on(localnet::run(args, config)),
        Command::Metagraph { args } => runtime()?.block_on(metagraph_cmd::run(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
