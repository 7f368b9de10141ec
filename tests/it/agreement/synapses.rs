//! Synapse cases: `str()` per field, body hash, header maps and JSON bodies.

use std::borrow::Cow;
use std::fmt::Write as _;

use anyhow::{Context, bail};
use neuron_protocol::hash::{self, EMPTY_BODY_HASH};
use neuron_protocol::headers::{HeaderSynapse, dynamic_to_headers};
use neuron_protocol::pystr::python_str;
use neuron_protocol::signing::http_request_message;
use neuron_protocol::synapse::{DynamicField, DynamicSynapse, SynapseMessage, empty};
use serde_json::Value;

use super::pyvalue::{Leaves, PyFields, PyValue};
use super::{Case, by_category, emitted, fail_with};

/// Counts and mismatches over the whole run.
#[derive(Default)]
struct Tally {
    cases: usize,
    fields: usize,
    floats: usize,
    strings: usize,
    non_finite_cases: usize,
    header_maps: usize,
    bodies: usize,
    /// (what was compared, details), in case order.
    mismatches: Vec<(String, String)>,
}

impl Tally {
    fn check(&mut self, case: &Case, what: &str, python: &str, rust: &str) {
        if python != rust {
            self.mismatch(
                case,
                what,
                format!("\n    python: {python:?}\n    rust:   {rust:?}"),
            );
        }
    }

    fn mismatch(&mut self, case: &Case, what: &str, details: String) {
        let category = what.split('(').next().unwrap_or(what).trim().to_owned();
        self.mismatches.push((
            category,
            format!("case {} ({}) {what}:{details}", case.id, case.class),
        ));
    }

    /// Header lists must be equal, order included; a mismatch shows only what differs.
    fn check_headers(
        &mut self,
        case: &Case,
        what: &str,
        python: &[(String, String)],
        rust: &[(String, String)],
    ) {
        if python == rust {
            return;
        }
        let only = |a: &[(String, String)], b: &[(String, String)]| -> String {
            a.iter()
                .filter(|h| !b.contains(h))
                .fold(String::new(), |mut out, (k, v)| {
                    let _ = write!(out, " {k}: {v:?};");
                    out
                })
        };
        let (py_only, rs_only) = (only(python, rust), only(rust, python));
        let details = if py_only.is_empty() && rs_only.is_empty() {
            format!(
                "\n    same headers, other order:\n    python: {python:?}\n    rust:   {rust:?}"
            )
        } else {
            format!("\n    only in python:{py_only}\n    only in rust:  {rs_only}")
        };
        self.mismatch(case, what, details);
    }
}

fn empty_json(kind: &str) -> anyhow::Result<&'static str> {
    Ok(match kind {
        "str" => empty::STR,
        "float" => empty::FLOAT,
        "int" => empty::INT,
        "bool" => empty::BOOL,
        "list" => empty::LIST,
        "dict" => empty::DICT,
        other => bail!("unknown field kind {other:?}"),
    })
}

fn python_headers(case: &Case) -> anyhow::Result<Vec<(String, String)>> {
    case.headers
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.as_str()
                    .context("header value is not a string")?
                    .to_owned(),
            ))
        })
        .collect()
}

fn rust_headers<'a>(
    headers: impl IntoIterator<Item = (Cow<'a, str>, String)>,
) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(k, _)| k != "header_size" && k != "total_size")
        .map(|(k, v)| (k.into_owned(), v))
        .collect()
}

