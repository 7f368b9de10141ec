//! The `neuron` command: run and talk to neurons of the stack.

mod opts;
mod query;
mod serve;
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
    /// Serve one axon with the example synapses until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        wallet: opts::WalletOpts,
        #[command(flatten)]
        args: serve::ServeArgs,
    },
    /// One dendrite call; prints the response synapse as JSON.
    Query {
        #[command(flatten)]
        wallet: opts::WalletOpts,
        #[command(flatten)]
        args: query::QueryArgs,
    },
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
        Command::Serve { wallet, args } => runtime()?.block_on(serve::run(args, wallet)),
        Command::Query { wallet, args } => runtime()?.block_on(query::run(args, wallet)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
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

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
