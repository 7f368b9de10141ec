//! Encode + decode throughput of the three tensor encodings against a plain memcpy.
//!
//! Every "encode+decode" starts from a candle f32 tensor and ends with a decoded
//! [`WireTensor`]; `+candle` variants go all the way back into a candle tensor.
//! `memcpy` is `to_vec()` (allocation + copy, as an encoder must allocate) and
//! `memcpy_prealloc` a `copy_from_slice` into an existing buffer.
//! `frame_encode_into_decode_view` is the allocation-free frame pair (`frame::encode_into`
//! into a reused, cleared buffer, then the borrowing `frame::decode_view`), to be read
//! against `memcpy_prealloc`.
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use candle_core::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use neuron_tensor::{BtTensor, Dtype, Limits, WireTensor, frame, msgpack};
use std::hint::black_box;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (1 << 20, "1MiB"), (16 << 20, "16MiB")];

fn bench(c: &mut Criterion) {
    let limits = Limits::new().with_max_bytes(64 << 20);
    let mut g = c.benchmark_group("tensor");
    for (bytes, label) in SIZES {
        let n = bytes / 4;
        let values: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let tensor = Tensor::from_vec(values, n, &Device::Cpu).unwrap();
        let wire = WireTensor::from_candle(&tensor).unwrap();
        let raw: Vec<u8> = wire.data.to_vec();
        g.throughput(Throughput::Bytes(bytes as u64));

        g.bench_with_input(BenchmarkId::new("memcpy", label), &raw, |b, raw| {
            b.iter(|| black_box(black_box(raw).to_vec()))
        });
        let mut dst = vec![0u8; bytes];
        g.bench_with_input(
            BenchmarkId::new("memcpy_prealloc", label),
            &raw,
            |b, raw| {
                b.iter(|| {
                    dst.copy_from_slice(black_box(raw));
                    black_box(&dst);
                })
            },
        );

        g.bench_with_input(
            BenchmarkId::new("frame_encode_decode", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    let f = frame::encode(black_box(t)).unwrap();
                    black_box(frame::decode(f, &limits).unwrap())
                })
            },
        );
        // the same pair without allocating: a reused buffer, a borrowed decode
        let mut buf = Vec::with_capacity(frame::header_len(1) + bytes);
        g.bench_with_input(
            BenchmarkId::new("frame_encode_into_decode_view", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    buf.clear();
                    frame::encode_into(black_box(t), &mut buf).unwrap();
                    black_box(frame::decode_view(black_box(&buf), &limits).unwrap());
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("frame_encode_decode+candle", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    let f = frame::encode(black_box(t)).unwrap();
                    black_box(frame::decode(f, &limits).unwrap().to_candle().unwrap())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("msgpack_encode_decode", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    let w = WireTensor::from_candle(black_box(t)).unwrap();
                    let packed =
                        Bytes::from(msgpack::encode_ndarray(Dtype::F32, &w.shape, &w.data));
                    black_box(msgpack::decode_ndarray_bytes(&packed, &limits).unwrap())
                })
            },
        );

        g.bench_with_input(
            BenchmarkId::new("bt_encode_decode", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    let enc = BtTensor::from_candle(black_box(t)).unwrap();
                    black_box(enc.to_wire(&limits).unwrap())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("bt_encode_decode+candle", label),
            &tensor,
            |b, t| {
                b.iter(|| {
                    let enc = BtTensor::from_candle(black_box(t)).unwrap();
                    black_box(enc.to_candle(&limits).unwrap())
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
