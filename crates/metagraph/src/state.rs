//! Per-uid state: who is registered, their stake and scores, weights, bonds and axons.
//!
//! A [`MetagraphSnapshot`] is immutable and validated when built: every numeric column is a
//! candle tensor of the documented dtype and shape, identities are typed lists, hotkeys are
//! unique, floats are finite. Changes make a new snapshot (copy on write; candle tensors
//! share their storage, so untouched columns are not copied). [`Metagraph`] holds the
//! current snapshot behind an `Arc` that tasks clone for free.
//!
//! | column | dtype | shape |
//! | --- | --- | --- |
//! | stake, ranks, trust, consensus, validator_trust, incentive, dividends, emission | F32 | `[n]` |
//! | active (0/1), last_update (block) | I64 | `[n]` |
//! | validator_permit (0/1; candle has no bool) | U8 | `[n]` |
//! | weights (row `i` = weights set by uid `i`), bonds | F32 | `[n, n]` |
//! | block | I64 | `[]` (see [`MetagraphSnapshot::block_tensor`]) |

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::record::EndpointRecord;

/// Most uids a metagraph may hold.
pub const MAX_UIDS: usize = 65_536;

/// Why a metagraph could not be built or changed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A list or tensor does not have one entry per uid.
    #[error("`{field}` has {found} entries, expected {expected}")]
    Length {
        /// The column.
        field: &'static str,
        /// One per uid.
        expected: usize,
        /// What it has.
        found: usize,
    },
    /// A tensor has the wrong dtype.
    #[error("`{field}` is {found:?}, expected {expected:?}")]
    Dtype {
        /// The column.
        field: &'static str,
        /// The documented dtype.
        expected: DType,
        /// The dtype found.
        found: DType,
    },
    /// A tensor has the wrong shape.
    #[error("`{field}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The column.
        field: &'static str,
        /// The documented shape for this `n`.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A float column holds NaN or an infinity.
    #[error("`{0}` holds a value that is not finite")]
    NonFinite(&'static str),
    /// A 0/1 column holds something else.
    #[error("`{0}` must hold only 0 and 1")]
    NotBoolean(&'static str),
    /// Two uids share a hotkey.
    #[error("hotkey {0} appears at more than one uid")]
    DuplicateHotkey(String),
    /// An axon's hotkey differs from its uid's hotkey.
    #[error("the axon of uid {0} carries another hotkey than the uid")]
    AxonHotkey(usize),
    /// More than [`MAX_UIDS`] uids.
    #[error("{0} uids is more than the limit of {MAX_UIDS}")]
    TooMany(usize),
    /// A uid outside `0..n`.
    #[error("uid {uid} is out of range (n = {n})")]
    Uid {
        /// The uid given.
        uid: u32,
        /// The number of uids.
        n: usize,
    },
    /// Weights that cannot be normalised: a negative or non-finite value, a repeated uid,
    /// or all zero.
    #[error("invalid weights: {0}")]
    Weights(&'static str),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

/// An axon endpoint as the metagraph records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxonInfo {
    /// The advertised ip (`0.0.0.0` when not serving).
    pub ip: IpAddr,
    /// The advertised port.
    pub port: u16,
    /// The uid's hotkey (SS58).
    pub hotkey: String,
    /// The owning coldkey (SS58), or empty when unknown.
    pub coldkey: String,
    /// The endpoint version (record version, or the chain's axon version).
    pub version: u64,
    /// Dialects the axon speaks.
    #[serde(default)]
    pub protocols: Vec<String>,
}

impl AxonInfo {
    /// True when the axon advertises an address (`ip` is not unspecified).
    pub fn is_serving(&self) -> bool {
        !self.ip.is_unspecified()
    }
}

impl From<&EndpointRecord> for AxonInfo {
    fn from(record: &EndpointRecord) -> Self {
        let endpoint = record.endpoint();
        Self {
            ip: endpoint.addr.ip(),
            port: endpoint.addr.port(),
            hotkey: record.hotkey().to_owned(),
            coldkey: endpoint.coldkey.clone(),
            version: record.version(),
            protocols: endpoint.protocols.clone(),
        }
    }
}

/// The columns of a metagraph before validation; see the module docs for dtypes and shapes.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Block the state was taken at.
    pub block: i64,
    /// Hotkey of each uid.
    pub hotkeys: Vec<String>,
    /// Coldkey of each uid.
    pub coldkeys: Vec<String>,
    /// Axon of each uid.
    pub axons: Vec<AxonInfo>,
    /// Stake `S`.
    pub stake: Tensor,
    /// Ranks `R`.
    pub ranks: Tensor,
    /// Trust `T`.
    pub trust: Tensor,
    /// Consensus `C`.
    pub consensus: Tensor,
    /// Validator trust `Tv`.
    pub validator_trust: Tensor,
    /// Incentive `I`.
    pub incentive: Tensor,
    /// Dividends `D`.
    pub dividends: Tensor,
    /// Emission `E`.
    pub emission: Tensor,
    /// Active flags (0/1).
    pub active: Tensor,
    /// Block of each uid's last weight update.
    pub last_update: Tensor,
    /// Validator permits (0/1).
    pub validator_permit: Tensor,
    /// Weights `W`, row `i` set by uid `i`.
    pub weights: Tensor,
    /// Bonds `B`.
    pub bonds: Tensor,
}

/// Whether a column is one value per uid or one per pair of uids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rank {
    /// `[n]`.
    Vector,
    /// `[n, n]`.
    Matrix,
}

