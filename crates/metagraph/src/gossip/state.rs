//! The gossip protocol as a state machine with no IO: time and batches in, batches out.
//!
//! [`GossipState`] knows nothing about sockets, tasks or clocks. The caller passes `now`
//! (a monotonic [`Duration`] since any fixed origin) into every call that depends on time.
//! Both drivers use the same state: [`crate::Gossip`] over tonic, and the in-memory
//! simulator in [`crate::sim`] with virtual time.
//!
//! # Rules
//!
//! * **Liveness is the owner's job.** A record's local heartbeat is the time *this* node
//!   accepted its current version. Only a *newer* version refreshes it, and only the owner
//!   can sign one, so a neuron that stops re-signing ([`crate::Config::refresh`]) drops out
//!   of every table after the TTL, however long its last record keeps circulating. (The
//!   2020 metagraph refreshed on every copy, so dead entries could live forever.)
//! * **Newest version wins.** An older version, or one at or below a tombstone left by an
//!   expired record, is ignored. An equal version with other content is a *conflict*: the
//!   existing record is kept.
//! * **Verify before store.** Every record that would change the table is checked against
//!   its hotkey first; a failure is counted in [`Stats::rejected_forged`] and dropped.
//!   Duplicates and stale versions are dropped before any signature work.
//! * **Nothing unbounded from a peer.** A batch over [`MAX_BATCH_RECORDS`] records or
//!   [`MAX_BATCH_PEERS`] peers is rejected whole; the record table, the peer table, the
//!   hinted peers and the tombstones are all capped, evicting the oldest.
//! * **Peers.** Seeds (bootstrap addresses) are kept forever. Other peers come from signed
//!   records that list [`PROTOCOL_GOSSIP`], from successful exchanges, or as unsigned hints
//!   in a batch (capped separately, never forwarded). A failed exchange backs the peer off
//!   exponentially; after [`Config::max_failures`] failures in a row it is dropped.
//! * **Push-pull with digests.** The initiator sends its own record, the records it
//!   accepted within [`Config::push_window`], and a Bloom filter of every (hotkey, version)
//!   it holds ([`super::digest`]); the responder answers with a random selection of the
//!   records the filter says the initiator lacks, then merges the request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use lru::LruCache;
use neuron_wallet::Keypair;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::seq::IteratorRandom as _;
use rand::{Rng as _, SeedableRng as _};

use super::config::{Config, MAX_BATCH_PEERS, MAX_BATCH_RECORDS, PROTOCOL_VERSION};
use super::digest::{self, Filter, Key};
use crate::proto;
use crate::record::{Endpoint, EndpointRecord, PROTOCOL_GOSSIP, RecordError};

/// Counters of what the gossip state accepted and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records accepted as new or newer versions.
    pub accepted: u64,
    /// Records already known at the same version with the same content.
    pub duplicates: u64,
    /// Records older than the known version (or than a tombstone).
    pub stale: u64,
    /// Validly signed records at a known version with other content (existing kept).
    pub conflicts: u64,
    /// Records whose signature does not verify: forged or tampered with.
    pub rejected_forged: u64,
    /// Records over a limit or with a malformed field, and unparsable peer addresses.
    pub rejected_invalid: u64,
    /// Whole batches refused: too many records or peers, a digest over its limits, or an
    /// unknown protocol version.
    pub rejected_batches: u64,
    /// Records dropped because they were not refreshed within the TTL.
    pub expired: u64,
    /// Records evicted to keep the table within `max_records`.
    pub evicted: u64,
    /// Exchanges this node started that got a reply.
    pub exchanges_ok: u64,
    /// Exchanges this node started that failed (transport error or refused reply).
    pub exchanges_failed: u64,
    /// Peers dropped after repeated failures or the TTL.
    pub peers_dropped: u64,
    /// Encoded protobuf bytes of the batches this node produced (requests and replies).
    pub bytes_sent: u64,
    /// Encoded protobuf bytes of the batches this node accepted for merging.
    pub bytes_received: u64,
}

