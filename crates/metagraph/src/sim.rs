//! A gossip network in memory with virtual time, for convergence tests and benchmarks.
//!
//! Every neuron is a real [`Gossip`] (the same code the tokio task runs) on one shared
//! [`ManualClock`]; [`MemoryTransport`] hands each batch straight to the peer's
//! [`Gossip::handle`], the function the gRPC service calls (signature checks included, on
//! tokio's blocking pool as in production). A *round* lets every running
//! neuron, in random order, run one [`Gossip::update`] (housekeeping plus one exchange it
//! starts), then moves the clock on by [`Config::interval`]. Nothing sleeps.
//!
//! Neuron 0 is the bootstrap peer: every other neuron starts knowing only its address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};

use neuron_wallet::Keypair;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;

use crate::gossip::{Config, Gossip, GossipTransport, ManualClock, TransportError};
use crate::proto;
use crate::record::Endpoint;

/// Delivers batches between [`Gossip`] handles in this process; a stopped neuron is
/// unreachable.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    nodes: Arc<RwLock<HashMap<SocketAddr, Gossip>>>,
}

impl MemoryTransport {
    /// Makes `gossip` reachable at `addr`.
    pub fn attach(&self, addr: SocketAddr, gossip: Gossip) {
        self.nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, gossip);
    }

    /// Makes `addr` unreachable.
    pub fn detach(&self, addr: SocketAddr) {
        self.nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }
}

impl GossipTransport for MemoryTransport {
    async fn exchange(
        &self,
        peer: SocketAddr,
        batch: proto::GossipBatch,
    ) -> Result<proto::GossipBatch, TransportError> {
        let node = self
            .nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&peer)
            .cloned();
        let node = node.ok_or(TransportError::Unreachable(peer))?;
        node.handle(&batch)
            .await
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()).into())
    }
}

/// One simulated neuron.
pub struct SimNode {
    /// Its address (never dialled; only a key for the transport).
    pub addr: SocketAddr,
    /// Its hotkey (SS58).
    pub hotkey: String,
    /// Its gossip.
    pub gossip: Gossip,
    /// False once [`Simulation::stop`] was called for it.
    pub running: bool,
}

/// What a convergence run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Number of neurons.
    pub n: usize,
    /// Rounds until every neuron held every neuron's record.
    pub rounds: usize,
    /// Encoded batch bytes sent per neuron until then (requests and replies).
    pub bytes_per_neuron: f64,
    /// Signature checks per neuron until then (records accepted, conflicting or forged).
    pub verifies_per_neuron: f64,
}

/// An in-memory network of `n` neurons on a virtual clock.
pub struct Simulation {
    clock: Arc<ManualClock>,
    interval: std::time::Duration,
    transport: MemoryTransport,
    nodes: Vec<SimNode>,
    rng: StdRng,
    runtime: tokio::runtime::Runtime,
}

/// The address of simulated neuron `i`: `127.x.y.z:8091`.
pub fn sim_addr(i: usize) -> SocketAddr {
    let [_, a, b, c] = (i as u32 + 1).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, a, b, c)), 8091)
}

/// The hotkey of simulated neuron `i` (a fixed seed per index).
pub fn sim_keypair(i: usize) -> Keypair {
    let mut seed = [0x5eu8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    // A 32-byte seed is always a valid sr25519 mini secret key.
    Keypair::from_seed(&seed).unwrap_or_else(|e| unreachable!("32-byte seed: {e}"))
}

impl Simulation {
    /// `n` subscribed neurons; neuron 0 is every other's only seed. `seed` fixes every
    /// random choice, so a run is reproducible.
    pub fn new(n: usize, config: Config, seed: u64) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let clock = Arc::new(ManualClock::new());
        let transport = MemoryTransport::default();
        let bootstrap = sim_addr(0);
        let nodes = (0..n)
            .map(|i| {
                let addr = sim_addr(i);
                let seeds = (i != 0).then_some(bootstrap);
                let gossip =
                    Gossip::with_clock(config.clone(), seeds, clock.clone(), seed ^ (i as u64 + 1));
                let keypair = sim_keypair(i);
                let hotkey = keypair.ss58().to_owned();
                // sim_addr never yields port 0 and the endpoint has no other fields: in limits.
                let _ = gossip.subscribe(keypair, Endpoint::new(addr).with_protocol("native"));
                transport.attach(addr, gossip.clone());
                SimNode {
                    addr,
                    hotkey,
                    gossip,
                    running: true,
                }
            })
            .collect();
        let interval = config.interval;
        Ok(Self {
            clock,
            interval,
            transport,
            nodes,
            rng: StdRng::seed_from_u64(seed),
            runtime,
        })
    }

    /// One round: every running neuron runs one update, in random order; then the clock
    /// moves on by the gossip interval.
    pub fn round(&mut self) {
        let mut order: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].running)
            .collect();
        order.shuffle(&mut self.rng);
        for i in order {
            // Failed exchanges are part of the simulation (stopped peers); the state counts them.
            let _ = self
                .runtime
                .block_on(self.nodes[i].gossip.update(&self.transport));
        }
        self.clock.advance(self.interval);
    }

    /// Runs rounds until `done` holds (checked before each round); returns the number of
    /// rounds run, or `None` if `max_rounds` passed first.
    pub fn run_until(
        &mut self,
        max_rounds: usize,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<usize> {
        for rounds in 0..=max_rounds {
            if done(self) {
                return Some(rounds);
            }
            if rounds < max_rounds {
                self.round();
            }
        }
        None
    }

    /// True when every running neuron holds the record of every running neuron.
    pub fn converged(&self) -> bool {
        let running: Vec<&SimNode> = self.nodes.iter().filter(|n| n.running).collect();
        running.iter().all(|node| {
            node.gossip.len() >= running.len()
                && running.iter().all(|other| self.knows(node, &other.hotkey))
        })
    }

    /// True when `node` holds a record for `hotkey`.
    pub fn knows(&self, node: &SimNode, hotkey: &str) -> bool {
        node.gossip.contains(hotkey)
    }

    /// Stops neuron `i`: it no longer gossips or answers.
    pub fn stop(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.running = false;
            self.transport.detach(node.addr);
        }
    }

    /// The neurons.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// The virtual clock.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The transport (to inject batches in tests).
    pub fn transport(&self) -> &MemoryTransport {
        &self.transport
    }

    /// Rounds to full knowledge for `n` neurons from one bootstrap peer, and what it cost.
    pub fn convergence(
        n: usize,
        config: Config,
        seed: u64,
        max_rounds: usize,
    ) -> std::io::Result<Option<Report>> {
        let mut sim = Self::new(n, config, seed)?;
        let Some(rounds) = sim.run_until(max_rounds, Self::converged) else {
            return Ok(None);
        };
        let stats: Vec<_> = sim.nodes.iter().map(|node| node.gossip.stats()).collect();
        let per_neuron = |total: u64| total as f64 / n as f64;
        Ok(Some(Report {
            n,
            rounds,
            bytes_per_neuron: per_neuron(stats.iter().map(|s| s.bytes_sent).sum()),
            verifies_per_neuron: per_neuron(
                stats
                    .iter()
                    .map(|s| s.accepted + s.conflicts + s.rejected_forged)
                    .sum(),
            ),
        }))
    }
}
