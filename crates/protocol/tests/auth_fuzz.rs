//! Property tests: random bytes fed to every generated legacy message's `decode`, to the
//! legacy signature parser and to the btauth checks return errors (or values) without
//! panicking; every message round-trips through encode and decode.

use neuron_protocol::legacy::{Neuron, Synapse, Tensor, TensorMessage, synapse};
use neuron_protocol::nonce::{Config, NonceInput, NonceVerifier};
use neuron_protocol::signing::btauth::{BtAuthConfig, BtAuthHeaders, BtAuthVerifier};
use neuron_protocol::signing::{parse_legacy_signature_header, py_int};
use proptest::prelude::*;
use prost::Message;

fn decode_all(bytes: &[u8]) {
    // Results are ignored on purpose: only panics fail the property.
    let _ = TensorMessage::decode(bytes);
    let _ = Tensor::decode(bytes);
    let _ = Synapse::decode(bytes);
    let _ = Neuron::decode(bytes);
    let _ = synapse::TextLastHiddenState::decode(bytes);
    let _ = synapse::TextCausalLm::decode(bytes);
    let _ = synapse::TextCausalLmNext::decode(bytes);
    let _ = synapse::TextSeq2Seq::decode(bytes);
}

/// Random bytes biased towards protobuf structure: valid-looking tags and lengths.
fn protobuf_ish() -> impl Strategy<Value = Vec<u8>> {
    let field = (
        1u8..20,
        0u8..6,
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(n, wt, payload)| {
            let mut out = vec![(n << 3) | wt];
            if wt == 2 {
                out.push(payload.len() as u8);
            }
            out.extend(payload);
            out
        });
    proptest::collection::vec(field, 0..16).prop_map(|fields| fields.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn decode_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn decode_structured_bytes_never_panics(bytes in protobuf_ish()) {
        decode_all(&bytes);
    }

    #[test]
    fn legacy_signature_parser_never_panics(s in ".{0,200}") {
        if let Ok(sig) = parse_legacy_signature_header(&s) {
            // Whatever parsed must rebuild a message without panicking.
            let _ = sig.message("receiver");
        }
    }

    #[test]
    fn legacy_signature_parser_on_near_valid_input(
        nonce in "[ +\\-0-9_\u{0660}-\u{0669}]{0,24}",
        sep in prop_oneof![Just("."), Just("bitxx")],
        parts in proptest::collection::vec("[a-zA-Z0-9.x]{0,12}", 0..6),
    ) {
        let value = std::iter::once(nonce).chain(parts).collect::<Vec<_>>().join(sep);
        let _ = parse_legacy_signature_header(&value);
    }

    #[test]
    fn py_int_never_panics(s in "\\PC{0,64}") {
        let _ = py_int(&s);
    }

    #[test]
    fn btauth_random_headers_never_panic(
        version in proptest::option::of("\\PC{0,4}"),
        hotkey in proptest::option::of("\\PC{0,50}"),
        nonce in proptest::option::of("[-0-9a-f ]{0,30}"),
        signature in proptest::option::of("(0x)?[0-9a-fA-F ]{0,140}"),
        receiver in proptest::option::of("\\PC{0,50}"),
        now in any::<u64>(),
    ) {
        let headers = BtAuthHeaders {
            version: version.as_deref(),
            hotkey: hotkey.as_deref(),
            nonce: nonce.as_deref(),
            signature: signature.as_deref(),
            receiver: receiver.as_deref(),
            crypto: None,
        };
        let mut v = BtAuthVerifier::new(BtAuthConfig::new());
        let _ = v.verify(&headers, "POST", "/", b"", "me", now, |_, _, _| true);
    }

    #[test]
    fn nonce_verifier_never_panics(
        nonce in proptest::option::of(any::<u64>()),
        version in proptest::option::of(any::<i64>()),
        timeout_s in proptest::option::of(any::<f64>()),
        now in any::<u64>(),
    ) {
        for config in [Config::new(), Config::sdk()] {
            let mut v = NonceVerifier::new(config);
            let req = NonceInput { hotkey: "h", uuid: None, nonce, version, timeout_s };
            if v.check(&req, now).is_ok() {
                prop_assert!(v.commit(&req, now).is_ok());
                prop_assert!(v.commit(&req, now).is_err(), "a committed nonce is never accepted twice");
            }
        }
    }

    #[test]
    fn tensor_message_round_trips(
        version in any::<i32>(),
        hotkey in "\\PC{0,60}",
        buffers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4),
        shape in proptest::collection::vec(any::<i64>(), 0..4),
        codes in proptest::collection::vec(0i32..25, 0..4),
        mask in proptest::collection::vec(any::<i32>(), 0..8),
    ) {
        let message = TensorMessage {
            version,
            hotkey,
            tensors: buffers
                .into_iter()
                .map(|b| Tensor { version, buffer: b.into(), shape: shape.clone(), ..Default::default() })
                .collect(),
            synapses: codes
                .iter()
                .map(|&c| Synapse {
                    return_code: c,
                    ..Synapse::text_last_hidden_state(&synapse::TextLastHiddenState { mask: mask.clone(), ..Default::default() })
                })
                .collect(),
            requires_grad: true,
            ..Default::default()
        };
        let decoded = TensorMessage::decode(message.encode_to_vec().as_slice());
        prop_assert_eq!(decoded.ok(), Some(message));
    }
}
