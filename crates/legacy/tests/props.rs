//! Property tests: round trips of every packing and no panic on hostile input.
#![allow(clippy::unwrap_used)]

use candle_core::{Device, IndexOp, Tensor};
use neuron_legacy::modality::{self, Modality};
use neuron_legacy::{CausalLmForm, NETWORK_DIM, Seq2SeqArgs, SynapseSpec, VOCAB_SIZE, phrases};
use neuron_protocol::legacy::{Synapse, Tensor as WireTensor};
use neuron_tensor::Limits;
use proptest::prelude::*;

fn cpu() -> Device {
    Device::Cpu
}

fn tokens(b: usize, s: usize) -> Tensor {
    let v: Vec<i64> = (0..(b * s) as i64).collect();
    Tensor::from_vec(v, (b, s), &cpu()).unwrap()
}

fn any_spec() -> impl Strategy<Value = SynapseSpec> {
    let mask = prop::collection::vec(-8i32..8, 0..4);
    prop_oneof![
        mask.prop_map(SynapseSpec::last_hidden_state_masked),
        (0u32..600).prop_map(SynapseSpec::causal_lm),
        (0u32..5000).prop_map(SynapseSpec::causal_lm_next),
        (0u32..300, 0u32..300, -10.0f32..10.0, any::<bool>()).prop_map(|(topk, n, t, e)| {
            SynapseSpec::seq2seq(Seq2SeqArgs {
                topk,
                num_to_generate: n,
                temperature: t,
                early_stopping: e,
                ..Seq2SeqArgs::default()
            })
        }),
    ]
}

/// A legacy tensor with random bytes, shape, dtype and serializer.
fn hostile_tensor() -> impl Strategy<Value = WireTensor> {
    (
        prop::collection::vec(any::<u8>(), 0..96),
        prop::collection::vec(prop_oneof![0i64..5, Just(-1i64), Just(1i64 << 40)], 0..4),
        0i32..8,
        0i32..3,
    )
        .prop_map(|(buffer, shape, dtype, serializer)| WireTensor {
            version: 370,
            buffer: buffer.into(),
            shape,
            dtype,
            serializer,
            ..WireTensor::default()
        })
}

