//! Body hash of the `Hashed` example (wire-modern §4.2) and of a 1 MiB tensor field, beside
//! SHA3-256 of the same text alone.

#[path = "../tests/core_common/mod.rs"]
mod core_common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neuron_protocol::synapse::SynapseMessage;

fn hash(c: &mut Criterion) {
    let msg = SynapseMessage::new(core_common::example_hashed());
    c.bench_function("core_hash/hashed_example", |b| {
        b.iter(|| black_box(&msg).body_hash())
    });

    // 1 MiB of float32 as base64 in the JSON body: the hashed text is ~1.4 MB.
    let mut tensor = core_common::example_tensor();
    tensor.buffer = "A".repeat(1_398_104);
    let big = SynapseMessage::new(core_common::TensorEcho {
        tensor: Some(tensor),
        scale: 2.0,
    });
    let mut group = c.benchmark_group("core_hash");
    group.throughput(Throughput::Bytes(1_398_104));
    group.sample_size(20);
    group.bench_function("tensor_1mib", |b| b.iter(|| black_box(&big).body_hash()));
    // The floor: SHA3-256 of the same base64 text alone, without rendering Python `str()`.
    let text = "A".repeat(1_398_104);
    group.bench_function("sha3_only_1mib", |b| {
        b.iter(|| {
            use sha3::Digest;
            black_box(sha3::Sha3_256::digest(black_box(text.as_bytes())))
        })
    });
    group.finish();
}

criterion_group!(benches, hash);
criterion_main!(benches);
