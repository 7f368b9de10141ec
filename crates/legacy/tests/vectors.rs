//! The synapse packings against `shared/vectors/legacy-grpc.json` and the rules of
//! wire-legacy §5–§6, one synapse type at a time.
#![allow(clippy::unwrap_used)]

use candle_core::{DType, Device, IndexOp, Tensor};
use neuron_legacy::{
    NETWORK_DIM, ReturnCode, Seq2SeqArgs, Serializer, SynapseKind, SynapseSpec, VOCAB_SIZE,
};
use neuron_protocol::legacy::{Synapse, Tensor as WireTensor, TensorMessage};
use neuron_tensor::Limits;
use prost::Message;

const CLIENT_SS58: &str = "5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD";
const FORWARD_LHS_123: &str = "08f20212303547574878316d79767877777450663756615665323468517855375970446165555959776e41443377744841323446442a4d08f202124285c4026e64c3c40474797065a33c6938c4046b696e64c400c4057368617065920103c40464617461c4180100000000000000020000000000000003000000000000001a020103300440014a021801";
const TENSOR_I64_123: &str = "08f202124285c4026e64c3c40474797065a33c6938c4046b696e64c400c4057368617065920103c40464617461c4180100000000000000020000000000000003000000000000001a0201033004";

fn cpu() -> Device {
    Device::Cpu
}

fn tokens(b: usize, s: usize) -> Tensor {
    let v: Vec<i64> = (0..(b * s) as i64).map(|i| i + 1).collect();
    Tensor::from_vec(v, (b, s), &cpu()).unwrap()
}

fn data_hex(spec: &SynapseSpec) -> String {
    hex::encode(&spec.to_wire().synapse_data)
}

#[test]
fn synapse_data_is_byte_exact() {
    assert_eq!(data_hex(&SynapseSpec::last_hidden_state()), "");
    assert_eq!(
        data_hex(&SynapseSpec::last_hidden_state_masked(vec![-1])),
        "3a0affffffffffffffffff01"
    );
    assert_eq!(data_hex(&SynapseSpec::causal_lm(512)), "108004");
    assert_eq!(data_hex(&SynapseSpec::causal_lm_next(4096)), "108020");
    assert_eq!(
        data_hex(&SynapseSpec::seq2seq(Seq2SeqArgs::default())),
        "10321880024005480258016d3333733f7d0000803f85010000803f8d010000803f950100001643980101"
    );
    let cmppack = SynapseSpec::causal_lm(4).with_forward_response_serializer(Serializer::Cmppack);
    assert_eq!(data_hex(&cmppack), "10042001");
    assert_eq!(
        hex::encode(SynapseSpec::causal_lm(512).to_wire().encode_to_vec()),
        "12031080041802"
    );
}

#[test]
fn wire_round_trips_every_kind() {
    let specs = [
        SynapseSpec::last_hidden_state(),
        SynapseSpec::last_hidden_state_masked(vec![0, -1, 3]),
        SynapseSpec::causal_lm(512),
        SynapseSpec::causal_lm_next(4096),
        SynapseSpec::seq2seq(Seq2SeqArgs::default()),
        SynapseSpec::causal_lm(4).with_forward_response_serializer(Serializer::Cmppack),
    ];
    for spec in specs {
        let back = Synapse::decode(spec.to_wire().encode_to_vec().as_slice()).unwrap();
        assert_eq!(SynapseSpec::from_wire(&back), Ok(spec));
    }
}

#[test]
fn from_wire_refusals() {
    let null = Synapse::default();
    assert_eq!(
        (SynapseSpec::from_wire(&null)).err(),
        Some(ReturnCode::NotImplemented)
    );
    let unknown = Synapse {
        synapse_type: 99,
        ..Synapse::default()
    };
    assert_eq!(
        (SynapseSpec::from_wire(&unknown)).err(),
        Some(ReturnCode::NotImplemented)
    );
    let garbage = Synapse {
        synapse_type: 2,
        synapse_data: vec![0xff, 0xff, 0xff].into(),
        ..Synapse::default()
    };
    assert_eq!(
        (SynapseSpec::from_wire(&garbage)).err(),
        Some(ReturnCode::RequestDeserializationException)
    );
    // TextCausalLM with forward_request_serializer_type = 7 (undefined).
    let bad_serializer = Synapse {
        synapse_type: 2,
        synapse_data: vec![0x10, 0x04, 0x18, 0x07].into(),
        ..Synapse::default()
    };
    assert_eq!(
        (SynapseSpec::from_wire(&bad_serializer)).err(),
        Some(ReturnCode::RequestDeserializationException)
    );
    // topk = -1.
    let negative = Synapse {
        synapse_type: 4,
        synapse_data: vec![
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]
        .into(),
        ..Synapse::default()
    };
    assert_eq!(
        (SynapseSpec::from_wire(&negative)).err(),
        Some(ReturnCode::InvalidRequest)
    );
}

