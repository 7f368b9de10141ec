//! `bittensor.Tensor`, the tensor model of the HTTP (Axon/Dendrite) dialect
//! (wire-modern §10).
//!
//! JSON, keys in this order: `{"buffer": <base64 str | null>, "dtype": <str>, "shape": [<int>…]}`.
//!
//! * `buffer`: standard base64 (with padding) of a msgpack-numpy array ([`crate::msgpack`]);
//!   `null`/absent is allowed by the Python model (default `None`) but cannot be decoded.
//! * `dtype`: numpy name (`float32`, SDK ≥ 7 default) or torch name (`torch.float32`,
//!   `USE_TORCH=1` and v6). Both are accepted on input; output uses numpy names unless
//!   [`DtypeNames::Torch`] is asked for.
//! * `shape`: the logical shape; a 0-d scalar is sent as `[0]`.
//!
//! # Decoding ([`BtTensor::to_wire`], [`BtTensor::to_candle`])
//!
//! As the SDK's `deserialize`: base64-decode, unpack the msgpack-numpy array (strictly; no
//! pickles), reshape to the JSON `shape` unless it is `[0]` (element counts must match),
//! then cast to the JSON `dtype` with numpy `astype` semantics ([`crate::cast`]). The JSON
//! fields are authoritative. Extra rules here: negative dimensions are refused (numpy would
//! treat one `-1` as "infer"), `[]` means 0-d, and every size is bounded by [`Limits`]
//! before decoding.
//!
//! # Encoding ([`BtTensor::from_wire`], [`BtTensor::from_candle`])
//!
//! As `bt.Tensor.serialize(ndarray)`: the msgpack-numpy map of the array, base64, the
//! numpy dtype name and the shape (`[0]` for 0-d). The output is byte-identical to the
//! Python SDK for every dtype of its table. Two dtypes have no entry in the SDK's table and
//! are widened losslessly so a Python peer can decode them: bfloat16 → `float32`,
//! uint32 → `int64`.

use crate::{Dtype, Error, Limits, Result, WireTensor, msgpack};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Which dtype names [`BtTensor`] encoders write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DtypeNames {
    /// `"float32"`: SDK ≥ 7 default (numpy mode).
    #[default]
    Numpy,
    /// `"torch.float32"`: SDK v6, or `USE_TORCH=1`. A torch-mode peer casts with
    /// `tensor.type(dtypes[name])`, which needs the torch name.
    Torch,
}

/// The Python `bittensor.Tensor` pydantic model (`buffer: Optional[str] = None`,
/// `dtype: str`, `shape: list[int]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BtTensor {
    /// base64 of the msgpack-numpy array; `None` serializes as `null`.
    #[serde(default)]
    pub buffer: Option<String>,
    /// numpy (`"float32"`) or torch (`"torch.float32"`) dtype name.
    pub dtype: String,
    /// Logical shape; `[0]` for a 0-d scalar.
    pub shape: Vec<i64>,
}

/// The dtype a `bt.Tensor` carries for a wire dtype (widening those the SDK lacks).
pub fn bt_dtype(dtype: Dtype) -> Dtype {
    match dtype {
        Dtype::BF16 => Dtype::F32,
        Dtype::U32 => Dtype::I64,
        d => d,
    }
}

impl BtTensor {
    /// Encodes a wire tensor with numpy dtype names.
    pub fn from_wire(t: &WireTensor) -> Result<BtTensor> {
        Self::from_wire_named(t, DtypeNames::Numpy)
    }

    /// Encodes a wire tensor, choosing the dtype naming.
    pub fn from_wire_named(t: &WireTensor, names: DtypeNames) -> Result<BtTensor> {
        t.validate()?;
        let dtype = bt_dtype(t.dtype);
        let widened;
        let t = if dtype == t.dtype {
            t
        } else {
            widened = t.cast(dtype);
            &widened
        };
        if t.data.len() > u32::MAX as usize {
            return Err(Error::TooLarge {
                what: "msgpack bin",
                limit: u32::MAX as usize,
                actual: t.data.len(),
            });
        }
        let header = msgpack::encode_ndarray_header(dtype, &t.shape, t.data.len());
        Ok(BtTensor {
            buffer: Some(base64_concat(&header, &t.data)),
            dtype: match names {
                DtypeNames::Numpy => dtype.numpy_name(),
                DtypeNames::Torch => dtype.torch_name(),
            }
            .to_owned(),
            shape: if t.shape.is_empty() {
                vec![0]
            } else {
                t.shape.iter().map(|&d| d as i64).collect()
            },
        })
    }

