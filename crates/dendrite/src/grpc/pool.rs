//! [`ReceptorPool`]: one receptor per remote hotkey, bounded (wire-legacy §11).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use candle_core::Tensor;
use futures::future::join_all;
use neuron_legacy::{CausalLmForm, SynapseSpec};
use neuron_protocol::legacy::ReturnCode;
use neuron_wallet::Keypair;

use crate::gather::gather;

use super::endpoint::Endpoint;
use super::error::{Error, Result};
use super::receptor::{Config, Outcome, Receptor, State};

/// Default `max_active_receptors` (upstream `--dendrite.max_active_receptors`).
pub const DEFAULT_MAX_ACTIVE_RECEPTORS: usize = 4096;

struct Entry {
    receptor: Arc<Receptor>,
    last_used: Instant,
}

/// Receptors keyed by remote hotkey.
///
/// # Notes
/// * Bounded by `max_active_receptors`: after every batch (and before adding a new
///   receptor to a full pool) the **least recently used idle** receptor is evicted and
///   closed. Upstream evicts by lowest forward-qps EMA; LRU is what a pool of
///   connections wants. A receptor with calls in flight is never evicted, so the pool
///   only exceeds its bound while more than that many receptors are busy at once.
/// * A receptor whose endpoint ip/port changed is replaced and the old one closed
///   (upstream left it open).
pub struct ReceptorPool {
    keypair: Arc<Keypair>,
    config: Config,
    max_active: usize,
    receptors: Mutex<HashMap<String, Entry>>,
}

impl ReceptorPool {
    /// A pool signing as `keypair`, with receptor settings `config`.
    pub fn new(keypair: Arc<Keypair>, config: Config) -> Self {
        Self::with_max_active(keypair, config, DEFAULT_MAX_ACTIVE_RECEPTORS)
    }

