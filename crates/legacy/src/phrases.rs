//! Top-k next-token *phrases* of `TEXT_CAUSAL_LM_NEXT` (wire-legacy §5).
//!
//! The axon's model produces `[B, topk + 1, L]`: per batch row, `topk` rows
//! `[p_k, tok_0, tok_1, …, −100 …]` and a final floor row `[p_floor, −100, …]`, padded
//! with [`IGNORE_INDEX`]. On the wire ([`compact`]) every token gets [`TOKEN_OFFSET`] added
//! and everything negative is dropped, giving a 1-D vector in which a value is a
//! probability marker iff it lies in `(−1e-6, 1 + 1e-6)` (ids are ≥ 2). The receiver
//! ([`unravel`]) cuts the vector at the markers back into `[B, topk + 1, maxlen]`.

use candle_core::{DType, Device, Tensor};
use neuron_tensor::Limits;

/// Padding of a phrase row (`ignore_index`).
pub const IGNORE_INDEX: f32 = -100.0;
/// Added to every token id on the wire, so ids never look like probabilities.
pub const TOKEN_OFFSET: f32 = 2.0;
/// Tolerance of the marker test and of the probability checks.
pub const ATOL: f32 = 1e-6;

/// Why a compact phrase vector cannot be unravelled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The vector is not 1-D.
    #[error("compact phrases must be 1-D, got shape {0:?}")]
    Rank(Vec<usize>),
    /// The number of probability markers is not `batch · (topk + 1)`.
    #[error("{batch} * ({topk} + 1) != {markers} probability markers")]
    Markers {
        /// Expected batch size.
        batch: usize,
        /// Expected topk.
        topk: usize,
        /// Markers found.
        markers: usize,
    },
    /// A batch row's probabilities do not sum into `[0, 1]`.
    #[error("probabilities of batch row {0} do not sum into [0, 1]")]
    ProbabilitySum(usize),
    /// The unravelled tensor would exceed the limits.
    #[error("unravelled phrases too large: {rows} x {width}")]
    TooLarge {
        /// `batch · (topk + 1)`.
        rows: usize,
        /// Longest phrase plus its probability.
        width: usize,
    },
    /// candle refused the tensor.
    #[error("candle: {0}")]
    Candle(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e.to_string())
    }
}

/// Whether `v` is a probability marker.
pub fn is_marker(v: f32) -> bool {
    -ATOL < v && v < 1.0 + ATOL
}

/// Compacts phrases `[…, L]` (normally `[B, topk + 1, L]`) into the 1-D wire form: adds
/// [`TOKEN_OFFSET`] to columns `1..L` of the last dimension, flattens row-major and keeps
/// the elements above −1. A tensor candle cannot read as `f32` compacts to an empty vector
/// (see [`try_compact`]).
pub fn compact(t: &Tensor) -> Tensor {
    try_compact(t).unwrap_or_else(|_| empty())
}

/// [`compact`], reporting candle's errors.
pub fn try_compact(t: &Tensor) -> candle_core::Result<Tensor> {
    let width = t.dims().last().copied().unwrap_or(1).max(1);
    let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let out: Vec<f32> = values
        .chunks(width)
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, &v)| if i == 0 { v } else { v + TOKEN_OFFSET })
        })
        .filter(|&v| v > -1.0)
        .collect();
    let n = out.len();
    Tensor::from_vec(out, n, &Device::Cpu)
}

/// An empty float32 vector `[0]`.
pub(crate) fn empty() -> Tensor {
    // An empty f32 vector of shape [0] on the CPU: candle has nothing to refuse.
    Tensor::from_vec(Vec::<f32>::new(), 0, &Device::Cpu).expect("empty CPU tensor")
}

/// Unravels a compact phrase vector into `[batch, topk + 1, maxlen]` (float32, padding
/// [`IGNORE_INDEX`], ids without the offset, clamped probabilities in column 0), within
/// [`Limits::DEFAULT`].
pub fn unravel(flat: &Tensor, batch: usize, topk: usize) -> Result<Tensor, Error> {
    unravel_with_limits(flat, batch, topk, &Limits::DEFAULT)
}

