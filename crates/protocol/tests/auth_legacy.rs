//! Byte-exactness of the generated legacy messages and the legacy signature strings
//! against `shared/vectors/legacy-grpc.json` (grpcio-tools encodings of a
//! descriptor-identical `bittensor.proto`).
//!
//! The vectors are embedded below so the tests stand alone; `vectors_match_shared_file`
//! checks them against the shared file when it is present beside the repository.

use neuron_protocol::legacy::{
    self, DataType, ReturnCode, Serializer, Synapse, Tensor, TensorMessage, synapse,
};
use neuron_protocol::signing::{
    LegacyFormat, legacy_v1_header, legacy_v1_message, legacy_v2_header, legacy_v2_message,
    parse_legacy_signature_header,
};
use prost::Message;

/// (key in legacy-grpc.json, hex) for every vector these tests use.
const VECTORS: &[(&str, &str)] = &[
    ("synapse_data.TextLastHiddenState.default", ""),
    (
        "synapse_data.TextLastHiddenState.mask[-1]",
        "3a0affffffffffffffffff01",
    ),
    ("synapse_data.TextCausalLM.topk512", "108004"),
    ("synapse_data.TextCausalLMNext.topk4096", "108020"),
    (
        "synapse_data.TextSeq2Seq.defaults",
        "10321880024005480258016d3333733f7d0000803f85010000803f8d010000803f950100001643980101",
    ),
    (
        "synapse_data.TextCausalLM.topk4.cmppack_response",
        "10042001",
    ),
    ("Synapse.TEXT_CAUSAL_LM.topk512", "12031080041802"),
    (
        "Synapse.TEXT_CAUSAL_LM.topk512.response_success",
        "1203108004180220012a0753756363657373",
    ),
    (
        "msgpack.int64[[1,2,3]]",
        "85c4026e64c3c40474797065a33c6938c4046b696e64c400c4057368617065920103c40464617461c418010000000000000002000000000000000300000000000000",
    ),
    (
        "msgpack.float16[0.5,1.0] (CMPPACK payload)",
        "85c4026e64c3c40474797065a33c6632c4046b696e64c400c40573686170659102c40464617461c4040038003c",
    ),
    (
        "Tensor.int64[[1,2,3]].MSGPACK",
        "08f202124285c4026e64c3c40474797065a33c6938c4046b696e64c400c4057368617065920103c40464617461c4180100000000000000020000000000000003000000000000001a0201033004",
    ),
    (
        "Tensor.float32[0.5,1.0].CMPPACK",
        "08f202122d85c4026e64c3c40474797065a33c6632c4046b696e64c400c40573686170659102c40464617461c4040038003c1a010220013001",
    ),
    ("Tensor.empty (failed synapse slot)", "08f202"),
    (
        "TensorMessage.forward.TEXT_LAST_HIDDEN_STATE.tokens[[1,2,3]]",
        "08f20212303547574878316d79767877777450663756615665323468517855375970446165555959776e41443377744841323446442a4d08f202124285c4026e64c3c40474797065a33c6938c4046b696e64c400c4057368617065920103c40464617461c4180100000000000000020000000000000003000000000000001a020103300440014a021801",
    ),
];

const SENDER: &str = "5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD";
const RECEIVER: &str = "5C8TvckcgLSmWGAVdEhPgcvvQEZKvwac35a5Ajrr3Ekyvt6d";
const UID: &str = "8b7f3a2e-0000-11ee-8000-000000000000";
const NONCE: u64 = 123_456_789_012_345;
const SIGNATURE: &str = "0x66bee38cee43115fb9f8a2779d936388791e37e22057a6007812b763d769b973b08cd7941bd1e1493f9a59f8f656634ae23268327fbb4bdacc6ed43ee8126c87";

/// (key, text) of the signature-string vectors.
const TEXT_VECTORS: &[(&str, &str)] = &[
    (
        "signature.v2.metadata_value",
        "123456789012345.5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD.0x66bee38cee43115fb9f8a2779d936388791e37e22057a6007812b763d769b973b08cd7941bd1e1493f9a59f8f656634ae23268327fbb4bdacc6ed43ee8126c87.8b7f3a2e-0000-11ee-8000-000000000000",
    ),
    (
        "signature.v2.signed_message",
        "123456789012345.5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD.5C8TvckcgLSmWGAVdEhPgcvvQEZKvwac35a5Ajrr3Ekyvt6d.8b7f3a2e-0000-11ee-8000-000000000000",
    ),
    (
        "signature.v1.signed_message",
        "1234567890123455GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD8b7f3a2e-0000-11ee-8000-000000000000",
    ),
];

