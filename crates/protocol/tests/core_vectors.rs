//! The captured SDK 10.5.0 vectors (`shared/vectors/modern-http.json`, copied beside this
//! file) and the worked examples and captures of `shared/spec/wire-modern.md` §4, §15.

mod core_common;

use core_common::{Dummy, Floats, Hashed, TensorEcho, example_hashed, example_tensor, vectors};
use neuron_protocol::hash::{self, EMPTY_BODY_HASH, field_hash_hex, hashed_field_strs};
use neuron_protocol::headers::{self, HeaderError, from_headers, to_headers};
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_protocol::terminal::TerminalInfo;
use serde_json::Value;

/// Headers as ordered `(name, value)` text pairs, minus the CPython memory sizes.
fn header_pairs(h: &[headers::Header]) -> Vec<(String, String)> {
    h.iter()
        .filter(|(k, _)| k != "header_size" && k != "total_size")
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn json_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .expect("headers object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("header text").to_owned()))
        .collect()
}

fn check_case<T: Synapse>(case: &Value, msg: &SynapseMessage<T>) {
    let name = case["case"].as_str().expect("case name");
    let wanted_fields: Vec<&str> = case["required_hash_fields"]
        .as_array()
        .expect("list")
        .iter()
        .map(|f| f.as_str().expect("name"))
        .collect();
    assert_eq!(
        T::REQUIRED_HASH_FIELDS,
        wanted_fields.as_slice(),
        "{name}: hash fields"
    );

    let strs = hashed_field_strs(&msg.fields, T::REQUIRED_HASH_FIELDS).expect("field strs");
    for (field, text) in &strs {
        assert_eq!(
            case["python_str"][field].as_str(),
            Some(text.as_str()),
            "{name}: python_str of {field}"
        );
        assert_eq!(
            case["field_hashes"][field].as_str(),
            Some(field_hash_hex(text).as_str()),
            "{name}: hash of {field}"
        );
    }
    assert_eq!(
        strs.len(),
        case["python_str"].as_object().map_or(0, |o| o.len())
    );

    let body_hash = msg.body_hash().expect("body hash");
    assert_eq!(
        Some(body_hash.as_str()),
        case["body_hash"].as_str(),
        "{name}: body hash"
    );
    assert_eq!(
        header_pairs(&to_headers(msg)),
        json_pairs(&case["headers"]),
        "{name}: headers"
    );
}

fn parse<T: Synapse>(body: &Value) -> SynapseMessage<T> {
    SynapseMessage::from_json_slice(&serde_json::to_vec(body).expect("json")).expect("body parses")
}

#[test]
fn synapse_cases_match_the_sdk() {
    let v = vectors();
    let cases = v["synapse_cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        match case["class"].as_str().expect("class") {
            "Dummy" => check_case(case, &parse::<Dummy>(&case["json_body"])),
            "Hashed" => check_case(case, &parse::<Hashed>(&case["json_body"])),
            // The capture's JSON could not hold inf; the Python value was [inf, -inf].
            "Floats" => check_case(
                case,
                &SynapseMessage::new(Floats {
                    values: vec![f64::INFINITY, f64::NEG_INFINITY],
                }),
            ),
            other => panic!("unknown class {other}"),
        }
    }
}

#[test]
fn headers_with_terminals_match_the_sdk() {
    let v = vectors();
    let msg = parse::<Dummy>(&v["from_headers_roundtrip"]);
    assert_eq!(
        header_pairs(&to_headers(&msg)),
        json_pairs(&v["headers_with_terminals"])
    );
}