impl Rank {
    pub(crate) fn shape(self, n: usize) -> Vec<usize> {
        match self {
            Rank::Vector => vec![n],
            Rank::Matrix => vec![n, n],
        }
    }
}

/// Every tensor column: name, dtype, rank. Validation and persistence both walk this table.
pub(crate) const COLUMNS: [(&str, DType, Rank); 13] = [
    ("stake", DType::F32, Rank::Vector),
    ("ranks", DType::F32, Rank::Vector),
    ("trust", DType::F32, Rank::Vector),
    ("consensus", DType::F32, Rank::Vector),
    ("validator_trust", DType::F32, Rank::Vector),
    ("incentive", DType::F32, Rank::Vector),
    ("dividends", DType::F32, Rank::Vector),
    ("emission", DType::F32, Rank::Vector),
    ("active", DType::I64, Rank::Vector),
    ("last_update", DType::I64, Rank::Vector),
    ("validator_permit", DType::U8, Rank::Vector),
    ("weights", DType::F32, Rank::Matrix),
    ("bonds", DType::F32, Rank::Matrix),
];

/// Makes every column, in [`COLUMNS`] order, with `make(name, dtype, rank)`.
pub(crate) fn try_columns<E>(
    mut make: impl FnMut(&'static str, DType, Rank) -> Result<Tensor, E>,
) -> Result<[Tensor; 13], E> {
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for (name, dtype, rank) in COLUMNS {
        columns.push(make(name, dtype, rank)?);
    }
    // One tensor per entry of COLUMNS, which has 13.
    Ok(columns
        .try_into()
        .unwrap_or_else(|_| unreachable!("one tensor per column")))
}

impl Parts {
    /// A metagraph of these identities with every number zero (active and last update
    /// included).
    pub fn zeros(
        block: i64,
        hotkeys: Vec<String>,
        coldkeys: Vec<String>,
        axons: Vec<AxonInfo>,
    ) -> Result<Self, StateError> {
        let n = hotkeys.len();
        let columns =
            try_columns(|_, dtype, rank| Tensor::zeros(rank.shape(n), dtype, &Device::Cpu))?;
        Ok(Self::from_columns(block, hotkeys, coldkeys, axons, columns))
    }

    /// Parts from identities and the tensor columns in [`COLUMNS`] order.
    pub(crate) fn from_columns(
        block: i64,
        hotkeys: Vec<String>,
        coldkeys: Vec<String>,
        axons: Vec<AxonInfo>,
        columns: [Tensor; 13],
    ) -> Self {
        let [
            stake,
            ranks,
            trust,
            consensus,
            validator_trust,
            incentive,
            dividends,
            emission,
            active,
            last_update,
            validator_permit,
            weights,
            bonds,
        ] = columns;
        Self {
            block,
            hotkeys,
            coldkeys,
            axons,
            stake,
            ranks,
            trust,
            consensus,
            validator_trust,
            incentive,
            dividends,
            emission,
            active,
            last_update,
            validator_permit,
            weights,
            bonds,
        }
    }

    /// The tensor columns in [`COLUMNS`] order.
    pub(crate) fn columns(&self) -> [&Tensor; 13] {
        [
            &self.stake,
            &self.ranks,
            &self.trust,
            &self.consensus,
            &self.validator_trust,
            &self.incentive,
            &self.dividends,
            &self.emission,
            &self.active,
            &self.last_update,
            &self.validator_permit,
            &self.weights,
            &self.bonds,
        ]
    }
}

/// A validated, immutable metagraph (see the module docs).
#[derive(Debug, Clone)]
pub struct MetagraphSnapshot {
    parts: Parts,
    uids: HashMap<String, u32>,
    /// Host copies of the two columns the blacklist reads on every request, so a policy
    /// check is a map lookup and two loads rather than tensor reads.
    stake: Vec<f32>,
    permits: Vec<bool>,
}

impl MetagraphSnapshot {
    /// Validates `parts`: lengths and shapes agree with `n = hotkeys.len()`, dtypes match
    /// the module table, floats are finite, flags are 0/1, hotkeys are unique, each axon carries
    /// its uid's hotkey.
    pub fn new(parts: Parts) -> Result<Self, StateError> {
        let n = parts.hotkeys.len();
        if n > MAX_UIDS {
            return Err(StateError::TooMany(n));
        }
        for (field, found) in [
            ("coldkeys", parts.coldkeys.len()),
            ("axons", parts.axons.len()),
        ] {
            if found != n {
                return Err(StateError::Length {
                    field,
                    expected: n,
                    found,
                });
            }
        }
        if let Some(uid) = parts
            .axons
            .iter()
            .zip(&parts.hotkeys)
            .position(|(a, h)| a.hotkey != *h)
        {
            return Err(StateError::AxonHotkey(uid));
        }
        for ((field, dtype, rank), tensor) in COLUMNS.iter().zip(parts.columns()) {
            check_column(field, *dtype, rank.shape(n), tensor)?;
        }
        let mut uids = HashMap::with_capacity(n);
        for (uid, hotkey) in parts.hotkeys.iter().enumerate() {
            // n <= MAX_UIDS, so every uid fits in u32.
            if uids.insert(hotkey.clone(), uid as u32).is_some() {
                return Err(StateError::DuplicateHotkey(hotkey.clone()));
            }
        }
        let stake = parts.stake.to_vec1::<f32>()?;
        let permits = parts
            .validator_permit
            .to_vec1::<u8>()?
            .into_iter()
            .map(|p| p == 1)
            .collect();
        Ok(Self {
            parts,
            uids,
            stake,
            permits,
        })
    }

    /// An empty metagraph at block 0.
    pub fn empty() -> Self {
        let parts = Parts::zeros(0, Vec::new(), Vec::new(), Vec::new());
        // Zero-sized CPU tensors cannot fail to allocate, and an empty metagraph is valid.
        parts
            .and_then(Self::new)
            .unwrap_or_else(|e| unreachable!("empty metagraph: {e}"))
    }

    /// A metagraph of gossip knowledge: one uid per record, in hotkey order (so every node
    /// that knows the same records assigns the same uids), numbers zero except `active` = 1
    /// and `last_update` = `block`.
    pub fn from_records(records: &[EndpointRecord], block: i64) -> Result<Self, StateError> {
        let mut records: Vec<&EndpointRecord> = records.iter().collect();
        records.sort_by(|a, b| a.hotkey().cmp(b.hotkey()));
        let hotkeys = records.iter().map(|r| r.hotkey().to_owned()).collect();
        let coldkeys = records
            .iter()
            .map(|r| r.endpoint().coldkey.clone())
            .collect();
        let axons = records.iter().map(|r| AxonInfo::from(*r)).collect();
        let mut parts = Parts::zeros(block, hotkeys, coldkeys, axons)?;
        let n = records.len();
        parts.active = Tensor::ones(n, DType::I64, &Device::Cpu)?;
        parts.last_update = Tensor::from_vec(vec![block; n], n, &Device::Cpu)?;
        Self::new(parts)
    }

    /// A copy with row `uid` of the weight matrix set to `row` (pairs of target uid and
    /// weight), normalised to sum 1; other rows are unchanged. Weights must be finite and
    /// not negative, targets in range and distinct, and not all zero.
    pub fn with_weights(&self, uid: u32, row: &[(u32, f32)]) -> Result<Self, StateError> {
        let n = self.n();
        let index = |uid: u32| {
            if (uid as usize) < n {
                Ok(uid as usize)
            } else {
                Err(StateError::Uid { uid, n })
            }
        };
        let source = index(uid)?;
        let mut dense = vec![0f32; n];
        let mut seen = vec![false; n];
        for &(target, weight) in row {
            let target = index(target)?;
            if !weight.is_finite() || weight < 0.0 {
                return Err(StateError::Weights(
                    "each weight must be finite and not negative",
                ));
            }
            if std::mem::replace(&mut seen[target], true) {
                return Err(StateError::Weights("a target uid appears twice"));
            }
            dense[target] = weight;
        }
        let sum: f32 = dense.iter().sum();
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(StateError::Weights("weights must not all be zero"));
        }
        dense.iter_mut().for_each(|w| *w /= sum);
        let mut all = self.parts.weights.flatten_all()?.to_vec1::<f32>()?;
        all[source * n..(source + 1) * n].copy_from_slice(&dense);
        let mut parts = self.parts.clone();
        parts.weights = Tensor::from_vec(all, (n, n), &Device::Cpu)?;
        Self::new(parts)
    }

    /// Number of uids.
    pub fn n(&self) -> usize {
        self.parts.hotkeys.len()
    }

    /// Block the state was taken at.
    pub fn block(&self) -> i64 {
        self.parts.block
    }

    /// The block as an I64 scalar tensor.
    pub fn block_tensor(&self) -> Result<Tensor, StateError> {
        Ok(Tensor::new(self.parts.block, &Device::Cpu)?)
    }

    /// `0..n` as an I64 tensor `[n]`.
    pub fn uids(&self) -> Result<Tensor, StateError> {
        // n <= MAX_UIDS fits in i64.
        Ok(Tensor::arange(0i64, self.n() as i64, &Device::Cpu)?)
    }

    /// The uid of `hotkey`, if registered.
    pub fn uid(&self, hotkey: &str) -> Option<u32> {
        self.uids.get(hotkey).copied()
    }

    /// Hotkey of each uid.
    pub fn hotkeys(&self) -> &[String] {
        &self.parts.hotkeys
    }

    /// Coldkey of each uid.
    pub fn coldkeys(&self) -> &[String] {
        &self.parts.coldkeys
    }

    /// Axon of each uid.
    pub fn axons(&self) -> &[AxonInfo] {
        &self.parts.axons
    }

    /// The stake of `uid` (0 when out of range).
    pub fn stake_of(&self, uid: u32) -> f32 {
        self.stake.get(uid as usize).copied().unwrap_or(0.0)
    }

    /// True when `uid` holds a validator permit.
    pub fn has_validator_permit(&self, uid: u32) -> bool {
        self.permits.get(uid as usize).copied().unwrap_or(false)
    }

    /// Row `uid` of the weight matrix, `[n]`.
    pub fn weights_of(&self, uid: u32) -> Result<Tensor, StateError> {
        if uid as usize >= self.n() {
            return Err(StateError::Uid { uid, n: self.n() });
        }
        Ok(self.parts.weights.get(uid as usize)?)
    }

    /// All columns (cheap: tensors share storage).
    pub fn parts(&self) -> &Parts {
        &self.parts
    }

    /// The columns, to change and validate again with [`MetagraphSnapshot::new`].
    pub fn into_parts(self) -> Parts {
        self.parts
    }
}

