//! `TinyLm`: a very small causal language model in candle, with seeded weights, so that a
//! local network can serve every text synapse of the legacy dialect without downloading
//! anything.
//!
//! The model is deliberately simple and fully deterministic for a given seed:
//!
//! ```text
//! x_t      = E[id_t]                               E: [V, d] token embeddings
//! h_t      = tanh(mean(x_0..x_t) · M)              M: [d, d], a causal prefix mean
//! hidden_t = h_t · P                               P: [d, 1024]   (TEXT_LAST_HIDDEN_STATE)
//! logits_t = h_t · Eᵀ                              tied output    (TEXT_CAUSAL_LM)
//! ```
//!
//! `TEXT_CAUSAL_LM_NEXT` answers the `topk` most likely next tokens as one-token phrases
//! and `TEXT_SEQ_2_SEQ` decodes greedily. Backward on the hidden states is a real update:
//! [`TinyLm::apply_hidden_grad`] takes one SGD step on `P` with the gradient a remote
//! dendrite sends, so a validator's loss changes the miner's answers.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{D, DType, Device, IndexOp, Result, Tensor};
use neuron_legacy::{NETWORK_DIM, VOCAB_SIZE, phrases::IGNORE_INDEX};

/// Width of the token embeddings.
pub const EMBED_DIM: usize = 32;

/// The largest batch × sequence the model accepts in one call (a bound on work per request).
pub const MAX_TOKENS: usize = 4096;

/// The largest number of tokens [`TinyLm::generate`] produces per row.
pub const MAX_GENERATE: usize = 256;

/// A tiny seeded causal language model; see the [module docs](self).
#[derive(Debug)]
pub struct TinyLm {
    embed: Tensor,
    mix: Tensor,
    proj: RwLock<Tensor>,
    backward_steps: AtomicU64,
}

/// splitmix64: a small, well-mixed generator for reproducible weights.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` uniform values in `[-scale, scale)`.
fn uniform(state: &mut u64, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let unit = (splitmix(state) >> 40) as f32 / (1u64 << 24) as f32;
            (unit * 2.0 - 1.0) * scale
        })
        .collect()
}

impl TinyLm {
    /// Builds the model from `seed`; the same seed gives the same weights everywhere.
    pub fn new(seed: u64) -> Result<Self> {
        let cpu = Device::Cpu;
        let mut state = seed;
        let d = EMBED_DIM;
        let embed = Tensor::from_vec(
            uniform(&mut state, VOCAB_SIZE * d, 1.0),
            (VOCAB_SIZE, d),
            &cpu,
        )?;
        let mix = Tensor::from_vec(uniform(&mut state, d * d, 0.5), (d, d), &cpu)?;
        let proj = Tensor::from_vec(
            uniform(&mut state, d * NETWORK_DIM, 0.2),
            (d, NETWORK_DIM),
            &cpu,
        )?;
        Ok(Self {
            embed,
            mix,
            proj: RwLock::new(proj),
            backward_steps: AtomicU64::new(0),
        })
    }

    /// How many backward steps the model has taken.
    pub fn backward_steps(&self) -> u64 {
        self.backward_steps.load(Ordering::Relaxed)
    }

