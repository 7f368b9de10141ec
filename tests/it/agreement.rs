//! Live agreement with the real Python SDK (bittensor 10.5.0) on random cases.
//!
//! `tests/python/agree_cases.py emit --seed N` defines real `bittensor.Synapse` subclasses
//! with random fields and values (hostile strings, float extremes, nested containers) and
//! prints, per case, each field's value as a typed tree (exact float bits, so NaN and
//! infinities survive), `str()` of each field, `synapse.body_hash`, `synapse.to_headers()`
//! and the JSON bodies. Here every case is rebuilt in Rust twice:
//!
//! * from the typed tree (all cases, non-finite floats included): `python_str` per field,
//!   `float_repr`/`str_repr` per leaf, the body hash, and the header encoding;
//! * as a [`DynamicSynapse`] (cases JSON can carry): `dynamic_to_headers`, the compact body
//!   an SDK axon writes, and parsing the body an SDK dendrite sends (hash and values).
//!
//! Signatures cross both ways: Python-signed messages are verified here, and Rust-signed
//! ones are verified by the SDK (`agree_cases.py verify`). Set `NEURON_AGREE_SEED` to run
//! another seed.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use neuron_protocol::hash::{self, EMPTY_BODY_HASH};
use neuron_protocol::headers::{HeaderSynapse, dynamic_to_headers};
use neuron_protocol::pystr::{float_repr, python_str, str_repr};
use neuron_protocol::signing::{bytes_wrapped, http_request_message};
use neuron_protocol::synapse::{DynamicField, DynamicSynapse, SynapseMessage, empty};
use neuron_protocol::terminal::TerminalInfo;
use neuron_wallet::{Keypair, PublicKey, Signature};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

const SCRIPT: &str = "agree_cases.py";
const DEFAULT_SEED: u64 = 20_251_122;
const CASES: usize = 600;
const PY_SIGNATURES: usize = 200;
const RUST_SIGNATURES: usize = 200;
/// How many mismatches a failure message shows in full.
const SHOWN: usize = 15;

// ---------------------------------------------------------------------------------------
// What the Python side prints

#[derive(Debug, Deserialize)]
struct Emitted {
    sdk_version: String,
    python: String,
    unicode: String,
    seed: u64,
    keys: Map<String, Value>,
    self_check: SelfCheck,
    cases: Vec<Case>,
    signatures: Vec<PySignature>,
    seconds: f64,
}

#[derive(Debug, Deserialize)]
struct SelfCheck {
    refuses_remote_connect: bool,
    allows_loopback_connect: bool,
    refuses_dns: bool,
    external_ip: String,
    tensor_buffer: String,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: u64,
    class: String,
    timeout: Value,
    required_hash_fields: Vec<String>,
    fields: Vec<Field>,
    dendrite: TerminalInfo,
    axon: TerminalInfo,
    finite: bool,
    body: String,
    body_compact: Option<String>,
    body_hash: String,
    headers: Map<String, Value>,
    signing_message: String,
}

#[derive(Debug, Deserialize)]
struct Field {
    name: String,
    kind: String,
    decl: String,
    required: bool,
    value: Value,
    python_str: String,
    field_hash: String,
}

#[derive(Debug, Deserialize)]
struct PySignature {
    ss58: String,
    message_hex: String,
    signature: String,
    raw: bool,
    sdk: bool,
    note: String,
}

#[derive(Debug, Deserialize)]
struct VerifyResults {
    results: Vec<VerifyResult>,
}

#[derive(Debug, Deserialize)]
struct VerifyResult {
    sdk: bool,
    strict: bool,
}

