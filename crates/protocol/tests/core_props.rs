//! Property tests: header and JSON round trips, and hostile input that must yield errors,
//! never panics.

mod core_common;

use core_common::{Dummy, Hashed};
use neuron_protocol::headers::{from_headers, to_headers};
use neuron_protocol::pystr::{float_repr, python_str};
use neuron_protocol::synapse::SynapseMessage;
use neuron_protocol::terminal::{TerminalInfo, cast_float, cast_int, cast_u64};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any f64 but NaN (NaN never compares equal; it is covered separately).
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("not nan", |x| !x.is_nan()),
        Just(f64::INFINITY),
        Just(-0.0),
        Just(1e-5)
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        Just(String::new()),
        Just(" padded ".to_owned())
    ]
}

prop_compose! {
    fn terminal()(
        status_code in any::<Option<i64>>(),
        status_message in proptest::option::of(text()),
        process_time in proptest::option::of(float()),
        ip in proptest::option::of(text()),
        port in any::<Option<i64>>(),
        version in any::<Option<i64>>(),
        nonce in any::<Option<u64>>(),
        uuid in proptest::option::of(text()),
        hotkey in proptest::option::of(text()),
        signature in proptest::option::of(text()),
    ) -> TerminalInfo {
        TerminalInfo { status_code, status_message, process_time, ip, port, version, nonce, uuid, hotkey, signature }
    }
}

prop_compose! {
    fn dummy_message()(
        dendrite in terminal(),
        axon in terminal(),
        timeout in proptest::option::of(float()),
        sizes in any::<(Option<i64>, Option<i64>)>(),
        input in any::<i64>(),
        output in any::<Option<i64>>(),
    ) -> SynapseMessage<Dummy> {
        let mut msg = SynapseMessage::new(Dummy { dummy_input: input, dummy_output: output });
        msg.dendrite = dendrite;
        msg.axon = axon;
        msg.timeout = timeout;
        msg.total_size = sizes.0;
        msg.header_size = sizes.1;
        msg
    }
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn hashed()(
        text in text(),
        numbers in proptest::collection::vec(any::<i64>(), 0..5),
        ratio in any::<f64>().prop_filter("finite", |x| x.is_finite()),
        flag in any::<bool>(),
        meta in proptest::collection::vec((text(), json_value()), 0..4),
    ) -> Hashed {
        Hashed { text, numbers, ratio, flag, meta: meta.into_iter().collect::<Map<String, Value>>() }
    }
}

/// Header names a fuzzer should hit: the real ones in odd cases, and junk.
fn header_name() -> impl Strategy<Value = String> {
    let known = prop_oneof![
        Just("name"),
        Just("timeout"),
        Just("header_size"),
        Just("total_size"),
        Just("computed_body_hash"),
        Just("bt_header_axon_status_code"),
        Just("bt_header_axon_process_time"),
        Just("bt_header_dendrite_nonce"),
        Just("bt_header_dendrite_port"),
        Just("bt_header_dendrite_hotkey"),
        Just("bt_header_input_obj_"),
        Just("bt_header_input_obj_x"),
        Just("bt_header_axon_"),
    ];
    prop_oneof![
        known.prop_map(str::to_owned),
        (any::<bool>(), "[a-z_]{0,8}").prop_map(|(upper, tail)| {
            let n = format!("bt_header_dendrite_{tail}");
            if upper { n.to_uppercase() } else { n }
        }),
        any::<String>(),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "[0-9_ +.eE-]{0,24}".prop_map(String::into_bytes),
        "[A-Za-z0-9+/=]{0,16}".prop_map(String::into_bytes),
        any::<String>().prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn headers_round_trip(msg in dummy_message()) {
        let headers = to_headers(&msg);
        for (name, _) in &headers {
            prop_assert_eq!(name.to_ascii_lowercase(), name.to_string());
        }
        let parsed = from_headers(headers.iter().map(|(k, v)| (k.as_ref(), v.as_bytes())))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&parsed.dendrite, &msg.dendrite);
        prop_assert_eq!(&parsed.axon, &msg.axon);
        prop_assert_eq!(parsed.timeout, msg.timeout);
        prop_assert_eq!(parsed.name.as_deref(), Some("Dummy"));
        prop_assert_eq!(parsed.computed_body_hash, Some(msg.body_hash().map_err(|e| TestCaseError::fail(e.to_string()))?));
        prop_assert_eq!(parsed.header_size, Some(msg.header_size.unwrap_or(0)));
        prop_assert_eq!(parsed.input_obj, vec![("dummy_input".to_owned(), "0".to_owned())]);
    }

    #[test]
    fn json_round_trip(msg in dummy_message(), fields in hashed()) {
        let json = msg.to_json_vec();
        let finite = msg.timeout.is_none_or(f64::is_finite)
            && msg.dendrite.process_time.is_none_or(f64::is_finite)
            && msg.axon.process_time.is_none_or(f64::is_finite);
        prop_assert_eq!(json.is_ok(), finite);
        if let Ok(json) = json {
            let back = SynapseMessage::<Dummy>::from_json_slice(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, msg);
        }
        let hashed = SynapseMessage::new(fields);
        let json = hashed.to_json_vec().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = SynapseMessage::<Hashed>::from_json_slice(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.body_hash().ok(), hashed.body_hash().ok());
        prop_assert_eq!(back, hashed);
    }

    #[test]
    fn float_repr_round_trips_through_cast_float(x in any::<f64>()) {
        let text = float_repr(x);
        let back = cast_float(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()), "{} -> {}", text, back);
    }

    #[test]
    fn ints_round_trip_through_casts(n in any::<i64>(), u in any::<u64>()) {
        prop_assert_eq!(cast_int(&n.to_string()), Ok(n));
        prop_assert_eq!(cast_u64(&u.to_string()), Ok(u));
        prop_assert_eq!(cast_int(&format!(" {n}\n")), Ok(n));
    }

    #[test]
    fn casts_never_panic(s in any::<String>(), t in "[-+ ._0-9eEinfaINFA]{0,12}") {
        for s in [&s, &t] {
            let _ = cast_int(s);
            let _ = cast_u64(s);
            let _ = cast_float(s);
        }
        // Whatever cast_int accepts, cast_float accepts with the same value when exact.
        if let Ok(n) = cast_int(&t)
            && n.unsigned_abs() < (1 << 53)
        {
            prop_assert_eq!(cast_float(&t), Ok(n as f64));
        }
    }

    #[test]
    fn from_headers_never_panics(headers in proptest::collection::vec((header_name(), header_value()), 0..24)) {
        let _ = from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    }

    #[test]
    fn from_json_slice_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), text in any::<String>(), v in json_value()) {
        let _ = SynapseMessage::<Dummy>::from_json_slice(&bytes);
        let _ = SynapseMessage::<Dummy>::from_json_slice(text.as_bytes());
        let _ = SynapseMessage::<Hashed>::from_json_slice(v.to_string().as_bytes());
        let _ = python_str(&v);
    }
}
