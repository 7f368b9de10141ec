//! The modality calls of the bittensor 2.x wire (wire-legacy §17): `forward_text`,
//! `forward_image` and `forward_tensor`.
//!
//! Before synapses existed (field 9 of `TensorMessage`), a Forward carried **one** tensor
//! and its `Tensor.modality` chose the model; the answer was a hidden state
//! `[B, S, D]`. A Backward carried two tensors, the inputs and the gradient of that
//! output, and the answer was the gradient of the inputs. These calls travel on the same
//! service (`/Bittensor/Forward`, `/Bittensor/Backward`, same metadata and signatures) as
//! messages **without synapses**, which a 3.x peer never sends (its receptor makes no RPC
//! when no synapse remains).
//!
//! | modality | request tensor | axon answer (Forward) | axon answer (Backward) |
//! |---|---|---|---|
//! | TEXT (0) | int64 token ids `[B, S]` | float32 `[B, S, D]` | gradient of the inputs, or nothing |
//! | IMAGE (1) | float `[B, S, C, H, W]` | float32 `[B, S, D]` | float32, the inputs' shape, or nothing |
//! | TENSOR (2) | float `[B, S, D']` | float32 `[B, S, D]` | float32 `[B, S, D']`, or nothing |
//!
//! Request tensors carry their modality; answers carry TENSOR. Every tensor is MSGPACK.
//! The codes follow the 2.x axon: no tensor or `B`/`S` zero → EmptyRequest, a payload
//! that does not decode (or has the wrong kind of dtype) → RequestDeserializationException,
//! the wrong rank → RequestShapeException; an answer of the wrong shape →
//! ResponseShapeException on both ends.

use candle_core::{DType, Device, Tensor};
use neuron_protocol::legacy::{ReturnCode, Serializer, Tensor as WireTensor};
use neuron_tensor::{Limits, legacy as wire};

use crate::NETWORK_DIM;
use crate::failure::Failure;
use crate::lm;

pub use neuron_protocol::legacy::Modality;

/// The rank of a request of modality `m`.
pub fn request_rank(m: Modality) -> usize {
    match m {
        Modality::Text => 2,
        Modality::Image => 5,
        Modality::Tensor => 3,
    }
}

/// `(B, S)` of a request of modality `m`, or the code the axon answers with.
fn batch_seq(m: Modality, inputs: &Tensor) -> Result<(usize, usize), Failure> {
    let want = request_rank(m);
    if inputs.rank() != want {
        return Err(Failure::new(
            ReturnCode::RequestShapeException,
            format!(
                "Forward {} input shape exception: expected rank {want}, got {:?}",
                m.as_str_name().to_lowercase(),
                inputs.dims()
            ),
        ));
    }
    match *inputs.dims() {
        [b, s, ..] if b > 0 && s > 0 => Ok((b, s)),
        _ => Err(Failure::new(
            ReturnCode::EmptyRequest,
            format!("empty batch or sequence: {:?}", inputs.dims()),
        )),
    }
}

/// Checks the dtype kind: integer token ids for TEXT, floats otherwise.
fn check_dtype(m: Modality, t: &Tensor, code: ReturnCode) -> Result<(), Failure> {
    let float = t.dtype().is_float();
    if (m == Modality::Text) == float {
        let want = if m == Modality::Text {
            "integer token ids"
        } else {
            "floats"
        };
        return Err(Failure::new(
            code,
            format!(
                "{} inputs must be {want}, got {:?}",
                m.as_str_name(),
                t.dtype()
            ),
        ));
    }
    Ok(())
}

fn serialize(t: &Tensor, modality: Modality, code: ReturnCode) -> Result<WireTensor, Failure> {
    let mut out =
        wire::from_candle(t, Serializer::Msgpack).map_err(|e| Failure::new(code, e.to_string()))?;
    out.modality = modality as i32;
    Ok(out)
}

fn deserialize(t: &WireTensor, limits: &Limits, code: ReturnCode) -> Result<Tensor, Failure> {
    wire::to_candle(t, limits).map_err(|e| Failure::new(code, e.to_string()))
}

fn to_f32(t: &Tensor, code: ReturnCode) -> Result<Tensor, Failure> {
    t.to_dtype(DType::F32)
        .map_err(|e| Failure::new(code, e.to_string()))
}

/// Encodes the request tensor of a modality call (caller): checked like the axon checks
/// it, token ids as int64, images and tensors as float32.
pub fn encode_request(m: Modality, inputs: &Tensor) -> Result<WireTensor, Failure> {
    batch_seq(m, inputs)?;
    check_dtype(m, inputs, ReturnCode::RequestSerializationException)?;
    let dtype = if m == Modality::Text {
        DType::I64
    } else {
        DType::F32
    };
    let t = inputs
        .to_dtype(dtype)
        .map_err(|e| Failure::new(ReturnCode::RequestSerializationException, e.to_string()))?;
    serialize(&t, m, ReturnCode::RequestSerializationException)
}