fn check_case(case: &Case, tally: &mut Tally) -> anyhow::Result<()> {
    tally.cases += 1;
    let mut leaves = Leaves::default();
    let timeout = match PyValue::from_typed(&case.timeout, &mut leaves)? {
        PyValue::Float(t) => t,
        other => bail!("case {}: timeout is {other:?}", case.id),
    };
    let mut values = Vec::with_capacity(case.fields.len());
    for f in &case.fields {
        let v = PyValue::from_typed(&f.value, &mut leaves)
            .with_context(|| format!("case {} field {}", case.id, f.name))?;
        tally.fields += 1;
        tally.check(
            case,
            &format!("python_str({})", f.name),
            &f.python_str,
            &python_str(&v)?,
        );
        tally.check(
            case,
            &format!("field_hash({})", f.name),
            &f.field_hash,
            &hash::field_hash_hex(&f.python_str),
        );
        values.push((f.name.clone(), v));
    }
    tally.floats += leaves.floats;
    tally.strings += leaves.strings;
    for m in leaves.mismatches {
        tally.mismatch(case, "leaf", format!(" {m}"));
    }

    // Body hash and headers from the exact values (NaN and infinities included).
    let names: Vec<&str> = case
        .required_hash_fields
        .iter()
        .map(String::as_str)
        .collect();
    let fields = PyFields(values.clone());
    let body_hash = hash::body_hash(&fields, &names)?;
    tally.check(case, "body_hash", &case.body_hash, &body_hash);
    if names.is_empty() {
        tally.check(
            case,
            "body_hash (no hash fields)",
            EMPTY_BODY_HASH,
            &body_hash,
        );
    }
    let message = http_request_message(
        case.dendrite.nonce.context("no dendrite nonce")?,
        case.dendrite.hotkey.as_deref().unwrap_or("None"),
        case.axon.hotkey.as_deref().unwrap_or("None"),
        case.dendrite.uuid.as_deref().unwrap_or("None"),
        &body_hash,
    );
    tally.check(case, "signing message", &case.signing_message, &message);

    let want_headers = python_headers(case)?;
    let header_synapse = HeaderSynapse {
        name: Some(case.class.clone()),
        timeout: Some(timeout),
        computed_body_hash: Some(body_hash.clone()),
        dendrite: case.dendrite.clone(),
        axon: case.axon.clone(),
        // The SDK sends an input object per required field whose value is not None.
        input_obj: case
            .fields
            .iter()
            .zip(&values)
            .filter(|(f, (_, v))| f.required && *v != PyValue::None)
            .map(|(f, _)| Ok((f.name.clone(), empty_json(&f.kind)?.to_owned())))
            .collect::<anyhow::Result<_>>()?,
        ..HeaderSynapse::default()
    };
    let got = rust_headers(header_synapse.to_headers());
    tally.header_maps += 1;
    tally.check_headers(case, "headers (HeaderSynapse)", &want_headers, &got);

    if case.finite {
        check_dynamic(case, timeout, &values, &want_headers, tally)?;
    } else {
        tally.non_finite_cases += 1;
    }
    Ok(())
}

/// The headers the Rust encoder sends: the SDK's, plus `bt_header_input_obj_<f>` for a
/// required field whose value is `None`, which the SDK leaves out. That difference is on
/// purpose: without the header the SDK's own axon cannot build its header synapse (the
/// required field is missing) and answers 500 to the SDK's own dendrite.
fn with_input_obj_for_none(
    case: &Case,
    values: &[(String, PyValue)],
    python: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    const PREFIX: &str = "bt_header_input_obj_";
    let mut inputs = Vec::new();
    for (f, (_, v)) in case.fields.iter().zip(values).filter(|(f, _)| f.required) {
        let name = format!("{PREFIX}{}", f.name);
        let value = match python.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => v.clone(),
            None if *v == PyValue::None => base64_empty(empty_json(&f.kind)?)?.to_owned(),
            None => bail!(
                "case {}: the SDK sent no {name} for a non-None value",
                case.id
            ),
        };
        inputs.push((name, value));
    }
    // The SDK order: everything before the input objects, then them, then the rest.
    let first = python
        .iter()
        .position(|(k, _)| k.starts_with(PREFIX) || k == "computed_body_hash");
    let (head, tail) = python.split_at(first.unwrap_or(python.len()));
    let tail = tail.iter().filter(|(k, _)| !k.starts_with(PREFIX));
    Ok(head
        .iter()
        .cloned()
        .chain(inputs)
        .chain(tail.cloned())
        .collect())
}

/// Base64 of an empty value's JSON (wire-modern §3.2).
fn base64_empty(json: &str) -> anyhow::Result<&'static str> {
    Ok(match json {
        "0" => "MA==",
        "0.0" => "MC4w",
        "\"\"" => "IiI=",
        "false" => "ZmFsc2U=",
        "[]" => "W10=",
        "{}" => "e30=",
        other => bail!("no base64 for {other:?}"),
    })
}