#[test]
fn request_tensor_and_forward_message_match_the_vectors() {
    let inputs = Tensor::new(&[[1i64, 2, 3]], &cpu()).unwrap();
    let spec = SynapseSpec::last_hidden_state();
    let t = spec.encode_request(&inputs).unwrap();
    assert_eq!(hex::encode(t.encode_to_vec()), TENSOR_I64_123);
    let msg = TensorMessage {
        version: neuron_legacy::VERSION,
        hotkey: CLIENT_SS58.into(),
        tensors: vec![t.clone()],
        requires_grad: true,
        synapses: vec![spec.to_wire()],
        ..TensorMessage::default()
    };
    assert_eq!(hex::encode(msg.encode_to_vec()), FORWARD_LHS_123);
    // And back on the axon side.
    let decoded = spec.decode_request(&t, &Limits::DEFAULT).unwrap();
    assert_eq!(decoded.to_vec2::<i64>().unwrap(), [[1, 2, 3]]);
    // int32 inputs are cast to int64 before sending.
    let i32_inputs = Tensor::new(&[[1f32, 2., 3.]], &cpu()).unwrap();
    let t32 = spec.encode_request(&i32_inputs).unwrap();
    assert_eq!(hex::encode(t32.encode_to_vec()), TENSOR_I64_123);
}

#[test]
fn request_checks() {
    let spec = SynapseSpec::last_hidden_state();
    let one_d = Tensor::new(&[1i64, 2, 3], &cpu()).unwrap();
    assert_eq!(
        (spec.check_request(&one_d)).err(),
        Some(ReturnCode::RequestShapeException)
    );
    let empty = Tensor::zeros((0, 3), DType::I64, &cpu()).unwrap();
    assert_eq!(
        (spec.check_request(&empty)).err(),
        Some(ReturnCode::RequestShapeException)
    );
    let inputs = tokens(2, 3);
    for (mask, ok) in [
        (vec![-3, 2], true),
        (vec![-4], false),
        (vec![3], false),
        (vec![0, -3], false), // the same position twice
        (vec![0, 1, 2, -1], false),
    ] {
        let masked = SynapseSpec::last_hidden_state_masked(mask.clone());
        assert_eq!(masked.check_request(&inputs).is_ok(), ok, "{mask:?}");
    }
    // Shape errors found by the axon are RequestShapeException, payload errors
    // RequestDeserializationException.
    let t = spec.encode_request(&one_d.unsqueeze(0).unwrap()).unwrap();
    let masked = SynapseSpec::last_hidden_state_masked(vec![5]);
    assert_eq!(
        (masked.decode_request(&t, &Limits::DEFAULT)).err(),
        Some(ReturnCode::RequestShapeException)
    );
    assert_eq!(
        (spec.decode_request(&WireTensor::empty(), &Limits::DEFAULT)).err(),
        Some(ReturnCode::RequestDeserializationException)
    );
    let float = neuron_tensor::legacy::from_candle(
        &Tensor::new(&[[1f32, 2.]], &cpu()).unwrap(),
        Serializer::Msgpack,
    )
    .unwrap();
    assert_eq!(
        (spec.decode_request(&float, &Limits::DEFAULT)).err(),
        Some(ReturnCode::RequestDeserializationException)
    );
}

#[test]
fn object_arrays_are_refused() {
    // The int64 [[1,2,3]] vector with `kind` = b"O" (a pickle upstream).
    let buffer = hex::decode(
        "85c4026e64c3c40474797065a33c6938c4046b696e64c4014fc4057368617065920103c40464617461c418010000000000000002000000000000000300000000000000",
    )
    .unwrap();
    let t = WireTensor {
        version: 370,
        buffer: buffer.into(),
        shape: vec![1, 3],
        dtype: 4,
        ..WireTensor::default()
    };
    let f = SynapseSpec::last_hidden_state()
        .decode_request_detailed(&t, &Limits::DEFAULT)
        .unwrap_err();
    assert_eq!(f.code, ReturnCode::RequestDeserializationException);
    assert!(f.message.contains("pickle"), "{f}");
}