#[test]
fn from_headers_matches_the_sdk() {
    let v = vectors();
    let pairs = json_pairs(&v["headers_with_terminals"]);
    let parsed =
        from_headers(pairs.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).expect("headers parse");
    let want = &v["from_headers_roundtrip"];
    let terminal =
        |t: &Value| -> TerminalInfo { serde_json::from_value(t.clone()).expect("terminal") };
    assert_eq!(parsed.dendrite, terminal(&want["dendrite"]));
    assert_eq!(parsed.axon, terminal(&want["axon"]));
    assert_eq!(parsed.name.as_deref(), want["name"].as_str());
    assert_eq!(parsed.timeout, want["timeout"].as_f64());
    assert_eq!(
        parsed.computed_body_hash.as_deref(),
        want["computed_body_hash"].as_str()
    );
    assert_eq!(
        parsed.input_obj,
        vec![("dummy_input".to_owned(), "0".to_owned())]
    );
    // The header synapse re-encodes to the same headers.
    assert_eq!(header_pairs(&parsed.to_headers()), pairs);
}

#[test]
fn worked_example_of_section_4_2() {
    let table = [
        (
            "text",
            "héllo wörld",
            "658e21ba6487e9c4fbb534fc5f2f0fa3217ca7b79d8168cf193536a9769c6d3f",
        ),
        (
            "numbers",
            "[1, 2, 3]",
            "059186990f24b4e3cf51bc89e288c8d6e97e8e44cf1de305cbe1f50ee753b50f",
        ),
        (
            "ratio",
            "0.1",
            "75bd59c8426679f3ef7b3a37184ee08e2e5ecee840e330acf6782d77cf2a2d1b",
        ),
        (
            "flag",
            "True",
            "62b5b5e01d892e831aa186068a8d83b662e8b2928b10aa5ce2aedb3edc8e7673",
        ),
        (
            "meta",
            "{'k': 'v', 'n': 1, 'f': 1.5, 'l': [1, 'a'], 'none': None}",
            "1cdf3294bcbef8d37fead4ffb7e8c528c2b23acd6b3315168b572265c7c2b893",
        ),
    ];
    let fields = example_hashed();
    let strs = hashed_field_strs(&fields, Hashed::REQUIRED_HASH_FIELDS).expect("strs");
    for ((field, text, h), (got_field, got_text)) in table.iter().zip(&strs) {
        assert_eq!((field, text), (&got_field.as_str(), &got_text.as_str()));
        assert_eq!(field_hash_hex(text), *h);
    }
    let msg = SynapseMessage::new(fields);
    assert_eq!(
        msg.body_hash().expect("hash"),
        "3301b5f774520ea2334367dde8217ae80d15d3785888bff5f973cb5930468567"
    );
    // A float field sent as JSON `2` is hashed as `2.0`, as after pydantic coercion.
    let coerced = SynapseMessage::<Hashed>::from_json_slice(br#"{"ratio":2}"#).expect("parse");
    assert_eq!(
        hashed_field_strs(&coerced.fields, &["ratio"]).expect("strs")[0].1,
        "2.0"
    );
}

#[test]
fn tensor_example_of_section_4_2() {
    let v = vectors();
    let tensor = example_tensor();
    assert_eq!(
        v["tensor_msgpack"]["buffer_base64"].as_str(),
        Some(tensor.buffer.as_str())
    );
    let msg = SynapseMessage::new(TensorEcho {
        tensor: Some(tensor.clone()),
        scale: 2.0,
    });
    let strs = hashed_field_strs(&msg.fields, TensorEcho::REQUIRED_HASH_FIELDS).expect("strs");
    assert_eq!(
        strs[0].1,
        "{'buffer': 'hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/', \
         'dtype': 'float32', 'shape': [4]}"
    );
    let want = v["tensor_msgpack"]["body_hash_when_only_hash_field"].as_str();
    assert_eq!(Some(msg.body_hash().expect("hash").as_str()), want);
    assert_eq!(
        want,
        Some("13b11199110a911b34d1b6555e4976da0c1854b05656a29739562bf54dfff2fb")
    );
    // The axon's doubled reply (§15.2).
    let mut doubled = msg.clone();
    doubled.fields.tensor = Some(core_common::Tensor {
        buffer: "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAACAPwAAAEAAAEBA"
            .into(),
        ..tensor
    });
    assert_eq!(
        doubled.body_hash().expect("hash"),
        "afd2bb2507963440aa621d6a6ecee57196754d475b0f8419672b144264d2addb"
    );
    // No tensor: str(None).
    let none = SynapseMessage::new(TensorEcho {
        tensor: None,
        scale: 2.0,
    });
    assert_eq!(
        none.body_hash().expect("hash"),
        hash::combine_field_hashes([&hash::field_hash("None")])
    );
}

#[test]
fn empty_body_hash_is_sha3_of_nothing() {
    assert_eq!(hash::whole_body_hash(b""), EMPTY_BODY_HASH);
    assert_eq!(
        hash::body_hash(
            &Dummy {
                dummy_input: 1,
                dummy_output: None
            },
            &[]
        )
        .expect("hash"),
        EMPTY_BODY_HASH
    );
    assert_eq!(
        SynapseMessage::new(neuron_protocol::synapse::Ping {})
            .body_hash()
            .expect("hash"),
        EMPTY_BODY_HASH
    );
}

#[test]
fn body_hash_rejects_unknown_field() {
    let err = hash::body_hash(&example_hashed(), &["text", "nope"]).expect_err("unknown field");
    assert_eq!(err, hash::HashError::MissingField("nope".into()));
    assert!(hash::body_hash(&5, &["x"]).is_err());
    // A repeated name is hashed twice, as the SDK's loop does.
    let twice = hash::body_hash(&example_hashed(), &["flag", "flag"]).expect("hash");
    let f = hash::field_hash("True");
    assert_eq!(twice, hash::combine_field_hashes([&f, &f]));
}

const CAPTURED_REQUEST: &str = "\
name: Dummy
timeout: 12.0
bt_header_axon_ip: 127.0.0.1
bt_header_axon_port: 18092
bt_header_axon_hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY
bt_header_dendrite_ip: 127.0.0.1
bt_header_dendrite_version: 10005000
bt_header_dendrite_nonce: 1795310834565781717
bt_header_dendrite_uuid: d90fcadc-e613-11f1-b657-02fc00000001
bt_header_dendrite_hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
bt_header_dendrite_signature: 0xee6a7d7d5f2de3b15ea21cd1833bf9489412df31d2a619615717ed450f2a516fbd81fd8b8519cc49ce564ced66c2a405ad2b99e89a278dfae9e5083ea3416686
bt_header_input_obj_dummy_input: MA==
header_size: 464
total_size: 2981
computed_body_hash: a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

const CAPTURED_RESPONSE_HEADERS: &str = "\
name: Dummy
timeout: 12.0
bt_header_axon_status_code: 200
bt_header_axon_status_message: Success
bt_header_axon_process_time: 3.790855407714844e-05
bt_header_axon_ip: 127.0.0.1
bt_header_axon_port: 18092
bt_header_axon_hotkey: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY
bt_header_dendrite_ip: 127.0.0.1
bt_header_dendrite_version: 10005000
bt_header_dendrite_nonce: 1795310834565781717
bt_header_dendrite_uuid: d90fcadc-e613-11f1-b657-02fc00000001
bt_header_dendrite_hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
bt_header_dendrite_signature: 0xee6a7d7d5f2de3b15ea21cd1833bf9489412df31d2a619615717ed450f2a516fbd81fd8b8519cc49ce564ced66c2a405ad2b99e89a278dfae9e5083ea3416686
bt_header_input_obj_dummy_input: MA==
header_size: 464
total_size: 3175
computed_body_hash: a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

const CAPTURED_RESPONSE_BODY: &str = r#"{"name":"Dummy","timeout":12.0,"total_size":2981,"header_size":0,"dendrite":{"status_code":null,"status_message":null,"process_time":null,"ip":"127.0.0.1","port":null,"version":10005000,"nonce":1795310834565781717,"uuid":"d90fcadc-e613-11f1-b657-02fc00000001","hotkey":"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty","signature":"0xee6a7d7d5f2de3b15ea21cd1833bf9489412df31d2a619615717ed450f2a516fbd81fd8b8519cc49ce564ced66c2a405ad2b99e89a278dfae9e5083ea3416686"},"axon":{"status_code":200,"status_message":"Success","process_time":3.790855407714844e-05,"ip":"127.0.0.1","port":18092,"version":null,"nonce":null,"uuid":null,"hotkey":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY","signature":null},"computed_body_hash":"","dummy_input":21,"dummy_output":42}"#;

const CAPTURED_401_HEADERS: &str = "\
name: Dummy
timeout: 12.0
bt_header_axon_status_code: 401
bt_header_axon_status_message: Not Verified with error: Signature mismatch with 1795310838688033065.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.db84cd76-e613-11f1-af77-02fc00000001.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a and 0x96ea9ae70f514aa2c9b132356f708bd3490d4d8b52b5f8a44fbd4d1c9a11ef31422dbc2fc217ad7efaa42ea762dc2a74add0522798c8f027ea134edaf8f1848d
bt_header_axon_process_time: 0.0006492137908935547
bt_header_axon_ip: 127.0.0.1
bt_header_axon_port: 18092
bt_header_axon_version: 10005000
bt_header_axon_nonce: 1795310838692887439
bt_header_axon_uuid: d314e194-e613-11f1-8eba-02fc00000001
bt_header_axon_hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
bt_header_axon_signature: 0xd0de3a2da830767995d55b5b1137d8f9151d96276c2f4ff587b32264be669047f87d8a6c392d463be634a6f80f6be5367d1974075d03fd56bd5bc8174ac66c8d
bt_header_dendrite_ip: 127.0.0.1
bt_header_dendrite_port: 38824
bt_header_dendrite_version: 10005000
bt_header_dendrite_nonce: 1795310838688033065
bt_header_dendrite_uuid: db84cd76-e613-11f1-af77-02fc00000001
bt_header_dendrite_hotkey: 5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
bt_header_dendrite_signature: 0x96ea9ae70f514aa2c9b132356f708bd3490d4d8b52b5f8a44fbd4d1c9a11ef31422dbc2fc217ad7efaa42ea762dc2a74add0522798c8f027ea134edaf8f1848d
bt_header_input_obj_dummy_input: MA==
header_size: 464
total_size: 3963
computed_body_hash: a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

fn lines(block: &str) -> Vec<(String, String)> {
    block
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").expect("header line");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn all_pairs(h: &[headers::Header]) -> Vec<(String, String)> {
    h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn captured_request_headers_parse_and_reencode() {
    let mut captured = lines(CAPTURED_REQUEST);
    // Extra transport headers are ignored, names match in any case.
    let mut input: Vec<(String, String)> = captured
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect();
    input.push(("Content-Type".into(), "application/json".into()));
    input.push(("User-Agent".into(), "Python/3.11 aiohttp/3.14.5".into()));
    let parsed =
        from_headers(input.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).expect("parse");
    assert_eq!(parsed.dendrite.nonce, Some(1_795_310_834_565_781_717));
    assert_eq!(parsed.header_size, Some(464));
    assert_eq!(parsed.total_size, Some(2981));
    assert_eq!(all_pairs(&parsed.to_headers()), captured);

    // The same headers from a Rust dendrite's message (sizes aside).
    let mut msg = core_common::example_dummy_message();
    msg.header_size = Some(464);
    msg.total_size = Some(2981);
    assert_eq!(all_pairs(&to_headers(&msg)), std::mem::take(&mut captured));
}

#[test]
fn captured_response_round_trips_byte_for_byte() {
    let msg =
        SynapseMessage::<Dummy>::from_json_slice(CAPTURED_RESPONSE_BODY.as_bytes()).expect("parse");
    assert_eq!(msg.fields.dummy_output, Some(42));
    assert_eq!(
        String::from_utf8(msg.to_json_vec().expect("json")).expect("utf8"),
        CAPTURED_RESPONSE_BODY
    );
    let mut want = lines(CAPTURED_RESPONSE_HEADERS);
    want.retain(|(k, _)| k != "header_size" && k != "total_size");
    assert_eq!(header_pairs(&to_headers(&msg)), want);
}

#[test]
fn captured_401_headers_round_trip() {
    let captured = lines(CAPTURED_401_HEADERS);
    let parsed =
        from_headers(captured.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).expect("parse");
    assert_eq!(parsed.axon.status_code, Some(401));
    assert_eq!(parsed.axon.process_time, Some(0.0006492137908935547));
    assert_eq!(parsed.axon.nonce, Some(1_795_310_838_692_887_439));
    assert_eq!(parsed.dendrite.port, Some(38824));
    assert_eq!(all_pairs(&parsed.to_headers()), captured);
}

#[test]
fn captured_500_headers_parse() {
    let block = "name: Synapse\ntimeout: 12.0\nbt_header_axon_status_code: 500\n\
        bt_header_axon_status_message: Internal Server Error #51722631-1a79-4730-be32-9802d4f43d5c\n\
        bt_header_axon_process_time: 0.001264333724975586\nheader_size: 184\ntotal_size: 2358\n\
        computed_body_hash: a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";
    let captured = lines(block);
    let parsed =
        from_headers(captured.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).expect("parse");
    assert_eq!(parsed.name.as_deref(), Some("Synapse"));
    assert_eq!(parsed.dendrite, TerminalInfo::default());
    assert_eq!(all_pairs(&parsed.to_headers()), captured);
}

#[test]
fn from_headers_is_strict() {
    let parse = |h: &[(&str, &[u8])]| from_headers(h.iter().copied());
    assert_eq!(
        parse(&[("bt_header_dendrite_hotkey", b"\xff\xfe")]),
        Err(HeaderError::NotUtf8("bt_header_dendrite_hotkey".into()))
    );
    match parse(&[("BT_HEADER_DENDRITE_NONCE", b"12x")]) {
        Err(HeaderError::Cast { name, .. }) => assert_eq!(name, "bt_header_dendrite_nonce"),
        other => panic!("expected a cast error, got {other:?}"),
    }
    let err = parse(&[("timeout", b"None")]).expect_err("None is not a float");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(matches!(
        parse(&[("total_size", b"1.5")]),
        Err(HeaderError::Cast { .. })
    ));
    assert!(matches!(
        parse(&[("name", b"a"), ("Name", b"b")]),
        Err(HeaderError::Duplicate(_))
    ));
    assert!(matches!(
        parse(&[
            ("bt_header_input_obj_x", b"MA=="),
            ("bt_header_input_obj_X", b"MA==")
        ]),
        Err(HeaderError::Duplicate(_))
    ));
    assert!(matches!(
        parse(&[("bt_header_input_obj_x", b"!!")]),
        Err(HeaderError::InputObj(_))
    ));
    assert!(matches!(
        parse(&[("bt_header_input_obj_x", b"e30")]),
        Err(HeaderError::InputObj(_))
    ));
    let long = vec![b'a'; headers::MAX_VALUE_LEN + 1];
    assert!(matches!(
        parse(&[("bt_header_dendrite_uuid", &long)]),
        Err(HeaderError::TooLong(_))
    ));
    let many: Vec<(&str, &[u8])> = (0..=headers::MAX_HEADERS)
        .map(|_| ("x-filler", &b"1"[..]))
        .collect();
    assert_eq!(parse(&many), Err(HeaderError::TooMany));
    // Unknown terminal fields and foreign headers are ignored, as pydantic ignores extras.
    let ok = parse(&[
        ("bt_header_axon_colour", b"\xff"),
        ("accept", b"*/*"),
        ("bt_header_input_obj_n", b"WzEsIDJd"),
    ])
    .expect("ignored");
    assert_eq!(ok.input_obj, vec![("n".to_owned(), "[1, 2]".to_owned())]);
}

#[test]
fn vector_copy_matches_shared_file() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/vectors/modern-http.json");
    let text = std::fs::read_to_string(&shared)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", shared.display()));
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("shared json"),
        vectors(),
        "tests/core_modern-http.json differs from {}",
        shared.display()
    );
}
