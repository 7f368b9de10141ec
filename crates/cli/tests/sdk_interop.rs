//! `neuron serve` and `neuron query` against the real Python SDK (bittensor 10.5.0).
//!
//! * `neuron serve` (//Alice) is queried by the SDK's own `bt.Dendrite` (//Bob), driven by
//!   `tests/python/cli_sdk_dendrite.py`: every example synapse (`Dummy`, `Hashed`,
//!   `TensorEcho` in six dtypes, `StreamCount` through `call_stream`), a hotkey refused
//!   with `--blacklist`, and the nonce rules of `--nonce-policy sdk` next to the default.
//! * A Python `bt.Axon` (//Alice, `tests/python/cli_sdk_axon.py`) serving the same four
//!   synapses is queried by `neuron query` (//Bob); the tests read its stdout JSON (and the
//!   stream chunks it writes on stderr).
//!
//! The interpreter is the project venv's (`$NEURON_PYTHON`, else `<root>/.venv/bin/python`,
//! found by `neuron_tests::python`). When it is missing these tests fail and say to run
//! `cargo xtask venv`; they never skip.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use neuron_tensor::bt::BtTensor;
use neuron_tensor::{Dtype, Limits, WireTensor, cast};
use serde_json::{Value, json};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const SDK_VERSION: &str = "10.5.0";
const DENDRITE_SCRIPT: &str = "cli_sdk_dendrite.py";
const AXON_SCRIPT: &str = "cli_sdk_axon.py";
/// How long a `neuron serve` may take to print its `serving` line, or to exit after SIGTERM.
const PROCESS_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// `neuron serve`, queried by the SDK dendrite

