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
    if fits_kept(row, k) {
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
    let mut kept = Kept::new();
    kept.scan(row, k);
    kept.as_slice().iter().map(|&(_, i)| i as usize).collect()
}

/// The best (at most [`SMALL_K`]) entries seen, best first, as `(rank, index)`: a fixed
/// array on the stack, so packing a row allocates nothing.
struct Kept {
    len: usize,
    items: [(i32, u32); SMALL_K + 1],
}

impl Kept {
    fn new() -> Self {
        Self {
            len: 0,
            items: [(0, 0); SMALL_K + 1],
        }
    }

    fn as_slice(&self) -> &[(i32, u32)] {
        &self.items[..self.len]
    }

    /// Keeps the best `k` (1 ≤ `k` ≤ [`SMALL_K`], ≤ `row.len()` < 2³²) entries of `row`.
    fn scan(&mut self, row: &[f32], k: usize) {
        self.len = 0;
        if k == 0 {
            return;
        }
        // Blocks of 8 whose entries all rank at or below the worst kept are skipped with one
        // (vectorized) test; once `k` are kept, that is most blocks of a peaked row.
        let mut blocks = row.chunks_exact(8);
        let mut base = 0u32;
        for block in &mut blocks {
            let ranks: [i32; 8] = std::array::from_fn(|j| rank(block[j]));
            if self.len < k || ranks.iter().any(|&r| r > self.items[k - 1].0) {
                for (j, &r) in (0u32..).zip(&ranks) {
                    self.keep(k, base + j, r);
                }
            }
            base += 8;
        }
        for (j, &v) in (0u32..).zip(blocks.remainder()) {
            self.keep(k, base + j, rank(v));
        }
    }