fn seed() -> u64 {
    std::env::var("NEURON_AGREE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// One Python run shared by every test of this module.
fn emitted() -> anyhow::Result<&'static Emitted> {
    static EMITTED: OnceLock<Result<Emitted, String>> = OnceLock::new();
    let result = EMITTED.get_or_init(|| {
        let seed = seed().to_string();
        let cases = CASES.to_string();
        let sigs = PY_SIGNATURES.to_string();
        let args = ["emit", "--seed", &seed, "--cases", &cases, "--sigs", &sigs];
        neuron_tests::run_python(SCRIPT, &args, b"").map_err(|e| format!("{e:#}"))
    });
    result.as_ref().map_err(|e| anyhow::anyhow!("{e}"))
}

// ---------------------------------------------------------------------------------------
// Python values rebuilt in Rust

/// A Python value with exact floats (serde_json cannot hold NaN or infinities).
#[derive(Clone, Debug, PartialEq)]
enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

impl Serialize for PyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PyValue::None => s.serialize_none(),
            PyValue::Bool(b) => s.serialize_bool(*b),
            PyValue::Int(i) => s.serialize_i64(*i),
            PyValue::Float(f) => s.serialize_f64(*f),
            PyValue::Str(t) => s.serialize_str(t),
            PyValue::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            PyValue::Dict(entries) => serialize_entries(s, entries),
        }
    }
}

fn serialize_entries<S: Serializer>(
    s: S,
    entries: &[(String, PyValue)],
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// A synapse's own fields in declaration order, serialized as a map (what `body_hash` reads).
struct PyFields(Vec<(String, PyValue)>);

impl Serialize for PyFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_entries(s, &self.0)
    }
}

/// Checks made on the leaves while decoding a typed tree.
#[derive(Default)]
struct Leaves {
    floats: usize,
    strings: usize,
    mismatches: Vec<String>,
}

impl PyValue {
    /// Decodes `sdkpeer.to_typed`'s tree, checking `float_repr`/`str_repr` of every leaf
    /// against Python's `repr`.
    fn from_typed(t: &Value, leaves: &mut Leaves) -> anyhow::Result<PyValue> {
        let kind = t
            .get("t")
            .and_then(Value::as_str)
            .context("typed node without `t`")?;
        let v = t.get("v");
        Ok(match kind {
            "none" => PyValue::None,
            "bool" => PyValue::Bool(v.and_then(Value::as_bool).context("bool node")?),
            "int" => PyValue::Int(
                v.and_then(Value::as_i64)
                    .context("int node (beyond i64?)")?,
            ),
            "float" => {
                let bits = t
                    .get("bits")
                    .and_then(Value::as_str)
                    .context("float node without bits")?;
                let x = f64::from_bits(u64::from_str_radix(bits, 16).context("float bits")?);
                let want = t.get("repr").and_then(Value::as_str).unwrap_or_default();
                leaves.floats += 1;
                let got = float_repr(x);
                if got != want {
                    leaves.mismatches.push(format!(
                        "float_repr(bits {bits}): python {want:?}, rust {got:?}"
                    ));
                }
                PyValue::Float(x)
            }
            "str" => {
                let s = v.and_then(Value::as_str).context("str node")?.to_owned();
                let want = t.get("repr").and_then(Value::as_str).unwrap_or_default();
                leaves.strings += 1;
                let got = str_repr(&s);
                if got != want {
                    leaves
                        .mismatches
                        .push(format!("str_repr({s:?}): python {want}, rust {got}"));
                }
                PyValue::Str(s)
            }
            "list" => PyValue::List(
                v.and_then(Value::as_array)
                    .context("list node")?
                    .iter()
                    .map(|x| PyValue::from_typed(x, leaves))
                    .collect::<anyhow::Result<_>>()?,
            ),
            "dict" => {
                let mut entries = Vec::new();
                for pair in v.and_then(Value::as_array).context("dict node")? {
                    let key = pair.get(0).and_then(Value::as_str).context("dict key")?;
                    let val = pair.get(1).context("dict value")?;
                    entries.push((key.to_owned(), PyValue::from_typed(val, leaves)?));
                }
                PyValue::Dict(entries)
            }
            other => bail!("unknown typed node {other:?}"),
        })
    }