/// Why a whole batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// More records than [`MAX_BATCH_RECORDS`].
    #[error("gossip batch has {0} records, more than the limit of {MAX_BATCH_RECORDS}")]
    TooManyRecords(usize),
    /// More peers than [`MAX_BATCH_PEERS`].
    #[error("gossip batch has {0} peers, more than the limit of {MAX_BATCH_PEERS}")]
    TooManyPeers(usize),
    /// A protocol version this node does not speak.
    #[error("gossip protocol version {0} is not supported (this node speaks {PROTOCOL_VERSION})")]
    Version(u32),
    /// A digest over [`digest::MAX_DIGEST_BYTES`] or with a hash count out of range.
    #[error("gossip digest is over its limits")]
    Digest,
}

/// Why [`GossipState::set_weights`] refused its input (nothing was changed).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// The hotkey has no record in the table.
    #[error("no record for hotkey {0}")]
    Unknown(String),
    /// The weight is negative, NaN or infinite.
    #[error("weight {weight} for {hotkey} must be finite and not negative")]
    Invalid {
        /// The hotkey the weight was for.
        hotkey: String,
        /// The refused weight.
        weight: f32,
    },
}

/// What merging one record would do.
enum Fate {
    /// Older than what we hold (or than a tombstone).
    Stale,
    /// What we hold.
    Duplicate,
    /// Our version, other content.
    Conflict,
    /// A newer version, or a hotkey we do not know.
    New,
    /// Our own hotkey at or above our version: an earlier run of this neuron.
    OursSuperseded,
}

impl Fate {
    fn needs_signature(&self) -> bool {
        matches!(self, Fate::Conflict | Fate::New | Fate::OursSuperseded)
    }
}

/// Signature checks done for some records of a batch before merging it, so a driver can
/// do that CPU work without holding the lock around its state (see
/// [`GossipState::to_verify`]). Records without a verdict are checked during the merge.
#[derive(Debug, Default)]
pub struct Verified(HashMap<usize, Result<(), RecordError>>);

impl Verified {
    /// Checks the signatures of `records` (index in the batch, record), as returned by
    /// [`GossipState::to_verify`]. CPU-bound: about 0.1 ms per record.
    pub fn check(records: Vec<(usize, EndpointRecord)>) -> Self {
        Self(
            records
                .into_iter()
                .map(|(index, record)| (index, record.verify()))
                .collect(),
        )
    }
}

struct Own {
    keypair: Keypair,
    record: EndpointRecord,
    key: Key,
    signed_at: Duration,
}

struct Entry {
    record: EndpointRecord,
    /// The digest key of this version, computed once on acceptance.
    key: Key,
    heartbeat: Duration,
}

struct Tombstone {
    version: u64,
    until: Duration,
}

#[derive(Default)]
struct Peer {
    last_seen: Option<Duration>,
    failures: u32,
    retry_at: Duration,
    hinted: bool,
}

/// The sans-IO gossip state of one neuron (see the module docs for the rules).
pub struct GossipState {
    config: Config,
    rng: StdRng,
    own: Option<Own>,
    /// Least recently refreshed last, so TTL cleaning pops from the back.
    records: LruCache<String, Entry>,
    tombstones: LruCache<String, Tombstone>,
    seeds: HashMap<SocketAddr, Peer>,
    peers: LruCache<SocketAddr, Peer>,
    hinted: usize,
    weights: HashMap<String, f32>,
    stats: Stats,
}

/// The limits every received batch must meet before any of it is used.
fn check_limits(batch: &proto::GossipBatch) -> Result<(), BatchError> {
    if batch.protocol_version != PROTOCOL_VERSION {
        Err(BatchError::Version(batch.protocol_version))
    } else if batch.records.len() > MAX_BATCH_RECORDS {
        Err(BatchError::TooManyRecords(batch.records.len()))
    } else if batch.peers.len() > MAX_BATCH_PEERS {
        Err(BatchError::TooManyPeers(batch.peers.len()))
    } else {
        Filter::parse(&batch.digest, batch.digest_hashes, batch.digest_seed).map(drop)
    }
}

/// The seed or learned peer at `addr` (a free function so callers can borrow other fields).
fn peer_in<'a>(
    seeds: &'a mut HashMap<SocketAddr, Peer>,
    peers: &'a mut LruCache<SocketAddr, Peer>,
    addr: &SocketAddr,
) -> Option<&'a mut Peer> {
    match seeds.get_mut(addr) {
        Some(seed) => Some(seed),
        None => peers.peek_mut(addr),
    }
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

