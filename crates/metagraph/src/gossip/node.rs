//! The gossip driver: a cloneable handle around [`GossipState`] with a background task.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use neuron_wallet::Keypair;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::clock::{Clock, SystemClock};
use super::config::Config;
use super::state::{BatchError, GossipState, Stats, Verified, WeightsError};
use super::transport::{GossipTransport, TransportError};
use crate::proto;
use crate::record::{Endpoint, EndpointRecord, RecordError};
use crate::state::{MetagraphSnapshot, StateError};

/// Why one gossip round failed.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The exchange did not complete; the peer is backed off.
    #[error("gossip with {peer} failed")]
    Transport {
        /// The peer.
        peer: SocketAddr,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
    /// The peer replied with a batch this node refuses; the peer is backed off.
    #[error("gossip reply from {peer} refused")]
    Batch {
        /// The peer.
        peer: SocketAddr,
        /// Why the batch was refused.
        #[source]
        source: BatchError,
    },
    /// [`Gossip::start`] was called while the background task was running.
    #[error("the gossip task is already running")]
    AlreadyRunning,
    /// [`Gossip::start`] was called outside a tokio runtime.
    #[error("the gossip task needs a tokio runtime; call start from inside one")]
    NoRuntime,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

struct Inner {
    state: Mutex<GossipState>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    running: Mutex<Option<Running>>,
}

/// A neuron's gossip: the seed's `start`/`update`/`stop`, `do_gossip`, `do_clean`,
/// `subscribe`, `peers`, `synapses`, `weights` and `set_weights`, over [`GossipState`].
///
/// Cheap to clone; every clone drives the same state. Serve it to other neurons with
/// [`crate::service`].
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

impl Gossip {
    /// Gossip on the system clock with the given seed (bootstrap) peers.
    pub fn new(config: Config, seeds: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self::with_clock(config, seeds, Arc::new(SystemClock::new()), rand::random())
    }

    /// Gossip on `clock`, with `rng_seed` for reproducible choices (simulations, tests).
    pub fn with_clock(
        config: Config,
        seeds: impl IntoIterator<Item = SocketAddr>,
        clock: Arc<dyn Clock>,
        rng_seed: u64,
    ) -> Self {
        let interval = config.interval;
        let state = Mutex::new(GossipState::new(config, seeds, rng_seed));
        Self {
            inner: Arc::new(Inner {
                state,
                clock,
                interval,
                running: Mutex::new(None),
            }),
        }
    }

    /// Advertises this neuron's endpoint, signed by `keypair` (see [`GossipState::subscribe`]).
    pub fn subscribe(
        &self,
        keypair: Keypair,
        endpoint: Endpoint,
    ) -> Result<EndpointRecord, RecordError> {
        let (now, wall) = (self.inner.clock.now(), self.inner.clock.unix_millis());
        self.lock().subscribe(now, keypair, endpoint, wall).cloned()
    }

    /// Starts the background task on the current tokio runtime: every `interval`, one
    /// [`Gossip::update`]. The task ends on [`Gossip::stop`] or when every handle is dropped.
    pub fn start<T: GossipTransport>(&self, transport: T) -> Result<(), GossipError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| GossipError::NoRuntime)?;
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.as_ref().is_some_and(|r| !r.task.is_finished()) {
            return Err(GossipError::AlreadyRunning);
        }
        let (stop, stopped) = oneshot::channel();
        let task = runtime.spawn(run(
            Arc::downgrade(&self.inner),
            transport,
            self.inner.interval,
            stopped,
        ));
        *running = Some(Running { stop, task });
        Ok(())
    }

    /// Stops the background task and waits for it to end (a no-op if it is not running).
    pub async fn stop(&self) {
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Running { stop, task }) = running {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// True while the background task runs.
    pub fn is_running(&self) -> bool {
        let running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// One round: housekeeping ([`GossipState::tick`]), then one [`Gossip::do_gossip`].
    pub async fn update<T: GossipTransport>(
        &self,
        transport: &T,
    ) -> Result<Option<SocketAddr>, GossipError> {
        let (now, wall) = (self.inner.clock.now(), self.inner.clock.unix_millis());
        self.lock().tick(now, wall);
        self.do_gossip(transport).await
    }

    /// One push-pull exchange with a random peer; returns the peer, or `None` when no peer
    /// is eligible. A failure backs the peer off and, repeated, drops it.
    pub async fn do_gossip<T: GossipTransport>(
        &self,
        transport: &T,
    ) -> Result<Option<SocketAddr>, GossipError> {
        let Some((peer, batch)) = self.lock().poll_exchange(self.inner.clock.now()) else {
            return Ok(None);
        };
        let reply = match transport.exchange(peer, batch).await {
            Ok(reply) => reply,
            Err(source) => {
                self.lock().on_failure(self.inner.clock.now(), peer);
                return Err(GossipError::Transport { peer, source });
            }
        };
        let verified = self.verify(&reply).await;
        match self
            .lock()
            .on_reply(self.inner.clock.now(), peer, &reply, &verified)
        {
            Ok(()) => Ok(Some(peer)),
            Err(source) => Err(GossipError::Batch { peer, source }),
        }
    }

    /// Serves one exchange: what the gRPC service and the in-memory transport call.
    pub async fn handle(
        &self,
        request: &proto::GossipBatch,
    ) -> Result<proto::GossipBatch, BatchError> {
        let verified = self.verify(request).await;
        // Time is read under the lock, so entries enter the table in time order.
        self.lock()
            .on_request(self.inner.clock.now(), request, &verified)
    }

    /// Checks the signatures a merge of `batch` would need on tokio's blocking pool, so
    /// neither the async workers nor the state's lock wait on them (a batch of 256 new
    /// records is about 25 ms of CPU). What changes meanwhile is checked during the merge.
    async fn verify(&self, batch: &proto::GossipBatch) -> Verified {
        let records = self.lock().to_verify(batch);
        if records.is_empty() {
            return Verified::default();
        }
        // On a join error (runtime shutting down) the merge checks the signatures itself.
        tokio::task::spawn_blocking(move || Verified::check(records))
            .await
            .unwrap_or_default()
    }

    /// Drops records and peers not refreshed within `ttl`.
    pub fn do_clean(&self, ttl: Duration) {
        let now = self.inner.clock.now();
        self.lock().do_clean(now, ttl);
    }

    /// Up to `n` gossip peer addresses.
    pub fn peers(&self, n: usize) -> Vec<SocketAddr> {
        self.lock().peers(n)
    }

    /// Up to `n` endpoint records (our own first).
    pub fn synapses(&self, n: usize) -> Vec<EndpointRecord> {
        self.lock().records(n)
    }

    /// The record of `hotkey`, if known (our own included).
    pub fn record(&self, hotkey: &str) -> Option<EndpointRecord> {
        self.lock().record(hotkey).cloned()
    }

    /// True when a record of `hotkey` is known (our own included).
    pub fn contains(&self, hotkey: &str) -> bool {
        self.lock().record(hotkey).is_some()
    }

    /// Number of known records, our own included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no record is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The local weights of `hotkeys` (0 for unknown).
    pub fn weights(&self, hotkeys: &[&str]) -> Vec<f32> {
        self.lock().weights(hotkeys)
    }

    /// Sets local weights of known hotkeys; all or nothing.
    pub fn set_weights(&self, weights: &[(&str, f32)]) -> Result<(), WeightsError> {
        self.lock().set_weights(weights)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.lock().stats()
    }

    /// A metagraph of what gossip knows now (uids by sorted hotkey), at `block`; our own
    /// local weights become our row of the weight matrix.
    pub fn metagraph(&self, block: i64) -> Result<MetagraphSnapshot, StateError> {
        let (records, own, weights) = {
            let state = self.lock();
            let records = state.records(usize::MAX);
            let hotkeys: Vec<&str> = records.iter().map(EndpointRecord::hotkey).collect();
            let weights = state.weights(&hotkeys);
            let own = state.own().map(|o| o.hotkey().to_owned());
            (records, own, weights)
        };
        let snapshot = MetagraphSnapshot::from_records(&records, block)?;
        let Some(own_uid) = own.as_deref().and_then(|h| snapshot.uid(h)) else {
            return Ok(snapshot);
        };
        let row: Vec<(u32, f32)> = records
            .iter()
            .zip(weights)
            .filter(|(_, w)| *w > 0.0)
            .filter_map(|(r, w)| Some((snapshot.uid(r.hotkey())?, w)))
            .collect();
        if row.is_empty() {
            Ok(snapshot)
        } else {
            snapshot.with_weights(own_uid, &row)
        }
    }

    fn lock(&self) -> MutexGuard<'_, GossipState> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than stopping gossip would; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn run<T: GossipTransport>(
    inner: Weak<Inner>,
    transport: T,
    interval: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        let gossip = Gossip { inner };
        tokio::select! {
            _ = &mut stop => return,
            result = gossip.update(&transport) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "gossip round failed");
                }
            }
        }
    }
}