/// The [`DynamicSynapse`] path, for cases that JSON can carry.
fn check_dynamic(
    case: &Case,
    timeout: f64,
    values: &[(String, PyValue)],
    want_headers: &[(String, String)],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut schema = DynamicSynapse::new(&case.class);
    for f in &case.fields {
        schema = schema.with_field(match f.decl.as_str() {
            "optional" => DynamicField::optional(&f.name, Value::Null),
            _ => DynamicField::required(&f.name, empty_json(&f.kind)?),
        });
    }
    schema = schema.with_hash_fields(case.required_hash_fields.iter().cloned());
    let mut syn = schema.clone();
    for (name, v) in values {
        syn.set(name, v.to_json()?)?;
    }
    let mut msg = syn.into_message();
    msg.timeout = Some(timeout);
    msg.dendrite = case.dendrite.clone();
    msg.axon = case.axon.clone();

    tally.check(
        case,
        "dynamic body_hash",
        &case.body_hash,
        &msg.dynamic_body_hash()?,
    );
    let got = rust_headers(dynamic_to_headers(&msg)?);
    let want = with_input_obj_for_none(case, values, want_headers)?;
    tally.check_headers(case, "headers (dynamic_to_headers)", &want, &got);

    // What an SDK axon writes back, byte for byte.
    let compact = case
        .body_compact
        .as_deref()
        .context("finite case without compact body")?;
    let ours = String::from_utf8(msg.to_json_vec()?).context("body is not utf-8")?;
    tally.bodies += 1;
    tally.check(case, "compact json body", compact, &ours);

    // What an SDK dendrite sends, parsed the way a Rust axon does.
    let parsed: SynapseMessage<DynamicSynapse> = schema.parse_message(case.body.as_bytes())?;
    tally.check(
        case,
        "parsed body: body_hash",
        &case.body_hash,
        &parsed.dynamic_body_hash()?,
    );
    for f in &case.fields {
        let v = parsed.fields.get(&f.name).unwrap_or(&Value::Null);
        tally.check(
            case,
            &format!("parsed body: python_str({})", f.name),
            &f.python_str,
            &python_str(v)?,
        );
    }
    if parsed != msg {
        let details = format!("\n    parsed:  {parsed:?}\n    rebuilt: {msg:?}");
        tally.mismatch(
            case,
            "parsed body differs from the rebuilt message",
            details,
        );
    }
    Ok(())
}

/// Every random case: `str()` per field, body hash, header map, bodies.
#[test]
fn synapse_cases_agree_with_the_sdk() -> anyhow::Result<()> {
    let out = emitted()?;
    assert!(out.cases.len() >= 300, "too few cases: {}", out.cases.len());
    let mut tally = Tally::default();
    for case in &out.cases {
        check_case(case, &mut tally)
            .with_context(|| format!("case {} ({})", case.id, case.class))?;
    }
    println!(
        "agreement: seed {} (bittensor {}, python {}, unicode {}, {:.1}s in python): {} cases, {} fields, \
         {} floats, {} strings, {} header maps, {} bodies, {} non-finite cases, {} mismatches",
        out.seed,
        out.sdk_version,
        out.python,
        out.unicode,
        out.seconds,
        tally.cases,
        tally.fields,
        tally.floats,
        tally.strings,
        tally.header_maps,
        tally.bodies,
        tally.non_finite_cases,
        tally.mismatches.len()
    );
    if !tally.mismatches.is_empty() {
        println!(
            "agreement: mismatches by kind: {}",
            by_category(&tally.mismatches)
        );
    }
    let details: Vec<String> = tally.mismatches.into_iter().map(|(_, d)| d).collect();
    fail_with("synapse", &details)
}

/// The spec's worked example (wire-modern §4.2) is case 0, with its known hash.
#[test]
fn spec_example_is_case_zero() -> anyhow::Result<()> {
    let out = emitted()?;
    let case = out.cases.first().context("no cases")?;
    assert_eq!(case.class, "Hashed");
    assert_eq!(
        case.body_hash,
        "3301b5f774520ea2334367dde8217ae80d15d3785888bff5f973cb5930468567"
    );
    Ok(())
}
