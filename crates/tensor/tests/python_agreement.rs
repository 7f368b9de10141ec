//! Cross-language agreement with the Python SDK (numpy, msgpack-numpy, bittensor.Tensor).
//!
//! Runs `tests/python/tensor_cases.py` with the workspace venv's interpreter
//! (`.venv/bin/python`, or `NEURON_PYTHON`). A missing interpreter fails the test: run
//! `cargo xtask venv` first.
#![allow(missing_docs, clippy::unwrap_used)]

use neuron_tensor::{BtTensor, Dtype, Limits, WireTensor, bt, frame, msgpack};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn workspace() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Normalise the directory only: the venv's `bin/python` must stay a symlink inside the
    // venv, or Python does not find its `pyvenv.cfg`.
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn python() -> PathBuf {
    let p = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` to create the venv \
         (or set NEURON_PYTHON to a Python with numpy, msgpack-numpy and bittensor)",
        p.display()
    );
    p
}

fn run_python(args: &[&str], stdin: Option<&[u8]>) -> Value {
    let script = workspace().join("tests/python/tensor_cases.py");
    let mut child = Command::new(python())
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; run `cargo xtask venv`",
                python().display()
            )
        });
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    // A Python that dies early closes the pipe: its stderr explains why, below.
    let writer = std::thread::spawn(move || pipe.write_all(&input).is_ok());
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wire_of(case: &Value) -> WireTensor {
    let dtype = Dtype::from_numpy_name(case["dtype"].as_str().unwrap()).unwrap();
    let shape: Vec<usize> = case["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = hex::decode(case["data_hex"].as_str().unwrap()).unwrap();
    WireTensor::new(dtype, shape, data).unwrap()
}

#[test]
fn rust_matches_python_bytes() {
    let doc = run_python(&["gen", "20240611"], None);
    let limits = Limits::default();
    let mut failures = Vec::new();
    let mut checked = 0;

    for (kind, list) in [("array", &doc["cases"]), ("scalar", &doc["scalars"])] {
        for case in list.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let w = wire_of(case);
            let packed = hex::decode(case["msgpack_hex"].as_str().unwrap()).unwrap();
            let bt_json = case["bt_json"].as_str().unwrap();
            let mut fail = |what: String| failures.push(format!("{name}: {what}"));
            if case["python_ok"] == Value::Bool(false) {
                let parsed: BtTensor = serde_json::from_str(bt_json).unwrap();
                if parsed.to_wire(&limits).is_ok()
                    || msgpack::decode_ndarray(&packed, &limits).is_ok()
                {
                    fail("the SDK cannot decode this, Rust must refuse it".into());
                }
                checked += 1;
                continue;
            }

            if kind == "array" {
                let ours = msgpack::encode_ndarray(w.dtype, &w.shape, &w.data);
                if ours != packed {
                    fail(format!(
                        "msgpack differs:\n  rust   {}\n  python {}",
                        hex::encode(&ours),
                        hex::encode(&packed)
                    ));
                }
                let ours = serde_json::to_string(&BtTensor::from_wire(&w).unwrap()).unwrap();
                if ours != bt_json {
                    fail(format!(
                        "bt.Tensor JSON differs:\n  rust   {ours}\n  python {bt_json}"
                    ));
                }
            }
            match msgpack::decode_ndarray(&packed, &limits) {
                Ok(a) if WireTensor::from(a.clone()) == w => {}
                Ok(a) => fail(format!("msgpack decodes to {:?} {:?}", a.dtype, a.shape)),
                Err(e) => fail(format!("msgpack decode: {e}")),
            }
            let parsed: BtTensor = serde_json::from_str(bt_json).unwrap();
            match parsed.to_wire(&limits) {
                Ok(t) if t == w => {}
                Ok(t) => fail(format!("bt.Tensor decodes to {:?} {:?}", t.dtype, t.shape)),
                Err(e) => fail(format!("bt.Tensor decode: {e}")),
            }
            // the other encodings of the same array
            let f = frame::encode_wire(&w).unwrap();
            if frame::decode(f.clone(), &limits).ok().as_ref() != Some(&w) {
                fail("frame round trip".into());
            }
            let c = w.to_candle().unwrap();
            if WireTensor::from_candle_as(&c, w.dtype).unwrap() != w {
                fail("candle round trip".into());
            }
            checked += 1;
        }
    }

    for case in doc["casts"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let expected = wire_of(case);
        let parsed: BtTensor = serde_json::from_str(case["bt_json"].as_str().unwrap()).unwrap();
        match parsed.to_wire(&limits) {
            Ok(t) if t == expected => {}
            Ok(t) => failures.push(format!(
                "{name}: cast gives {:?} {:?} {}\n  numpy gives {:?} {:?} {}",
                t.dtype,
                t.shape,
                hex::encode(&t.data),
                expected.dtype,
                expected.shape,
                hex::encode(&expected.data)
            )),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} cases");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// xorshift64*: deterministic test data without extra dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_data(rng: &mut Rng, dtype: Dtype, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * dtype.size());
    for i in 0..n {
        match dtype {
            Dtype::Bool => out.push((rng.next() & 1) as u8),
            Dtype::F32 => {
                let specials = [
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -0.0,
                    f32::MAX,
                    f32::MIN_POSITIVE,
                    1e-45,
                ];
                let v = if i < specials.len() {
                    specials[i]
                } else {
                    (rng.next() as i64 as f32) * 1e-15
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
            Dtype::F64 => {
                let specials = [
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    f64::MAX,
                    5e-324,
                ];
                let v = if i < specials.len() {
                    specials[i]
                } else {
                    (rng.next() as i64 as f64) * 1e-12
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
            _ => {
                // any bit pattern (including float16/bfloat16 NaN payloads and int extremes)
                let bits = rng.next().to_le_bytes();
                out.extend_from_slice(&bits[..dtype.size()]);
            }
        }
    }
    out
}

#[test]
fn python_decodes_rust_output() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = Vec::new();
    let mut shapes: Vec<Vec<usize>> = vec![
        vec![],
        vec![0],
        vec![1],
        vec![7],
        vec![2, 0, 3],
        vec![300],
        vec![2, 3, 4, 5],
    ];
    for _ in 0..6 {
        let rank = 1 + rng.below(4) as usize;
        shapes.push((0..rank).map(|_| rng.below(6) as usize).collect());
    }
    for dtype in Dtype::ALL {
        for shape in &shapes {
            let n: usize = shape.iter().product();
            let w = WireTensor::new(dtype, shape.clone(), random_data(&mut rng, dtype, n)).unwrap();
            cases.push(case_json(&format!("{dtype}{shape:?}"), &w));
        }
    }
    let big = WireTensor::new(
        Dtype::U8,
        vec![70_000],
        random_data(&mut rng, Dtype::U8, 70_000),
    )
    .unwrap();
    cases.push(case_json("uint8[70000]", &big));
    let big = WireTensor::new(
        Dtype::F32,
        vec![256, 300],
        random_data(&mut rng, Dtype::F32, 256 * 300),
    )
    .unwrap();
    cases.push(case_json("float32[256,300]", &big));
    let deep = WireTensor::new(
        Dtype::I16,
        vec![1; 17],
        random_data(&mut rng, Dtype::I16, 1),
    )
    .unwrap();
    cases.push(case_json("int16 rank17", &deep));

    let input = serde_json::to_vec(&json!({ "cases": cases })).unwrap();
    let out = run_python(&["check"], Some(&input));
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] != Value::Bool(true))
        .map(|r| format!("{}: {}", r["name"], r["error"]))
        .collect();
    assert!(
        failures.is_empty(),
        "Python disagrees on {} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What Python must get back from a Rust-encoded tensor (widened where the SDK lacks the
/// dtype).
fn case_json(name: &str, w: &WireTensor) -> Value {
    let expected = w.cast(bt::bt_dtype(w.dtype));
    let bt_tensor = BtTensor::from_wire(w).unwrap();
    // also through candle: the encoders must agree
    if w.dtype.is_native_in_candle() {
        let via_candle = BtTensor::from_candle(&w.to_candle().unwrap()).unwrap();
        assert_eq!(via_candle, bt_tensor, "{name}");
    }
    json!({
        "name": name,
        "dtype": expected.dtype.numpy_name(),
        "shape": expected.shape,
        "data_hex": hex::encode(&expected.data),
        "bt_json": serde_json::to_string(&bt_tensor).unwrap(),
        "msgpack_hex": hex::encode(msgpack::encode_wire(&expected).unwrap()),
    })
}