    /// Puts entry `i` of rank `r` in (best first, at most `k`) if it ranks strictly above
    /// the worst kept or fewer than `k` are kept.
    #[inline]
    fn keep(&mut self, k: usize, i: u32, r: i32) {
        if self.len == k && r <= self.items[k - 1].0 {
            return;
        }
        let at = self.as_slice().partition_point(|&(kr, _)| kr >= r);
        // shift the worse ones down one place (the last falls off when full)
        let end = self.len.min(k - 1);
        self.items.copy_within(at..end, at + 1);
        self.items[at] = (r, i);
        self.len = (self.len + 1).min(k);
    }
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

/// Softmax of one row in place (max-subtracted, as torch). The max, the exponentials and
/// the sum run in 8 independent lanes, so the compiler vectorizes them; [`exp_nonpositive`]
/// is within 2 ulp of `f32::exp` (a test sweeps its whole range).
pub(crate) fn softmax(row: &mut [f32]) {
    // max ignores NaN, as a one-lane fold with f32::max does
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
    // every `v - max` is ≤ 0, NaN (a NaN entry, or ∞ − ∞) or −∞
    let mut sums = [0.0f32; 8];
    let mut blocks = row.chunks_exact_mut(8);
    for block in &mut blocks {
        for (sum, v) in sums.iter_mut().zip(block.iter_mut()) {
            *v = exp_nonpositive(*v - max);
            *sum += *v;
        }
    }
    let mut sum = 0.0f32;
    for v in blocks.into_remainder() {
        *v = exp_nonpositive(*v - max);
        sum += *v;
    }
    let sum = sum + sums.iter().sum::<f32>();
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// `e^x` for `x ≤ 0`, NaN or −∞ (what a max-subtracted softmax feeds it), without a libm
/// call and without branches, so that loops over it vectorize: Cody–Waite reduction
/// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, Cephes' degree-7 polynomial for `e^r`, and
/// `2^n` applied as two powers of two so results below `f32::MIN_POSITIVE` come out as
/// the subnormals `f32::exp` gives. `exp(0) = 1` exactly; NaN stays NaN; below −104 the
/// result is 0.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // adding and subtracting 1.5 · 2^23 rounds to the nearest integer (|t| < 2^22)
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-104.0, 0.0);
    let t = clamped * LOG2E + ROUND;
    let n = t - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = ((((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * r
        * r)
        + r
        + 1.0;
    // n in [−150, 0] sits in the low bits of `t` (one unit per ulp at 1.5 · 2^23): reading it
    // there instead of with `as i32` (a saturating, scalar conversion) keeps the loop
    // vectorized. 2^n = 2^(n/2) · 2^(n − n/2), each factor a normal float. For a NaN `x`
    // the bits are meaningless and the result is replaced below.
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = n >> 1;
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    let y = p * pow2(half) * pow2(n.wrapping_sub(half));
    if x.is_nan() { x } else { y }
}

/// `[probs(k) | ids(k)]` of the softmax of every row of `logits` (rows of width `width`).
pub(crate) fn pack_topk_probs(logits: &mut [f32], width: usize, k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len() / width.max(1) * 2 * k);
    let mut kept = Kept::new();
    for row in logits.chunks_mut(width.max(1)) {
        softmax(row);
        push_topk(&mut out, row, k, &mut kept);
    }
    out
}

/// `[values(k) | ids(k)]` of every row (no softmax): the gradient encoding.
pub(crate) fn pack_topk(values: &[f32], width: usize, k: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len() / width.max(1) * 2 * k);
    let mut kept = Kept::new();
    for row in values.chunks(width.max(1)) {
        push_topk(&mut out, row, k, &mut kept);
    }
    out
}

/// Appends `[values(k) | ids(k)]` of `row`, through `kept` (reused from row to row, so a
/// row allocates nothing) when `k` is small enough for it.
fn push_topk(out: &mut Vec<f32>, row: &[f32], k: usize, kept: &mut Kept) {
    let k = k.min(row.len());
    if fits_kept(row, k) {
        kept.scan(row, k);
        let best = kept.as_slice();
        out.extend(best.iter().map(|&(_, i)| row[i as usize]));
        out.extend(best.iter().map(|&(_, i)| i as f32));
    } else {
        let ids = topk_indices(row, k);
        out.extend(ids.iter().map(|&i| row[i]));
        out.extend(ids.iter().map(|&i| i as f32));
    }
}

/// Whether the best `k` of `row` fit a [`Kept`] (`k` ≤ [`SMALL_K`], indices below 2³²).
fn fits_kept(row: &[f32], k: usize) -> bool {
    k <= SMALL_K && u32::try_from(row.len()).is_ok()
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

    /// Distance in units in the last place (both finite and of the same sign).
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm_over_its_whole_range() {
        // every 61st float from 0 down to −110 (about 18 million), then the edges
        let mut worst = (0, 0.0f32);
        let stop = (-110.0f32).to_bits();
        let mut bits = 0.0f32.to_bits();
        while bits <= stop {
            let x = f32::from_bits(bits);
            let (got, want) = (exp_nonpositive(x), x.exp());
            let d = ulps(got, want);
            if d > worst.0 {
                worst = (d, x);
            }
            bits = if bits == 0 { 0x8000_0000 } else { bits + 61 };
        }
        assert!(worst.0 <= 2, "{} ulp at {}", worst.0, worst.1);
        for x in [
            0.0,
            -0.0,
            -1e-30,
            -f32::MIN_POSITIVE,
            -87.33,
            -87.34,
            -103.9,
            -103.98,
            -104.0,
            -200.0,
            f32::MIN,
        ] {
            let d = ulps(exp_nonpositive(x), x.exp());
            assert!(d <= 2, "{d} ulp at {x}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn softmax_matches_the_libm_formula() {
        // rows of every length 1..40 (lanes and remainders), peaked, flat and spread
        let mut seed = 0x2545_f491_u32;
        for len in 1..40usize {
            for scale in [0.0f32, 0.5, 8.0, 60.0] {
                let row: Vec<f32> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        (seed % 2001) as f32 / 1000.0 * scale - scale
                    })
                    .collect();
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f64> = row.iter().map(|&v| f64::from((v - max).exp())).collect();
                let sum: f64 = e.iter().sum();
                let mut got = row.clone();
                softmax(&mut got);
                for (g, e) in got.iter().zip(&e) {
                    let want = (e / sum) as f32;
                    assert!(
                        (g - want).abs() <= want * 1e-6 + 1e-12,
                        "len {len}: {g} vs {want}"
                    );
                }
            }
        }
        // a NaN or +inf entry makes the row NaN, as in torch
        for bad in [f32::NAN, f32::INFINITY] {
            let mut row = [1.0, bad, 2.0];
            softmax(&mut row);
            assert!(row.iter().all(|v| v.is_nan()), "{row:?}");
        }
        // −inf entries get probability 0
        let mut row = [f32::NEG_INFINITY, 0.0, 0.0];
        softmax(&mut row);
        assert_eq!(row, [0.0, 0.5, 0.5]);
    }

    #[test]
    fn packing_matches_softmax_then_a_full_sort() {
        let mut seed = 0x9e37_79b9_u32;
        for (width, k) in [(64, 8), (64, 64), (13, 5), (9, 9), (100, 70), (3, 1)] {
            let mut logits: Vec<f32> = (0..4 * width)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    // ties on purpose: few distinct values, one peak a row
                    if i % width == (seed as usize) % width {
                        8.0
                    } else {
                        (seed % 4) as f32
                    }
                })
                .collect();
            let packed = pack_topk_probs(&mut logits.clone(), width, k);
            let mut want = Vec::new();
            for row in logits.chunks_mut(width) {
                softmax(row);
                let mut idx: Vec<usize> = (0..width).collect();
                idx.sort_by(|&a, &b| desc(row[a], row[b]).then_with(|| a.cmp(&b)));
                idx.truncate(k);
                want.extend(idx.iter().map(|&i| row[i]));
                want.extend(idx.iter().map(|&i| i as f32));
            }
            assert_eq!(packed, want, "width {width} k {k}");
        }
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
