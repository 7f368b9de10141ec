//! `SynapseMessage` JSON, status helpers, `Ping` and `DynamicSynapse`.

mod core_common;

use core_common::{Dummy, Floats, Hashed, example_dummy_message, example_hashed};
use neuron_protocol::headers::{dynamic_to_headers, to_headers, try_to_headers};
use neuron_protocol::synapse::{
    DynamicField, DynamicSynapse, Ping, Synapse, SynapseError, SynapseMessage, empty,
};
use serde_json::{Value, json};

#[test]
fn json_key_order_is_the_sdk_order() {
    let msg = SynapseMessage::new(Dummy {
        dummy_input: 5,
        dummy_output: None,
    });
    let text = String::from_utf8(msg.to_json_vec().expect("json")).expect("utf8");
    let null_terminal = r#"{"status_code":null,"status_message":null,"process_time":null,"ip":null,"port":null,"version":null,"nonce":null,"uuid":null,"hotkey":null,"signature":null}"#;
    assert_eq!(
        text,
        format!(
            r#"{{"name":"Dummy","timeout":12.0,"total_size":0,"header_size":0,"dendrite":{null_terminal},"axon":{null_terminal},"computed_body_hash":"","dummy_input":5,"dummy_output":null}}"#
        )
    );
}

#[test]
fn json_floats_and_text_are_written_as_fastapi_does() {
    let mut fields = example_hashed();
    fields.ratio = 1e-5;
    fields.numbers = vec![];
    fields.meta = json!({"big": 1e16, "x": "é\n\u{1}"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let text =
        String::from_utf8(SynapseMessage::new(fields).to_json_vec().expect("json")).expect("utf8");
    assert!(text.ends_with(r#""text":"héllo wörld","numbers":[],"ratio":1e-05,"flag":true,"meta":{"big":1e+16,"x":"é\n\u0001"}}"#), "{text}");
}

#[test]
fn parsing_follows_the_sdk_validator() {
    // Unknown keys are ignored, base fields default, `name` is forced to the class name.
    let msg = SynapseMessage::<Dummy>::from_json_slice(
        br#"{"name":"Other","dummy_input":3,"extra":[1,2]}"#,
    )
    .expect("parse");
    assert_eq!(msg.name.as_deref(), Some("Dummy"));
    assert_eq!(msg.timeout, Some(12.0));
    assert_eq!((msg.total_size, msg.header_size), (Some(0), Some(0)));
    assert_eq!(msg.computed_body_hash.as_deref(), Some(""));
    assert_eq!(
        msg.fields,
        Dummy {
            dummy_input: 3,
            dummy_output: None
        }
    );
    // Explicit nulls stay null; a null terminal reads as all-null.
    let msg = SynapseMessage::<Dummy>::from_json_slice(
        br#"{"timeout":null,"dendrite":null,"dummy_input":3}"#,
    )
    .expect("parse");
    assert_eq!(msg.timeout, None);
    assert_eq!(msg.dendrite, Default::default());
    // A missing required field is an error.
    let err = SynapseMessage::<Dummy>::from_json_slice(br#"{"dummy_output":3}"#)
        .expect_err("missing field");
    assert!(err.to_string().contains("dummy_input"), "{err}");
    assert!(SynapseMessage::<Dummy>::from_json_slice(b"[]").is_err());
    assert!(SynapseMessage::<Dummy>::from_json_slice(br#"{"dummy_input":"5"}"#).is_err());
}

#[test]
fn non_finite_floats_are_an_error_not_null() {
    let msg = SynapseMessage::new(Floats {
        values: vec![1.0, f64::NAN],
    });
    assert!(matches!(msg.to_json_vec(), Err(SynapseError::NonFinite(_))));
    let mut msg = SynapseMessage::new(Dummy {
        dummy_input: 1,
        dummy_output: None,
    });
    msg.axon.process_time = Some(f64::INFINITY);
    assert!(matches!(msg.to_json_vec(), Err(SynapseError::NonFinite(_))));
    // The hash still works: the SDK hashes `nan`.
    let hashed = SynapseMessage::new(Floats {
        values: vec![f64::NAN],
    });
    assert_eq!(
        hashed.body_hash().expect("hash"),
        neuron_protocol::hash::combine_field_hashes([&neuron_protocol::hash::field_hash("[nan]")])
    );
}

#[test]
fn status_helpers_read_the_dendrite_terminal() {
    let mut msg = SynapseMessage::new(Ping {});
    assert!(msg.is_failure() && !msg.is_success());
    for (code, check) in [
        (
            200,
            SynapseMessage::<Ping>::is_success as fn(&SynapseMessage<Ping>) -> bool,
        ),
        (408, SynapseMessage::is_timeout),
        (403, SynapseMessage::is_blacklist),
        (401, SynapseMessage::failed_verification),
    ] {
        msg.dendrite.status_code = Some(code);
        assert!(check(&msg), "{code}");
        assert_eq!(msg.is_failure(), code != 200);
    }
    msg.axon.status_code = Some(200);
    msg.dendrite.status_code = Some(500);
    assert!(msg.is_failure());
}

#[test]
fn ping_is_the_builtin_synapse() {
    let msg = SynapseMessage::new(Ping {});
    assert_eq!(Ping::NAME, "Synapse");
    let text = String::from_utf8(msg.to_json_vec().expect("json")).expect("utf8");
    assert!(
        text.starts_with(r#"{"name":"Synapse","timeout":12.0"#)
            && text.ends_with(r#""computed_body_hash":""}"#)
    );
    let back = SynapseMessage::<Ping>::from_json_slice(text.as_bytes()).expect("parse");
    assert_eq!(back, msg);
    let names: Vec<String> = to_headers(&msg)
        .into_iter()
        .map(|(k, _)| k.into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "name",
            "timeout",
            "header_size",
            "total_size",
            "computed_body_hash"
        ]
    );
    assert_eq!(msg.deserialize_output(), json!({}));
}

#[test]
fn deserialize_output_defaults_to_the_fields_json() {
    let msg = SynapseMessage::new(Dummy {
        dummy_input: 2,
        dummy_output: Some(4),
    });
    assert_eq!(
        msg.deserialize_output(),
        json!({"dummy_input": 2, "dummy_output": 4})
    );
}

fn dynamic_dummy() -> DynamicSynapse {
    DynamicSynapse::new("Dummy")
        .with_field(DynamicField::required("dummy_input", empty::INT))
        .with_field(DynamicField::optional("dummy_output", Value::Null))
}

fn dynamic_hashed() -> DynamicSynapse {
    DynamicSynapse::new("Hashed")
        .with_field(DynamicField::optional("text", json!("")))
        .with_field(DynamicField::optional("numbers", json!([])))
        .with_field(DynamicField::optional("ratio", json!(0.0)))
        .with_field(DynamicField::optional("flag", json!(false)))
        .with_field(DynamicField::optional("meta", json!({})))
        .with_hash_fields(Hashed::REQUIRED_HASH_FIELDS.iter().copied())
}

#[test]
fn dynamic_synapse_matches_the_static_one() {
    let mut dynamic = dynamic_dummy();
    assert!(matches!(
        dynamic.set("nope", json!(1)),
        Err(SynapseError::UnknownField { .. })
    ));
    assert!(matches!(
        dynamic.check_complete(),
        Err(SynapseError::MissingField { .. })
    ));
    dynamic.set("dummy_input", json!(21)).expect("declared");
    dynamic.check_complete().expect("complete");

    let stat = example_dummy_message();
    let mut dynamic = dynamic.into_message();
    dynamic.dendrite = stat.dendrite.clone();
    dynamic.axon = stat.axon.clone();
    assert_eq!(
        dynamic.to_json_vec().expect("json"),
        stat.to_json_vec().expect("json")
    );
    assert_eq!(
        dynamic_to_headers(&dynamic).expect("headers"),
        try_to_headers(&stat).expect("headers")
    );

    let mut hashed = dynamic_hashed();
    for (k, v) in serde_json::to_value(example_hashed())
        .expect("json")
        .as_object()
        .expect("object")
    {
        hashed.set(k, v.clone()).expect("declared");
    }
    let want = SynapseMessage::new(example_hashed())
        .body_hash()
        .expect("hash");
    assert_eq!(hashed.body_hash().expect("hash"), want);
    let msg = hashed.into_message();
    assert_eq!(msg.dynamic_body_hash().expect("hash"), want);
    assert_eq!(
        dynamic_to_headers(&msg).expect("headers"),
        to_headers(&SynapseMessage::new(example_hashed()))
    );
}

#[test]
fn dynamic_synapse_parses_with_its_schema() {
    let schema = dynamic_dummy();
    let body = br#"{"name":"x","dummy_output":7,"unknown":1,"dummy_input":3}"#;
    let msg = schema.parse_message(body).expect("parse");
    assert_eq!(msg.name.as_deref(), Some("Dummy"));
    let keys: Vec<&String> = msg.fields.values().keys().collect();
    assert_eq!(
        keys,
        ["dummy_input", "dummy_output"],
        "declaration order, unknown keys dropped"
    );
    assert_eq!(msg.fields.get("dummy_output"), Some(&json!(7)));
    assert!(matches!(
        schema.parse_message(br#"{"dummy_output":7}"#),
        Err(SynapseError::MissingField { .. })
    ));
    assert!(matches!(
        schema.parse_message(b"{"),
        Err(SynapseError::Json(_))
    ));
    // Defaults fill in.
    let msg = schema
        .parse_message(br#"{"dummy_input":3}"#)
        .expect("parse");
    assert_eq!(msg.fields.get("dummy_output"), Some(&Value::Null));
    // An undeclared hash field is an error, not a panic.
    let broken = dynamic_dummy().with_hash_fields(["missing"]);
    assert!(broken.body_hash().is_err());
    assert!(dynamic_to_headers(&broken.into_message()).is_err());
}
