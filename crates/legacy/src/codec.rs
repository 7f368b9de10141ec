//! Checks, packings and zeros of every synapse type (wire-legacy §5), on both ends.

use candle_core::{DType, Device, Tensor};
use neuron_protocol::legacy::{ReturnCode, Serializer, Tensor as WireTensor};
use neuron_tensor::{Limits, legacy as wire};

use crate::failure::{Failure, Fault, codes};
use crate::phrases::{self, ATOL, IGNORE_INDEX, TOKEN_OFFSET};
use crate::spec::{SynapseKind, SynapseSpec};
use crate::{NETWORK_DIM, VOCAB_SIZE, lm};

type Result<T, E = Fault> = std::result::Result<T, E>;

impl SynapseSpec {
    /// Checks a request `[B, S]`: rank 2, `B > 0`, `S > 0`, and for a masked hidden state
    /// that every mask element is a position of the sequence (`−S ≤ m < S`), without
    /// duplicates. Fails with RequestShapeException.
    pub fn check_request(&self, inputs: &Tensor) -> Result<(), ReturnCode> {
        self.check_request_detailed(inputs).map_err(|f| f.code)
    }

    /// [`Self::check_request`] with the error text.
    pub fn check_request_detailed(&self, inputs: &Tensor) -> Result<(), Failure> {
        self.request_dims(inputs)
            .map(drop)
            .map_err(|f| f.into_failure(codes::ENCODE_REQUEST))
    }

    /// Encodes the token ids `[B, S]` of one synapse (receptor): checked, cast to int64,
    /// serialized with the forward request serializer.
    pub fn encode_request(&self, inputs: &Tensor) -> Result<WireTensor, ReturnCode> {
        self.encode_request_detailed(inputs).map_err(|f| f.code)
    }

    /// [`Self::encode_request`] with the error text.
    pub fn encode_request_detailed(&self, inputs: &Tensor) -> Result<WireTensor, Failure> {
        let encode = || -> Result<WireTensor> {
            self.request_dims(inputs)?;
            serialize(
                &inputs.to_dtype(DType::I64)?,
                self.forward_request_serializer,
            )
        };
        encode().map_err(|f| f.into_failure(codes::ENCODE_REQUEST))
    }

    /// Decodes the token ids of one synapse (axon): int64 `[B, S]`, checked like
    /// [`Self::check_request`]. Integer payloads are cast to int64; float ones are refused.
    pub fn decode_request(&self, t: &WireTensor, limits: &Limits) -> Result<Tensor, ReturnCode> {
        self.decode_request_detailed(t, limits).map_err(|f| f.code)
    }

    /// [`Self::decode_request`] with the error text.
    pub fn decode_request_detailed(
        &self,
        t: &WireTensor,
        limits: &Limits,
    ) -> Result<Tensor, Failure> {
        let decode = || -> Result<Tensor> {
            let inputs = deserialize(t, limits)?;
            if inputs.dtype().is_float() {
                return Err(Fault::other(format!(
                    "token ids must be integers, got {:?}",
                    inputs.dtype()
                )));
            }
            let inputs = inputs.to_dtype(DType::I64)?;
            self.request_dims(&inputs)?;
            Ok(inputs)
        };
        decode().map_err(|f| f.into_failure(codes::DECODE_REQUEST))
    }

    /// Encodes a model output for the wire (axon): hidden states masked to rows, logits to
    /// top-k probabilities `[B, S, 2k]`, phrases compacted, generations as they are; each
    /// checked against the request `inputs`. Serialized with the forward response
    /// serializer. The error text is the bare reason (upstream prefixes it).
    pub fn encode_response(
        &self,
        inputs: &Tensor,
        model_output: &Tensor,
    ) -> Result<WireTensor, (ReturnCode, String)> {
        self.encode_response_detailed(inputs, model_output)
            .map_err(|f| (f.code, f.message))
    }

    /// [`Self::encode_response`] as a [`Failure`].
    pub fn encode_response_detailed(
        &self,
        inputs: &Tensor,
        out: &Tensor,
    ) -> Result<WireTensor, Failure> {
        let encode = || -> Result<WireTensor> {
            let packed = self.pack_response(inputs, out)?;
            serialize(&packed, self.forward_response_serializer)
        };
        encode().map_err(|f| f.into_failure(codes::ENCODE_RESPONSE))
    }