macro_rules! column_getters {
    ($($name:ident: $doc:literal),* $(,)?) => {
        impl MetagraphSnapshot {
            $(
                #[doc = $doc]
                pub fn $name(&self) -> &Tensor {
                    &self.parts.$name
                }
            )*
        }
    };
}

column_getters! {
    stake: "Stake `S`, F32 `[n]`.",
    ranks: "Ranks `R`, F32 `[n]`.",
    trust: "Trust `T`, F32 `[n]`.",
    consensus: "Consensus `C`, F32 `[n]`.",
    validator_trust: "Validator trust `Tv`, F32 `[n]`.",
    incentive: "Incentive `I`, F32 `[n]`.",
    dividends: "Dividends `D`, F32 `[n]`.",
    emission: "Emission `E`, F32 `[n]`.",
    active: "Active flags, I64 `[n]` of 0/1.",
    last_update: "Block of each uid's last weight update, I64 `[n]`.",
    validator_permit: "Validator permits, U8 `[n]` of 0/1.",
    weights: "Weights `W`, F32 `[n, n]`; row `i` was set by uid `i`.",
    bonds: "Bonds `B`, F32 `[n, n]`.",
}

fn check_column(
    field: &'static str,
    expected: DType,
    shape: Vec<usize>,
    tensor: &Tensor,
) -> Result<(), StateError> {
    if tensor.dtype() != expected {
        return Err(StateError::Dtype {
            field,
            expected,
            found: tensor.dtype(),
        });
    }
    if tensor.dims() != shape.as_slice() {
        return Err(StateError::Shape {
            field,
            expected: shape,
            found: tensor.dims().to_vec(),
        });
    }
    let flat = tensor.flatten_all()?;
    match expected {
        DType::F32 if !flat.to_vec1::<f32>()?.iter().all(|v| v.is_finite()) => {
            Err(StateError::NonFinite(field))
        }
        DType::I64
            if field == "active" && !flat.to_vec1::<i64>()?.iter().all(|v| *v == 0 || *v == 1) =>
        {
            Err(StateError::NotBoolean(field))
        }
        DType::U8 if !flat.to_vec1::<u8>()?.iter().all(|v| *v <= 1) => {
            Err(StateError::NotBoolean(field))
        }
        _ => Ok(()),
    }
}

