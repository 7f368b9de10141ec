//! Property tests: round trips for every dtype and random shapes through all encodings, and
//! hostile input never panics.
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use neuron_tensor::legacy::{self, LegacyTensor, Serializer};
use neuron_tensor::{BtTensor, Dtype, Limits, WireTensor, bt, frame, msgpack};
use proptest::prelude::*;

fn dtype() -> impl Strategy<Value = Dtype> {
    proptest::sample::select(Dtype::ALL.to_vec())
}

fn wire_tensor() -> impl Strategy<Value = WireTensor> {
    (dtype(), proptest::collection::vec(0usize..6, 0..5)).prop_flat_map(|(dtype, shape)| {
        let n: usize = shape.iter().product::<usize>() * dtype.size();
        proptest::collection::vec(any::<u8>(), n).prop_map(move |mut data| {
            if dtype == Dtype::Bool {
                data.iter_mut().for_each(|b| *b &= 1);
            }
            WireTensor::new(dtype, shape.clone(), data).unwrap()
        })
    })
}

fn small_limits() -> Limits {
    Limits::new()
        .with_max_bytes(1 << 16)
        .with_max_elements(1 << 16)
        .with_max_rank(8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trip(t in wire_tensor()) {
        if t.dtype == Dtype::BF16 {
            return Ok(());
        }
        let packed = msgpack::encode_wire(&t).unwrap();
        prop_assert_eq!(&packed, &msgpack::encode_ndarray(t.dtype, &t.shape, &t.data));
        prop_assert_eq!(msgpack::header_len(&t.shape, t.data.len()) + t.data.len(), packed.len());
        let a = msgpack::decode_ndarray(&packed, &Limits::default()).unwrap();
        prop_assert_eq!(WireTensor::from(a), t.clone());
        let b = msgpack::decode_ndarray_bytes(&Bytes::from(packed), &Limits::default()).unwrap();
        prop_assert_eq!(WireTensor::from(b), t);
    }

    #[test]
    fn bt_round_trip(t in wire_tensor()) {
        let enc = BtTensor::from_wire(&t).unwrap();
        let json = serde_json::to_string(&enc).unwrap();
        let parsed: BtTensor = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&parsed, &enc);
        let back = parsed.to_wire(&Limits::default()).unwrap();
        let expected = t.cast(bt::bt_dtype(t.dtype));
        prop_assert_eq!(&back, &expected);
        // decode -> encode is byte-exact
        prop_assert_eq!(BtTensor::from_wire(&back).unwrap(), enc.clone());
        // through candle as well
        let c = parsed.to_candle(&Limits::default()).unwrap();
        let again = WireTensor::from_candle_as(&c, back.dtype).unwrap();
        prop_assert_eq!(BtTensor::from_wire(&again).unwrap(), enc);
    }

    #[test]
    fn frame_round_trip(t in wire_tensor()) {
        let f = frame::encode_wire(&t).unwrap();
        let (h, d) = frame::encode_parts(t.dtype, &t.shape, t.data.clone()).unwrap();
        prop_assert_eq!(&[&h[..], &d[..]].concat()[..], &f[..]);
        prop_assert_eq!(frame::frame_len(&f, &Limits::default()).unwrap(), Some(f.len()));
        let back = frame::decode(f.clone(), &Limits::default()).unwrap();
        prop_assert_eq!(&back, &t);
        // via candle: widened containers narrow back exactly
        let c = back.to_candle().unwrap();
        prop_assert_eq!(c.dtype(), t.dtype.to_candle());
        prop_assert_eq!(c.dims(), &t.shape[..]);
        prop_assert_eq!(&frame::encode_as(&c, t.dtype).unwrap()[..], &f[..]);
        if t.dtype.is_native_in_candle() {
            prop_assert_eq!(&frame::encode(&c).unwrap()[..], &f[..]);
        }
        // appending forms: same bytes after whatever the buffer held
        let mut buf = b"head".to_vec();
        frame::encode_wire_into(&t, &mut buf).unwrap();
        prop_assert_eq!(&buf[4..], &f[..]);
        buf.truncate(4);
        frame::encode_into(&c, &mut buf).unwrap();
        prop_assert_eq!(&buf[4..], &frame::encode(&c).unwrap()[..]);
        // borrowed decode: same tensor, data in place
        let v = frame::decode_view(&f, &Limits::default()).unwrap();
        prop_assert_eq!(v.dtype(), t.dtype);
        prop_assert_eq!(v.shape(), &t.shape[..]);
        prop_assert_eq!(v.data(), &t.data[..]);
        prop_assert_eq!(v.data().as_ptr(), f[f.len() - t.data.len()..].as_ptr());
        prop_assert_eq!(v.to_wire(), t);
        prop_assert_eq!(v.to_candle().unwrap().to_string(), c.to_string());
    }

    #[test]
    fn legacy_round_trip(t in wire_tensor(), cmppack in any::<bool>()) {
        let ser = if cmppack { Serializer::Cmppack } else { Serializer::Msgpack };
        let msg = legacy::encode(&t, ser).unwrap();
        let bytes = prost::Message::encode_to_vec(&msg);
        let parsed: LegacyTensor = prost::Message::decode(Bytes::from(bytes)).unwrap();
        let back = legacy::decode(&parsed, &Limits::default()).unwrap();
        let logical = legacy::legacy_dtype(t.dtype);
        let expected = if cmppack {
            t.cast(Dtype::F16).cast(logical)
        } else {
            t.cast(logical)
        };
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn cast_through_f64_is_exact_for_narrow_types(t in wire_tensor()) {
        // every dtype but int64 fits float64 exactly (NaN payloads aside)
        if matches!(t.dtype, Dtype::I64 | Dtype::F64) {
            return Ok(());
        }
        let wide = t.cast(Dtype::F64);
        let back = wide.cast(t.dtype);
        let expected = if t.is_float_with_nan() { None } else { Some(t.clone()) };
        if let Some(e) = expected {
            prop_assert_eq!(back, e);
        }
    }

    // ---- hostile input: errors, never panics ----

    #[test]
    fn msgpack_random_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = msgpack::decode_ndarray(&buf, &small_limits());
    }

    #[test]
    fn msgpack_mutated(t in wire_tensor(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        if t.dtype == Dtype::BF16 {
            return Ok(());
        }
        let mut packed = msgpack::encode_wire(&t).unwrap();
        for (i, v) in edits {
            let i = i.index(packed.len());
            packed[i] = v;
        }
        let _ = msgpack::decode_ndarray(&packed, &small_limits());
        let n = cut.index(packed.len());
        prop_assert!(msgpack::decode_ndarray(&packed[..n], &small_limits()).is_err());
    }

    #[test]
    fn frame_random_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256), magic in any::<bool>()) {
        let mut buf = buf;
        if magic && buf.len() >= 8 {
            buf[..5].copy_from_slice(b"NTSR\x01");
            buf[7] = 0;
        }
        same_frame_decode(&buf, &small_limits())?;
        let _ = frame::frame_len(&buf, &small_limits());
    }

    #[test]
    fn frame_mutated(t in wire_tensor(), i in any::<prop::sample::Index>(), v in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut f = frame::encode_wire(&t).unwrap().to_vec();
        let n = cut.index(f.len());
        prop_assert!(frame::decode(Bytes::copy_from_slice(&f[..n]), &small_limits()).is_err());
        prop_assert!(frame::decode_view(&f[..n], &small_limits()).is_err());
        let i = i.index(f.len());
        f[i] = v;
        same_frame_decode(&f, &small_limits())?;
        if let Ok(w) = frame::decode_view(&f, &small_limits()) {
            let _ = w.to_candle();
        }
        if let Ok(w) = frame::decode(Bytes::from(f), &small_limits()) {
            let _ = w.to_candle();
        }
    }

    #[test]
    fn bt_random_strings(buffer in ".{0,200}", dtype in "[a-z0-9.]{0,12}", shape in proptest::collection::vec(any::<i64>(), 0..6)) {
        let t = BtTensor { buffer: Some(buffer), dtype, shape };
        let _ = t.to_candle(&small_limits());
    }

    #[test]
    fn bt_random_base64(raw in proptest::collection::vec(any::<u8>(), 0..200), d in dtype(), shape in proptest::collection::vec(-2i64..1000, 0..4)) {
        use base64::Engine as _;
        let buffer = base64::engine::general_purpose::STANDARD.encode(&raw);
        let t = BtTensor { buffer: Some(buffer), dtype: d.numpy_name().into(), shape };
        let _ = t.to_candle(&small_limits());
    }

    #[test]
    fn bt_mutated(t in wire_tensor(), i in any::<prop::sample::Index>(), v in any::<u8>(), target in dtype(), shape in proptest::collection::vec(0i64..8, 0..4)) {
        use base64::Engine as _;
        let enc = BtTensor::from_wire(&t).unwrap();
        let mut raw = base64::engine::general_purpose::STANDARD.decode(enc.buffer.unwrap()).unwrap();
        let i = i.index(raw.len());
        raw[i] = v;
        let t2 = BtTensor {
            buffer: Some(base64::engine::general_purpose::STANDARD.encode(&raw)),
            dtype: target.numpy_name().into(),
            shape,
        };
        let _ = t2.to_candle(&small_limits());
    }

    #[test]
    fn legacy_random(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = <LegacyTensor as prost::Message>::decode(Bytes::from(buf)) {
            let _ = legacy::decode(&m, &small_limits());
        }
    }
}

/// `frame::decode` and `frame::decode_view` give the same tensor or the same error.
fn same_frame_decode(buf: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let owned = frame::decode(Bytes::copy_from_slice(buf), limits);
    let view = frame::decode_view(buf, limits);
    match (owned, view) {
        (Ok(w), Ok(v)) => prop_assert_eq!(v.to_wire(), w),
        (Err(a), Err(b)) => prop_assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (a, b) => prop_assert!(false, "decode {:?} but decode_view {:?}", a, b),
    }
    Ok(())
}

trait NanCheck {
    fn is_float_with_nan(&self) -> bool;
}

impl NanCheck for WireTensor {
    fn is_float_with_nan(&self) -> bool {
        let w = self.cast(Dtype::F64);
        self.dtype.is_float()
            && w.data
                .chunks_exact(8)
                .any(|c| f64::from_le_bytes(c.try_into().unwrap()).is_nan())
    }
}