/// A running `neuron serve`; killed on drop if a test failed before stopping it.
struct Served {
    child: Child,
    addr: SocketAddr,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Served {
    /// Starts `neuron serve --port 0 --wallet.uri //Alice <extra>` and waits for its
    /// `serving ADDR hotkey SS58` line.
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_neuron"))
            .args(["serve", "--port", "0", "--wallet.uri", "//Alice"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start `neuron serve`");
        let stderr = child.stderr.take().map(collect);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let mut served = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        let line = match rx.recv_timeout(PROCESS_DEADLINE) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading the stdout of `neuron serve`: {e}"),
            Err(_) => panic!("`neuron serve` printed no line within {PROCESS_DEADLINE:?}"),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 4 || words[0] != "serving" || words[2] != "hotkey" {
            let _ = served.child.kill();
            let _ = served.child.wait();
            panic!(
                "`neuron serve {}` did not start: stdout {line:?}, stderr:\n{}",
                extra.join(" "),
                served.take_stderr()
            );
        }
        served.addr = words[1].parse().expect("the serving address");
        assert_eq!(words[3], ALICE, "{line}");
        assert!(served.addr.ip().is_loopback(), "{line}");
        assert_ne!(served.addr.port(), 0, "{line}");
        served
    }

    /// What the Python side needs to reach this axon.
    fn target(&self) -> Value {
        json!({"port": self.addr.port(), "hotkey": ALICE})
    }

    fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }

    /// SIGTERM, then the exit status must be success within the deadline.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + PROCESS_DEADLINE;
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "`neuron serve` still runs {PROCESS_DEADLINE:?} after SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.take_stderr();
        assert!(
            exit.success(),
            "`neuron serve` exited with {exit}:\n{stderr}"
        );
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(mut pipe: ChildStderr) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs `cli_sdk_dendrite.py` with `input` on stdin; returns its JSON document.
fn sdk_dendrite(input: &Value) -> Value {
    let stdin = serde_json::to_vec(input).unwrap();
    let out: Value = neuron_tests::run_python(DENDRITE_SCRIPT, &[], &stdin)
        .unwrap_or_else(|e| panic!("the SDK dendrite failed: {e:#}"));
    assert_eq!(out["sdk_version"], SDK_VERSION, "{out}");
    out
}

/// A successful SDK call: 200 on both sides, answered by //Alice.
fn assert_served(case: &Value, what: &str) {
    assert_eq!(case["status"], 200, "{what}: {case}");
    assert_eq!(case["axon_status"], 200, "{what}: {case}");
    assert_eq!(case["message"], "Success", "{what}: {case}");
    assert_eq!(case["axon_hotkey"], ALICE, "{what}: {case}");
}

#[test]
fn sdk_dendrite_gets_every_example_synapse_from_neuron_serve() {
    let served = Served::start(&[]);
    let out = sdk_dendrite(&json!({"mode": "examples", "axon": served.target()}));
    served.stop();
    assert_eq!(out["dendrite_hotkey"], BOB);

    // Dummy: output = 2 × input.
    let dummies = out["dummy"].as_array().unwrap();
    let got: Vec<(i64, i64)> = dummies
        .iter()
        .map(|d| {
            assert_served(d, "Dummy");
            (d["input"].as_i64().unwrap(), d["output"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(got, [(21, 42), (-1_234_567, -2_469_134), (0, 0)]);

    // Hashed: the output string a Python user expects, and the literal one.
    let hashed = &out["hashed"];
    let literal = [
        (
            "unicode",
            "héllo wörld \"quoted\" 'x' \u{2603}|-1|1e-05|True|6".to_owned(),
        ),
        ("plain", "|0|0.1|False|0".to_owned()),
        (
            "big",
            format!("{}|9223372036854775803|1.5e+300|True|1", "x".repeat(300)),
        ),
    ];
    for (name, want) in literal {
        let case = &hashed[name];
        assert_served(case, name);
        assert_eq!(case["expected"], want.as_str(), "Hashed {name}");
        assert_eq!(case["output"], want.as_str(), "Hashed {name}: {case}");
    }

    // TensorEcho: tensor × scale, dtype and shape kept, bytes as the SDK writes them.
    let tensors = &out["tensor"];
    let cases = [
        ("f32", "float32", json!([4]), json!([0.0, 1.0, 2.0, 3.0])),
        (
            "f64_2d",
            "float64",
            json!([2, 3]),
            json!([-1.875, 3.75, -4.5, 0.1 * -1.5, -1.5e300, 0.0]),
        ),
        (
            "f16",
            "float16",
            json!([4]),
            json!([0.5, -1.0, 0.125, 32752.0]),
        ),
        (
            "i64",
            "int64",
            json!([2, 3]),
            json!([3, -6, 9, 12, 15, -18]),
        ),
        ("i32_trunc", "int32", json!([3]), json!([1, -1, 3])),
        ("u8", "uint8", json!([3]), json!([0, 2, 254])),
    ];
    assert_eq!(tensors.as_object().unwrap().len(), cases.len(), "{tensors}");
    for (name, dtype, shape, values) in cases {
        let case = &tensors[name];
        assert_served(case, name);
        assert_eq!(case["dtype"], dtype, "TensorEcho {name}: {case}");
        assert_eq!(case["decoded_dtype"], dtype, "TensorEcho {name}: {case}");
        assert_eq!(case["shape"], shape, "TensorEcho {name}: {case}");
        assert_eq!(case["expected_shape"], shape, "TensorEcho {name}: {case}");
        assert_eq!(case["expected"], values, "TensorEcho {name}: {case}");
        assert_eq!(case["values"], values, "TensorEcho {name}: {case}");
        assert_eq!(
            case["buffer_is_sdk_bytes"], true,
            "TensorEcho {name}: {case}"
        );
    }

    // StreamCount: the chunks, then the final synapse.
    for n in [3_usize, 0, 40] {
        let case = &out["stream"][n.to_string()];
        assert_served(case, &format!("StreamCount n={n}"));
        let want: Vec<String> = (0..n).map(|i| format!("tok{i}")).collect();
        assert_eq!(case["chunks"], json!(want), "StreamCount n={n}");
        assert_eq!(case["n"], n, "StreamCount n={n}");
    }
}

#[test]
fn sdk_dendrite_blacklisted_hotkey_gets_403_from_neuron_serve() {
    let served = Served::start(&["--blacklist", CHARLIE]);
    let out = sdk_dendrite(&json!({"mode": "blacklist", "axon": served.target()}));
    served.stop();
    assert_eq!(out["bob_hotkey"], BOB);
    assert_eq!(out["charlie_hotkey"], CHARLIE);

    // The list refuses one hotkey, not everyone.
    assert_served(&out["bob"], "Dummy from //Bob");
    assert_eq!(out["bob"]["output"], 10);

    for case in ["charlie", "charlie_hashed"] {
        let c = &out[case];
        assert_eq!(c["status"], 403, "{case}: {c}");
        assert_eq!(c["axon_status"], 403, "{case}: {c}");
        assert_eq!(c["output"], Value::Null, "{case}: {c}");
        let message = c["message"].as_str().unwrap();
        assert!(
            message.starts_with("Forbidden. Key is blacklisted"),
            "{case}: {message}"
        );
    }
}

/// The outcome of one hand-sent request (`cli_sdk_dendrite.py`'s `post`).
fn posted(v: &Value) -> (u64, String) {
    let http = v["http"].as_u64().unwrap();
    assert_eq!(
        v["status"].as_str(),
        Some(http.to_string().as_str()),
        "the axon status header disagrees with the HTTP status: {v}"
    );
    (http, v["message"].as_str().unwrap_or("").to_owned())
}

/// The body of an accepted `Dummy` request echoes the doubled input.
fn assert_dummy_body(v: &Value, input: i64) {
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["dummy_input"], input, "{body}");
    assert_eq!(body["dummy_output"], 2 * input, "{body}");
}

#[test]
fn sdk_dendrite_sees_the_sdk_nonce_policy_of_neuron_serve() {
    let sdk = Served::start(&["--nonce-policy", "sdk"]);
    let strict = Served::start(&[]);
    let out = sdk_dendrite(&json!({
        "mode": "nonces",
        "sdk": sdk.target(),
        "strict": strict.target(),
    }));
    sdk.stop();
    strict.stop();

    // Two requests signed in order, delivered in reverse order.
    for policy in ["reorder_sdk", "reorder_strict"] {
        let r = &out[policy];
        assert_eq!(r["nonces_increase"], true, "{policy}: {r}");
        assert_eq!(posted(&r["later_first"]).0, 200, "{policy}: {r}");
        assert_dummy_body(&r["later_first"], 2);
    }
    // bittensor 10.5's rule: once a nonce was accepted, only larger ones pass.
    let (code, message) = posted(&out["reorder_sdk"]["earlier_second"]);
    assert_eq!(code, 401, "{}", out["reorder_sdk"]);
    assert_eq!(
        message,
        "Not Verified with error: Nonce is too old, a newer one was last processed"
    );
    // The default policy accepts a request overtaken by a later one of the same client.
    let earlier = &out["reorder_strict"]["earlier_second"];
    assert_eq!(posted(earlier).0, 200, "{earlier}");
    assert_dummy_body(earlier, 1);

    // An exact replay is refused by both.
    for (policy, want) in [
        (
            "replay_sdk",
            "Not Verified with error: Nonce is too old, a newer one was last processed",
        ),
        (
            "replay_strict",
            "Not Verified with error: Nonce was already used",
        ),
    ] {
        let r = out[policy].as_array().unwrap();
        assert_eq!(r.len(), 2, "{policy}");
        assert_eq!(posted(&r[0]).0, 200, "{policy}: {}", r[0]);
        assert_dummy_body(&r[0], 4);
        let (code, message) = posted(&r[1]);
        assert_eq!(code, 401, "{policy}: {}", r[1]);
        assert_eq!(message, want, "{policy}");
    }
}

// ---------------------------------------------------------------------------------------
// A Python SDK axon, queried by `neuron query`

/// The SDK axon shared by the `neuron_query_*` tests. It serves until its stdin closes,
/// which happens when this test process exits.
struct SdkAxon {
    _peer: Mutex<neuron_tests::PythonPeer>,
    port: u16,
}

fn sdk_axon() -> &'static SdkAxon {
    static AXON: OnceLock<Result<SdkAxon, String>> = OnceLock::new();
    let started = AXON.get_or_init(|| {
        let mut peer = neuron_tests::spawn_python(AXON_SCRIPT, &["--blacklist", CHARLIE])
            .map_err(|e| format!("{e:#}"))?;
        let ready: Value = peer.read_json_line().map_err(|e| format!("{e:#}"))?;
        if ready["hotkey"] != ALICE || ready["sdk_version"] != SDK_VERSION {
            return Err(format!("unexpected SDK axon: {ready}"));
        }
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("no port in {ready}"))?;
        Ok(SdkAxon {
            _peer: Mutex::new(peer),
            port,
        })
    });
    match started {
        Ok(axon) => axon,
        Err(e) => panic!("the Python SDK axon did not start: {e}"),
    }
}

/// What `neuron query` did.
struct Queried {
    ok: bool,
    json: Value,
    stderr: String,
}

/// `neuron query` against the SDK axon, signed by `uri`, for the axon hotkey `hotkey`.
fn query_as(uri: &str, hotkey: &str, synapse: &str, fields: &Value) -> Queried {
    query_with(uri, hotkey, synapse, fields, &[])
}

/// [`query_as`] with extra flags for `neuron query`.
fn query_with(uri: &str, hotkey: &str, synapse: &str, fields: &Value, extra: &[&str]) -> Queried {
    let port = sdk_axon().port;
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(["query", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--hotkey", hotkey, "--synapse", synapse])
        .args(["--json", &fields.to_string(), "--timeout", "30"])
        .args(["--wallet.uri", uri])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run `neuron query`");
    let stdout = String::from_utf8(stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("`neuron query` stdout is not JSON ({e}): {stdout:?}\n{stderr}")
    });
    Queried {
        ok: status.success(),
        json,
        stderr,
    }
}

fn query(synapse: &str, fields: &Value) -> Queried {
    query_as("//Bob", ALICE, synapse, fields)
}

/// A successful call: exit 0, 200 on both sides, signed by //Bob, answered by //Alice.
fn assert_answered(q: &Queried, synapse: &str) {
    let v = &q.json;
    assert!(q.ok, "`neuron query` failed: {v}\n{}", q.stderr);
    assert_eq!(v["name"], synapse, "{v}");
    assert_eq!(v["dendrite"]["status_code"], 200, "{v}");
    assert_eq!(v["axon"]["status_code"], 200, "{v}");
    assert_eq!(v["dendrite"]["hotkey"], BOB, "{v}");
    assert_eq!(v["axon"]["hotkey"], ALICE, "{v}");
    assert!(q.stderr.contains("status 200 Success"), "{}", q.stderr);
}

#[test]
fn neuron_query_dummy_against_sdk_axon() {
    for (input, output) in [(21, 42), (-1_234_567, -2_469_134)] {
        let q = query("Dummy", &json!({"dummy_input": input}));
        assert_answered(&q, "Dummy");
        assert_eq!(q.json["dummy_input"], input);
        assert_eq!(q.json["dummy_output"], output, "{}", q.json);
    }
}

#[test]
fn neuron_query_hashed_against_sdk_axon() {
    let cases = [
        (
            json!({
                "text": "héllo wörld \"quoted\" 'x' \u{2603}",
                "numbers": [1, 2, 3, -7],
                "ratio": 1e-5,
                "flag": true,
                "meta": {"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": null, "nested": {"q": "it's"}},
            }),
            "héllo wörld \"quoted\" 'x' \u{2603}|-1|1e-05|True|6".to_owned(),
        ),
        (
            json!({"text": "", "numbers": [], "ratio": 0.1, "flag": false, "meta": {}}),
            "|0|0.1|False|0".to_owned(),
        ),
        (
            json!({
                "text": "x".repeat(300),
                "numbers": [1_i64 << 62, 1_i64 << 62, -5],
                "ratio": 1.5e300,
                "flag": true,
                "meta": {"a": {"b": [null]}},
            }),
            format!("{}|9223372036854775803|1.5e+300|True|1", "x".repeat(300)),
        ),
    ];
    for (fields, want) in cases {
        let q = query("Hashed", &fields);
        assert_answered(&q, "Hashed");
        assert_eq!(q.json["output"], want.as_str(), "{}", q.json);
        // The inputs come back unchanged.
        for key in ["text", "numbers", "ratio", "flag", "meta"] {
            assert_eq!(q.json[key], fields[key], "{key}");
        }
    }
}

/// U+1FAE8 (Unicode 15.0) in a hashed dict: the SDK axon's CPython 3.11 escapes it, so the
/// call succeeds when `neuron query` hashes as 3.11 does (the default, or `--axon.python
/// 3.11`) and is refused when told the axon runs 3.12.
#[test]
fn neuron_query_hashes_as_the_axons_python_release() {
    let fields = json!({
        "text": "t", "numbers": [1], "ratio": 0.5, "flag": false,
        "meta": {"new": ["face \u{1fae8}"]},
    });
    assert_answered(&query("Hashed", &fields), "Hashed");
    let for_python = |release: &str| {
        query_with(
            "//Bob",
            ALICE,
            "Hashed",
            &fields,
            &["--axon.python", release],
        )
    };
    assert_answered(&for_python("3.11"), "Hashed");
    let q = for_python("3.12");
    assert!(!q.ok, "{}", q.json);
    assert_eq!(q.json["dendrite"]["status_code"], 500, "{}", q.json);
}

/// Little-endian bytes of `values` in `dtype` (exact for the values used here).
fn bytes_of(values: &[f64], dtype: Dtype) -> Vec<u8> {
    let wide: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    cast::cast(&wide, Dtype::F64, dtype)
}

/// One `TensorEcho` query: `input × scale` must come back as `want`, in `dtype`.
struct TensorCase {
    dtype: Dtype,
    name: &'static str,
    shape: Vec<usize>,
    input: Vec<f64>,
    scale: f64,
    want: Vec<f64>,
}

#[test]
fn neuron_query_tensor_echo_against_sdk_axon() {
    let case = |dtype, name, shape, input, scale, want| TensorCase {
        dtype,
        name,
        shape,
        input,
        scale,
        want,
    };
    let cases = [
        case(
            Dtype::F32,
            "float32",
            vec![4],
            vec![0.0, 0.5, 1.0, 1.5],
            2.0,
            vec![0.0, 1.0, 2.0, 3.0],
        ),
        case(
            Dtype::F64,
            "float64",
            vec![2, 3],
            vec![1.25, -2.5, 3.0, 0.1, 1e300, -0.0],
            -1.5,
            vec![-1.875, 3.75, -4.5, 0.1 * -1.5, -1.5e300, 0.0],
        ),
        case(
            Dtype::F16,
            "float16",
            vec![4],
            vec![1.0, -2.0, 0.25, 65504.0],
            0.5,
            vec![0.5, -1.0, 0.125, 32752.0],
        ),
        case(
            Dtype::I64,
            "int64",
            vec![2, 3],
            vec![1.0, -2.0, 3.0, 4.0, 5.0, -6.0],
            3.0,
            vec![3.0, -6.0, 9.0, 12.0, 15.0, -18.0],
        ),
        // numpy's astype truncates toward zero.
        case(
            Dtype::I32,
            "int32",
            vec![3],
            vec![3.0, -3.0, 7.0],
            0.5,
            vec![1.0, -1.0, 3.0],
        ),
        case(
            Dtype::U8,
            "uint8",
            vec![3],
            vec![0.0, 1.0, 127.0],
            2.0,
            vec![0.0, 2.0, 254.0],
        ),
    ];
    for TensorCase {
        dtype,
        name,
        shape,
        input,
        scale,
        want,
    } in cases
    {
        let wire = WireTensor::new(dtype, shape.clone(), bytes_of(&input, dtype)).unwrap();
        let tensor = BtTensor::from_wire(&wire).unwrap();
        assert_eq!(tensor.dtype, name);
        let q = query("TensorEcho", &json!({"tensor": tensor, "scale": scale}));
        assert_answered(&q, "TensorEcho");
        assert_eq!(q.json["scale"], scale, "{}", q.json);
        let got: BtTensor = serde_json::from_value(q.json["tensor"].clone())
            .unwrap_or_else(|e| panic!("{name}: no bt.Tensor in the answer ({e}): {}", q.json));
        assert_eq!(got.dtype, name, "{name}: the dtype changed");
        let dims: Vec<i64> = shape.iter().map(|&d| i64::try_from(d).unwrap()).collect();
        assert_eq!(got.shape, dims, "{name}");
        let decoded = got.to_wire(&Limits::default()).unwrap();
        assert_eq!(decoded.dtype, dtype, "{name}");
        assert_eq!(decoded.shape, shape, "{name}");
        assert_eq!(
            decoded.data.as_ref(),
            bytes_of(&want, dtype).as_slice(),
            "{name}: {input:?} × {scale} should be {want:?}"
        );
    }
}

#[test]
fn neuron_query_stream_count_against_sdk_axon() {
    for n in [3_usize, 0, 25] {
        let q = query("StreamCount", &json!({"n": n}));
        assert_answered(&q, "StreamCount");
        assert_eq!(q.json["n"], n, "{}", q.json);
        // `neuron query` writes the chunks to stderr as they arrive, then the status line.
        let chunks: String = (0..n).map(|i| format!("tok{i}\n")).collect();
        let expected = format!("{chunks}status 200 Success");
        assert!(
            q.stderr.contains(&expected),
            "n={n}: expected the chunks {chunks:?} before the status line in:\n{}",
            q.stderr
        );
    }
}

#[test]
fn neuron_query_blacklisted_by_sdk_axon_gets_403() {
    let q = query_as("//Charlie", ALICE, "Dummy", &json!({"dummy_input": 1}));
    assert!(!q.ok, "a refused query must exit non-zero: {}", q.json);
    let v = &q.json;
    assert_eq!(v["dendrite"]["status_code"], 403, "{v}");
    assert_eq!(v["axon"]["status_code"], 403, "{v}");
    assert_eq!(v["dendrite"]["hotkey"], CHARLIE, "{v}");
    assert_eq!(v["dummy_output"], Value::Null, "{v}");
    let message = v["dendrite"]["status_message"].as_str().unwrap();
    assert!(
        message.starts_with("Forbidden. Key is blacklisted"),
        "{message}"
    );
    assert!(q.stderr.contains("status 403"), "{}", q.stderr);
}

#[test]
fn neuron_query_signed_for_another_hotkey_gets_401_from_sdk_axon() {
    // Signed for //Bob's axon but sent to //Alice's: the SDK axon's signature check fails.
    let q = query_as("//Bob", BOB, "Dummy", &json!({"dummy_input": 1}));
    assert!(!q.ok, "a refused query must exit non-zero: {}", q.json);
    let v = &q.json;
    assert_eq!(v["dendrite"]["status_code"], 401, "{v}");
    assert_eq!(v["dummy_output"], Value::Null, "{v}");
    let message = v["dendrite"]["status_message"].as_str().unwrap();
    assert!(message.starts_with("Not Verified with error"), "{message}");
}