    /// A pool holding at most `max_active` idle receptors.
    pub fn with_max_active(keypair: Arc<Keypair>, config: Config, max_active: usize) -> Self {
        Self {
            keypair,
            config,
            max_active: max_active.max(1),
            receptors: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Poisoning only means a panic elsewhere mid-update of plain data.
        self.receptors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The signing keypair.
    pub fn keypair(&self) -> &Arc<Keypair> {
        &self.keypair
    }

    /// Receptors held.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// The bound.
    pub fn max_active(&self) -> usize {
        self.max_active
    }

    /// Connectivity per hotkey.
    pub fn receptors_state(&self) -> HashMap<String, State> {
        self.map()
            .iter()
            .map(|(k, e)| (k.clone(), e.receptor.state()))
            .collect()
    }

    /// The receptor of `endpoint`, created (or replaced, if its address changed) as needed.
    /// Must be called inside a tokio runtime.
    pub fn receptor(&self, endpoint: &Endpoint) -> Result<Arc<Receptor>> {
        let mut map = self.map();
        if let Some(entry) = map.get_mut(&endpoint.hotkey) {
            let old = entry.receptor.endpoint();
            if old.ip == endpoint.ip && old.port == endpoint.port && old.version == endpoint.version
            {
                entry.last_used = Instant::now();
                return Ok(entry.receptor.clone());
            }
            if let Some(old) = map.remove(&endpoint.hotkey) {
                old.receptor.close();
            }
        }
        if map.len() >= self.max_active {
            Self::evict(&mut map, self.max_active - 1);
        }
        let receptor = Arc::new(Receptor::new(
            endpoint.clone(),
            self.keypair.clone(),
            self.config.clone(),
        )?);
        map.insert(
            endpoint.hotkey.clone(),
            Entry {
                receptor: receptor.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(receptor)
    }

    /// The receptor of every endpoint, in order.
    pub(super) fn receptors(&self, endpoints: &[Endpoint]) -> Result<Vec<Arc<Receptor>>> {
        endpoints.iter().map(|e| self.receptor(e)).collect()
    }

    fn evict(map: &mut HashMap<String, Entry>, target: usize) {
        while map.len() > target {
            let victim = map
                .iter()
                .filter(|(_, e)| e.receptor.in_flight() == 0 && Arc::strong_count(&e.receptor) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(key) = victim else { return };
            if let Some(e) = map.remove(&key) {
                e.receptor.close();
            }
        }
    }

    /// Trims the pool to its bound (done after every batch).
    pub fn trim(&self) {
        Self::evict(&mut self.map(), self.max_active);
    }

    /// Forward to every endpoint in parallel; `inputs[i]` goes to `endpoints[i]`.
    pub async fn forward(
        &self,
        endpoints: &[Endpoint],
        synapses: &[SynapseSpec],
        inputs: &[Tensor],
        timeout: Duration,
    ) -> Result<Vec<Outcome>> {
        self.forward_as(endpoints, synapses, inputs, timeout, CausalLmForm::LogProbs)
            .await
    }

    /// [`ReceptorPool::forward`] with TEXT_CAUSAL_LM results in `form`.
    ///
    /// With several endpoints, each endpoint's call runs as its own tokio task, so that
    /// encoding, signing and decoding spread over the runtime's worker threads; the caller
    /// is woken once, when the last call has ended.
    pub async fn forward_as(
        &self,
        endpoints: &[Endpoint],
        synapses: &[SynapseSpec],
        inputs: &[Tensor],
        timeout: Duration,
        form: CausalLmForm,
    ) -> Result<Vec<Outcome>> {
        check_len("inputs per endpoint", endpoints.len(), inputs.len())?;
        let receptors = endpoints
            .iter()
            .map(|e| self.receptor(e))
            .collect::<Result<Vec<_>>>()?;
        if let ([receptor], [x]) = (receptors.as_slice(), inputs) {
            // One endpoint: no task to hand the work to.
            let outcome = receptor.forward_as(synapses, x, timeout, form).await;
            drop(receptors);
            self.trim();
            return Ok(vec![outcome]);
        }
        let shared: Arc<[SynapseSpec]> = synapses.into();
        let calls = receptors.iter().zip(inputs).map(|(r, x)| {
            let (r, x, synapses) = (r.clone(), x.clone(), shared.clone());
            async move { r.forward_as(&synapses, &x, timeout, form).await }
        });
        let joined = gather(calls.collect()).await;
        let outcomes = joined
            .into_iter()
            .zip(inputs)
            .map(|(result, x)| {
                result.unwrap_or_else(|| {
                    let message = "receptor task failed: it panicked or its runtime shut down";
                    Outcome::failed(synapses, x, ReturnCode::UnknownException, message, form)
                })
            })
            .collect();
        drop(receptors);
        self.trim();
        Ok(outcomes)
    }

    /// Backward to every endpoint in parallel; `grads[i]` holds one gradient per synapse.
    pub async fn backward(
        &self,
        endpoints: &[Endpoint],
        synapses: &[SynapseSpec],
        inputs: &[Tensor],
        grads: &[Vec<Tensor>],
        timeout: Duration,
    ) -> Result<Vec<Outcome>> {
        check_len("inputs per endpoint", endpoints.len(), inputs.len())?;
        check_len("gradients per endpoint", endpoints.len(), grads.len())?;
        for g in grads {
            check_len("gradients per synapse", synapses.len(), g.len())?;
        }
        let receptors = endpoints
            .iter()
            .map(|e| self.receptor(e))
            .collect::<Result<Vec<_>>>()?;
        let calls = receptors
            .iter()
            .zip(inputs)
            .zip(grads)
            .map(|((r, x), g)| r.backward(synapses, x, g, timeout));
        let outcomes = join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        drop(receptors);
        self.trim();
        Ok(outcomes)
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::Length {
            what,
            expected,
            actual,
        })
    }
}

impl std::fmt::Debug for ReceptorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceptorPool")
            .field("receptors", &self.len())
            .field("max_active", &self.max_active)
            .finish()
    }
}