    /// Decodes a response for the caller (receptor): hidden states `[B, S, D]` (zeros at
    /// unmasked positions), full-vocabulary log-probabilities `[B, S, V]`, phrases
    /// `[B, topk + 1, maxlen]`, generations as sent; NaN → 0 (and ±inf → the largest finite
    /// values, as torch's `nan_to_num`). Every failure is ResponseDeserializationException.
    pub fn decode_response(
        &self,
        inputs: &Tensor,
        t: &WireTensor,
        limits: &Limits,
    ) -> Result<Tensor, ReturnCode> {
        self.decode_response_detailed(inputs, t, limits)
            .map_err(|f| f.code)
    }

    /// [`Self::decode_response`] with the error text.
    pub fn decode_response_detailed(
        &self,
        inputs: &Tensor,
        t: &WireTensor,
        limits: &Limits,
    ) -> Result<Tensor, Failure> {
        let decode = || -> Result<Tensor> {
            let (b, s) = batch_seq(inputs, self.name())?;
            let response = deserialize(t, limits)?;
            self.unpack_response(b, s, &response, limits)
        };
        decode().map_err(|f| f.into_failure(codes::DECODE_RESPONSE))
    }

    /// What the caller gets when the synapse failed (decoded form, float32):
    /// `[B, S, D]`, `[B, S, V]`, `[B, topk + 1, 2]` (column 1 is 2 in the topk rows and −100
    /// in the floor row) or `[B, num_to_generate]`; an empty tensor when `inputs` has fewer
    /// than two dimensions.
    pub fn zeros(&self, inputs: &Tensor) -> Tensor {
        let [b, s, ..] = *inputs.dims() else {
            return phrases::empty();
        };
        let zeros = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu);
        let t = match &self.kind {
            SynapseKind::LastHiddenState { .. } => zeros(&[b, s, NETWORK_DIM]),
            SynapseKind::CausalLm { .. } => zeros(&[b, s, VOCAB_SIZE]),
            SynapseKind::CausalLmNext { topk } => {
                let k = *topk as usize;
                let mut v = vec![0.0f32; b * (k + 1) * 2];
                for (r, row) in v.chunks_mut(2).enumerate() {
                    row[1] = if r % (k + 1) == k {
                        IGNORE_INDEX
                    } else {
                        TOKEN_OFFSET
                    };
                }
                Tensor::from_vec(v, (b, k + 1, 2), &Device::Cpu)
            }
            SynapseKind::Seq2Seq(a) => zeros(&[b, a.num_to_generate as usize]),
        };
        // Only an allocation candle cannot make fails here; an empty tensor is then the
        // least surprising answer.
        t.unwrap_or_else(|_| phrases::empty())
    }

    /// Encodes the caller's gradient of one synapse for a Backward request (receptor, §5):
    /// hidden state `[B, S − len(mask), D]` as is; causal LM `[B, S, V]` → top-k
    /// `[B, S, 2k]`; phrases `[B, topk + 1, L]` → `[B, L, column 0…]` 1-D; seq2seq must be
    /// empty. Serialized with the forward *request* serializer, as upstream.
    pub fn encode_grad(&self, inputs: &Tensor, grad: &Tensor) -> Result<WireTensor, ReturnCode> {
        self.encode_grad_detailed(inputs, grad).map_err(|f| f.code)
    }

    /// [`Self::encode_grad`] with the error text.
    pub fn encode_grad_detailed(
        &self,
        inputs: &Tensor,
        grad: &Tensor,
    ) -> Result<WireTensor, Failure> {
        let encode = || -> Result<WireTensor> {
            let packed = self.pack_grad(inputs, grad)?;
            serialize(&packed, self.forward_request_serializer)
        };
        encode().map_err(|f| f.into_failure(codes::ENCODE_REQUEST))
    }

    /// Decodes the gradient of one synapse (axon) back to the output's shape: hidden state
    /// `[B, S − len(mask), D]`, causal LM scattered into zeros `[B, S, V]`, phrases zeros
    /// `[B, topk + 1, L]` with column 0 set, seq2seq an empty tensor.
    pub fn decode_grad(
        &self,
        inputs: &Tensor,
        t: &WireTensor,
        limits: &Limits,
    ) -> Result<Tensor, ReturnCode> {
        self.decode_grad_detailed(inputs, t, limits)
            .map_err(|f| f.code)
    }

    /// [`Self::decode_grad`] with the error text.
    pub fn decode_grad_detailed(
        &self,
        inputs: &Tensor,
        t: &WireTensor,
        limits: &Limits,
    ) -> Result<Tensor, Failure> {
        let decode = || -> Result<Tensor> {
            let (b, s) = self.request_dims(inputs)?;
            let grad = deserialize(t, limits)?;
            self.unpack_grad(b, s, &grad, limits)
        };
        decode().map_err(|f| f.into_failure(codes::DECODE_REQUEST))
    }

    /// `(B, S)` of a valid request for this synapse.
    fn request_dims(&self, inputs: &Tensor) -> Result<(usize, usize)> {
        let (b, s) = batch_seq(inputs, self.name())?;
        if let SynapseKind::LastHiddenState { mask } = &self.kind {
            mask_positions(mask, s)?;
        }
        Ok((b, s))
    }

    fn pack_response(&self, inputs: &Tensor, out: &Tensor) -> Result<Tensor> {
        let (b, s) = batch_seq(inputs, self.name())?;
        if out.elem_count() == 0 {
            return Err(Fault::Empty);
        }
        let shape_error = |want: String| {
            Fault::shape(format!(
                "forward_response_tensor.shape must be in {want}, got: {:?} for synapse: {}",
                out.dims(),
                self.name()
            ))
        };
        match &self.kind {
            SynapseKind::LastHiddenState { mask } => {
                if out.dims() != [b, s, NETWORK_DIM] {
                    return Err(shape_error(format!("[{b}, {s}, {NETWORK_DIM}]")));
                }
                let out = as_float(out)?;
                if mask.is_empty() {
                    return Ok(out);
                }
                let rows: Vec<u32> = masked_rows(&mask_positions(mask, s)?, b, s)
                    .into_iter()
                    .map(|r| u32::try_from(r).map_err(Fault::other))
                    .collect::<Result<_>>()?;
                let n = rows.len();
                let idx = Tensor::from_vec(rows, n, &Device::Cpu)?;
                Ok(out.reshape((b * s, NETWORK_DIM))?.index_select(&idx, 0)?)
            }
            SynapseKind::CausalLm { topk } => {
                let k = *topk as usize;
                let [ob, os, vocab] = *out.dims() else {
                    return Err(shape_error(format!("[{b}, {s}, V]")));
                };
                if (ob, os) != (b, s) {
                    return Err(shape_error(format!("[{b}, {s}, V]")));
                }
                if vocab < k {
                    return Err(Fault::other(format!(
                        "selected index k out of range: topk {k} > {vocab} logits"
                    )));
                }
                let mut logits = f32_values(out)?;
                f32_tensor(lm::pack_topk_probs(&mut logits, vocab, k), &[b, s, 2 * k])
            }
            SynapseKind::CausalLmNext { topk } => {
                let k = *topk as usize;
                if !matches!(*out.dims(), [ob, ok, _] if ob == b && ok == k + 1) {
                    return Err(shape_error(format!("[{b}, {}, L]", k + 1)));
                }
                let flat = phrases::try_compact(out)?;
                check_compact(&flat, b, k, self.name())?;
                Ok(flat)
            }
            SynapseKind::Seq2Seq(a) => {
                check_generation(out, b, a.num_to_generate as usize, self.name())?;
                Ok(out.clone())
            }
        }
    }

    fn unpack_response(&self, b: usize, s: usize, r: &Tensor, limits: &Limits) -> Result<Tensor> {
        match &self.kind {
            SynapseKind::LastHiddenState { mask } => {
                let positions = mask_positions(mask, s)?;
                let mut v = scatter_hidden(r, b, s, &positions, self.name())?;
                lm::nan_to_num(&mut v);
                f32_tensor(v, &[b, s, NETWORK_DIM])
            }
            SynapseKind::CausalLm { topk } => {
                let k = *topk as usize;
                if r.dims() != [b, s, 2 * k] {
                    return Err(Fault::shape(format!(
                        "forward_response_tensor.shape must be in [{b}, {s}, {}], got: {:?} for synapse: {}",
                        2 * k,
                        r.dims(),
                        self.name()
                    )));
                }
                limits.check_shape(&[b, s, VOCAB_SIZE])?;
                // Already NaN-free: the expansion applies `nan_to_num` as it writes.
                let v = lm::unpack_log_probs(&f32_values(r)?, b * s, k, VOCAB_SIZE)
                    .ok_or_else(|| Fault::other("token id out of the vocabulary"))?;
                f32_tensor(v, &[b, s, VOCAB_SIZE])
            }
            SynapseKind::CausalLmNext { topk } => {
                let k = *topk as usize;
                check_compact(r, b, k, self.name())?;
                let (_, width, mut v) =
                    phrases::unravel_values(&f32_values(r)?, b, k, limits).map_err(Fault::other)?;
                lm::nan_to_num(&mut v);
                f32_tensor(v, &[b, k + 1, width])
            }
            SynapseKind::Seq2Seq(a) => {
                check_generation(r, b, a.num_to_generate as usize, self.name())?;
                if r.dtype().is_float() {
                    let mut v = f32_values(r)?;
                    lm::nan_to_num(&mut v);
                    return f32_tensor(v, r.dims());
                }
                Ok(r.clone())
            }
        }
    }

    fn pack_grad(&self, inputs: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let (b, s) = self.request_dims(inputs)?;
        let shape_error = |want: String| {
            Fault::shape(format!(
                "backward_request_gradient.shape must be in {want}, got: {:?} for synapse: {}",
                grad.dims(),
                self.name()
            ))
        };
        match &self.kind {
            SynapseKind::LastHiddenState { mask } => {
                let want = [b, s.saturating_sub(mask.len()), NETWORK_DIM];
                if grad.dims() != want {
                    return Err(shape_error(format!("{want:?}")));
                }
                as_float(grad)
            }
            SynapseKind::CausalLm { topk } => {
                let k = *topk as usize;
                match *grad.dims() {
                    [gb, gs, vocab] if (gb, gs) == (b, s) && vocab >= k => {
                        let packed = lm::pack_topk(&f32_values(grad)?, vocab, k);
                        f32_tensor(packed, &[b, s, 2 * k])
                    }
                    _ => Err(shape_error(format!("[{b}, {s}, V >= {k}]"))),
                }
            }
            SynapseKind::CausalLmNext { topk } => {
                let k = *topk as usize;
                match *grad.dims() {
                    [gb, gk, len] if gb == b && gk == k + 1 && len > 0 => {
                        let values = f32_values(grad)?;
                        let mut out = vec![b as f32, len as f32];
                        out.extend(values.chunks(len).map(|row| row[0]));
                        let n = out.len();
                        f32_tensor(out, &[n])
                    }
                    _ => Err(shape_error(format!("[{b}, {}, L]", k + 1))),
                }
            }
            SynapseKind::Seq2Seq(_) => {
                if grad.elem_count() != 0 {
                    return Err(shape_error("an empty tensor".into()));
                }
                f32_tensor(Vec::new(), &[0])
            }
        }
    }

    fn unpack_grad(&self, b: usize, s: usize, g: &Tensor, limits: &Limits) -> Result<Tensor> {
        let shape_error = |want: String| {
            Fault::shape(format!(
                "backward_request_gradient.shape must be in {want}, got: {:?} for synapse: {}",
                g.dims(),
                self.name()
            ))
        };
        match &self.kind {
            SynapseKind::LastHiddenState { mask } => {
                let want = [b, s.saturating_sub(mask.len()), NETWORK_DIM];
                if g.dims() != want {
                    return Err(shape_error(format!("{want:?}")));
                }
                as_float(g)
            }
            SynapseKind::CausalLm { topk } => {
                let k = *topk as usize;
                if g.dims() != [b, s, 2 * k] {
                    return Err(shape_error(format!("[{b}, {s}, {}]", 2 * k)));
                }
                limits.check_shape(&[b, s, VOCAB_SIZE])?;
                let v = lm::unpack_topk(&f32_values(g)?, b * s, k, VOCAB_SIZE)
                    .ok_or_else(|| Fault::other("gradient index out of the vocabulary"))?;
                f32_tensor(v, &[b, s, VOCAB_SIZE])
            }
            SynapseKind::CausalLmNext { topk } => {
                let rows = b * (*topk as usize + 1);
                if g.dims() != [2 + rows] {
                    return Err(shape_error(format!("[{}]", 2 + rows)));
                }
                let v = f32_values(g)?;
                let len = v[1];
                if v[0] != b as f32 || !(len >= 1.0 && len.fract() == 0.0 && len < u32::MAX as f32)
                {
                    return Err(shape_error(format!(
                        "[{b}, L >= 1, …] as its first two values"
                    )));
                }
                let len = len as usize;
                limits.check_shape(&[rows, len])?;
                let mut out = vec![0.0f32; rows * len];
                for (r, &p) in v[2..].iter().enumerate() {
                    out[r * len] = p;
                }
                f32_tensor(out, &[b, rows / b, len])
            }
            SynapseKind::Seq2Seq(_) => {
                if g.elem_count() != 0 {
                    return Err(shape_error("an empty tensor".into()));
                }
                Ok(g.clone())
            }
        }
    }
}