    /// Encodes a candle tensor (one copy out of candle, then base64).
    pub fn from_candle(t: &Tensor) -> Result<BtTensor> {
        Self::from_wire(&WireTensor::from_candle(t)?)
    }

    /// The JSON `dtype`, parsed.
    pub fn parsed_dtype(&self) -> Result<Dtype> {
        Dtype::from_numpy_name(&self.dtype)
    }

    /// Decodes to a wire tensor (see the module docs for the rules).
    pub fn to_wire(&self, limits: &Limits) -> Result<WireTensor> {
        let target = self.parsed_dtype()?;
        let json_shape = self.json_shape(limits)?;
        let buffer = self.buffer.as_deref().ok_or(Error::MissingBuffer)?;
        // Bound the base64 text before decoding it.
        let max_msgpack = limits
            .max_bytes
            .saturating_add(64)
            .saturating_add(limits.max_rank.saturating_mul(9));
        let max_b64 = (max_msgpack / 3).saturating_add(1).saturating_mul(4);
        if buffer.len() > max_b64 {
            return Err(Error::TooLarge {
                what: "base64 buffer",
                limit: max_b64,
                actual: buffer.len(),
            });
        }
        let raw = STANDARD.decode(buffer).map_err(|_| Error::BadBase64)?;
        let arr = msgpack::decode_ndarray_bytes(&Bytes::from(raw), limits)?;
        let mut t = WireTensor::from(arr);
        if let Some(shape) = json_shape {
            let expected = crate::wire::numel(&shape).unwrap_or(usize::MAX);
            if expected != t.numel() {
                return Err(Error::ShapeMismatch {
                    context: "bt.Tensor shape elements vs payload elements",
                    expected,
                    actual: t.numel(),
                });
            }
            t.shape = shape;
        }
        if target != t.dtype {
            limits.check_bytes(t.numel().saturating_mul(target.size()))?;
            t = t.cast(target);
        }
        Ok(t)
    }

    /// Decodes to a CPU candle tensor ([`BtTensor::to_wire`], then
    /// [`WireTensor::to_candle`]).
    pub fn to_candle(&self, limits: &Limits) -> Result<Tensor> {
        self.to_wire(limits)?.to_candle()
    }

    /// `None` for `[0]` (keep the payload's shape), otherwise the checked shape.
    fn json_shape(&self, limits: &Limits) -> Result<Option<Vec<usize>>> {
        if self.shape == [0] {
            return Ok(None);
        }
        let mut shape = Vec::with_capacity(self.shape.len().min(limits.max_rank.saturating_add(1)));
        limits.check_rank(self.shape.len())?;
        for &d in &self.shape {
            let d = usize::try_from(d).map_err(|_| Error::BadShape {
                shape: self.shape.clone(),
                reason: "negative dimension",
            })?;
            shape.push(d);
        }
        limits.check_shape(&shape)?;
        Ok(Some(shape))
    }
}

/// base64 of `head ++ tail` without concatenating them first.
fn base64_concat(head: &[u8], tail: &[u8]) -> String {
    let total = head.len() + tail.len();
    let mut s = String::with_capacity(total.div_ceil(3) * 4);
    // Complete the head to a multiple of 3 bytes with the start of the tail, so the first
    // part needs no padding and the second continues the same base64 stream.
    let fill = ((3 - head.len() % 3) % 3).min(tail.len());
    let mut first = Vec::with_capacity(head.len() + fill);
    first.extend_from_slice(head);
    first.extend_from_slice(&tail[..fill]);
    STANDARD.encode_string(&first, &mut s);
    STANDARD.encode_string(&tail[fill..], &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_concat_equals_plain() {
        for h in 0..7usize {
            for t in 0..9usize {
                let head: Vec<u8> = (0..h as u8).collect();
                let tail: Vec<u8> = (100..100 + t as u8).collect();
                let whole = [head.clone(), tail.clone()].concat();
                assert_eq!(
                    base64_concat(&head, &tail),
                    STANDARD.encode(&whole),
                    "{h} {t}"
                );
            }
        }
    }
}
