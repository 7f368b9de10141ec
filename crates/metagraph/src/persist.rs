//! Saving and loading a metagraph: safetensors plus a JSON sidecar, never pickle.
//!
//! `save(path)` writes two files next to each other:
//!
//! * `<path>.safetensors`: the thirteen [state](crate::state) columns under their names plus
//!   `block` (I64 scalar), little-endian as safetensors requires, with header metadata
//!   `{"format": "neuron-metagraph", "schema": "1"}`;
//! * `<path>.json`: the sidecar, `{"format", "schema", "writer", "n", "block",
//!   "tensors_sha3_256", "hotkeys", "coldkeys", "axons"}`.
//!
//! Each file is written to a temporary file in the same directory, synced, then renamed
//! over the target, and the directory is synced: a crash leaves the old file or the new
//! one, never a torn one. The tensors go first and the sidecar, which names the SHA3-256
//! of the tensor file, last; so a crash between the two renames leaves a pair whose hash
//! does not match, which `load` reports instead of mixing two saves.
//!
//! `load(path)` checks everything before it builds anything: the sidecar's format and
//! schema, the hash, the tensor names (exactly the expected set), dtypes, shapes against
//! the sidecar's `n`, list lengths, then the same validation as
//! [`MetagraphSnapshot::new`] (finite floats, 0/1 flags, unique hotkeys). Any failure is
//! a [`PersistError`]; there is no partly loaded metagraph.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};

use crate::state::{AxonInfo, COLUMNS, MetagraphSnapshot, Parts, StateError, try_columns};

const FORMAT: &str = "neuron-metagraph";
const SCHEMA: u32 = 1;
/// Largest sidecar read, in bytes (65 536 uids with long axon entries fit easily).
const MAX_SIDECAR_BYTES: u64 = 64 << 20;

/// Why a metagraph could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading or writing a file failed.
    #[error("metagraph file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The sidecar is not valid JSON of the expected shape.
    #[error("metagraph sidecar {path} is not valid: {source}")]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The sidecar is too large to be one of ours.
    #[error("metagraph sidecar {0} is larger than {MAX_SIDECAR_BYTES} bytes")]
    SidecarTooLarge(PathBuf),
    /// The sidecar names another format or a schema this build does not read.
    #[error(
        "metagraph sidecar has format {format:?} schema {schema}; this build reads {FORMAT:?} schema {SCHEMA}"
    )]
    Schema {
        /// The format found.
        format: String,
        /// The schema found.
        schema: u32,
    },
    /// The tensor file is not the one the sidecar was written with (changed, truncated,
    /// or a save interrupted between the two files).
    #[error("metagraph tensor file does not match its sidecar (sha3-256 differs); save again")]
    Checksum,
    /// The tensor file is not valid safetensors.
    #[error("metagraph tensor file is not valid safetensors: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    /// A tensor is missing.
    #[error("metagraph tensor file lacks tensor `{0}`")]
    MissingTensor(&'static str),
    /// A tensor that is not part of the schema.
    #[error("metagraph tensor file has unexpected tensor `{0}`")]
    UnexpectedTensor(String),
    /// A tensor with the wrong dtype.
    #[error("metagraph tensor `{name}` is {found}, expected {expected}")]
    Dtype {
        /// The tensor.
        name: &'static str,
        /// The dtype the schema requires.
        expected: String,
        /// The dtype in the file.
        found: String,
    },
    /// A tensor with the wrong shape for the sidecar's `n`.
    #[error("metagraph tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        name: &'static str,
        /// The shape for the sidecar's `n`.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// The sidecar's `n` or `block` disagrees with its lists or the tensors.
    #[error("metagraph sidecar field `{0}` disagrees with the rest of the metagraph")]
    Inconsistent(&'static str),
    /// The loaded columns do not form a valid metagraph.
    #[error(transparent)]
    State(#[from] StateError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    format: String,
    schema: u32,
    writer: String,
    n: usize,
    block: i64,
    tensors_sha3_256: String,
    hotkeys: Vec<String>,
    coldkeys: Vec<String>,
    axons: Vec<AxonInfo>,
}

/// `<path>.safetensors` and `<path>.json` (appended, so `net.v1` keeps its dot).
pub fn file_paths(path: &Path) -> (PathBuf, PathBuf) {
    let with = |suffix: &str| {
        let mut name = OsString::from(path.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    };
    (with(".safetensors"), with(".json"))
}

impl MetagraphSnapshot {
    /// Writes `<path>.safetensors` and `<path>.json`, each atomically (see the module docs).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PersistError> {
        let (tensor_path, sidecar_path) = file_paths(path.as_ref());
        let tensors = self.tensor_bytes()?;
        let sidecar = Sidecar {
            format: FORMAT.into(),
            schema: SCHEMA,
            writer: concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).into(),
            n: self.n(),
            block: self.block(),
            tensors_sha3_256: hex_digest(&tensors),
            hotkeys: self.hotkeys().to_vec(),
            coldkeys: self.coldkeys().to_vec(),
            axons: self.axons().to_vec(),
        };
        let json = serde_json::to_vec_pretty(&sidecar).map_err(|source| PersistError::Sidecar {
            path: sidecar_path.clone(),
            source,
        })?;
        write_atomic(&tensor_path, &tensors)?;
        write_atomic(&sidecar_path, &json)
    }

    /// Reads and validates a metagraph written by [`MetagraphSnapshot::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PersistError> {
        let (tensor_path, sidecar_path) = file_paths(path.as_ref());
        let sidecar = read_sidecar(&sidecar_path)?;
        let bytes = fs::read(&tensor_path).map_err(|source| PersistError::Io {
            path: tensor_path,
            source,
        })?;
        if hex_digest(&bytes) != sidecar.tensors_sha3_256 {
            return Err(PersistError::Checksum);
        }
        let file = SafeTensors::deserialize(&bytes)?;
        let n = sidecar.n;
        if [
            sidecar.hotkeys.len(),
            sidecar.coldkeys.len(),
            sidecar.axons.len(),
        ] != [n; 3]
        {
            return Err(PersistError::Inconsistent("n"));
        }
        let expected: Vec<&str> = COLUMNS
            .iter()
            .map(|(name, ..)| *name)
            .chain(["block"])
            .collect();
        if let Some(extra) = file
            .names()
            .into_iter()
            .find(|name| !expected.contains(name))
        {
            return Err(PersistError::UnexpectedTensor(extra.to_owned()));
        }
        let block = read_tensor(&file, "block", DType::I64, Vec::new())?
            .to_scalar::<i64>()
            .map_err(StateError::from)?;
        if block != sidecar.block {
            return Err(PersistError::Inconsistent("block"));
        }
        let columns =
            try_columns(|name, dtype, rank| read_tensor(&file, name, dtype, rank.shape(n)))?;
        let parts = Parts::from_columns(
            block,
            sidecar.hotkeys,
            sidecar.coldkeys,
            sidecar.axons,
            columns,
        );
        Ok(MetagraphSnapshot::new(parts)?)
    }

    fn tensor_bytes(&self) -> Result<Vec<u8>, PersistError> {
        let mut raws: Vec<(&str, Raw)> = Vec::with_capacity(COLUMNS.len() + 1);
        for ((name, ..), tensor) in COLUMNS.iter().zip(self.parts().columns()) {
            raws.push((name, Raw::from_tensor(tensor)?));
        }
        raws.push(("block", Raw::from_tensor(&self.block_tensor()?)?));
        let metadata = HashMap::from([
            ("format".to_owned(), FORMAT.to_owned()),
            ("schema".to_owned(), SCHEMA.to_string()),
        ]);
        Ok(safetensors::serialize(raws, Some(metadata))?)
    }
}