/// `(B, S)` of a rank-2 request with both dimensions non-zero.
fn batch_seq(inputs: &Tensor, name: &str) -> Result<(usize, usize)> {
    match *inputs.dims() {
        [b, s] if b > 0 && s > 0 => Ok((b, s)),
        _ => Err(Fault::shape(format!(
            "forward_request_tensor.shape must be in [-1, -1], got: {:?} for synapse: {name}",
            inputs.dims()
        ))),
    }
}

/// Absolute positions of a Python-style mask over a sequence of `seq`: `−S ≤ m < S`, no
/// position twice, at most `S` entries.
pub(crate) fn mask_positions(mask: &[i32], seq: usize) -> Result<Vec<usize>> {
    if mask.len() > seq {
        return Err(Fault::shape(format!(
            "mask has {} elements for sequence_length {seq}",
            mask.len()
        )));
    }
    let s = i64::try_from(seq).map_err(Fault::other)?;
    let mut seen = vec![false; seq];
    let mut out = Vec::with_capacity(mask.len());
    for &m in mask {
        let m = i64::from(m);
        if m < -s || m >= s {
            return Err(Fault::shape(format!(
                "Mask element {m} cannot be interpreted for sequence_length {seq}"
            )));
        }
        let p = if m < 0 { s + m } else { m } as usize;
        if std::mem::replace(&mut seen[p], true) {
            return Err(Fault::shape(format!("mask names position {p} twice")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Flat rows `b·S + p` of the `[B·S, D]` view, batch-major, mask order inside each row.
fn masked_rows(positions: &[usize], b: usize, s: usize) -> Vec<usize> {
    (0..b)
        .flat_map(|bi| positions.iter().map(move |&p| bi * s + p))
        .collect()
}

/// The receiver's hidden-state rule: `[B, S, D]` (masked by the receiver if a mask was
/// asked for) or rows `[B·len(mask or S), D]` scattered into zeros.
fn scatter_hidden(
    r: &Tensor,
    b: usize,
    s: usize,
    positions: &[usize],
    name: &str,
) -> Result<Vec<f32>> {
    let d = NETWORK_DIM;
    let per_batch = if positions.is_empty() {
        s
    } else {
        positions.len()
    };
    let full = r.dims() == [b, s, d];
    if !(full || r.dims() == [b * per_batch, d]) {
        return Err(Fault::shape(format!(
            "forward_response_tensor.shape must be in [{b}, {s}, {d}] or [{}, {d}], got: {:?} for synapse: {name}",
            b * per_batch,
            r.dims()
        )));
    }
    let values = f32_values(r)?;
    if positions.is_empty() {
        return Ok(values);
    }
    let mut out = vec![0.0f32; b * s * d];
    for (j, dest) in masked_rows(positions, b, s).into_iter().enumerate() {
        let src = if full { dest } else { j };
        out[dest * d..(dest + 1) * d].copy_from_slice(&values[src * d..(src + 1) * d]);
    }
    Ok(out)
}

/// The compact-phrases check: rank 1, at least `B·(2·topk + 1)` elements, none below −1e-6.
fn check_compact(t: &Tensor, b: usize, k: usize, name: &str) -> Result<()> {
    let min_len = b.saturating_mul(k.saturating_mul(2).saturating_add(1));
    match *t.dims() {
        [n] if n >= min_len => {}
        _ => {
            return Err(Fault::shape(format!(
                "forward_response_tensor.shape must be in [>={min_len}], got: {:?} for synapse: {name}",
                t.dims()
            )));
        }
    }
    if f32_values(t)?.iter().any(|&v| v < -ATOL) {
        return Err(Fault::shape(format!(
            "forward_response_tensor values must be >= 0 for synapse: {name}"
        )));
    }
    Ok(())
}

/// The generation check: rank 2, first dimension `B`, second at most `num_to_generate`.
fn check_generation(t: &Tensor, b: usize, max_len: usize, name: &str) -> Result<()> {
    match *t.dims() {
        [rb, len] if rb == b && len <= max_len => Ok(()),
        _ => Err(Fault::shape(format!(
            "forward_response_tensor.shape must be in [{b}, <={max_len}], got: {:?} for synapse: {name}",
            t.dims()
        ))),
    }
}

fn serialize(t: &Tensor, serializer: Serializer) -> Result<WireTensor> {
    Ok(wire::from_candle(t, serializer)?)
}

fn deserialize(t: &WireTensor, limits: &Limits) -> Result<Tensor> {
    Ok(wire::to_candle(t, limits)?)
}

/// Float tensors as they are, others as float32.
fn as_float(t: &Tensor) -> Result<Tensor> {
    if t.dtype().is_float() {
        Ok(t.clone())
    } else {
        Ok(t.to_dtype(DType::F32)?)
    }
}

fn f32_values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

fn f32_tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}
