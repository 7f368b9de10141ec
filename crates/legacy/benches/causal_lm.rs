//! The axon's share of a `TEXT_CAUSAL_LM` call: softmax, top-k packing and serialization of
//! a `[2, 16, 64]` logits tensor (the fan-out benchmark's model), beside a reference in
//! the same run: one libm `exp` per logit and nothing else, the least a straightforward
//! softmax does.
//!
//! `cargo bench -p neuron-legacy --bench causal_lm`
#![allow(missing_docs)]

use std::hint::black_box;

use candle_core::{Device, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use neuron_legacy::SynapseSpec;

const B: usize = 2;
const S: usize = 16;
const V: usize = 64;

fn bench(c: &mut Criterion) {
    let inputs = Tensor::from_vec(
        (0..(B * S) as i64).collect::<Vec<_>>(),
        (B, S),
        &Device::Cpu,
    )
    .expect("inputs");
    // peaked rows, as the fan-out benchmark's model gives: 8.0 at one id, 0 elsewhere
    let mut values = vec![0f32; B * S * V];
    for r in 0..B * S {
        values[r * V + (r + 1) % V] = 8.0;
    }
    let logits = Tensor::from_vec(values.clone(), (B, S, V), &Device::Cpu).expect("logits");
    let spec = SynapseSpec::causal_lm(8);

    let mut group = c.benchmark_group("causal_lm_2x16x64_top8");
    group.bench_function("encode_response", |b| {
        b.iter(|| spec.encode_response(black_box(&inputs), black_box(&logits)))
    });
    group.bench_function("reference_libm_exp_per_logit", |b| {
        b.iter(|| {
            let v: Vec<f32> = black_box(&values).iter().map(|x| x.exp()).collect();
            v
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