/// The current metagraph of a neuron, shared by its tasks.
///
/// Readers take an `Arc` of the current snapshot ([`Metagraph::snapshot`]) and keep it as
/// long as they like; writers build a new snapshot and swap it in, one writer at a time.
pub struct Metagraph {
    current: RwLock<Arc<MetagraphSnapshot>>,
    writer: Mutex<()>,
}

impl Metagraph {
    /// A metagraph holding `snapshot`.
    pub fn new(snapshot: MetagraphSnapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
            writer: Mutex::new(()),
        }
    }

    /// The current snapshot (an `Arc` clone; never blocks on writers doing work).
    pub fn snapshot(&self) -> Arc<MetagraphSnapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the whole state (after a chain sync or a gossip rebuild).
    pub fn replace(&self, snapshot: MetagraphSnapshot) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    /// Applies `change` to the current snapshot and swaps in its result; on error the
    /// current snapshot stays.
    pub fn update(
        &self,
        change: impl FnOnce(&MetagraphSnapshot) -> Result<MetagraphSnapshot, StateError>,
    ) -> Result<Arc<MetagraphSnapshot>, StateError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let next = Arc::new(change(&self.snapshot())?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
        Ok(next)
    }

    /// Row `uid` of the weight matrix.
    pub fn weights(&self, uid: u32) -> Result<Tensor, StateError> {
        self.snapshot().weights_of(uid)
    }

    /// Sets row `uid` of the weight matrix (see [`MetagraphSnapshot::with_weights`]).
    pub fn set_weights(&self, uid: u32, row: &[(u32, f32)]) -> Result<(), StateError> {
        self.update(|s| s.with_weights(uid, row)).map(drop)
    }
}