    /// Checks `ids` (`[B, S]`, integer) and returns them as `u32` indices.
    fn token_ids(ids: &Tensor) -> Result<(usize, usize, Tensor)> {
        let (b, s) = ids.dims2()?;
        if b * s == 0 || b * s > MAX_TOKENS {
            candle_core::bail!("expected between 1 and {MAX_TOKENS} tokens, got {b}x{s}");
        }
        let ids = ids.to_dtype(DType::I64)?;
        let flat = ids.flatten_all()?.to_vec1::<i64>()?;
        if let Some(bad) = flat.iter().find(|&&t| t < 0 || t >= VOCAB_SIZE as i64) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {VOCAB_SIZE}");
        }
        let idx: Vec<u32> = flat.iter().map(|&t| t as u32).collect();
        Ok((b, s, Tensor::from_vec(idx, b * s, &Device::Cpu)?))
    }

    /// The internal states `h`: `[B, S, d]`.
    fn states(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, s, idx) = Self::token_ids(ids)?;
        let x = self
            .embed
            .index_select(&idx, 0)?
            .reshape((b, s, EMBED_DIM))?;
        // Causal prefix mean: cumulative sum over positions divided by 1..=S.
        let sums = x.cumsum(1)?;
        let counts: Vec<f32> = (1..=s).map(|i| i as f32).collect();
        let counts = Tensor::from_vec(counts, (1, s, 1), &Device::Cpu)?;
        let mean = sums.broadcast_div(&counts)?;
        mean.broadcast_matmul(&self.mix)?.tanh()
    }

    /// TEXT_LAST_HIDDEN_STATE: `[B, S, 1024]` float32.
    pub fn hidden(&self, ids: &Tensor) -> Result<Tensor> {
        let h = self.states(ids)?;
        let proj = self.proj.read().unwrap_or_else(|e| e.into_inner()).clone();
        h.broadcast_matmul(&proj)
    }

    /// TEXT_CAUSAL_LM: logits `[B, S, V]` float32.
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        let h = self.states(ids)?;
        h.broadcast_matmul(&self.embed.t()?)
    }

    /// Next-token log-probabilities at the last position of each row: `[B, V]`.
    fn next_log_probs(&self, ids: &Tensor) -> Result<Tensor> {
        let h = self.states(ids)?;
        let s = h.dim(1)?;
        let last = h.i((.., s - 1, ..))?;
        let logits = last.matmul(&self.embed.t()?)?;
        candle_nn_log_softmax(&logits)
    }

    /// TEXT_CAUSAL_LM_NEXT: `[B, topk + 1, 2]` one-token phrases `[p, token]`, most likely
    /// first, then the floor row `[p_rest / (V − topk), −100]`.
    pub fn phrases(&self, ids: &Tensor, topk: usize) -> Result<Tensor> {
        let topk = topk.clamp(1, VOCAB_SIZE - 1);
        let probs = self.next_log_probs(ids)?.exp()?.to_vec2::<f32>()?;
        let mut out = Vec::with_capacity(probs.len() * (topk + 1) * 2);
        for row in &probs {
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.select_nth_unstable_by(topk - 1, |&a, &b| row[b].total_cmp(&row[a]));
            let mut best = order[..topk].to_vec();
            best.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            let mut taken = 0.0f32;
            for &tok in &best {
                taken += row[tok];
                out.extend([row[tok], tok as f32]);
            }
            let rest = (1.0 - taken).max(0.0) / (VOCAB_SIZE - topk) as f32;
            out.extend([rest, IGNORE_INDEX]);
        }
        Tensor::from_vec(out, (probs.len(), topk + 1, 2), &Device::Cpu)
    }

    /// TEXT_SEQ_2_SEQ: greedy decoding of `n` tokens per row (at most [`MAX_GENERATE`]),
    /// `[B, n]` int64.
    pub fn generate(&self, ids: &Tensor, n: usize) -> Result<Tensor> {
        let n = n.min(MAX_GENERATE);
        let (b, _s, _) = Self::token_ids(ids)?;
        let mut context = ids.to_dtype(DType::I64)?;
        let mut generated: Vec<Tensor> = Vec::with_capacity(n);
        for _ in 0..n {
            let next = self
                .next_log_probs(&context)?
                .argmax(D::Minus1)?
                .to_dtype(DType::I64)?;
            let next = next.reshape((b, 1))?;
            context = Tensor::cat(&[&context, &next], 1)?;
            generated.push(next);
        }
        if generated.is_empty() {
            return Tensor::zeros((b, 0), DType::I64, &Device::Cpu);
        }
        Tensor::cat(&generated, 1)
    }

    /// One SGD step on the hidden-state projection from a remote gradient `grad`
    /// (`[B, S, 1024]`, the gradient of a loss with respect to [`TinyLm::hidden`]'s output):
    /// `P ← P − lr · Σ hᵀ · grad`. Returns the gradient's L2 norm.
    pub fn apply_hidden_grad(&self, ids: &Tensor, grad: &Tensor, lr: f64) -> Result<f32> {
        let h = self.states(ids)?;
        let grad = grad.to_dtype(DType::F32)?;
        if grad.dims() != [h.dim(0)?, h.dim(1)?, NETWORK_DIM] {
            candle_core::bail!("gradient shape {:?} does not match the output", grad.dims());
        }
        let d = EMBED_DIM;
        let h2 = h.reshape(((), d))?;
        let g2 = grad.reshape(((), NETWORK_DIM))?;
        let dp = h2.t()?.matmul(&g2)?;
        let norm = grad.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        let mut proj = self.proj.write().unwrap_or_else(|e| e.into_inner());
        *proj = (&*proj - (dp * lr)?)?;
        self.backward_steps.fetch_add(1, Ordering::Relaxed);
        Ok(norm)
    }
}

