//! Signing and verification throughput for a ~200-byte message (the size of a dendrite
//! request message).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use neuron_wallet::{Keypair, VerifierCache};

fn message() -> Vec<u8> {
    // nonce.dendrite.axon.uuid.body-hash, padded to 200 bytes
    let mut m = b"1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.\
5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.d90fcadc-e613-11f1-b657-02fc00000001.\
a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        .to_vec();
    m.resize(200, b'x');
    m
}

fn bench(c: &mut Criterion) {
    let keypair = match Keypair::from_uri("//Bob") {
        Ok(k) => k,
        Err(e) => panic!("//Bob: {e}"),
    };
    let msg = message();
    let sig = keypair.sign(&msg);
    let public = keypair.public();
    let ss58 = keypair.ss58().to_owned();
    let sig_hex = sig.to_hex();
    let cache = VerifierCache::new(1024);

    let mut group = c.benchmark_group("sr25519_200B");
    group.bench_function("sign", |b| b.iter(|| keypair.sign(black_box(&msg))));
    group.bench_function("verify", |b| {
        b.iter(|| assert!(public.verify(black_box(&msg), black_box(&sig))))
    });
    group.bench_function("verifier_cache_verify", |b| {
        b.iter(|| cache.verify(black_box(&ss58), black_box(&msg), black_box(&sig_hex)))
    });
    group.bench_function("verify_uncached_from_ss58", |b| {
        b.iter(|| {
            let pk = neuron_wallet::PublicKey::from_ss58(black_box(&ss58));
            let s = neuron_wallet::Signature::from_hex(black_box(&sig_hex));
            matches!((pk, s), (Ok(pk), Ok(s)) if pk.verify(&msg, &s))
        })
    });
    group.finish();

    // neuron_wallet::batch: n signatures by n keys checked together, per batch; divide by n
    // for the cost per signature.
    let mut group = c.benchmark_group("sr25519_batch");
    let context = schnorrkel::signing_context(neuron_wallet::SIGNING_CONTEXT);
    for n in [4usize, 16, 64, 256] {
        let keys: Vec<schnorrkel::Keypair> =
            (0..n).map(|_| schnorrkel::Keypair::generate()).collect();
        let messages: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut m = message();
                m[..8].copy_from_slice(&(i as u64).to_le_bytes());
                m
            })
            .collect();
        let sigs: Vec<_> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign(context.bytes(m)))
            .collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public).collect();
        group.bench_function(format!("verify_batch_{n}"), |b| {
            b.iter(|| {
                let transcripts = messages.iter().map(|m| context.bytes(m));
                assert!(schnorrkel::verify_batch(transcripts, &sigs, &publics, false).is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