impl GossipState {
    /// A state with the given seed peers; `rng_seed` makes peer and record choice
    /// reproducible.
    pub fn new(config: Config, seeds: impl IntoIterator<Item = SocketAddr>, rng_seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(rng_seed),
            own: None,
            records: neuron_wallet::bounded_lru(cap(config.max_records)),
            tombstones: neuron_wallet::bounded_lru(cap(config.max_records)),
            seeds: seeds.into_iter().map(|a| (a, Peer::default())).collect(),
            peers: neuron_wallet::bounded_lru(cap(config.max_peers)),
            hinted: 0,
            weights: HashMap::new(),
            stats: Stats::default(),
            config,
        }
    }

    /// Advertises this neuron's own endpoint, signed by `keypair`, at a version of at least
    /// `version_floor` and above any version it advertised before. Adds
    /// [`PROTOCOL_GOSSIP`] to the protocols.
    pub fn subscribe(
        &mut self,
        now: Duration,
        keypair: Keypair,
        endpoint: Endpoint,
        version_floor: u64,
    ) -> Result<&EndpointRecord, RecordError> {
        let previous = self.own.as_ref().map_or(0, |o| o.record.version());
        let version = version_floor.max(previous.saturating_add(1)).max(1);
        let record =
            EndpointRecord::sign(&keypair, endpoint.with_protocol(PROTOCOL_GOSSIP), version)?;
        // A record of ours learned from the network before we subscribed is ours to replace.
        self.records.pop(record.hotkey());
        let key = Key::of(record.hotkey(), record.version());
        let own = self.own.insert(Own {
            keypair,
            record,
            key,
            signed_at: now,
        });
        Ok(&own.record)
    }

    /// This neuron's own record, once subscribed.
    pub fn own(&self) -> Option<&EndpointRecord> {
        self.own.as_ref().map(|o| &o.record)
    }

    /// Housekeeping for one round: [`GossipState::do_clean`] with the configured TTL, and
    /// a re-signed own record (version at least `version_floor`) when `refresh` is due.
    pub fn tick(&mut self, now: Duration, version_floor: u64) {
        self.do_clean(now, self.config.ttl);
        if let Some(own) = &self.own
            && now.saturating_sub(own.signed_at) >= self.config.refresh
        {
            let version = version_floor.max(own.record.version().saturating_add(1));
            self.resign(now, version);
        }
    }

    /// Drops records and peers not refreshed within `ttl`, and tombstones past their time.
    pub fn do_clean(&mut self, now: Duration, ttl: Duration) {
        while let Some((_, entry)) = self.records.peek_lru() {
            if now.saturating_sub(entry.heartbeat) <= ttl {
                break;
            }
            if let Some((hotkey, entry)) = self.records.pop_lru() {
                self.weights.remove(&hotkey);
                let until = now.saturating_add(ttl);
                self.tombstones.push(
                    hotkey,
                    Tombstone {
                        version: entry.record.version(),
                        until,
                    },
                );
                self.stats.expired += 1;
            }
        }
        while self
            .tombstones
            .peek_lru()
            .is_some_and(|(_, t)| t.until < now)
        {
            self.tombstones.pop_lru();
        }
        let stale: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.last_seen
                    .is_none_or(|seen| now.saturating_sub(seen) > ttl)
            })
            .map(|(addr, _)| *addr)
            .collect();
        for addr in stale {
            self.drop_peer(&addr);
        }
    }

    /// Starts an exchange: picks a random peer that is not backing off and builds the
    /// batch to send it. `None` when no peer is eligible.
    pub fn poll_exchange(&mut self, now: Duration) -> Option<(SocketAddr, proto::GossipBatch)> {
        let own = self.own().map(EndpointRecord::addr);
        let eligible = |(addr, peer): (&SocketAddr, &Peer)| {
            (peer.retry_at <= now && Some(*addr) != own).then_some(*addr)
        };
        let peer = self
            .seeds
            .iter()
            .filter_map(eligible)
            .chain(self.peers.iter().filter_map(eligible))
            .choose(&mut self.rng)?;
        Some((peer, self.request(now)))
    }

    /// Completes an exchange with `peer` that got `reply`, using the signature checks in
    /// `verified` (pass `&Verified::default()` to check during the merge). A refused reply
    /// counts as a failed exchange.
    pub fn on_reply(
        &mut self,
        now: Duration,
        peer: SocketAddr,
        reply: &proto::GossipBatch,
        verified: &Verified,
    ) -> Result<(), BatchError> {
        if let Err(e) = self.check(reply) {
            self.on_failure(now, peer);
            return Err(e);
        }
        self.stats.exchanges_ok += 1;
        self.learn_peer(peer, now, false);
        if let Some(p) = peer_in(&mut self.seeds, &mut self.peers, &peer) {
            p.failures = 0;
            p.retry_at = now;
        }
        self.sink(now, reply, verified);
        Ok(())
    }

    /// Completes an exchange with `peer` that failed: backs the peer off, and drops it
    /// after `max_failures` failures in a row (seeds are backed off, never dropped).
    pub fn on_failure(&mut self, now: Duration, peer: SocketAddr) {
        self.stats.exchanges_failed += 1;
        let is_seed = self.seeds.contains_key(&peer);
        let Some(p) = peer_in(&mut self.seeds, &mut self.peers, &peer) else {
            return;
        };
        p.failures = p.failures.saturating_add(1);
        let failures = p.failures;
        p.retry_at = now.saturating_add(self.config.backoff_after(failures));
        if !is_seed && failures >= self.config.max_failures {
            self.drop_peer(&peer);
        }
    }

    /// Serves an exchange: answers `request` with what its digest says it lacks, then
    /// merges it, using the signature checks in `verified` (see [`GossipState::on_reply`]).
    pub fn on_request(
        &mut self,
        now: Duration,
        request: &proto::GossipBatch,
        verified: &Verified,
    ) -> Result<proto::GossipBatch, BatchError> {
        self.check(request)?;
        let reply = self.reply(now, request);
        self.sink(now, request, verified);
        Ok(reply)
    }

    /// The records of `batch` whose signatures merging it now would check (new versions,
    /// conflicts), parsed and indexed; nothing for a batch that will be refused.
    pub fn to_verify(&self, batch: &proto::GossipBatch) -> Vec<(usize, EndpointRecord)> {
        if check_limits(batch).is_err() {
            return Vec::new();
        }
        let parsed = batch
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i, EndpointRecord::from_wire(w).ok()?)));
        parsed
            .filter(|(_, record)| self.fate(record).needs_signature())
            .collect()
    }

    /// Up to `n` gossip peers: seeds first, then the most recently confirmed.
    pub fn peers(&self, n: usize) -> Vec<SocketAddr> {
        self.seeds
            .keys()
            .chain(self.peers.iter().map(|(a, _)| a))
            .copied()
            .take(n)
            .collect()
    }

    /// Up to `n` endpoint records: our own first, then the most recently refreshed.
    pub fn records(&self, n: usize) -> Vec<EndpointRecord> {
        self.own()
            .into_iter()
            .chain(self.records.iter().map(|(_, e)| &e.record))
            .take(n)
            .cloned()
            .collect()
    }

    /// The record of `hotkey`, if known (our own included).
    pub fn record(&self, hotkey: &str) -> Option<&EndpointRecord> {
        match self.own() {
            Some(own) if own.hotkey() == hotkey => Some(own),
            _ => self.records.peek(hotkey).map(|e| &e.record),
        }
    }

    /// Number of known records, our own included.
    pub fn len(&self) -> usize {
        self.records.len() + usize::from(self.own.is_some())
    }

    /// True when no record is known, not even our own.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The local weights of `hotkeys` (0 for a hotkey without a weight).
    pub fn weights(&self, hotkeys: &[&str]) -> Vec<f32> {
        hotkeys
            .iter()
            .map(|h| self.weights.get(*h).copied().unwrap_or(0.0))
            .collect()
    }

    /// Sets local weights for known hotkeys; all or nothing. A weight goes away with its
    /// record.
    pub fn set_weights(&mut self, weights: &[(&str, f32)]) -> Result<(), WeightsError> {
        for &(hotkey, weight) in weights {
            if self.record(hotkey).is_none() {
                return Err(WeightsError::Unknown(hotkey.to_owned()));
            }
            if !weight.is_finite() || weight < 0.0 {
                return Err(WeightsError::Invalid {
                    hotkey: hotkey.to_owned(),
                    weight,
                });
            }
        }
        for &(hotkey, weight) in weights {
            self.weights.insert(hotkey.to_owned(), weight);
        }
        Ok(())
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn check(&mut self, batch: &proto::GossipBatch) -> Result<(), BatchError> {
        let verdict = check_limits(batch);
        if verdict.is_err() {
            self.stats.rejected_batches += 1;
        }
        verdict
    }

    /// A request: our own record, the records accepted within the push window (newest
    /// first), and a digest of everything we hold.
    fn request(&mut self, now: Duration) -> proto::GossipBatch {
        let own = self.own.as_ref();
        let room = self.config.batch_records - usize::from(own.is_some());
        let window = self.config.push_window;
        // The table iterates newest first, so the window is a prefix.
        let recent = self
            .records
            .iter()
            .map(|(_, e)| e)
            .take_while(|e| now.saturating_sub(e.heartbeat) <= window);
        let records = own
            .map(|o| &o.record)
            .into_iter()
            .chain(recent.take(room).map(|e| &e.record));
        let records = records.map(EndpointRecord::to_wire).collect();
        let mut filter = digest::Builder::new(self.len(), self.rng.r#gen());
        own.map(|o| o.key)
            .into_iter()
            .chain(self.records.iter().map(|(_, e)| e.key))
            .for_each(|k| filter.insert(k));
        let (digest, digest_hashes, digest_seed) = filter.finish();
        let batch = proto::GossipBatch {
            records,
            digest: digest.into(),
            digest_hashes,
            digest_seed,
            ..self.batch_base(now)
        };
        self.stats.bytes_sent += batch.encoded_len() as u64;
        batch
    }

    /// A reply: a random selection of the records `request`'s digest does not hold (our
    /// own first), or of all records if it has no digest.
    fn reply(&mut self, now: Duration, request: &proto::GossipBatch) -> proto::GossipBatch {
        // `check` has accepted the digest; a malformed one would only mean "no filter".
        let filter = Filter::parse(&request.digest, request.digest_hashes, request.digest_seed)
            .ok()
            .flatten();
        let lacks = |key: Key| filter.is_none_or(|f| !f.contains(key));
        let own = self
            .own
            .as_ref()
            .filter(|o| lacks(o.key))
            .map(|o| &o.record);
        let room = self.config.batch_records - usize::from(own.is_some());
        let lacking = self
            .records
            .iter()
            .filter(|(_, e)| lacks(e.key))
            .map(|(_, e)| &e.record);
        let sample = lacking.choose_multiple(&mut self.rng, room);
        let records = own
            .into_iter()
            .chain(sample)
            .map(EndpointRecord::to_wire)
            .collect();
        let batch = proto::GossipBatch {
            records,
            ..self.batch_base(now)
        };
        self.stats.bytes_sent += batch.encoded_len() as u64;
        batch
    }

    /// A batch with no records: the protocol version and a sample of confirmed peers.
    fn batch_base(&mut self, now: Duration) -> proto::GossipBatch {
        let ttl = self.config.ttl;
        let peers = self
            .peers
            .iter()
            .filter(|(_, p)| !p.hinted)
            .filter_map(|(addr, p)| {
                let age = now.saturating_sub(p.last_seen?);
                (age <= ttl).then(|| proto::PeerInfo {
                    address: addr.to_string(),
                    age_ms: age.as_millis() as u64,
                })
            })
            .choose_multiple(&mut self.rng, self.config.batch_peers);
        proto::GossipBatch {
            protocol_version: PROTOCOL_VERSION,
            peers,
            ..proto::GossipBatch::default()
        }
    }

    /// Merges an accepted batch (see [`GossipState::check`]).
    fn sink(&mut self, now: Duration, batch: &proto::GossipBatch, verified: &Verified) {
        self.stats.bytes_received += batch.encoded_len() as u64;
        for (index, wire) in batch.records.iter().enumerate() {
            match EndpointRecord::from_wire(wire) {
                Ok(record) => self.merge(now, record, verified.0.get(&index)),
                Err(_) => self.stats.rejected_invalid += 1,
            }
        }
        for hint in &batch.peers {
            let Ok(addr) = hint.address.parse::<SocketAddr>() else {
                self.stats.rejected_invalid += 1;
                continue;
            };
            let age = Duration::from_millis(hint.age_ms);
            if age <= self.config.ttl {
                self.learn_peer(addr, now.saturating_sub(age), true);
            }
        }
    }

    /// What merging `record` would do now.
    fn fate(&self, record: &EndpointRecord) -> Fate {
        if let Some(own) = &self.own
            && own.record.hotkey() == record.hotkey()
        {
            // A genuine record of ours at or above our version is from an earlier run.
            let newer =
                record.version() >= own.record.version() && !own.record.same_content(record);
            return if newer {
                Fate::OursSuperseded
            } else {
                Fate::Stale
            };
        }
        if self
            .tombstones
            .peek(record.hotkey())
            .is_some_and(|t| t.version >= record.version())
        {
            return Fate::Stale;
        }
        match self.records.peek(record.hotkey()) {
            Some(known) if record.version() < known.record.version() => Fate::Stale,
            Some(known) if record.version() == known.record.version() => {
                if known.record.same_content(record) {
                    Fate::Duplicate
                } else {
                    Fate::Conflict
                }
            }
            _ => Fate::New,
        }
    }

    fn merge(
        &mut self,
        now: Duration,
        record: EndpointRecord,
        verdict: Option<&Result<(), RecordError>>,
    ) {
        let fate = self.fate(&record);
        if fate.needs_signature() && !self.genuine(&record, verdict) {
            return;
        }
        match fate {
            Fate::Stale => self.stats.stale += 1,
            Fate::Duplicate => self.stats.duplicates += 1,
            Fate::Conflict => self.stats.conflicts += 1,
            Fate::OursSuperseded => self.resign(now, record.version().saturating_add(1)),
            Fate::New => self.insert(now, record),
        }
    }

    fn insert(&mut self, now: Duration, record: EndpointRecord) {
        self.stats.accepted += 1;
        self.tombstones.pop(record.hotkey());
        let addr = record.addr();
        let gossip = record.speaks(PROTOCOL_GOSSIP);
        let hotkey = record.hotkey().to_owned();
        let key = Key::of(&hotkey, record.version());
        if let Some((old, _)) = self.records.push(
            hotkey,
            Entry {
                record,
                key,
                heartbeat: now,
            },
        ) && self.records.peek(&old).is_none()
        {
            self.weights.remove(&old);
            self.stats.evicted += 1;
        }
        if gossip {
            self.learn_peer(addr, now, false);
        }
    }

    fn resign(&mut self, now: Duration, version: u64) {
        let Some(own) = &mut self.own else { return };
        // The endpoint already passed the limits when it was first signed.
        if let Ok(record) =
            EndpointRecord::sign(&own.keypair, own.record.endpoint().clone(), version)
        {
            own.key = Key::of(record.hotkey(), version);
            own.record = record;
            own.signed_at = now;
        }
    }

    /// Checks the signature (or takes the verdict reached outside the state) and counts
    /// a failure.
    fn genuine(
        &mut self,
        record: &EndpointRecord,
        verdict: Option<&Result<(), RecordError>>,
    ) -> bool {
        match verdict.cloned().unwrap_or_else(|| record.verify()) {
            Ok(()) => true,
            Err(RecordError::Forged) => {
                self.stats.rejected_forged += 1;
                false
            }
            Err(_) => {
                self.stats.rejected_invalid += 1;
                false
            }
        }
    }

    /// Records that `addr` was alive at `seen`: directly (`hinted == false`: a reply or a
    /// signed record) or by another peer's unsigned word.
    fn learn_peer(&mut self, addr: SocketAddr, seen: Duration, hinted: bool) {
        if self.own().is_some_and(|o| o.addr() == addr) {
            return;
        }
        if let Some(peer) = peer_in(&mut self.seeds, &mut self.peers, &addr) {
            peer.last_seen = peer.last_seen.max(Some(seen));
            let confirmed = !hinted && peer.hinted;
            if confirmed {
                peer.hinted = false;
                self.hinted -= 1;
            }
            if !hinted {
                self.peers.promote(&addr);
            }
            return;
        }
        if hinted && self.hinted >= self.config.max_hinted_peers {
            return;
        }
        let peer = Peer {
            last_seen: Some(seen),
            hinted,
            ..Peer::default()
        };
        if let Some((_, evicted)) = self.peers.push(addr, peer)
            && evicted.hinted
        {
            self.hinted -= 1;
        }
        self.hinted += usize::from(hinted);
    }

    fn drop_peer(&mut self, addr: &SocketAddr) {
        if let Some(peer) = self.peers.pop(addr) {
            self.hinted -= usize::from(peer.hinted);
            self.stats.peers_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests;