/// Decodes the request tensor of a modality call (axon): its modality and the inputs
/// (int64 for TEXT, float32 otherwise).
pub fn decode_request(t: &WireTensor, limits: &Limits) -> Result<(Modality, Tensor), Failure> {
    let m = Modality::try_from(t.modality).map_err(|_| {
        Failure::new(
            ReturnCode::RequestDeserializationException,
            format!("undefined Modality {}", t.modality),
        )
    })?;
    let inputs = deserialize(t, limits, ReturnCode::RequestDeserializationException)?;
    check_dtype(m, &inputs, ReturnCode::RequestDeserializationException)?;
    batch_seq(m, &inputs)?;
    let dtype = if m == Modality::Text {
        DType::I64
    } else {
        DType::F32
    };
    let inputs = inputs
        .to_dtype(dtype)
        .map_err(|e| Failure::new(ReturnCode::RequestDeserializationException, e.to_string()))?;
    Ok((m, inputs))
}

/// Checks a hidden state `[B, S, D]` against the request.
fn check_output(m: Modality, inputs: &Tensor, out: &Tensor) -> Result<(), Failure> {
    let (b, s) = batch_seq(m, inputs)?;
    if out.dims() != [b, s, NETWORK_DIM] {
        return Err(Failure::new(
            ReturnCode::ResponseShapeException,
            format!(
                "output shape must be [{b}, {s}, {NETWORK_DIM}], got {:?}",
                out.dims()
            ),
        ));
    }
    Ok(())
}

/// Encodes the model output of a modality call (axon): float32 `[B, S, D]`, modality
/// TENSOR. An output without elements is EmptyResponse.
pub fn encode_response(m: Modality, inputs: &Tensor, out: &Tensor) -> Result<WireTensor, Failure> {
    if out.elem_count() == 0 {
        return Err(Failure::new(ReturnCode::EmptyResponse, "Empty Response"));
    }
    check_output(m, inputs, out)?;
    let out = to_f32(out, ReturnCode::ResponseSerializationException)?;
    serialize(
        &out,
        Modality::Tensor,
        ReturnCode::ResponseSerializationException,
    )
}

/// Decodes the answer of a modality call (caller): float32 `[B, S, D]`, NaN → 0.
pub fn decode_response(
    m: Modality,
    inputs: &Tensor,
    t: &WireTensor,
    limits: &Limits,
) -> Result<Tensor, Failure> {
    let out = deserialize(t, limits, ReturnCode::ResponseDeserializationException)?;
    check_output(m, inputs, &out)?;
    finite_f32(&out, ReturnCode::ResponseDeserializationException)
}

/// What the caller gets when a modality call failed: zeros `[B, S, D]` float32 (an empty
/// tensor when `inputs` has fewer than two dimensions).
pub fn zeros(inputs: &Tensor) -> Tensor {
    let shape = match *inputs.dims() {
        [b, s, ..] => vec![b, s, NETWORK_DIM],
        _ => vec![0],
    };
    Tensor::zeros(shape, DType::F32, &Device::Cpu)
        .or_else(|_| Tensor::zeros(0, DType::F32, &Device::Cpu))
        .unwrap_or_else(|_| crate::phrases::empty())
}

/// Encodes the gradient of the output `[B, S, D]` for a Backward (caller).
pub fn encode_grad(m: Modality, inputs: &Tensor, grad: &Tensor) -> Result<WireTensor, Failure> {
    let (b, s) = batch_seq(m, inputs)?;
    if grad.dims() != [b, s, NETWORK_DIM] {
        return Err(Failure::new(
            ReturnCode::RequestShapeException,
            format!(
                "gradient shape must be [{b}, {s}, {NETWORK_DIM}], got {:?}",
                grad.dims()
            ),
        ));
    }
    let grad = to_f32(grad, ReturnCode::RequestSerializationException)?;
    serialize(
        &grad,
        Modality::Tensor,
        ReturnCode::RequestSerializationException,
    )
}

/// Decodes the gradient of the output `[B, S, D]` of a Backward (axon).
pub fn decode_grad(
    m: Modality,
    inputs: &Tensor,
    t: &WireTensor,
    limits: &Limits,
) -> Result<Tensor, Failure> {
    let (b, s) = batch_seq(m, inputs)?;
    let grad = deserialize(t, limits, ReturnCode::RequestDeserializationException)?;
    if !grad.dtype().is_float() {
        return Err(Failure::new(
            ReturnCode::RequestDeserializationException,
            format!("gradient must be floats, got {:?}", grad.dtype()),
        ));
    }
    if grad.dims() != [b, s, NETWORK_DIM] {
        return Err(Failure::new(
            ReturnCode::RequestShapeException,
            format!(
                "gradient shape must be [{b}, {s}, {NETWORK_DIM}], got {:?}",
                grad.dims()
            ),
        ));
    }
    to_f32(&grad, ReturnCode::RequestDeserializationException)
}

