//! Row-wise numerics of the language-model synapses, on plain `f32` slices (CPU).

use std::cmp::Ordering;

/// The `k` largest entries of `row`, descending (ties: lower index first), as
/// `(values, indices)`. NaN sorts above every number, like torch.
#[cfg(test)]
fn topk(row: &[f32], k: usize) -> (Vec<f32>, Vec<usize>) {
    let idx = topk_indices(row, k);
    (idx.iter().map(|&i| row[i]).collect(), idx)
}

/// The indices of [`topk`], best first.
fn topk_indices(row: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(row.len());
    if k <= SMALL_K {
        return topk_small(row, k);
    }
    let by_value_desc =
        |&a: &usize, &b: &usize| -> Ordering { desc(row[a], row[b]).then_with(|| a.cmp(&b)) };
    let mut idx: Vec<usize> = (0..row.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, by_value_desc);
    }
    idx.truncate(k);
    idx.sort_unstable_by(by_value_desc);
    idx
}

/// Up to this `k`, [`topk`] keeps the best `k` in a sorted buffer while scanning the row once:
/// no index vector the size of the vocabulary, and most entries cost one integer comparison
/// with the smallest kept.
const SMALL_K: usize = 64;

/// An integer that orders like [`desc`] reversed: larger is better. Numbers order as
/// `f32::total_cmp` does (so `+0.0` above `-0.0`), every NaN above `+inf` and equal to
/// every other NaN.
#[inline]
fn rank(v: f32) -> i32 {
    if v.is_nan() {
        return i32::MAX;
    }
    let bits = v.to_bits() as i32;
    // total_cmp's key: flip the magnitude bits of negative numbers
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// The indices of the `k` (≤ `row.len()`) best entries of `row`, best first. An entry joins
/// only when it ranks strictly above the worst kept: it comes later, so it loses ties.
fn topk_small(row: &[f32], k: usize) -> Vec<usize> {
    let mut kept: Vec<(i32, usize)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    // Blocks of 8 whose entries all rank at or below the worst kept are skipped with one
    // (vectorized) test; once `k` are kept, that is most blocks of a peaked row.
    let mut blocks = row.chunks_exact(8);
    let mut base = 0;
    for block in &mut blocks {
        let ranks: [i32; 8] = std::array::from_fn(|j| rank(block[j]));
        if kept.len() < k || ranks.iter().any(|&r| r > kept[k - 1].0) {
            for (j, &r) in ranks.iter().enumerate() {
                keep_ranked(&mut kept, k, base + j, r);
            }
        }
        base += 8;
    }
    for (j, &v) in blocks.remainder().iter().enumerate() {
        keep_ranked(&mut kept, k, base + j, rank(v));
    }
    kept.into_iter().map(|(_, i)| i).collect()
}

/// Puts entry `i` of rank `r` into `kept` (best first, at most `k`) if it ranks strictly
/// above the worst kept or `kept` is not full.
#[inline]
fn keep_ranked(kept: &mut Vec<(i32, usize)>, k: usize, i: usize, r: i32) {
    if kept.len() == k && kept.last().is_some_and(|&(worst, _)| r <= worst) {
        return;
    }
    let at = kept.partition_point(|&(kr, _)| kr >= r);
    kept.insert(at, (r, i));
    kept.truncate(k);
}

/// Descending order with NaN first (torch's `topk` treats NaN as the largest value).
fn desc(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => b.total_cmp(&a),
    }
}

/// Softmax of one row in place (max-subtracted, as torch).
pub(crate) fn softmax(row: &mut [f32]) {
    // max in 8 lanes (one dependency chain per lane, so it vectorizes); max ignores NaN as
    // the one-lane fold did
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut blocks = row.chunks_exact(8);
    for block in &mut blocks {
        for (lane, &v) in lanes.iter_mut().zip(block) {
            *lane = lane.max(v);
        }
    }
    let max = blocks
        .remainder()
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// `[probs(k) | ids(k)]` of the softmax of every row of `logits` (rows of width `width`).
pub(crate) fn pack_topk_probs(logits: &mut [f32], width: usize, k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len() / width.max(1) * 2 * k);
    for row in logits.chunks_mut(width.max(1)) {
        softmax(row);
        push_topk(&mut out, row, k);
    }
    out
}

/// `[values(k) | ids(k)]` of every row (no softmax): the gradient encoding.
pub(crate) fn pack_topk(values: &[f32], width: usize, k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len() / width.max(1) * 2 * k);
    for row in values.chunks(width.max(1)) {
        push_topk(&mut out, row, k);
    }
    out
}

fn push_topk(out: &mut Vec<f32>, row: &[f32], k: usize) {
    let ids = topk_indices(row, k);
    out.extend(ids.iter().map(|&i| row[i]));
    out.extend(ids.iter().map(|&i| i as f32));
}

/// A token id sent as a float; `None` unless finite and in `0..vocab` (truncated like
/// torch's `.long()`).
pub(crate) fn token_index(id: f32, vocab: usize) -> Option<usize> {
    if !id.is_finite() || id < 0.0 {
        return None;
    }
    let i = id.trunc() as usize;
    (i < vocab).then_some(i)
}