fn hidden(b: usize, s: usize) -> Tensor {
    let v: Vec<f32> = (0..b * s * NETWORK_DIM)
        .map(|i| (i % 997) as f32 + 0.5)
        .collect();
    Tensor::from_vec(v, (b, s, NETWORK_DIM), &cpu()).unwrap()
}

#[test]
fn last_hidden_state_full_and_masked() {
    let (b, s) = (2, 3);
    let inputs = tokens(b, s);
    let out = hidden(b, s);
    let spec = SynapseSpec::last_hidden_state();
    let wire = spec.encode_response(&inputs, &out).unwrap();
    assert_eq!(wire.shape, [2, 3, 1024]);
    let back = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.dims(), [2, 3, 1024]);
    assert_eq!(
        back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        out.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );

    let masked = SynapseSpec::last_hidden_state_masked(vec![-1, 0]);
    let wire = masked.encode_response(&inputs, &out).unwrap();
    assert_eq!(wire.shape, [4, 1024]);
    let back = masked
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.dims(), [2, 3, 1024]);
    for bi in 0..b {
        for p in [0, 2] {
            let got = back.i((bi, p)).unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(got, out.i((bi, p)).unwrap().to_vec1::<f32>().unwrap());
        }
        let zero = back.i((bi, 1)).unwrap().to_vec1::<f32>().unwrap();
        assert!(zero.iter().all(|&v| v == 0.0));
    }
    // A server that ignores the mask: the client masks for itself.
    let full = spec.encode_response(&inputs, &out).unwrap();
    let back2 = masked
        .decode_response(&inputs, &full, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(
        back2.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        back.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    // Wrong widths.
    let narrow = Tensor::zeros((2, 3, 8), DType::F32, &cpu()).unwrap();
    let (code, message) = spec.encode_response(&inputs, &narrow).unwrap_err();
    assert_eq!(code, ReturnCode::ResponseShapeException);
    assert!(message.contains("[2, 3, 1024]"), "{message}");
    let bad = spec.encode_response(&tokens(1, 3), &hidden(1, 3)).unwrap();
    assert_eq!(
        (spec.decode_response(&inputs, &bad, &Limits::DEFAULT)).err(),
        Some(ReturnCode::ResponseDeserializationException)
    );
}

#[test]
fn empty_outputs_are_empty_responses() {
    let inputs = tokens(1, 2);
    let nothing = Tensor::zeros((1, 0), DType::F32, &cpu()).unwrap();
    for spec in [
        SynapseSpec::last_hidden_state(),
        SynapseSpec::causal_lm(2),
        SynapseSpec::causal_lm_next(2),
        SynapseSpec::seq2seq(Seq2SeqArgs::default()),
    ] {
        let (code, message) = spec.encode_response(&inputs, &nothing).unwrap_err();
        assert_eq!(code, ReturnCode::EmptyResponse);
        assert_eq!(message, "Empty Response");
    }
}

fn peaked_logits(inputs: &Tensor, vocab: usize) -> Tensor {
    // Position (b, s) puts most of its mass on token (id + 1) % vocab.
    let ids = inputs.flatten_all().unwrap().to_vec1::<i64>().unwrap();
    let mut v = vec![0f32; ids.len() * vocab];
    for (r, id) in ids.iter().enumerate() {
        v[r * vocab + (*id as usize + 1) % vocab] = 20.0;
        v[r * vocab + (*id as usize + 2) % vocab] = 10.0;
    }
    let (b, s) = inputs.dims2().unwrap();
    Tensor::from_vec(v, (b, s, vocab), &cpu()).unwrap()
}

#[test]
fn causal_lm_packs_top_probabilities_then_ids() {
    let inputs = tokens(2, 2);
    let spec = SynapseSpec::causal_lm(3);
    let logits = peaked_logits(&inputs, VOCAB_SIZE);
    let wire = spec.encode_response(&inputs, &logits).unwrap();
    assert_eq!(wire.shape, [2, 2, 6]);
    let packed = neuron_tensor::legacy::to_candle(&wire, &Limits::DEFAULT).unwrap();
    let row = packed.i((0, 0)).unwrap().to_vec1::<f32>().unwrap();
    assert!(row[0] > 0.99 && row[1] > row[2], "{row:?}");
    assert_eq!(&row[3..5], [2.0, 3.0]); // ids of token 1: 2 and 3
    let logp = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(logp.dims(), [2, 2, VOCAB_SIZE]);
    let row = logp.i((1, 1)).unwrap().to_vec1::<f32>().unwrap();
    let argmax = (0..row.len())
        .max_by(|&a, &b| row[a].total_cmp(&row[b]))
        .unwrap();
    assert_eq!(argmax, 5); // token 4 → 5
    assert!((row[5] - (row[5].exp()).ln()).abs() < 1e-6);
    let floor_mass: f32 = row.iter().map(|v| v.exp()).sum();
    assert!((floor_mass - 1.0).abs() < 1e-3, "{floor_mass}");
    // Too few logits for topk, and the wrong batch.
    let small = Tensor::zeros((2, 2, 2), DType::F32, &cpu()).unwrap();
    assert_eq!(
        spec.encode_response(&inputs, &small).unwrap_err().0,
        ReturnCode::ResponseSerializationException
    );
    let wrong = peaked_logits(&tokens(1, 2), 16);
    assert_eq!(
        spec.encode_response(&inputs, &wrong).unwrap_err().0,
        ReturnCode::ResponseShapeException
    );
}

fn phrase_output(b: usize, topk: usize) -> Tensor {
    let l = 3;
    let mut v = Vec::new();
    for bi in 0..b {
        for k in 0..topk {
            let len = 1 + (k + bi) % 2;
            v.push(0.1);
            for j in 0..l - 1 {
                v.push(if j < len {
                    (100 + k + j) as f32
                } else {
                    -100.0
                });
            }
        }
        v.extend([0.01, -100.0, -100.0]);
    }
    Tensor::from_vec(v, (b, topk + 1, l), &cpu()).unwrap()
}

#[test]
fn causal_lm_next_compacts_and_unravels() {
    let (b, k) = (2, 3);
    let inputs = tokens(b, 4);
    let spec = SynapseSpec::causal_lm_next(k as u32);
    let out = phrase_output(b, k);
    let wire = spec.encode_response(&inputs, &out).unwrap();
    assert_eq!(wire.shape.len(), 1);
    let back = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.dims(), [b, k + 1, 3]);
    assert_eq!(
        back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        out.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    let wrong = phrase_output(b, k + 1);
    assert_eq!(
        spec.encode_response(&inputs, &wrong).unwrap_err().0,
        ReturnCode::ResponseShapeException
    );
}

#[test]
fn seq2seq_checks_batch_and_length() {
    let inputs = tokens(2, 3);
    let args = Seq2SeqArgs {
        num_to_generate: 4,
        ..Seq2SeqArgs::default()
    };
    let spec = SynapseSpec::seq2seq(args);
    let ids = Tensor::new(&[[5i64, 6, 7], [8, 9, 0]], &cpu()).unwrap();
    let wire = spec.encode_response(&inputs, &ids).unwrap();
    let back = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.to_vec2::<i64>().unwrap(), [[5, 6, 7], [8, 9, 0]]);
    let two_each = Tensor::zeros((4, 3), DType::I64, &cpu()).unwrap();
    assert_eq!(
        spec.encode_response(&inputs, &two_each).unwrap_err().0,
        ReturnCode::ResponseShapeException
    );
    let too_long = Tensor::ones((2, 5), DType::I64, &cpu()).unwrap();
    assert_eq!(
        spec.encode_response(&inputs, &too_long).unwrap_err().0,
        ReturnCode::ResponseShapeException
    );
}