/// Encodes the gradient of the inputs an axon's backward returns: the inputs' shape,
/// float32, modality TENSOR.
pub fn encode_input_grad(inputs: &Tensor, grad: &Tensor) -> Result<WireTensor, Failure> {
    if grad.dims() != inputs.dims() {
        return Err(Failure::new(
            ReturnCode::ResponseShapeException,
            format!(
                "input gradient shape must be {:?}, got {:?}",
                inputs.dims(),
                grad.dims()
            ),
        ));
    }
    let grad = to_f32(grad, ReturnCode::ResponseSerializationException)?;
    serialize(
        &grad,
        Modality::Tensor,
        ReturnCode::ResponseSerializationException,
    )
}

/// Decodes the gradient of the inputs sent back by a Backward (caller): float32, the
/// inputs' shape, NaN → 0.
pub fn decode_input_grad(
    inputs: &Tensor,
    t: &WireTensor,
    limits: &Limits,
) -> Result<Tensor, Failure> {
    let grad = deserialize(t, limits, ReturnCode::ResponseDeserializationException)?;
    if grad.dims() != inputs.dims() {
        return Err(Failure::new(
            ReturnCode::ResponseShapeException,
            format!(
                "input gradient shape must be {:?}, got {:?}",
                inputs.dims(),
                grad.dims()
            ),
        ));
    }
    finite_f32(&grad, ReturnCode::ResponseDeserializationException)
}

/// float32 with torch's `nan_to_num` applied.
fn finite_f32(t: &Tensor, code: ReturnCode) -> Result<Tensor, Failure> {
    let fail = |e: candle_core::Error| Failure::new(code, e.to_string());
    let mut v = t
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(fail)?;
    lm::nan_to_num(&mut v);
    Tensor::from_vec(v, t.dims(), &Device::Cpu).map_err(fail)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn images() -> Tensor {
        Tensor::ones((2, 1, 3, 4, 4), DType::F32, &Device::Cpu).unwrap()
    }

    #[test]
    fn request_round_trip_keeps_modality_and_values() {
        let t = encode_request(Modality::Image, &images()).unwrap();
        assert_eq!(t.modality, Modality::Image as i32);
        let (m, back) = decode_request(&t, &Limits::DEFAULT).unwrap();
        assert_eq!(m, Modality::Image);
        assert_eq!(back.dims(), [2, 1, 3, 4, 4]);
    }

    #[test]
    fn request_checks_give_the_2x_codes() {
        let limits = Limits::DEFAULT;
        // Wrong rank for the modality: a [B, S, D] tensor sent as IMAGE.
        let mut t = encode_request(
            Modality::Tensor,
            &Tensor::ones((1, 2, 3), DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap();
        t.modality = Modality::Image as i32;
        let f = decode_request(&t, &limits).unwrap_err();
        assert_eq!(f.code, ReturnCode::RequestShapeException, "{f}");
        // Undefined modality, float token ids, empty batch.
        t.modality = 7;
        assert_eq!(
            decode_request(&t, &limits).unwrap_err().code,
            ReturnCode::RequestDeserializationException
        );
        t.modality = Modality::Text as i32;
        t.shape = vec![2, 3];
        assert_eq!(
            decode_request(&t, &limits).unwrap_err().code,
            ReturnCode::RequestDeserializationException
        );
        let empty = Tensor::zeros((0, 3, 8), DType::F32, &Device::Cpu).unwrap();
        let f = encode_request(Modality::Tensor, &empty).unwrap_err();
        assert_eq!(f.code, ReturnCode::EmptyRequest);
    }

    #[test]
    fn responses_are_checked_against_the_request() {
        let inputs = images();
        let good = Tensor::ones((2, 1, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
        let t = encode_response(Modality::Image, &inputs, &good).unwrap();
        assert_eq!(t.modality, Modality::Tensor as i32);
        let back = decode_response(Modality::Image, &inputs, &t, &Limits::DEFAULT).unwrap();
        assert_eq!(back.dims(), [2, 1, NETWORK_DIM]);
        let bad = Tensor::ones((2, 2, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            encode_response(Modality::Image, &inputs, &bad)
                .unwrap_err()
                .code,
            ReturnCode::ResponseShapeException
        );
        assert_eq!(zeros(&inputs).dims(), [2, 1, NETWORK_DIM]);
    }
}
