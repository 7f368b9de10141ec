//! Gossip convergence on the in-memory simulator (virtual time, real signatures).
//!
//! ```text
//! cargo run --release -p neuron-metagraph --example gossip_sim [--push-window SECS] [N ...]
//! ```
//!
//! For each N (default 64 256 1024): N neurons that know only neuron 0 run rounds (each
//! neuron starts one exchange per round) until every neuron holds every record. Prints the
//! rounds, the protobuf bytes each neuron sent (requests and replies), and the signature
//! checks each neuron did.

use std::time::{Duration, Instant};

use neuron_metagraph::Config;
use neuron_metagraph::sim::Simulation;

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = Config::new();
    if let Some(at) = args.iter().position(|a| a == "--push-window") {
        let secs: u64 = args
            .get(at + 1)
            .ok_or_else(|| anyhow::anyhow!("--push-window needs seconds"))?
            .parse()?;
        config = config.with_push_window(Duration::from_secs(secs));
        args.drain(at..at + 2);
    }
    let sizes: Vec<usize> = match args
        .iter()
        .map(|a| a.parse())
        .collect::<Result<Vec<_>, _>>()?
    {
        sizes if sizes.is_empty() => vec![64, 256, 1024],
        sizes => sizes,
    };
    println!(
        "batch: {} records, {} peers; push window {:?}; round = {:?} of virtual time, one exchange per neuron\n",
        config.batch_records, config.batch_peers, config.push_window, config.interval
    );
    println!(
        "| n | rounds to full knowledge | rounds / log2 n | KiB sent per neuron | signature checks per neuron | wall time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let start = Instant::now();
        let report = Simulation::convergence(n, config.clone(), 42, 500)?
            .ok_or_else(|| anyhow::anyhow!("{n} neurons did not converge in 500 rounds"))?;
        println!(
            "| {n} | {} | {:.2} | {:.1} | {:.0} | {:.1} s |",
            report.rounds,
            report.rounds as f64 / (n as f64).log2(),
            report.bytes_per_neuron / 1024.0,
            report.verifies_per_neuron,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