#[test]
fn zeros_on_failure_shapes() {
    let inputs = tokens(2, 5);
    assert_eq!(
        SynapseSpec::last_hidden_state().zeros(&inputs).dims(),
        [2, 5, 1024]
    );
    assert_eq!(
        SynapseSpec::causal_lm(8).zeros(&inputs).dims(),
        [2, 5, VOCAB_SIZE]
    );
    let next = SynapseSpec::causal_lm_next(3).zeros(&inputs);
    assert_eq!(next.dims(), [2, 4, 2]);
    let rows = next.i(1).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(rows, [[0., 2.], [0., 2.], [0., 2.], [0., -100.]]);
    let s2s = SynapseSpec::seq2seq(Seq2SeqArgs::default()).zeros(&inputs);
    assert_eq!((s2s.dims(), s2s.dtype()), (&[2usize, 256][..], DType::F32));
    let bad = Tensor::new(&[1i64], &cpu()).unwrap();
    assert_eq!(SynapseSpec::last_hidden_state().zeros(&bad).dims(), [0]);
}

#[test]
fn gradients_round_trip_per_kind() {
    let inputs = tokens(2, 3);
    let limits = Limits::DEFAULT;
    // Hidden state: [B, S - len(mask), D] as is.
    let masked = SynapseSpec::last_hidden_state_masked(vec![0]);
    let g = hidden(2, 2);
    let back = masked
        .decode_grad(&inputs, &masked.encode_grad(&inputs, &g).unwrap(), &limits)
        .unwrap();
    assert_eq!(back.dims(), [2, 2, 1024]);
    assert_eq!(
        (masked.encode_grad(&inputs, &hidden(2, 3))).err(),
        Some(ReturnCode::RequestShapeException)
    );
    // Causal LM: top-k of the gradient, scattered back.
    let lm = SynapseSpec::causal_lm(2);
    let grad = peaked_logits(&inputs, VOCAB_SIZE);
    let wire = lm.encode_grad(&inputs, &grad).unwrap();
    assert_eq!(wire.shape, [2, 3, 4]);
    let back = lm.decode_grad(&inputs, &wire, &limits).unwrap();
    assert_eq!(back.dims(), [2, 3, VOCAB_SIZE]);
    let row = back.i((0, 1)).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!((row[3], row[4]), (20.0, 10.0));
    assert_eq!(row.iter().filter(|&&v| v != 0.0).count(), 2);
    // Phrases: column 0 only.
    let next = SynapseSpec::causal_lm_next(3);
    let grad = phrase_output(2, 3);
    let wire = next.encode_grad(&inputs, &grad).unwrap();
    assert_eq!(wire.shape, [2 + 2 * 4]);
    let back = next.decode_grad(&inputs, &wire, &limits).unwrap();
    assert_eq!(back.dims(), [2, 4, 3]);
    assert_eq!(back.i((1, 3, 0)).unwrap().to_scalar::<f32>().unwrap(), 0.01);
    assert_eq!(back.i((1, 3, 1)).unwrap().to_scalar::<f32>().unwrap(), 0.0);
    // Seq2seq: only the empty gradient.
    let s2s = SynapseSpec::seq2seq(Seq2SeqArgs::default());
    let empty = Tensor::zeros(0, DType::F32, &cpu()).unwrap();
    let back = s2s
        .decode_grad(&inputs, &s2s.encode_grad(&inputs, &empty).unwrap(), &limits)
        .unwrap();
    assert_eq!(back.elem_count(), 0);
    assert_eq!(
        (s2s.encode_grad(&inputs, &hidden(1, 1))).err(),
        Some(ReturnCode::RequestShapeException)
    );
}