impl Default for Metagraph {
    fn default() -> Self {
        Self::new(MetagraphSnapshot::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n: usize) -> Parts {
        let hotkeys: Vec<String> = (0..n).map(|i| format!("hk{i}")).collect();
        let axons = hotkeys
            .iter()
            .map(|h| AxonInfo {
                ip: IpAddr::from([127, 0, 0, 1]),
                port: 8091,
                hotkey: h.clone(),
                coldkey: String::new(),
                version: 1,
                protocols: Vec::new(),
            })
            .collect();
        Parts::zeros(7, hotkeys, vec![String::new(); n], axons).expect("zeros")
    }

    #[test]
    fn validates_shapes_dtypes_and_values() {
        MetagraphSnapshot::new(parts(3)).expect("zeros are valid");
        let mut p = parts(3);
        p.stake = Tensor::zeros(2, DType::F32, &Device::Cpu).expect("tensor");
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::Shape { field: "stake", .. })
        ));
        let mut p = parts(3);
        p.weights = Tensor::zeros((3, 3), DType::F64, &Device::Cpu).expect("tensor");
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::Dtype {
                field: "weights",
                ..
            })
        ));
        let mut p = parts(3);
        p.trust = Tensor::new(&[0.0f32, f32::NAN, 1.0], &Device::Cpu).expect("tensor");
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::NonFinite("trust"))
        ));
        let mut p = parts(3);
        p.validator_permit = Tensor::new(&[0u8, 2, 1], &Device::Cpu).expect("tensor");
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::NotBoolean("validator_permit"))
        ));
        let mut p = parts(3);
        p.hotkeys[2] = "hk0".into();
        p.axons[2].hotkey = "hk0".into();
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::DuplicateHotkey(_))
        ));
        let mut p = parts(3);
        p.coldkeys.pop();
        assert!(matches!(
            MetagraphSnapshot::new(p),
            Err(StateError::Length {
                field: "coldkeys",
                ..
            })
        ));
    }

    #[test]
    fn set_weights_normalises_one_row_and_shares_the_rest() {
        let graph = Metagraph::new(MetagraphSnapshot::new(parts(4)).expect("valid"));
        let before = graph.snapshot();
        graph
            .set_weights(1, &[(0, 1.0), (3, 3.0)])
            .expect("valid weights");
        assert_eq!(
            graph
                .weights(1)
                .expect("row")
                .to_vec1::<f32>()
                .expect("f32"),
            vec![0.25, 0.0, 0.0, 0.75]
        );
        assert_eq!(
            graph
                .weights(0)
                .expect("row")
                .to_vec1::<f32>()
                .expect("f32"),
            vec![0.0; 4]
        );
        assert_eq!(
            before
                .weights_of(1)
                .expect("row")
                .to_vec1::<f32>()
                .expect("f32"),
            vec![0.0; 4]
        );
        for bad in [
            vec![(9, 1.0)],
            vec![(0, -1.0)],
            vec![(0, f32::NAN)],
            vec![(0, 0.0)],
            vec![(0, 1.0), (0, 1.0)],
        ] {
            assert!(graph.set_weights(1, &bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            graph.set_weights(4, &[(0, 1.0)]),
            Err(StateError::Uid { uid: 4, n: 4 })
        ));
        assert_eq!(
            graph
                .weights(1)
                .expect("row")
                .to_vec1::<f32>()
                .expect("f32"),
            vec![0.25, 0.0, 0.0, 0.75]
        );
    }

    #[test]
    fn hotkey_lookup_and_host_columns() {
        let mut p = parts(3);
        p.stake = Tensor::new(&[1.0f32, 2.0, 3.0], &Device::Cpu).expect("tensor");
        p.validator_permit = Tensor::new(&[0u8, 1, 0], &Device::Cpu).expect("tensor");
        let s = MetagraphSnapshot::new(p).expect("valid");
        assert_eq!(s.uid("hk2"), Some(2));
        assert_eq!(s.uid("nobody"), None);
        assert_eq!(s.stake_of(2), 3.0);
        assert!(
            s.has_validator_permit(1) && !s.has_validator_permit(0) && !s.has_validator_permit(9)
        );
        assert_eq!(
            s.uids().expect("uids").to_vec1::<i64>().expect("i64"),
            vec![0, 1, 2]
        );
        assert_eq!(
            s.block_tensor()
                .expect("block")
                .to_scalar::<i64>()
                .expect("i64"),
            7
        );
    }
}
