//! The legacy gRPC `Tensor` message (wire-legacy §2–3).
//!
//! ```text
//! message Tensor {
//!   int32 version = 1;        // 370
//!   bytes buffer = 2;         // msgpack-numpy array
//!   repeated int64 shape = 3; // logical shape (packed)
//!   Serializer serializer = 4;   // MSGPACK = 0, CMPPACK = 1
//!   TensorType tensor_type = 5;  // TORCH = 0
//!   DataType dtype = 6;          // UNKNOWN 0, FLOAT32 1, FLOAT64 2, INT32 3, INT64 4, UTF8 5, FLOAT16 6
//!   Modality modality = 7;       // TEXT = 0
//!   bool requires_grad = 8;
//! }
//! ```
//!
//! # Encoding
//!
//! * MSGPACK: `buffer` = msgpack-numpy of the array ([`crate::msgpack`]), `dtype` its
//!   `DataType`.
//! * CMPPACK: the array is cast to float16 before packing (`type` `<f2`) while `dtype` keeps
//!   the original type; the receiver casts back. Lossy, and it destroys integers > 2048:
//!   only meant for float outputs.
//!
//! `DataType` only knows five numeric types. Others are widened losslessly, both in the
//! payload and in `dtype`, so every receiver can decode them (upstream would send
//! `UNKNOWN`, which no receiver can decode): bfloat16 → FLOAT32; uint8, int8, int16,
//! bool → INT32; uint32 → INT64.
//!
//! # Decoding
//!
//! As upstream: unpack the msgpack-numpy array (strictly, no pickles), reshape to the proto
//! `shape` (same element count required; negative dimensions refused), cast to the proto
//! `dtype`. `UNKNOWN` and `UTF8` are errors, as is the empty placeholder tensor of a failed
//! synapse (`Tensor{version: 370}`, empty buffer). Both serializers decode the same way (the
//! payload names its own type), so `serializer` is informational.

use crate::{Dtype, Error, Limits, Result, WireTensor, msgpack};
use bytes::Bytes;

/// `__version_as_int__` of bittensor 3.7.0 (370), written into `Tensor.version`.
pub use neuron_protocol::legacy::VERSION;

/// `DataType` values of the legacy proto.
pub mod data_type {
    /// Not decodable.
    pub const UNKNOWN: i32 = 0;
    /// float32.
    pub const FLOAT32: i32 = 1;
    /// float64.
    pub const FLOAT64: i32 = 2;
    /// int32.
    pub const INT32: i32 = 3;
    /// int64.
    pub const INT64: i32 = 4;
    /// Declared upstream, never mapped to a dtype.
    pub const UTF8: i32 = 5;
    /// float16.
    pub const FLOAT16: i32 = 6;
}

/// `Serializer` values of the legacy proto.
pub mod serializer {
    /// msgpack-numpy of the array as is.
    pub const MSGPACK: i32 = 0;
    /// msgpack-numpy of the array cast to float16.
    pub const CMPPACK: i32 = 1;
}

/// The dtype a legacy tensor carries for a wire dtype (lossless widening to one of the
/// five `DataType`s).
pub fn legacy_dtype(dtype: Dtype) -> Dtype {
    match dtype {
        Dtype::BF16 => Dtype::F32,
        Dtype::U8 | Dtype::I8 | Dtype::I16 | Dtype::Bool => Dtype::I32,
        Dtype::U32 => Dtype::I64,
        d => d,
    }
}

/// `DataType` of a wire dtype, `UNKNOWN` (0) for those without one (see [`legacy_dtype`]).
pub fn data_type(dtype: Dtype) -> i32 {
    match dtype {
        Dtype::F32 => data_type::FLOAT32,
        Dtype::F64 => data_type::FLOAT64,
        Dtype::I32 => data_type::INT32,
        Dtype::I64 => data_type::INT64,
        Dtype::F16 => data_type::FLOAT16,
        _ => data_type::UNKNOWN,
    }
}

/// Wire dtype of a `DataType`; UNKNOWN, UTF8 and undefined values are errors.
pub fn dtype_from_data_type(data_type: i32) -> Result<Dtype> {
    match data_type {
        data_type::FLOAT32 => Ok(Dtype::F32),
        data_type::FLOAT64 => Ok(Dtype::F64),
        data_type::INT32 => Ok(Dtype::I32),
        data_type::INT64 => Ok(Dtype::I64),
        data_type::FLOAT16 => Ok(Dtype::F16),
        data_type::UNKNOWN => Err(Error::Legacy("dtype UNKNOWN cannot be decoded".into())),
        data_type::UTF8 => Err(Error::Legacy("dtype UTF8 has no tensor mapping".into())),
        other => Err(Error::Legacy(format!("undefined DataType {other}"))),
    }
}

