//! `neuron query`: one dendrite call from the command line.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use neuron_dendrite::{AxonInfo, Config, Dendrite, Response, StreamEvent};
use neuron_examples as ex;
use neuron_protocol::synapse::{Ping, Synapse};

use crate::opts::WalletOpts;

/// Wire dialect to use.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dialect {
    /// The Python SDK's HTTP synapse protocol.
    Http,
}

/// `query` flags.
#[derive(Clone, Debug, Args)]
pub struct QueryArgs {
    /// Axon IP.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Axon port.
    #[arg(long)]
    pub port: u16,
    /// Axon hotkey (SS58); the request is signed for it.
    #[arg(long)]
    pub hotkey: String,
    /// Synapse name: Dummy, Hashed, TensorEcho, StreamCount or Synapse (ping).
    #[arg(long)]
    pub synapse: String,
    /// The synapse fields as JSON, e.g. '{"dummy_input": 21}'.
    #[arg(long, default_value = "{}")]
    pub json: String,
    /// Dialect.
    #[arg(long, value_enum, default_value = "http")]
    pub dialect: Dialect,
    /// Timeout in seconds.
    #[arg(long, default_value_t = 12.0)]
    pub timeout: f64,
}

/// Runs the query; prints the response synapse as JSON on stdout, the status on stderr,
/// and fails when the status is not 200.
pub async fn run(args: &QueryArgs, wallet: &WalletOpts) -> anyhow::Result<()> {
    let dendrite = Dendrite::new(wallet.keypair()?, Config::new());
    let axon = AxonInfo::new(args.ip, args.port, args.hotkey.clone());
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    let Dialect::Http = args.dialect;
    match args.synapse.as_str() {
        "Dummy" => once::<ex::Dummy>(&dendrite, &axon, &args.json, timeout).await,
        "Hashed" => once::<ex::Hashed>(&dendrite, &axon, &args.json, timeout).await,
        "TensorEcho" => once::<ex::TensorEcho>(&dendrite, &axon, &args.json, timeout).await,
        "Synapse" => once::<Ping>(&dendrite, &axon, &args.json, timeout).await,
        "StreamCount" => stream(&dendrite, &axon, &args.json, timeout).await,
        other => bail!(
            "unknown synapse {other:?}: expected Dummy, Hashed, TensorEcho, StreamCount or Synapse"
        ),
    }
}

fn parse<T: Synapse>(json: &str) -> anyhow::Result<T> {
    serde_json::from_str(json).with_context(|| format!("--json is not a valid {}", T::NAME))
}

async fn once<T: Synapse>(
    dendrite: &Dendrite,
    axon: &AxonInfo,
    json: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let response = dendrite.call(axon, parse::<T>(json)?, timeout).await;
    report(&response)
}

async fn stream(
    dendrite: &Dendrite,
    axon: &AxonInfo,
    json: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let events = dendrite.call_stream(axon, parse::<ex::StreamCount>(json)?, timeout);
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        match event {
            StreamEvent::Chunk(bytes) => eprint!("{}", String::from_utf8_lossy(&bytes)),
            StreamEvent::Done(response) => return report(&response),
        }
    }
    bail!("the stream ended without a final synapse")
}

fn report<T: Synapse>(response: &Response<T>) -> anyhow::Result<()> {
    let json = response
        .synapse
        .to_json_vec()
        .context("the response synapse cannot be written as JSON")?;
    println!("{}", String::from_utf8_lossy(&json));
    let code = response.status_code();
    eprintln!(
        "status {} {} ({:.1} ms)",
        code.map_or_else(|| "none".to_string(), |c| c.to_string()),
        response.status_message().unwrap_or(""),
        response.timings.total.as_secs_f64() * 1e3
    );
    if !response.is_success() {
        bail!("query failed with status {code:?}");
    }
    Ok(())
}