/// Expands `rows` rows of `[probs(k) | ids(k)]` to full-vocabulary log-probabilities
/// (wire-legacy §5 TEXT_CAUSAL_LM): every entry `log(clamp(1 − Σp, 1e-40, 1) / (V − k))`,
/// the top-k ids `log(p + 1e-40)`, NaN → 0 and ±inf → the largest finite values (torch's
/// `nan_to_num`). `None` when an id is not a token of the vocabulary.
pub(crate) fn unpack_log_probs(
    packed: &[f32],
    rows: usize,
    k: usize,
    vocab: usize,
) -> Option<Vec<f32>> {
    let rest = vocab.saturating_sub(k).max(1) as f32;
    let mut out = Vec::with_capacity(rows * vocab);
    for r in 0..rows {
        let (probs, ids) = packed.get(r * 2 * k..(r + 1) * 2 * k)?.split_at(k);
        let mass: f32 = probs.iter().sum();
        let floor = (1.0 - mass).clamp(1e-40, 1.0) / rest;
        let start = out.len();
        out.resize(start + vocab, finite(floor.ln()));
        for (&p, &id) in probs.iter().zip(ids) {
            out[start + token_index(id, vocab)?] = finite((p + 1e-40).ln());
        }
    }
    Some(out)
}

/// [`nan_to_num`] of one value.
fn finite(v: f32) -> f32 {
    let mut one = [v];
    nan_to_num(&mut one);
    one[0]
}

/// Scatters `rows` rows of `[values(k) | ids(k)]` back into zero rows of width `vocab`.
pub(crate) fn unpack_topk(packed: &[f32], rows: usize, k: usize, vocab: usize) -> Option<Vec<f32>> {
    let mut out = vec![0.0; rows * vocab];
    for r in 0..rows {
        let (values, ids) = packed.get(r * 2 * k..(r + 1) * 2 * k)?.split_at(k);
        for (&v, &id) in values.iter().zip(ids) {
            out[r * vocab + token_index(id, vocab)?] = v;
        }
    }
    Some(out)
}

/// torch's `nan_to_num(x, nan=0)`: NaN → 0, ±inf → the largest finite value of that sign.
pub(crate) fn nan_to_num(values: &mut [f32]) {
    for v in values {
        if v.is_nan() {
            *v = 0.0;
        } else if *v == f32::INFINITY {
            *v = f32::MAX;
        } else if *v == f32::NEG_INFINITY {
            *v = f32::MIN;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn topk_matches_a_full_sort_for_every_k() {
        // values with ties, NaN, infinities and signed zeros; every k from 0 past the length
        let pool = [
            0.5,
            -1.0,
            f32::NAN,
            0.5,
            -f32::NAN,
            f32::INFINITY,
            0.0,
            -0.0,
            3.0,
            f32::NEG_INFINITY,
        ];
        let mut seed = 0x9e37_79b9_u32;
        for len in [0usize, 1, 2, 7, 64, 65, 300] {
            let row: Vec<f32> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    pool[seed as usize % pool.len()]
                })
                .collect();
            let mut reference: Vec<usize> = (0..len).collect();
            reference.sort_by(|&a, &b| desc(row[a], row[b]).then_with(|| a.cmp(&b)));
            for k in [0, 1, 2, 8, 63, 64, 65, 100, len, len + 3] {
                let (values, ids) = topk(&row, k);
                let want = &reference[..k.min(len)];
                assert_eq!(ids, want, "len {len} k {k}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let want_values: Vec<f32> = want.iter().map(|&i| row[i]).collect();
                assert_eq!(bits(&values), bits(&want_values));
            }
        }
    }

    #[test]
    fn topk_is_descending_with_stable_ties() {
        let (v, i) = topk(&[0.1, 0.5, 0.5, 0.9, -1.0], 3);
        assert_eq!(v, [0.9, 0.5, 0.5]);
        assert_eq!(i, [3, 1, 2]);
        let (v, i) = topk(&[1.0, f32::NAN, 2.0], 2);
        assert!(v[0].is_nan());
        assert_eq!(i, [1, 2]);
        assert_eq!(topk(&[1.0], 5).1, [0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut row = [1000.0, 1000.0, 0.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((row[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn log_probs_floor_and_peaks() {
        // One row, k = 2, V = 4: p = [0.5, 0.25] at ids [3, 0].
        let out = unpack_log_probs(&[0.5, 0.25, 3.0, 0.0], 1, 2, 4).unwrap();
        assert_eq!(out.len(), 4);
        let floor = (0.25f32 / 2.0).ln();
        assert!((out[1] - floor).abs() < 1e-6 && (out[2] - floor).abs() < 1e-6);
        assert!((out[3] - 0.5f32.ln()).abs() < 1e-6);
        assert!((out[0] - 0.25f32.ln()).abs() < 1e-6);
        assert!(unpack_log_probs(&[0.5, 7.0], 1, 1, 4).is_none());
    }

    #[test]
    fn nan_to_num_matches_torch() {
        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.5];
        nan_to_num(&mut v);
        assert_eq!(v, [0.0, f32::MAX, f32::MIN, 1.5]);
    }
}