/// The fields of an encoded legacy tensor that depend on the array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// msgpack-numpy payload.
    pub buffer: Bytes,
    /// Logical shape.
    pub shape: Vec<i64>,
    /// `Serializer` value.
    pub serializer: i32,
    /// `DataType` value.
    pub dtype: i32,
}

/// Encodes the array part of a legacy tensor with `serializer` (MSGPACK or CMPPACK).
pub fn encode_fields(t: &WireTensor, serializer: i32) -> Result<Encoded> {
    t.validate()?;
    let logical = legacy_dtype(t.dtype);
    let payload_dtype = match serializer {
        serializer::MSGPACK => logical,
        serializer::CMPPACK => Dtype::F16,
        other => return Err(Error::Legacy(format!("undefined Serializer {other}"))),
    };
    let payload = t.cast(payload_dtype);
    let buffer = msgpack::encode_wire(&payload)?;
    Ok(Encoded {
        buffer: Bytes::from(buffer),
        shape: t.shape.iter().map(|&d| d as i64).collect(),
        serializer,
        dtype: data_type(logical),
    })
}

/// Decodes the array part of a legacy tensor: unpack, reshape to `shape`, cast to
/// `data_type`.
pub fn decode_fields(
    buffer: &Bytes,
    shape: &[i64],
    data_type: i32,
    limits: &Limits,
) -> Result<WireTensor> {
    let target = dtype_from_data_type(data_type)?;
    if buffer.is_empty() {
        return Err(Error::Legacy(
            "empty buffer (placeholder tensor of a failed synapse)".into(),
        ));
    }
    limits.check_rank(shape.len())?;
    let shape = shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| Error::BadShape {
            shape: shape.to_vec(),
            reason: "negative dimension",
        })?;
    let n = limits.check_shape(&shape)?;
    limits.check_bytes(n.saturating_mul(target.size()))?;
    let arr = msgpack::decode_ndarray_bytes(buffer, limits)?;
    let t = WireTensor::from(arr);
    if t.numel() != n {
        return Err(Error::ShapeMismatch {
            context: "legacy Tensor shape elements vs payload elements",
            expected: n,
            actual: t.numel(),
        });
    }
    Ok(WireTensor {
        shape,
        ..t.cast(target)
    })
}

/// The generated legacy message, re-exported for convenience.
pub use neuron_protocol::legacy::{DataType, Serializer, Tensor as LegacyTensor};

/// Encodes a wire tensor as a legacy `Tensor` message (`version` 370, `tensor_type` TORCH,
/// `modality` TEXT, `requires_grad` false; set it on the result if needed).
pub fn encode(t: &WireTensor, serializer: Serializer) -> Result<LegacyTensor> {
    let e = encode_fields(t, serializer as i32)?;
    Ok(LegacyTensor {
        version: VERSION,
        buffer: e.buffer,
        shape: e.shape,
        serializer: e.serializer,
        tensor_type: 0,
        dtype: e.dtype,
        modality: 0,
        requires_grad: false,
    })
}

/// Encodes a candle tensor as a legacy `Tensor` message (see [`encode`]).
pub fn from_candle(t: &candle_core::Tensor, serializer: Serializer) -> Result<LegacyTensor> {
    encode(&WireTensor::from_candle(t)?, serializer)
}

/// Decodes a legacy `Tensor` message: unpack, reshape to `shape`, cast to `dtype`.
/// `serializer` is not consulted (both serializers decode identically); undefined
/// serializer values are still refused.
pub fn decode(t: &LegacyTensor, limits: &Limits) -> Result<WireTensor> {
    if Serializer::try_from(t.serializer).is_err() {
        return Err(Error::Legacy(format!(
            "undefined Serializer {}",
            t.serializer
        )));
    }
    decode_fields(&t.buffer, &t.shape, t.dtype, limits)
}

/// Decodes a legacy `Tensor` message into a CPU candle tensor.
pub fn to_candle(t: &LegacyTensor, limits: &Limits) -> Result<candle_core::Tensor> {
    decode(t, limits)?.to_candle()
}

/// Whether `t` is the placeholder of a failed synapse (empty buffer).
pub fn is_placeholder(t: &LegacyTensor) -> bool {
    t.buffer.is_empty()
}
