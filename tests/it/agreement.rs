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
//! * as a `DynamicSynapse` (cases JSON can carry): `dynamic_to_headers`, the compact body
//!   an SDK axon writes, and parsing the body an SDK dendrite sends (hash and values).
//!
//! Signatures cross both ways: Python-signed messages are verified here, and Rust-signed
//! ones are verified by the SDK (`agree_cases.py verify`). Set `NEURON_AGREE_SEED` to run
//! another seed.

mod keys;
mod pyvalue;
mod signatures;
mod synapses;

use std::sync::OnceLock;

use anyhow::bail;
use neuron_protocol::terminal::TerminalInfo;
use serde::Deserialize;
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
