//! The shared spec vectors (shared/vectors/*.json, wire-modern §10, wire-legacy §3).
#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use neuron_tensor::legacy::{LegacyTensor, Serializer};
use neuron_tensor::{BtTensor, Dtype, Limits, WireTensor, legacy, msgpack};
use prost::Message;
use serde_json::Value;
use std::path::PathBuf;

fn vectors(file: &str) -> Value {
    // The vendored copy of the shared vectors (tests/vectors at the workspace root).
    let dir = std::env::var_os("NEURON_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors"));
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}); set NEURON_VECTORS", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn f32s(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

const SPEC_BUFFER: &str =
    "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/";

#[test]
fn modern_tensor_msgpack() {
    let v = vectors("modern-http.json");
    let tv = &v["tensor_msgpack"];
    let values: Vec<f32> = tv["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    let packed = msgpack::encode_ndarray(Dtype::F32, &[4], &data);
    assert_eq!(packed, hex_of(&tv["msgpack_hex"]));
    assert_eq!(packed.len(), 57);

    let w = WireTensor::new(Dtype::F32, vec![4], data.clone()).unwrap();
    let bt = BtTensor::from_wire(&w).unwrap();
    assert_eq!(bt.buffer.as_deref(), tv["buffer_base64"].as_str());
    assert_eq!(bt.buffer.as_deref(), Some(SPEC_BUFFER));
    assert_eq!(bt.dtype, "float32");
    assert_eq!(bt.shape, vec![4]);
    // JSON key order buffer, dtype, shape (the body-hash field serializes this way)
    assert_eq!(
        serde_json::to_string(&bt).unwrap(),
        format!(r#"{{"buffer":"{SPEC_BUFFER}","dtype":"float32","shape":[4]}}"#)
    );

    // candle path gives the same bytes
    let t = candle_core::Tensor::new(values.as_slice(), &candle_core::Device::Cpu).unwrap();
    assert_eq!(BtTensor::from_candle(&t).unwrap(), bt);

    let back = bt.to_candle(&Limits::default()).unwrap();
    assert_eq!(back.to_vec1::<f32>().unwrap(), values);
    let a = msgpack::decode_ndarray(&packed, &Limits::default()).unwrap();
    assert_eq!(
        (a.dtype, a.shape.as_slice(), &a.data[..]),
        (Dtype::F32, &[4usize][..], &data[..])
    );
}

#[test]
fn modern_captured_reply() {
    // §10/§15.2: the axon's ×2 reply
    let reply: BtTensor = serde_json::from_str(
        r#"{"buffer":"hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAACAPwAAAEAAAEBA","dtype":"float32","shape":[4]}"#,
    )
    .unwrap();
    let t = reply.to_candle(&Limits::default()).unwrap();
    assert_eq!(t.to_vec1::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0]);
    let request: BtTensor = serde_json::from_value(
        serde_json::json!({"buffer": SPEC_BUFFER, "dtype": "float32", "shape": [4]}),
    )
    .unwrap();
    let doubled = (request.to_candle(&Limits::default()).unwrap() * 2.0).unwrap();
    assert_eq!(BtTensor::from_candle(&doubled).unwrap(), reply);
}

#[test]
fn bt_tensor_model_fields() {
    // buffer is Optional with default None; dtype and shape are required
    let t: BtTensor = serde_json::from_str(r#"{"dtype":"float32","shape":[1]}"#).unwrap();
    assert_eq!(t.buffer, None);
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"{"buffer":null,"dtype":"float32","shape":[1]}"#
    );
    assert!(matches!(
        t.to_wire(&Limits::default()),
        Err(neuron_tensor::Error::MissingBuffer)
    ));
    assert!(serde_json::from_str::<BtTensor>(r#"{"buffer":"","shape":[1]}"#).is_err());
    assert!(serde_json::from_str::<BtTensor>(r#"{"buffer":"","dtype":"float32"}"#).is_err());
    // torch names are accepted on input
    let torch = BtTensor { dtype: "torch.float32".into(), ..serde_json::from_str(r#"{"buffer":"hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/","dtype":"float32","shape":[4]}"#).unwrap() };
    assert_eq!(torch.to_wire(&Limits::default()).unwrap().dtype, Dtype::F32);
}

#[test]
fn bt_tensor_bad_inputs() {
    let mk = |buffer: &str, dtype: &str, shape: Vec<i64>| BtTensor {
        buffer: Some(buffer.into()),
        dtype: dtype.into(),
        shape,
    };
    let l = Limits::default();
    use neuron_tensor::Error as E;
    assert!(matches!(
        mk("not base64!", "float32", vec![4]).to_wire(&l),
        Err(E::BadBase64)
    ));
    // valid base64 without padding is refused (standard base64 with padding)
    let two = WireTensor::new(Dtype::F32, vec![2], vec![0u8; 8]).unwrap();
    let padded = BtTensor::from_wire(&two).unwrap().buffer.unwrap();
    assert!(padded.ends_with('='));
    assert!(mk(&padded, "float32", vec![2]).to_wire(&l).is_ok());
    assert!(matches!(
        mk(padded.trim_end_matches('='), "float32", vec![2]).to_wire(&l),
        Err(E::BadBase64)
    ));
    assert!(matches!(
        mk("AAAA", "float32", vec![4]).to_wire(&l),
        Err(E::BadMsgpack(_))
    ));
    assert!(matches!(
        mk(SPEC_BUFFER, "float32", vec![5]).to_wire(&l),
        Err(E::ShapeMismatch { .. })
    ));
    assert!(matches!(
        mk(SPEC_BUFFER, "float32", vec![-4]).to_wire(&l),
        Err(E::BadShape { .. })
    ));
    assert!(matches!(
        mk(SPEC_BUFFER, "complex64", vec![4]).to_wire(&l),
        Err(E::UnknownDtype(_))
    ));
    assert!(matches!(
        mk(SPEC_BUFFER, "float32", vec![4]).to_wire(&l.with_max_bytes(8)),
        Err(E::TooLarge { .. })
    ));
    // reshape and cast as the SDK does
    let w = mk(SPEC_BUFFER, "int64", vec![2, 2]).to_wire(&l).unwrap();
    assert_eq!((w.dtype, w.shape.clone()), (Dtype::I64, vec![2, 2]));
    assert_eq!(w.data.len(), 32);
    assert_eq!(&w.data[8..16], &0i64.to_le_bytes()); // 0.5 truncates to 0
    assert_eq!(&w.data[16..24], &1i64.to_le_bytes());
    // [0] keeps the payload shape
    assert_eq!(
        mk(SPEC_BUFFER, "float32", vec![0])
            .to_wire(&l)
            .unwrap()
            .shape,
        vec![4]
    );
}

#[test]
fn bt_tensor_scalar_and_widening() {
    let l = Limits::default();
    let s = WireTensor::new(Dtype::F64, vec![], 2.5f64.to_le_bytes().to_vec()).unwrap();
    let bt = BtTensor::from_wire(&s).unwrap();
    assert_eq!(bt.shape, vec![0]);
    assert_eq!(bt.to_wire(&l).unwrap(), s);

    let bf = candle_core::Tensor::new(&[1.5f32, -2.0], &candle_core::Device::Cpu)
        .unwrap()
        .to_dtype(candle_core::DType::BF16)
        .unwrap();
    let bt = BtTensor::from_candle(&bf).unwrap();
    assert_eq!(bt.dtype, "float32");
    assert_eq!(
        bt.to_candle(&l).unwrap().to_vec1::<f32>().unwrap(),
        vec![1.5, -2.0]
    );

    let u = WireTensor::new(Dtype::U32, vec![1], u32::MAX.to_le_bytes().to_vec()).unwrap();
    let bt = BtTensor::from_wire(&u).unwrap();
    assert_eq!(bt.dtype, "int64");
    assert_eq!(
        &bt.to_wire(&l).unwrap().data[..],
        &i64::from(u32::MAX).to_le_bytes()
    );

    let torch = BtTensor::from_wire_named(&s, neuron_tensor::bt::DtypeNames::Torch).unwrap();
    assert_eq!(torch.dtype, "torch.float64");
}

#[test]
fn legacy_msgpack_payloads() {
    let v = vectors("legacy-grpc.json");
    let ints: Vec<u8> = [1i64, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        msgpack::encode_ndarray(Dtype::I64, &[1, 3], &ints),
        hex_of(&v["msgpack.int64[[1,2,3]]"])
    );
    let floats: Vec<u8> = [0.5f32, 1.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        msgpack::encode_ndarray(Dtype::F32, &[2], &floats),
        hex_of(&v["msgpack.float32[0.5,1.0]"])
    );
    let halves = neuron_tensor::cast::cast(&floats, Dtype::F32, Dtype::F16);
    assert_eq!(
        msgpack::encode_ndarray(Dtype::F16, &[2], &halves),
        hex_of(&v["msgpack.float16[0.5,1.0] (CMPPACK payload)"])
    );
    for key in [
        "msgpack.int64[[1,2,3]]",
        "msgpack.float32[0.5,1.0]",
        "msgpack.float16[0.5,1.0] (CMPPACK payload)",
    ] {
        let bytes = hex_of(&v[key]);
        let a = msgpack::decode_ndarray(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            msgpack::encode_ndarray(a.dtype, &a.shape, &a.data),
            bytes,
            "{key}"
        );
    }
}

#[test]
fn legacy_tensor_messages() {
    let v = vectors("legacy-grpc.json");
    let l = Limits::default();

    // int64 [[1,2,3]] MSGPACK
    let ints: Vec<u8> = [1i64, 2, 3].iter().flat_map(|x| x.to_le_bytes()).collect();
    let w = WireTensor::new(Dtype::I64, vec![1, 3], ints).unwrap();
    let msg = legacy::encode(&w, Serializer::Msgpack).unwrap();
    let expected = hex_of(&v["Tensor.int64[[1,2,3]].MSGPACK"]);
    assert_eq!(msg.encode_to_vec(), expected);
    let parsed = LegacyTensor::decode(Bytes::from(expected)).unwrap();
    assert_eq!(legacy::decode(&parsed, &l).unwrap(), w);
    let t = legacy::to_candle(&parsed, &l).unwrap();
    assert_eq!(t.to_vec2::<i64>().unwrap(), vec![vec![1, 2, 3]]);

    // float32 [0.5, 1.0] CMPPACK: payload float16, dtype FLOAT32
    let t = candle_core::Tensor::new(&[0.5f32, 1.0], &candle_core::Device::Cpu).unwrap();
    let msg = legacy::from_candle(&t, Serializer::Cmppack).unwrap();
    let expected = hex_of(&v["Tensor.float32[0.5,1.0].CMPPACK"]);
    assert_eq!(msg.encode_to_vec(), expected);
    let parsed = LegacyTensor::decode(Bytes::from(expected)).unwrap();
    let back = legacy::decode(&parsed, &l).unwrap();
    assert_eq!(back.dtype, Dtype::F32);
    assert_eq!(f32s(&back.data), vec![0.5, 1.0]);

    // the failed-synapse placeholder cannot be decoded
    let empty = LegacyTensor::decode(Bytes::from(hex_of(
        &v["Tensor.empty (failed synapse slot)"],
    )))
    .unwrap();
    assert_eq!(empty.version, legacy::VERSION);
    assert!(legacy::is_placeholder(&empty));
    assert!(legacy::decode(&empty, &l).is_err());
}

#[test]
fn legacy_rules() {
    let l = Limits::default();
    let ints: Vec<u8> = [1i64, 2, 3, 4]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let w = WireTensor::new(Dtype::I64, vec![4], ints).unwrap();
    let mut msg = legacy::encode(&w, Serializer::Msgpack).unwrap();
    // reshape to the proto shape
    msg.shape = vec![2, 2];
    assert_eq!(legacy::decode(&msg, &l).unwrap().shape, vec![2, 2]);
    msg.shape = vec![3];
    assert!(legacy::decode(&msg, &l).is_err());
    msg.shape = vec![-4];
    assert!(legacy::decode(&msg, &l).is_err());
    msg.shape = vec![4];
    // cast to the proto dtype
    msg.dtype = legacy::DataType::Float64 as i32;
    let f = legacy::decode(&msg, &l).unwrap();
    assert_eq!(f.dtype, Dtype::F64);
    assert_eq!(&f.data[8..16], &2.0f64.to_le_bytes());
    for bad in [0, 5, 7, -1] {
        msg.dtype = bad;
        assert!(legacy::decode(&msg, &l).is_err(), "dtype {bad}");
    }
    msg.dtype = legacy::DataType::Int64 as i32;
    msg.serializer = 9;
    assert!(legacy::decode(&msg, &l).is_err());

    // dtypes without a DataType are widened losslessly
    let b = WireTensor::new(Dtype::Bool, vec![3], vec![1u8, 0, 1]).unwrap();
    let m = legacy::encode(&b, Serializer::Msgpack).unwrap();
    assert_eq!(m.dtype, legacy::DataType::Int32 as i32);
    let d = legacy::decode(&m, &l).unwrap();
    assert_eq!(d, b.cast(Dtype::I32));
    let bf = WireTensor::new(
        Dtype::BF16,
        vec![1],
        half::bf16::from_f32(3.0).to_bits().to_le_bytes().to_vec(),
    )
    .unwrap();
    let m = legacy::encode(&bf, Serializer::Msgpack).unwrap();
    assert_eq!(m.dtype, legacy::DataType::Float32 as i32);
    assert_eq!(f32s(&legacy::decode(&m, &l).unwrap().data), vec![3.0]);
}
