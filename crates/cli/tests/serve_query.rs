//! `neuron serve` and `neuron query` end to end, and graceful shutdown under load.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

struct Served {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
}

fn serve(extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(["serve", "--port", "0", "--wallet.uri", "//Alice"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // "serving 127.0.0.1:PORT hotkey SS58"
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("serving"), "{line}");
    let addr: std::net::SocketAddr = words.next().unwrap().parse().unwrap();
    assert_eq!(words.nth(1), Some(ALICE), "{line}");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Served {
        child,
        port: addr.port(),
        stderr: rx,
    }
}

fn query(port: u16, synapse: &str, json: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(["query", "--port", &port.to_string(), "--hotkey", ALICE])
        .args([
            "--synapse",
            synapse,
            "--json",
            json,
            "--wallet.uri",
            "//Bob",
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn query_every_example_synapse() {
    let mut served = serve(&[]);
    let (ok, out, err) = query(served.port, "Dummy", r#"{"dummy_input": 21}"#);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dummy_output"], 42);
    assert_eq!(v["dendrite"]["status_code"], 200);

    let hashed = r#"{"text": "héllo", "numbers": [1, 2, 3], "ratio": 0.1, "flag": true, "meta": {"k": "v"}}"#;
    let (ok, out, err) = query(served.port, "Hashed", hashed);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["output"], "héllo|6|0.1|True|1");

    let tensor = r#"{"tensor": {"buffer": "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/", "dtype": "float32", "shape": [4]}}"#;
    let (ok, out, err) = query(served.port, "TensorEcho", tensor);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["tensor"]["buffer"],
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAACAPwAAAEAAAEBA"
    );

    let (ok, _out, err) = query(served.port, "StreamCount", r#"{"n": 3}"#);
    assert!(ok, "{err}");
    assert!(err.contains("tok0\ntok1\ntok2\n"), "{err}");

    let (ok, _, err) = query(served.port, "Nope", "{}");
    assert!(!ok && err.contains("unknown synapse"), "{err}");
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());
}

#[test]
fn blacklisted_hotkey_gets_403() {
    let bob = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    let mut served = serve(&["--blacklist", bob]);
    let (ok, out, err) = query(served.port, "Dummy", r#"{"dummy_input": 1}"#);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dendrite"]["status_code"], 403, "{out} {err}");
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());
}

#[test]
fn the_per_hotkey_rate_limit_answers_429() {
    let mut served = serve(&["--axon.rate_limit", "0.001", "--axon.rate_burst", "1"]);
    let (ok, _, err) = query(served.port, "Dummy", r#"{"dummy_input": 1}"#);
    assert!(ok, "{err}");
    let (ok, out, err) = query(served.port, "Dummy", r#"{"dummy_input": 2}"#);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dendrite"]["status_code"], 429, "{out} {err}");
    // the legacy gRPC service has the same limit (its own buckets): Backoff the second time
    let grpc = |text: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
            .args([
                "query",
                "--port",
                &served.port.to_string(),
                "--hotkey",
                ALICE,
            ])
            .args([
                "--dialect",
                "grpc",
                "--synapse",
                "TextCausalLM",
                "--json",
                text,
            ])
            .args(["--wallet.uri", "//Bob"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["code"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(grpc(r#"{"text": "hello"}"#), "Success");
    assert_eq!(grpc(r#"{"text": "again"}"#), "Backoff");
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());
    // a rate that is not a number of requests per second is refused up front
    let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(["serve", "--port", "0", "--wallet.uri", "//Alice"])
        .args(["--axon.rate_limit=-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("requests per second"));
}

#[test]
fn sigterm_during_load_finishes_in_flight_and_exits_zero() {
    let mut served = serve(&["--handler-delay-ms", "700"]);
    let port = served.port;
    let calls: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || query(port, "Dummy", &format!(r#"{{"dummy_input": {i}}}"#)))
        })
        .collect();
    // Wait until all four requests are inside the handler.
    let mut started = 0;
    while started < 4 {
        let line = served.stderr.recv().unwrap();
        if line.starts_with("handling Dummy") {
            started += 1;
        }
    }
    terminate(&served.child);
    for call in calls {
        let (ok, out, err) = call.join().unwrap();
        assert!(ok, "in-flight request failed: {out} {err}");
    }
    assert!(
        served.child.wait().unwrap().success(),
        "serve did not exit 0"
    );
    // The port is closed now: a new request is refused (503 from the dendrite).
    let (ok, out, _) = query(port, "Dummy", r#"{"dummy_input": 9}"#);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dendrite"]["status_code"], 503);
}