/// [`unravel`] with explicit limits on the result's element count.
pub fn unravel_with_limits(
    flat: &Tensor,
    batch: usize,
    topk: usize,
    limits: &Limits,
) -> Result<Tensor, Error> {
    if flat.rank() != 1 {
        return Err(Error::Rank(flat.dims().to_vec()));
    }
    let values = flat.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let (rows, width, out) = unravel_values(&values, batch, topk, limits)?;
    Ok(Tensor::from_vec(
        out,
        (rows / (topk + 1).max(1), topk + 1, width),
        &Device::Cpu,
    )?)
}

/// The arithmetic of [`unravel`]: returns `(rows, width, row-major values)`.
pub(crate) fn unravel_values(
    values: &[f32],
    batch: usize,
    topk: usize,
    limits: &Limits,
) -> Result<(usize, usize, Vec<f32>), Error> {
    let markers: Vec<usize> = (0..values.len())
        .filter(|&i| is_marker(values[i]))
        .collect();
    let per_row = topk.saturating_add(1);
    let rows = batch.saturating_mul(per_row);
    if markers.len() != rows || rows == 0 {
        return Err(Error::Markers {
            batch,
            topk,
            markers: markers.len(),
        });
    }
    let probs: Vec<f32> = markers.iter().map(|&i| values[i].clamp(0.0, 1.0)).collect();
    for (b, chunk) in probs.chunks(per_row).enumerate() {
        if !is_marker(chunk.iter().sum()) {
            return Err(Error::ProbabilitySum(b));
        }
    }
    let lens: Vec<usize> = markers
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(std::iter::once(1))
        .collect();
    let width = lens.iter().copied().max().unwrap_or(1);
    if rows
        .checked_mul(width)
        .is_none_or(|n| n > limits.max_elements)
    {
        return Err(Error::TooLarge { rows, width });
    }
    let mut out = vec![IGNORE_INDEX; rows * width];
    for (r, (&start, &len)) in markers.iter().zip(&lens).enumerate() {
        let row = &mut out[r * width..(r + 1) * width];
        row[0] = probs[r];
        for j in 1..len {
            row[j] = values[start + j] - TOKEN_OFFSET;
        }
    }
    Ok((rows, width, out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn phrases() -> Tensor {
        // B = 1, topk = 2, L = 3: two phrases and the floor row.
        let v = [
            0.5,
            10.0,
            11.0, //
            0.25,
            7.0,
            IGNORE_INDEX, //
            0.01,
            IGNORE_INDEX,
            IGNORE_INDEX,
        ];
        Tensor::from_vec(v.to_vec(), (1, 3, 3), &Device::Cpu).unwrap()
    }

    #[test]
    fn compact_then_unravel_round_trips() {
        let flat = compact(&phrases());
        assert_eq!(
            flat.to_vec1::<f32>().unwrap(),
            [0.5, 12.0, 13.0, 0.25, 9.0, 0.01]
        );
        let back = unravel(&flat, 1, 2).unwrap();
        assert_eq!(back.dims(), [1, 3, 3]);
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            phrases().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn unravel_refuses_wrong_marker_count_and_sums() {
        let flat = compact(&phrases());
        assert!(matches!(unravel(&flat, 2, 2), Err(Error::Markers { .. })));
        let bad = Tensor::from_vec(vec![0.9f32, 5.0, 0.9, 0.9], 4, &Device::Cpu).unwrap();
        assert_eq!(unravel(&bad, 1, 2).err(), Some(Error::ProbabilitySum(0)));
        let two_d = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(matches!(unravel(&two_d, 1, 1), Err(Error::Rank(_))));
    }

    #[test]
    fn unravel_is_bounded() {
        let mut v = vec![0.1f32];
        v.extend(std::iter::repeat_n(5.0, 1000));
        v.push(0.1);
        let flat = Tensor::from_vec(v, 1002, &Device::Cpu).unwrap();
        let tiny = Limits::DEFAULT.with_max_elements(100);
        assert!(matches!(
            unravel_with_limits(&flat, 1, 1, &tiny),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(unravel(&flat, 1, 1).unwrap().dims(), [1, 2, 1001]);
    }
}