fn vector(key: &str) -> Vec<u8> {
    let (_, hex) = VECTORS
        .iter()
        .find(|(k, _)| *k == key)
        .unwrap_or_else(|| panic!("no vector {key}"));
    hex::decode(hex).expect("vector is hex")
}

fn text(key: &str) -> &'static str {
    TEXT_VECTORS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .expect("text vector")
}

/// Encodes `msg`, compares with the vector, decodes the vector and compares again.
fn assert_exact<M: Message + Default + PartialEq + std::fmt::Debug>(key: &str, msg: &M) {
    let want = vector(key);
    assert_eq!(
        hex::encode(msg.encode_to_vec()),
        hex::encode(&want),
        "encode {key}"
    );
    let decoded = M::decode(want.as_slice()).expect("vector decodes");
    assert_eq!(&decoded, msg, "decode {key}");
}

#[test]
fn synapse_args_encodings() {
    assert_exact(
        "synapse_data.TextLastHiddenState.default",
        &synapse::TextLastHiddenState::client_defaults(),
    );
    assert_exact(
        "synapse_data.TextLastHiddenState.mask[-1]",
        &synapse::TextLastHiddenState {
            mask: vec![-1],
            ..Default::default()
        },
    );
    assert_exact(
        "synapse_data.TextCausalLM.topk512",
        &synapse::TextCausalLm::client_defaults(),
    );
    assert_exact(
        "synapse_data.TextCausalLMNext.topk4096",
        &synapse::TextCausalLmNext::client_defaults(),
    );
    assert_exact(
        "synapse_data.TextSeq2Seq.defaults",
        &synapse::TextSeq2Seq::client_defaults(),
    );
    assert_exact(
        "synapse_data.TextCausalLM.topk4.cmppack_response",
        &synapse::TextCausalLm {
            topk: 4,
            forward_response_serializer_type: Serializer::Cmppack as i32,
            ..Default::default()
        },
    );
}

#[test]
fn wire_synapse_encodings() {
    let request = Synapse::text_causal_lm(&synapse::TextCausalLm::client_defaults());
    assert_exact("Synapse.TEXT_CAUSAL_LM.topk512", &request);
    assert_exact(
        "Synapse.TEXT_CAUSAL_LM.topk512.response_success",
        &request.with_return(ReturnCode::Success, "Success"),
    );
}

#[test]
fn tensor_envelopes() {
    assert_exact("Tensor.empty (failed synapse slot)", &Tensor::empty());
    // The msgpack buffers are opaque here (the tensor crate owns them); the protobuf
    // envelope around them must be exact.
    assert_exact(
        "Tensor.int64[[1,2,3]].MSGPACK",
        &Tensor {
            version: legacy::VERSION,
            buffer: vector("msgpack.int64[[1,2,3]]").into(),
            shape: vec![1, 3],
            dtype: DataType::Int64 as i32,
            ..Default::default()
        },
    );
    assert_exact(
        "Tensor.float32[0.5,1.0].CMPPACK",
        &Tensor {
            version: legacy::VERSION,
            buffer: vector("msgpack.float16[0.5,1.0] (CMPPACK payload)").into(),
            shape: vec![2],
            serializer: Serializer::Cmppack as i32,
            dtype: DataType::Float32 as i32,
            ..Default::default()
        },
    );
}

#[test]
fn forward_request_envelope() {
    let tensor = Tensor {
        version: legacy::VERSION,
        buffer: vector("msgpack.int64[[1,2,3]]").into(),
        shape: vec![1, 3],
        dtype: DataType::Int64 as i32,
        ..Default::default()
    };
    let message = TensorMessage {
        version: legacy::VERSION,
        hotkey: SENDER.to_owned(),
        tensors: vec![tensor],
        requires_grad: true,
        synapses: vec![Synapse::text_last_hidden_state(
            &synapse::TextLastHiddenState::client_defaults(),
        )],
        ..Default::default()
    };
    assert_exact(
        "TensorMessage.forward.TEXT_LAST_HIDDEN_STATE.tokens[[1,2,3]]",
        &message,
    );
}

