//! `neuron metagraph`: show a running peer's metagraph (learned by gossiping with it) or
//! a saved one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use neuron::metagraph::{Gossip, GrpcTransport, MetagraphSnapshot};

/// `metagraph` flags: exactly one of `--peer` and `--file`.
#[derive(Clone, Debug, Args)]
pub struct MetagraphArgs {
    /// A running neuron (`IP:PORT` of its axon): gossip with it and show what it knows.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    pub peer: Option<SocketAddr>,
    /// A saved metagraph (the path given to `save`, with or without `.safetensors`).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Also save what was shown here.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Seconds to wait for the peer.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
}

/// Runs the subcommand.
pub async fn run(args: &MetagraphArgs) -> anyhow::Result<()> {
    let snapshot = match (&args.peer, &args.file) {
        (Some(peer), _) => from_peer(*peer, Duration::from_secs_f64(args.timeout.max(0.1))).await?,
        (None, Some(file)) => {
            let path = file.with_extension("");
            let path = if file
                .extension()
                .is_some_and(|e| e == "safetensors" || e == "json")
            {
                path
            } else {
                file.clone()
            };
            MetagraphSnapshot::load(&path)
                .with_context(|| format!("loading the metagraph {}", path.display()))?
        }
        (None, None) => bail!("give --peer IP:PORT or --file PATH"),
    };
    print(&snapshot)?;
    if let Some(path) = &args.save {
        snapshot
            .save(path)
            .with_context(|| format!("saving to {}", path.display()))?;
        println!("saved to {}", path.display());
    }
    Ok(())
}

/// Gossips with `peer` (without advertising anything) until a round brings nothing new.
async fn from_peer(peer: SocketAddr, timeout: Duration) -> anyhow::Result<MetagraphSnapshot> {
    let gossip = Gossip::new(
        neuron::metagraph::Config::new().with_timeout(timeout),
        [peer],
    );
    let transport = GrpcTransport::new(timeout);
    let start = Instant::now();
    let mut known = 0;
    loop {
        gossip
            .do_gossip(&transport)
            .await
            .with_context(|| format!("gossiping with {peer}"))?;
        let now = gossip.len();
        if now == known && now > 0 {
            break;
        }
        known = now;
        if start.elapsed() > timeout {
            break;
        }
    }
    if gossip.is_empty() {
        bail!("{peer} answered but knows no endpoint records");
    }
    Ok(gossip.metagraph(0)?)
}

fn print(m: &MetagraphSnapshot) -> anyhow::Result<()> {
    println!("metagraph: n = {}, block = {}", m.n(), m.block());
    println!(
        "{:<4} {:<49} {:<22} {:>8} {:>8}  dialects",
        "uid", "hotkey", "axon", "stake", "w-sum"
    );
    for (uid, axon) in m.axons().iter().enumerate() {
        let weights = m.weights_of(uid as u32)?;
        let wsum = weights.sum_all()?.to_scalar::<f32>()?;
        println!(
            "{uid:<4} {:<49} {:<22} {:>8.2} {:>8.4}  {}",
            axon.hotkey,
            format!("{}:{}", axon.ip, axon.port),
            m.stake_of(uid as u32),
            wsum,
            axon.protocols.join(",")
        );
    }
    for (uid, _) in m.axons().iter().enumerate() {
        let row = m.weights_of(uid as u32)?.to_vec1::<f32>()?;
        if row.iter().any(|w| *w != 0.0) {
            let cells: Vec<String> = row.iter().map(|w| format!("{w:.3}")).collect();
            println!("weights of uid {uid}: [{}]", cells.join(", "));
        }
    }
    Ok(())
}
