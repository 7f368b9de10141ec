//! The Synapse/HTTP dialect fanned out: one `Dendrite` (//Bob) to `AXONS` loopback
//! `neuron_axon::Axon`s serving `neuron_examples::Dummy` in the same process, every request
//! signed by the dendrite and verified by its axon. p50/p90 of a round (all answers in) and
//! the median CPU time of a round (all threads), over `ROUNDS` rounds after a warm-up round
//! that opens the connections, for:
//!
//! * `Dendrite::forward`: each call a task of its own (both cores sign and parse);
//! * reference, same run: the same calls as `Dendrite::call` futures awaited together in the
//!   caller's task (`join_all`), which is how `forward` ran before.
//!
//! `cargo bench -p neuron-dendrite --bench http_fanout [-- AXONS ROUNDS]` (defaults 256, 30).
#![allow(clippy::unwrap_used, missing_docs)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use neuron_axon::Running;
use neuron_dendrite::{AxonInfo, Config, Dendrite};
use neuron_examples::Dummy;
use neuron_wallet::Keypair;

#[path = "fanout/timing.rs"]
mod timing;
use timing::{Timing, positional_args, process_cpu};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn start_axons(n: usize) -> (Vec<AxonInfo>, Vec<Running>) {
    let mut targets = Vec::with_capacity(n);
    let mut running = Vec::with_capacity(n);
    for i in 0..n {
        let config = neuron_axon::Config::new()
            .with_ip([127, 0, 0, 1].into())
            .with_port(0);
        let keypair = Keypair::from_uri(&format!("//Axon{i}")).unwrap();
        let mut axon = neuron_axon::Axon::new(keypair, config);
        let _ =
            axon.attach::<Dummy, _, _>(|_caller, s| async move { Ok(neuron_examples::dummy(s)) });
        let r = axon.serve().await.unwrap();
        targets.push(AxonInfo::at(r.local_addr(), r.hotkey().to_owned()));
        running.push(r);
    }
    (targets, running)
}

/// One round: the number of axons that answered 200.
async fn round(dendrite: &Dendrite, targets: &[AxonInfo], one_task: bool) -> usize {
    let ok = |r: &neuron_dendrite::Response<Dummy>| r.is_success();
    if one_task {
        let calls = targets
            .iter()
            .map(|t| dendrite.call(t, Dummy::new(21), TIMEOUT));
        futures::future::join_all(calls)
            .await
            .iter()
            .filter(|r| ok(r))
            .count()
    } else {
        let out = dendrite
            .forward(targets.to_vec(), Dummy::new(21), TIMEOUT)
            .await;
        out.iter().filter(|r| ok(r)).count()
    }
}

fn main() {
    let args = positional_args();
    let axons: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    println!("http_fanout: Dummy to {axons} loopback axons, {rounds} rounds");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (targets, _running) = start_axons(axons).await;
        for one_task in [true, false, true, false] {
            // A fresh dendrite per row: every row pays its own connections in the warm-up.
            let dendrite = Dendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new());
            let (mut wall, mut cpu) = (Vec::new(), Vec::new());
            for r in 0..=rounds {
                let (start, cpu_start) = (Instant::now(), process_cpu());
                let ok = round(&dendrite, &targets, one_task).await;
                assert_eq!(ok, axons, "round {r}: not every axon answered 200");
                if r > 0 {
                    wall.push(start.elapsed());
                    cpu.push(process_cpu() - cpu_start);
                }
            }
            let timing = Timing::of(wall, cpu);
            let what = if one_task {
                "calls in one task (reference)"
            } else {
                "Dendrite::forward"
            };
            println!(
                "  {what:<30}: p50 {:>10.2?}  p90 {:>10.2?}  (CPU {:.1?} a round)",
                timing.p50, timing.p90, timing.cpu
            );
        }
    });
}