/// A numerically stable log-softmax over the last dimension.
fn candle_nn_log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ids(rows: &[&[i64]]) -> Tensor {
        let s = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (rows.len(), s), &Device::Cpu).unwrap()
    }

    #[test]
    fn shapes_and_determinism() {
        let a = TinyLm::new(7).unwrap();
        let b = TinyLm::new(7).unwrap();
        let c = TinyLm::new(8).unwrap();
        let x = ids(&[&[1, 2, 3], &[4, 5, 6]]);
        let ha = a.hidden(&x).unwrap();
        assert_eq!(ha.dims(), &[2, 3, NETWORK_DIM]);
        let hb = b.hidden(&x).unwrap();
        let hc = c.hidden(&x).unwrap();
        let diff = |p: &Tensor, q: &Tensor| {
            (p - q)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(diff(&ha, &hb), 0.0);
        assert!(diff(&ha, &hc) > 1.0);
        assert_eq!(a.logits(&x).unwrap().dims(), &[2, 3, VOCAB_SIZE]);
        assert_eq!(a.generate(&x, 4).unwrap().dims(), &[2, 4]);
    }

    #[test]
    fn causal_prefix_does_not_see_the_future() {
        let m = TinyLm::new(1).unwrap();
        let short = m.hidden(&ids(&[&[10, 20]])).unwrap();
        let long = m.hidden(&ids(&[&[10, 20, 30]])).unwrap();
        let prefix = long.i((.., 0..2, ..)).unwrap();
        let d = (short - prefix).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn phrases_are_sorted_and_sum_to_one() {
        let m = TinyLm::new(3).unwrap();
        let p = m.phrases(&ids(&[&[5, 6, 7]]), 8).unwrap();
        assert_eq!(p.dims(), &[1, 9, 2]);
        let rows = p.get(0).unwrap().to_vec2::<f32>().unwrap();
        for w in rows[..8].windows(2) {
            assert!(w[0][0] >= w[1][0]);
        }
        let total: f32 =
            rows[..8].iter().map(|r| r[0]).sum::<f32>() + rows[8][0] * (VOCAB_SIZE - 8) as f32;
        assert!((total - 1.0).abs() < 1e-3, "{total}");
        assert_eq!(rows[8][1], IGNORE_INDEX);
    }

    #[test]
    fn backward_step_lowers_the_loss() {
        // Loss = sum(hidden): its gradient is all ones; one step must lower it.
        let m = TinyLm::new(11).unwrap();
        let x = ids(&[&[1, 2, 3, 4]]);
        let before = m
            .hidden(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let grad = Tensor::ones((1, 4, NETWORK_DIM), DType::F32, &Device::Cpu).unwrap();
        let norm = m.apply_hidden_grad(&x, &grad, 0.01).unwrap();
        assert!((norm - (4.0 * NETWORK_DIM as f32).sqrt()).abs() < 1e-2);
        let after = m
            .hidden(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(after < before, "{after} >= {before}");
        assert_eq!(m.backward_steps(), 1);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let m = TinyLm::new(1).unwrap();
        assert!(m.hidden(&ids(&[&[VOCAB_SIZE as i64]])).is_err());
        assert!(m.hidden(&ids(&[&[-1]])).is_err());
        let empty = Tensor::zeros((1, 0), DType::I64, &Device::Cpu).unwrap();
        assert!(m.hidden(&empty).is_err());
        let grad = Tensor::ones((1, 2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(m.apply_hidden_grad(&ids(&[&[1, 2]]), &grad, 0.1).is_err());
    }
}
