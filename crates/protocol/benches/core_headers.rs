//! Header encode + decode of a typical `Dummy` synapse with both terminals filled
//! (the per-request header work of an axon or dendrite; target < 5 µs together).

#[path = "../tests/core_common/mod.rs"]
mod core_common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use neuron_protocol::headers::{from_headers, to_headers_with_hash};

fn headers(c: &mut Criterion) {
    let mut msg = core_common::example_dummy_message();
    msg.axon.status_code = Some(200);
    msg.axon.status_message = Some("Success".into());
    msg.axon.process_time = Some(3.790855407714844e-05);
    let hash = msg.body_hash().expect("dummy has no hash fields");
    let encoded = to_headers_with_hash(&msg, &hash);

    c.bench_function("core_headers/encode", |b| {
        b.iter(|| to_headers_with_hash(black_box(&msg), &hash))
    });
    c.bench_function("core_headers/decode", |b| {
        b.iter(|| {
            from_headers(
                black_box(&encoded)
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.as_bytes())),
            )
        })
    });
    c.bench_function("core_headers/encode+decode", |b| {
        b.iter(|| {
            let h = neuron_protocol::headers::to_headers(black_box(&msg));
            from_headers(h.iter().map(|(k, v)| (k.as_ref(), v.as_bytes())))
        })
    });
}

criterion_group!(benches, headers);
criterion_main!(benches);