/// A valid msgpack-numpy tensor of random float values and shape.
fn float_tensor() -> impl Strategy<Value = WireTensor> {
    prop::collection::vec(1usize..4, 1..4).prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        prop::collection::vec(-3.0f32..3.0, n).prop_map(move |v| {
            let t = Tensor::from_vec(v, shape.as_slice(), &cpu()).unwrap();
            neuron_tensor::legacy::from_candle(&t, neuron_legacy::Serializer::Msgpack).unwrap()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn wire_synapses_round_trip(spec in any_spec()) {
        prop_assert_eq!(SynapseSpec::from_wire(&spec.to_wire()), Ok(spec));
    }

    #[test]
    fn from_wire_never_panics(kind in -2i32..8, data in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = SynapseSpec::from_wire(&Synapse { synapse_type: kind, synapse_data: data.into(), ..Synapse::default() });
    }

    #[test]
    fn decoders_never_panic(spec in any_spec(), t in prop_oneof![hostile_tensor(), float_tensor()], b in 0usize..3, s in 0usize..4) {
        let inputs = tokens(b, s);
        let limits = Limits::DEFAULT.with_max_elements(1 << 22);
        let _ = spec.decode_request(&t, &limits);
        let _ = spec.decode_response(&inputs, &t, &limits);
        let _ = spec.decode_grad(&inputs, &t, &limits);
        let _ = spec.zeros(&inputs);
        let _ = spec.decode_response_as(&inputs, &t, &limits, CausalLmForm::TopK);
        let _ = spec.zeros_as(&inputs, CausalLmForm::TopK);
    }

    #[test]
    fn modality_decoders_never_panic(t in prop_oneof![hostile_tensor(), float_tensor()], m in -1i32..4, dims in prop::collection::vec(0usize..3, 0..6)) {
        let limits = Limits::DEFAULT.with_max_elements(1 << 22);
        let mut t = t;
        t.modality = m;
        let inputs = Tensor::zeros(dims.as_slice(), candle_core::DType::F32, &cpu()).unwrap();
        if let Ok((m, x)) = modality::decode_request(&t, &limits) {
            prop_assert_eq!(x.rank(), modality::request_rank(m));
        }
        for m in [Modality::Text, Modality::Image, Modality::Tensor] {
            let _ = modality::decode_response(m, &inputs, &t, &limits);
            let _ = modality::decode_grad(m, &inputs, &t, &limits);
        }
        let _ = modality::decode_input_grad(&inputs, &t, &limits);
        let _ = modality::zeros(&inputs);
    }

    #[test]
    fn top_k_form_expands_to_the_log_prob_form(k in 1u32..6, seed in any::<u64>()) {
        let spec = SynapseSpec::causal_lm(k);
        let inputs = tokens(1, 2);
        let mut x = seed;
        let logits: Vec<f32> = (0..2 * 64).map(|_| {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            (x % 1000) as f32 / 100.0
        }).collect();
        let logits = Tensor::from_vec(logits, (1, 2, 64), &cpu()).unwrap();
        let wire = spec.encode_response(&inputs, &logits).unwrap();
        let limits = Limits::DEFAULT;
        let full = spec.decode_response(&inputs, &wire, &limits).unwrap();
        let compact = spec.decode_response_as(&inputs, &wire, &limits, CausalLmForm::TopK).unwrap();
        prop_assert_eq!(compact.dims(), &[1, 2, 2 * k as usize]);
        let expanded = spec.expand_log_probs(&compact).unwrap();
        let a = full.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = expanded.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn hidden_states_round_trip(b in 1usize..3, s in 1usize..5, picks in prop::collection::vec(any::<prop::sample::Index>(), 0..4), negative in any::<bool>()) {
        let mut positions: Vec<usize> = picks.iter().map(|i| i.index(s)).collect();
        positions.dedup();
        positions.sort_unstable();
        positions.dedup();
        let mask: Vec<i32> = positions.iter().map(|&p| if negative { p as i32 - s as i32 } else { p as i32 }).collect();
        let spec = SynapseSpec::last_hidden_state_masked(mask);
        let inputs = tokens(b, s);
        let v: Vec<f32> = (0..b * s * NETWORK_DIM).map(|i| (i % 251) as f32 + 1.0).collect();
        let out = Tensor::from_vec(v, (b, s, NETWORK_DIM), &cpu()).unwrap();
        let wire = spec.encode_response(&inputs, &out).unwrap();
        let back = spec.decode_response(&inputs, &wire, &Limits::DEFAULT).unwrap();
        prop_assert_eq!(back.dims(), &[b, s, NETWORK_DIM]);
        for bi in 0..b {
            for p in 0..s {
                let got = back.i((bi, p, 0)).unwrap().to_scalar::<f32>().unwrap();
                let kept = positions.is_empty() || positions.contains(&p);
                let want = if kept { out.i((bi, p, 0)).unwrap().to_scalar::<f32>().unwrap() } else { 0.0 };
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn phrases_round_trip(b in 1usize..3, topk in 1usize..5, lens in prop::collection::vec(1usize..4, 10), ids in prop::collection::vec(0u32..50_000, 40), p in 0.0f32..0.2) {
        let width = 1 + (0..b * topk).map(|i| lens[i % lens.len()]).max().unwrap();
        let mut v = Vec::new();
        for bi in 0..b {
            for k in 0..topk {
                let len = lens[(bi * topk + k) % lens.len()];
                v.push(p);
                for j in 0..width - 1 {
                    v.push(if j < len { ids[(bi * 7 + k * 3 + j) % ids.len()] as f32 } else { phrases::IGNORE_INDEX });
                }
            }
            v.push(p / 2.0);
            v.extend(std::iter::repeat_n(phrases::IGNORE_INDEX, width - 1));
        }
        let t = Tensor::from_vec(v.clone(), (b, topk + 1, width), &cpu()).unwrap();
        let back = phrases::unravel(&phrases::compact(&t), b, topk).unwrap();
        prop_assert_eq!(back.dims(), &[b, topk + 1, width]);
        prop_assert_eq!(back.flatten_all().unwrap().to_vec1::<f32>().unwrap(), v);
        // Through the synapse, gradients keep column 0.
        let spec = SynapseSpec::causal_lm_next(topk as u32);
        let inputs = tokens(b, 2);
        let g = spec.decode_grad(&inputs, &spec.encode_grad(&inputs, &t).unwrap(), &Limits::DEFAULT).unwrap();
        prop_assert_eq!(g.i((.., .., 0)).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            t.i((.., .., 0)).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn causal_lm_keeps_the_top_k(k in 1u32..6, seed in any::<u64>()) {
        let (b, s) = (1, 2);
        let mut x = seed | 1;
        let v: Vec<f32> = (0..b * s * VOCAB_SIZE).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 1000) as f32 / 100.0 }).collect();
        let grad = Tensor::from_vec(v.clone(), (b, s, VOCAB_SIZE), &cpu()).unwrap();
        let inputs = tokens(b, s);
        let spec = SynapseSpec::causal_lm(k);
        let back = spec.decode_grad(&inputs, &spec.encode_grad(&inputs, &grad).unwrap(), &Limits::DEFAULT).unwrap();
        let back = back.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for row in 0..b * s {
            let orig = &v[row * VOCAB_SIZE..(row + 1) * VOCAB_SIZE];
            let got = &back[row * VOCAB_SIZE..(row + 1) * VOCAB_SIZE];
            let mut sorted = orig.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let kept: Vec<f32> = got.iter().zip(orig).filter(|(g, _)| **g != 0.0).map(|(g, o)| { assert_eq!(g, o); *g }).collect();
            prop_assert!(kept.len() <= k as usize);
            let min_kept = kept.iter().copied().fold(f32::INFINITY, f32::min);
            prop_assert!(kept.is_empty() || min_kept >= sorted[k as usize - 1]);
        }
        // And the forward packing decodes to log-probabilities that sum to one.
        let wire = spec.encode_response(&inputs, &grad).unwrap();
        let logp = spec.decode_response(&inputs, &wire, &Limits::DEFAULT).unwrap();
        let mass: f32 = logp.i((0, 1)).unwrap().to_vec1::<f32>().unwrap().iter().map(|l| l.exp()).sum();
        prop_assert!((mass - 1.0).abs() < 1e-2, "{}", mass);
    }

    #[test]
    fn zeros_follow_the_inputs(b in 1usize..4, s in 1usize..6, topk in 0u32..6) {
        let inputs = tokens(b, s);
        prop_assert_eq!(SynapseSpec::last_hidden_state().zeros(&inputs).dims().to_vec(), &[b, s, NETWORK_DIM]);
        prop_assert_eq!(SynapseSpec::causal_lm_next(topk).zeros(&inputs).dims().to_vec(), &[b, topk as usize + 1, 2]);
    }
}
