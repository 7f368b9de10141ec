//! The gossip protocol on the in-memory simulator: virtual time, no sleeps.

use std::time::Duration;

use neuron_metagraph::sim::{Simulation, sim_addr};
use neuron_metagraph::{Clock, Config};

#[test]
fn convergence_grows_about_logarithmically() -> anyhow::Result<()> {
    let mut rounds = Vec::new();
    for n in [16, 64, 256] {
        let report = Simulation::convergence(n, Config::new(), 42, 200)?
            .expect("converges within 200 rounds");
        println!(
            "n = {n}: {} rounds, {:.0} bytes per neuron",
            report.rounds, report.bytes_per_neuron
        );
        let log2 = (n as f64).log2();
        assert!(
            (report.rounds as f64) <= 2.5 * log2,
            "n = {n}: {} rounds is more than 2.5 log2 n",
            report.rounds
        );
        rounds.push(report.rounds);
    }
    // Each quadrupling of n adds a few rounds, not a multiple of them.
    for pair in rounds.windows(2) {
        assert!(
            pair[1] <= pair[0] + 6,
            "rounds jumped from {} to {}",
            pair[0],
            pair[1]
        );
    }
    Ok(())
}

fn ttl_config() -> Config {
    Config::new()
        .with_interval(Duration::from_secs(1))
        .with_ttl(Duration::from_secs(30))
        .with_refresh(Duration::from_secs(5))
}

#[test]
fn a_stopped_neuron_expires_everywhere_after_the_ttl_and_stays_gone() -> anyhow::Result<()> {
    let config = ttl_config();
    let mut sim = Simulation::new(32, config.clone(), 7)?;
    sim.run_until(100, Simulation::converged)
        .expect("converges");
    sim.stop(5);
    let gone = sim.nodes()[5].hotkey.clone();
    let stopped_at = sim.clock().now();
    let nobody_knows = |sim: &Simulation| {
        sim.nodes()
            .iter()
            .filter(|n| n.running)
            .all(|n| !sim.knows(n, &gone))
    };
    sim.run_until(200, nobody_knows)
        .expect("forgotten within 200 rounds");
    let after = sim.clock().now() - stopped_at;
    assert!(
        after >= config.ttl - config.refresh,
        "forgotten after {after:?}, before the ttl"
    );
    assert!(
        after <= config.ttl + config.refresh + Duration::from_secs(10),
        "forgotten only after {after:?}"
    );
    // Tombstones keep the last copies that are still in flight from bringing it back.
    for _ in 0..40 {
        sim.round();
        assert!(nobody_knows(&sim), "the expired record came back");
    }
    assert!(
        sim.converged(),
        "live neurons keep each other (they re-sign every refresh)"
    );
    let expired: u64 = sim.nodes().iter().map(|n| n.gossip.stats().expired).sum();
    assert!(
        expired >= 31,
        "each live neuron expired the record ({expired})"
    );
    Ok(())
}

#[test]
fn unreachable_peers_are_dropped_but_seeds_are_kept() -> anyhow::Result<()> {
    let config = Config::new()
        .with_ttl(Duration::from_secs(10_000))
        .with_backoff(3, Duration::from_secs(2), Duration::from_secs(8));
    let mut sim = Simulation::new(8, config, 3)?;
    sim.run_until(100, Simulation::converged)
        .expect("converges");
    sim.stop(0);
    sim.stop(5);
    let (seed, dead) = (sim_addr(0), sim_addr(5));
    let dropped = |sim: &Simulation| {
        sim.nodes()
            .iter()
            .filter(|n| n.running)
            .all(|n| !n.gossip.peers(usize::MAX).contains(&dead))
    };
    sim.run_until(300, dropped)
        .expect("the dead peer is dropped everywhere");
    for node in sim.nodes().iter().filter(|n| n.running) {
        assert!(
            node.gossip.peers(usize::MAX).contains(&seed),
            "seeds are never dropped"
        );
        let stats = node.gossip.stats();
        assert!(stats.exchanges_failed > 0 && stats.exchanges_ok > 0);
    }
    Ok(())
}