    /// The JSON value, for values JSON can carry.
    fn to_json(&self) -> anyhow::Result<Value> {
        Ok(match self {
            PyValue::None => Value::Null,
            PyValue::Bool(b) => Value::Bool(*b),
            PyValue::Int(i) => Value::from(*i),
            PyValue::Float(f) => Value::Number(
                serde_json::Number::from_f64(*f).context("non-finite float in a finite case")?,
            ),
            PyValue::Str(s) => Value::String(s.clone()),
            PyValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(PyValue::to_json)
                    .collect::<anyhow::Result<_>>()?,
            ),
            PyValue::Dict(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.clone(), v.to_json()?);
                }
                Value::Object(map)
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// Comparing one case

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

fn fail_with(what: &str, mismatches: &[String]) -> anyhow::Result<()> {
    if mismatches.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = mismatches.iter().take(SHOWN).map(String::as_str).collect();
    bail!(
        "{} {what} mismatch(es) with the Python SDK (first {}):\n{}",
        mismatches.len(),
        shown.len(),
        shown.join("\n")
    )
}

/// Mismatch counts per kind of comparison, most frequent first.
fn by_category(mismatches: &[(String, String)]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (category, _) in mismatches {
        match counts.iter_mut().find(|(c, _)| c == category) {
            Some((_, n)) => *n += 1,
            None => counts.push((category.clone(), 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .iter()
        .map(|(c, n)| format!("{n}× {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------
// Tests

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

/// Messages signed in Python by //Bob (from its seed) verify here, and the controls don't.
#[test]
fn python_signatures_verify_in_rust() -> anyhow::Result<()> {
    let out = emitted()?;
    let mut mismatches = Vec::new();
    for (i, s) in out.signatures.iter().enumerate() {
        let pk = PublicKey::from_ss58(&s.ss58)?;
        let sig = Signature::from_hex(&s.signature)?;
        let msg = hex::decode(&s.message_hex)?;
        let (raw, sdk) = (pk.verify_raw(&msg, &sig), pk.verify(&msg, &sig));
        if (raw, sdk) != (s.raw, s.sdk) {
            mismatches.push(format!(
                "signature {i} ({}): python says raw={} sdk={}, rust says raw={raw} sdk={sdk}",
                s.note, s.raw, s.sdk
            ));
        }
    }
    let valid = out.signatures.iter().filter(|s| s.raw).count();
    println!(
        "agreement: {} python signatures checked in rust ({valid} valid), {} mismatches",
        out.signatures.len(),
        mismatches.len()
    );
    fail_with("python→rust signature", &mismatches)
}

/// One Rust-signed message and what the SDK must say about it.
#[derive(Serialize)]
struct Pair {
    ss58: String,
    message_hex: String,
    signature: String,
    #[serde(skip)]
    want: (bool, bool),
    #[serde(skip)]
    note: &'static str,
}

/// A deterministic byte string (xorshift), so failures reproduce.
fn bytes_from(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

fn rust_pairs(out: &Emitted) -> anyhow::Result<Vec<Pair>> {
    let bob = Keypair::from_uri("//Bob")?;
    let alice = Keypair::from_uri("//Alice")?;
    let mut state = seed() | 1;
    let mut pairs = Vec::with_capacity(RUST_SIGNATURES);
    for i in 0..RUST_SIGNATURES {
        let msg = match i % 3 {
            0 => out.cases[i % out.cases.len()]
                .signing_message
                .clone()
                .into_bytes(),
            _ => {
                let len = (state % 160) as usize;
                bytes_from(&mut state, len)
            }
        };
        let signer = if i % 2 == 0 { &bob } else { &alice };
        let (shown, sig, want, note) = match i % 10 {
            7 => {
                let mut tampered = msg.clone();
                match tampered.first_mut() {
                    Some(b) => *b ^= 1,
                    None => tampered.push(b'!'),
                }
                (tampered, signer.sign(&msg), (false, false), "tampered")
            }
            8 => (
                msg.clone(),
                signer.sign(&bytes_wrapped(&msg)),
                (true, false),
                "bytes_wrapped",
            ),
            _ => (msg.clone(), signer.sign(&msg), (true, true), "valid"),
        };
        // every 25th pair claims the other key
        let (ss58, want, note) = if i % 25 == 24 {
            let other = if i % 2 == 0 { &alice } else { &bob };
            (other.ss58().to_owned(), (false, false), "wrong_key")
        } else {
            (signer.ss58().to_owned(), want, note)
        };
        pairs.push(Pair {
            ss58,
            message_hex: hex::encode(shown),
            signature: sig.to_hex(),
            want,
            note,
        });
    }
    Ok(pairs)
}

/// Messages signed here verify with the SDK's `Keypair.verify` and py-sr25519-bindings.
#[test]
fn rust_signatures_verify_in_python() -> anyhow::Result<()> {
    let out = emitted()?;
    let pairs = rust_pairs(out)?;
    let input = serde_json::to_vec(&serde_json::json!({ "pairs": &pairs }))?;
    let results: VerifyResults = neuron_tests::run_python(SCRIPT, &["verify"], &input)?;
    assert_eq!(results.results.len(), pairs.len(), "one result per pair");
    let mut mismatches = Vec::new();
    for (i, (p, r)) in pairs.iter().zip(&results.results).enumerate() {
        if (r.sdk, r.strict) != p.want {
            mismatches.push(format!(
                "pair {i} ({}): expected sdk={} strict={}, python says sdk={} strict={}",
                p.note, p.want.0, p.want.1, r.sdk, r.strict
            ));
        }
    }
    let valid = pairs.iter().filter(|p| p.want.1).count();
    println!(
        "agreement: {} rust signatures checked by the sdk ({valid} valid), {} mismatches",
        pairs.len(),
        mismatches.len()
    );
    fail_with("rust→python signature", &mismatches)
}

/// The harness keys: spec §14.1 values, Rust derivation, and the Python peer's seed keys.
#[test]
fn harness_keys_match_the_spec_and_the_python_peer() -> anyhow::Result<()> {
    const DEV_PHRASE: &str =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    let spec = [
        (
            DEV_PHRASE,
            "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e",
            "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
            None,
        ),
        (
            "//Alice",
            "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
            Some("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
        ),
        (
            "//Bob",
            "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
            "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
            Some("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"),
        ),
    ];
    for (uri, seed, public, ss58) in spec {
        let kp = Keypair::from_uri(uri)?;
        assert_eq!(hex::encode(kp.public().0), public, "public key of {uri:?}");
        assert_eq!(
            kp.seed().map(hex::encode).as_deref(),
            Some(seed),
            "mini-secret of {uri:?}"
        );
        if let Some(ss58) = ss58 {
            assert_eq!(kp.ss58(), ss58, "ss58 of {uri}");
        }
        let from_seed = Keypair::from_seed(&hex::decode(seed)?)?;
        assert_eq!(
            from_seed.public(),
            kp.public(),
            "seed and URI of {uri:?} disagree"
        );
    }

    // sdkpeer.SEEDS: every key the Python peers use is the one Rust derives from its URI.
    let out = emitted()?;
    assert!(out.keys.len() >= 3, "sdkpeer reports too few keys");
    for (uri, key) in &out.keys {
        let field = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kp = if uri.is_empty() {
            Keypair::from_uri(DEV_PHRASE)?
        } else {
            Keypair::from_uri(uri)?
        };
        assert_eq!(
            kp.seed().map(hex::encode),
            Some(field("seed")),
            "sdkpeer seed of {uri:?}"
        );
        assert_eq!(
            hex::encode(kp.public().0),
            field("public_key"),
            "sdkpeer public key of {uri:?}"
        );
        assert_eq!(kp.ss58(), field("ss58"), "sdkpeer ss58 of {uri:?}");
        assert_eq!(
            field("public_key"),
            field("sdk_uri_public_key"),
            "SDK URI derivation of {uri:?}"
        );
    }
    Ok(())
}

/// The sdkpeer patches are in force: loopback only, fixed external IP, torch-less Tensor.
#[test]
fn sdkpeer_patches_are_in_force() -> anyhow::Result<()> {
    let check = &emitted()?.self_check;
    assert!(
        check.refuses_remote_connect,
        "sdkpeer lets a peer connect off the machine"
    );
    assert!(check.allows_loopback_connect, "sdkpeer refuses loopback");
    assert!(
        check.refuses_dns,
        "sdkpeer lets a peer resolve remote names"
    );
    assert_eq!(check.external_ip, "127.0.0.1");
    // spec §10 worked example: float32 [0, 0.5, 1, 1.5]
    assert_eq!(
        check.tensor_buffer,
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/"
    );
    Ok(())
}