/// One tensor's little-endian bytes, as safetensors wants them.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Raw {
    fn from_tensor(tensor: &Tensor) -> Result<Self, StateError> {
        let flat = tensor.flatten_all()?;
        let (dtype, data) = match tensor.dtype() {
            DType::F32 => (
                Dtype::F32,
                flat.to_vec1::<f32>()?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            DType::I64 => (
                Dtype::I64,
                flat.to_vec1::<i64>()?
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            DType::U8 => (Dtype::U8, flat.to_vec1::<u8>()?),
            found => {
                return Err(StateError::Dtype {
                    field: "tensor",
                    expected: DType::F32,
                    found,
                });
            }
        };
        Ok(Self {
            dtype,
            shape: tensor.dims().to_vec(),
            data,
        })
    }
}

impl View for Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data).into()
    }

    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn read_tensor(
    file: &SafeTensors<'_>,
    name: &'static str,
    dtype: DType,
    shape: Vec<usize>,
) -> Result<Tensor, PersistError> {
    let view = file
        .tensor(name)
        .map_err(|_| PersistError::MissingTensor(name))?;
    let wanted = match dtype {
        DType::F32 => Dtype::F32,
        DType::I64 => Dtype::I64,
        _ => Dtype::U8,
    };
    if view.dtype() != wanted {
        return Err(PersistError::Dtype {
            name,
            expected: format!("{wanted:?}"),
            found: format!("{:?}", view.dtype()),
        });
    }
    if view.shape() != shape.as_slice() {
        return Err(PersistError::Shape {
            name,
            expected: shape,
            found: view.shape().to_vec(),
        });
    }
    // safetensors has checked that the data length is shape x dtype size.
    let data = view.data();
    let tensor = match wanted {
        Dtype::F32 => Tensor::from_vec(le_values(data, f32::from_le_bytes), shape, &Device::Cpu),
        Dtype::I64 => Tensor::from_vec(le_values(data, i64::from_le_bytes), shape, &Device::Cpu),
        _ => Tensor::from_vec(data.to_vec(), shape, &Device::Cpu),
    };
    Ok(tensor.map_err(StateError::from)?)
}

fn le_values<const W: usize, T>(data: &[u8], from: fn([u8; W]) -> T) -> Vec<T> {
    data.chunks_exact(W)
        .map(|chunk| {
            let mut bytes = [0u8; W];
            bytes.copy_from_slice(chunk);
            from(bytes)
        })
        .collect()
}

fn read_sidecar(path: &Path) -> Result<Sidecar, PersistError> {
    let io = |source| PersistError::Io {
        path: path.to_owned(),
        source,
    };
    let mut text = Vec::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_SIDECAR_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(PersistError::SidecarTooLarge(path.to_owned()));
    }
    let sidecar: Sidecar =
        serde_json::from_slice(&text).map_err(|source| PersistError::Sidecar {
            path: path.to_owned(),
            source,
        })?;
    if sidecar.format != FORMAT || sidecar.schema != SCHEMA {
        return Err(PersistError::Schema {
            format: sidecar.format,
            schema: sidecar.schema,
        });
    }
    Ok(sidecar)
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha3_256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` through a synced temporary file in the same directory and a
/// rename, then syncs the directory so the rename itself is durable.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let io = |source| PersistError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".metagraph-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    #[cfg(unix)]
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}