#[test]
fn hostile_phrase_gradients_are_bounded() {
    let inputs = tokens(1, 2);
    let next = SynapseSpec::causal_lm_next(1);
    // [B=1, L=1e9, p0, p1]: would allocate 2e9 floats.
    let t = Tensor::new(&[1f32, 1e9, 0.5, 0.5], &cpu()).unwrap();
    let wire = neuron_tensor::legacy::from_candle(&t, Serializer::Msgpack).unwrap();
    assert_eq!(
        (next.decode_grad(&inputs, &wire, &Limits::DEFAULT)).err(),
        Some(ReturnCode::RequestDeserializationException)
    );
    let t = Tensor::new(&[2f32, 3.0, 0.5, 0.5], &cpu()).unwrap();
    let wire = neuron_tensor::legacy::from_candle(&t, Serializer::Msgpack).unwrap();
    assert_eq!(
        (next.decode_grad(&inputs, &wire, &Limits::DEFAULT)).err(),
        Some(ReturnCode::RequestShapeException)
    );
}

#[test]
fn cmppack_responses_decode_to_float32() {
    let inputs = tokens(1, 1);
    let spec =
        SynapseSpec::last_hidden_state().with_forward_response_serializer(Serializer::Cmppack);
    let out = (Tensor::ones((1, 1, NETWORK_DIM), DType::F32, &cpu()).unwrap() * 0.5).unwrap();
    let wire = spec.encode_response(&inputs, &out).unwrap();
    assert_eq!((wire.serializer, wire.dtype), (1, 1));
    let back = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.dtype(), DType::F32);
    assert!(
        back.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|&v| v == 0.5)
    );
}

#[test]
fn nan_becomes_zero_for_the_caller() {
    let inputs = tokens(1, 1);
    let spec = SynapseSpec::last_hidden_state();
    let mut v = vec![1.0f32; NETWORK_DIM];
    v[3] = f32::NAN;
    let out = Tensor::from_vec(v, (1, 1, NETWORK_DIM), &cpu()).unwrap();
    let wire = spec.encode_response(&inputs, &out).unwrap();
    let back = spec
        .decode_response(&inputs, &wire, &Limits::DEFAULT)
        .unwrap();
    assert_eq!(back.i((0, 0, 3)).unwrap().to_scalar::<f32>().unwrap(), 0.0);
    assert!(matches!(spec.kind, SynapseKind::LastHiddenState { .. }));
}
