//! `frame::encode_into` / `frame::decode_view` against `frame::encode` / `frame::decode`,
//! for every dtype and shapes from scalars to empty and non-contiguous tensors.
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::BytesMut;
use candle_core::{Device, Tensor};
use neuron_tensor::{Dtype, Limits, WireTensor, frame};

const SHAPES: [&[usize]; 7] = [&[], &[1], &[0], &[5], &[2, 0, 4], &[2, 3], &[1, 2, 3, 4]];

/// A tensor of `dtype` and `shape` whose bytes are all different (0/1 for bool).
fn patterned(dtype: Dtype, shape: &[usize]) -> WireTensor {
    let n: usize = shape.iter().product::<usize>() * dtype.size();
    let data: Vec<u8> = (0..n)
        .map(|i| {
            let b = (i * 37 % 251) as u8;
            if dtype == Dtype::Bool { b & 1 } else { b }
        })
        .collect();
    WireTensor::new(dtype, shape.to_vec(), data).unwrap()
}

#[test]
fn encode_into_and_decode_view_match_the_owned_pair_for_every_dtype() {
    let limits = Limits::DEFAULT;
    let mut buf = Vec::new();
    let mut bytes_mut = BytesMut::new();
    for dtype in Dtype::ALL {
        for shape in SHAPES {
            let w = patterned(dtype, shape);
            let c = w.to_candle().unwrap();
            let owned = frame::encode(&c).unwrap();

            buf.clear();
            frame::encode_into(&c, &mut buf).unwrap();
            assert_eq!(&buf[..], &owned[..], "{dtype} {shape:?}");
            bytes_mut.clear();
            frame::encode_into(&c, &mut bytes_mut).unwrap();
            assert_eq!(&bytes_mut[..], &owned[..], "{dtype} {shape:?}");

            let decoded = frame::decode(owned.clone(), &limits).unwrap();
            let view = frame::decode_view(&buf, &limits).unwrap();
            assert_eq!(view.dtype(), decoded.dtype);
            assert_eq!(view.shape(), decoded.shape);
            assert_eq!(view.shape(), *shape);
            assert_eq!(view.rank(), shape.len());
            assert_eq!(view.numel(), decoded.numel());
            assert_eq!(view.data(), &decoded.data[..]);
            assert_eq!(view.frame_len(), buf.len());
            assert_eq!(view.to_wire(), decoded);
            let back = view.to_candle().unwrap();
            assert_eq!(back.dims(), c.dims());
            assert_eq!(back.dtype(), c.dtype());
            assert_eq!(back.to_string(), c.to_string());

            // the wire dtype (int8, bool) survives the appending wire encoder
            buf.clear();
            frame::encode_wire_into(&w, &mut buf).unwrap();
            assert_eq!(&buf[..], &frame::encode_wire(&w).unwrap()[..]);
            assert_eq!(frame::decode_view(&buf, &limits).unwrap().to_wire(), w);
        }
    }
}

#[test]
fn non_contiguous_and_offset_tensors_encode_into_as_encode_does() {
    let t = Tensor::arange(0i64, 24, &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 4))
        .unwrap();
    let cases = [
        t.transpose(0, 2).unwrap(),
        t.narrow(2, 1, 2).unwrap(),
        t.narrow(0, 1, 1).unwrap(),
        t.get(1).unwrap().get(2).unwrap().get(3).unwrap(),
        // a stride of 0 on a dimension larger than 1: not contiguous
        t.get(0)
            .unwrap()
            .unsqueeze(0)
            .unwrap()
            .broadcast_as((2, 3, 4))
            .unwrap(),
        // size-1 dimensions may carry any stride and are still contiguous
        t.narrow(2, 3, 1).unwrap().transpose(1, 2).unwrap(),
        t.narrow(1, 2, 1).unwrap().unsqueeze(3).unwrap(),
        // an empty dimension
        t.narrow(1, 0, 0).unwrap(),
    ];
    let mut buf = Vec::with_capacity(1024);
    for c in cases {
        buf.clear();
        frame::encode_into(&c, &mut buf).unwrap();
        assert_eq!(&buf[..], &frame::encode(&c).unwrap()[..], "{:?}", c.dims());
        let v = frame::decode_view(&buf, &Limits::DEFAULT).unwrap();
        assert_eq!(v.shape(), c.dims());
        assert_eq!(v.to_candle().unwrap().to_string(), c.to_string());
    }
}

#[test]
fn a_reused_buffer_is_never_reallocated() {
    // 1 KiB of float32, as in the bench
    let t = Tensor::arange(0f32, 256f32, &Device::Cpu).unwrap();
    let mut buf = Vec::new();
    frame::encode_into(&t, &mut buf).unwrap();
    let (ptr, cap) = (buf.as_ptr(), buf.capacity());
    assert_eq!(cap, frame::header_len(1) + 1024);
    for _ in 0..100 {
        buf.clear();
        frame::encode_into(&t, &mut buf).unwrap();
        let v = frame::decode_view(&buf, &Limits::DEFAULT).unwrap();
        assert_eq!(v.data().len(), 1024);
        assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, cap));
    }
}