#[test]
fn decoded_buffers_share_the_input() {
    // `bytes` fields are `Bytes`: decoding from a `Bytes` slices it instead of copying.
    let wire = bytes::Bytes::from(vector("Tensor.int64[[1,2,3]].MSGPACK"));
    let tensor = Tensor::decode(wire.clone()).expect("decodes");
    let range = wire.as_ptr_range();
    assert!(
        range.contains(&tensor.buffer.as_ptr()),
        "buffer is a view of the input"
    );
}

#[test]
fn return_codes_and_names() {
    let names = [
        "NoReturn",
        "Success",
        "Timeout",
        "Backoff",
        "Unavailable",
        "NotImplemented",
        "EmptyRequest",
        "EmptyResponse",
        "InvalidResponse",
        "InvalidRequest",
        "RequestShapeException",
        "ResponseShapeException",
        "RequestSerializationException",
        "ResponseSerializationException",
        "RequestDeserializationException",
        "ResponseDeserializationException",
        "NotServingNucleus",
        "NucleusTimeout",
        "NucleusFull",
        "RequestIncompatibleVersion",
        "ResponseIncompatibleVersion",
        "SenderUnknown",
        "UnknownException",
        "Unauthenticated",
        "BadEndpoint",
    ];
    for (n, name) in names.iter().enumerate() {
        let code = ReturnCode::from_code(n as i32).expect("known code");
        assert_eq!(code as i32, n as i32);
        assert_eq!(code.name(), *name);
    }
    assert_eq!(ReturnCode::from_code(25), None);
    assert_eq!(ReturnCode::from_code(-1), None);
}

#[test]
fn legacy_v2_signature_strings() {
    let signature = hex::decode(&SIGNATURE[2..]).expect("hex");
    assert_eq!(
        legacy_v2_header(NONCE, SENDER, &signature, UID),
        text("signature.v2.metadata_value")
    );
    assert_eq!(
        legacy_v2_message(NONCE, SENDER, RECEIVER, UID),
        text("signature.v2.signed_message")
    );

    let parsed =
        parse_legacy_signature_header(text("signature.v2.metadata_value")).expect("parses");
    assert_eq!(parsed.format, LegacyFormat::V2);
    assert_eq!(
        (parsed.nonce, &*parsed.sender, parsed.signature, parsed.uid),
        (NONCE, SENDER, SIGNATURE, UID)
    );
    assert_eq!(
        parsed.message(RECEIVER),
        text("signature.v2.signed_message")
    );
    assert_eq!(parsed.nonce_key(), format!("{SENDER}:{UID}"));
}

#[test]
fn legacy_v1_signature_strings() {
    assert_eq!(
        legacy_v1_message(NONCE, SENDER, UID),
        text("signature.v1.signed_message")
    );
    let signature = hex::decode(&SIGNATURE[2..]).expect("hex");
    let header = legacy_v1_header(NONCE, SENDER, &signature, UID);
    assert_eq!(
        header,
        format!("{NONCE}bitxx{SENDER}bitxx{SIGNATURE}bitxx{UID}")
    );
    let parsed = parse_legacy_signature_header(&header).expect("parses");
    assert_eq!(parsed.format, LegacyFormat::V1);
    assert_eq!(
        (parsed.nonce, &*parsed.sender, parsed.signature, parsed.uid),
        (NONCE, SENDER, SIGNATURE, UID)
    );
    // v1 ignores the receiver.
    assert_eq!(
        parsed.message("anything"),
        text("signature.v1.signed_message")
    );
}

#[test]
fn legacy_verify_tries_the_bytes_wrapping() {
    let parsed =
        parse_legacy_signature_header(text("signature.v2.metadata_value")).expect("parses");
    let wrapped = format!("<Bytes>{}</Bytes>", text("signature.v2.signed_message"));
    let only_wrapped = |ss58: &str, msg: &[u8], sig: &str| {
        ss58 == SENDER && msg == wrapped.as_bytes() && sig == SIGNATURE
    };
    assert!(parsed.verify(RECEIVER, only_wrapped));
    assert!(
        !parsed.verify(SENDER, only_wrapped),
        "v2 binds the receiver"
    );
}

#[test]
fn vectors_match_shared_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors/legacy-grpc.json");
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: serde_json::Value = serde_json::from_str(&raw).expect("valid json");
    for (key, value) in VECTORS.iter().chain(TEXT_VECTORS) {
        assert_eq!(
            file[key].as_str(),
            Some(*value),
            "{key} differs from the shared vectors"
        );
    }
}
