//! Criterion benches of the nonce verifier's check + commit.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use neuron_protocol::nonce::{Config, NonceInput, NonceVerifier};

const NOW: u64 = 1_800_000_000_000_000_000;
const HOTKEY: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn input(uuid: &str, nonce: u64) -> NonceInput<'_> {
    NonceInput {
        hotkey: HOTKEY,
        uuid: Some(uuid),
        nonce: Some(nonce),
        version: Some(10_005_000),
        timeout_s: Some(12.0),
    }
}

/// One client sending in order: the common case.
fn one_key(c: &mut Criterion) {
    for (name, config) in [("strict", Config::new()), ("sdk", Config::sdk())] {
        let mut verifier = NonceVerifier::new(config);
        let mut nonce = NOW - 1_000_000_000;
        c.bench_function(&format!("nonce/{name}/check+commit one key"), |b| {
            b.iter(|| {
                nonce += 1_000;
                let req = input("d90fcadc-e613-11f1-b657-02fc00000001", nonce);
                // The clock advances with the nonces, so the window never runs out.
                let now = nonce + 500_000;
                verifier.check(black_box(&req), now).expect("fresh");
                verifier.commit(black_box(&req), now).expect("fresh");
            })
        });
    }
}

/// Many clients round robin over 10 000 keys (a busy axon).
fn many_keys(c: &mut Criterion) {
    let uuids: Vec<String> = (0..10_000)
        .map(|i| format!("{i:08x}-e613-11f1-b657-02fc00000001"))
        .collect();
    for (name, config) in [("strict", Config::new()), ("sdk", Config::sdk())] {
        let mut verifier = NonceVerifier::new(config);
        let mut nonce = NOW - 1_000_000_000;
        let mut i = 0;
        c.bench_function(&format!("nonce/{name}/check+commit 10k keys"), |b| {
            b.iter(|| {
                nonce += 1_000;
                i = (i + 1) % uuids.len();
                let req = input(&uuids[i], nonce);
                // The clock advances with the nonces, so the window never runs out.
                let now = nonce + 500_000;
                verifier.check(black_box(&req), now).expect("fresh");
                verifier.commit(black_box(&req), now).expect("fresh");
            })
        });
    }
}

criterion_group!(benches, one_key, many_keys);
criterion_main!(benches);
