//! `neuron serve` in every dialect: `query --dialect native|grpc`, `metagraph --peer`, and
//! the `/metrics` endpoint.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

struct Served {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args([
            "serve",
            "--port",
            "0",
            "--metrics.port",
            "0",
            "--wallet.uri",
            "//Alice",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: SocketAddr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    // stderr: "dialects: ..." then "metrics http://ADDR/metrics".
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut metrics = None;
    for _ in 0..4 {
        let mut l = String::new();
        stderr.read_line(&mut l).unwrap();
        if let Some(rest) = l.strip_prefix("metrics http://") {
            metrics = Some(rest.trim().trim_end_matches("/metrics").parse().unwrap());
            break;
        }
        if l.starts_with("dialects:") {
            assert!(
                l.contains("native") && l.contains("grpc") && l.contains("gossip"),
                "{l}"
            );
        }
    }
    Served {
        child,
        addr,
        metrics: metrics.expect("serve printed no metrics address"),
    }
}

fn neuron(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn query(s: &Served, dialect: &str, synapse: &str, json: &str) -> (bool, String, String) {
    let port = s.addr.port().to_string();
    neuron(&[
        "query",
        "--port",
        &port,
        "--hotkey",
        ALICE,
        "--dialect",
        dialect,
        "--synapse",
        synapse,
        "--json",
        json,
        "--wallet.uri",
        "//Bob",
    ])
}

#[test]
fn serve_answers_every_dialect_and_counts_it() {
    let s = serve();

    let (ok, out, err) = query(&s, "native", "Dummy", r#"{"dummy_input": 21}"#);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dummy_output"], 42);

    let hashed = r#"{"text": "a", "numbers": [1, 2], "ratio": 2.5, "flag": false, "meta": {}}"#;
    let (ok, out, err) = query(&s, "native", "Hashed", hashed);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["output"], "a|3|2.5|False|0");

    for (synapse, key) in [
        ("TextCausalLM", "next_text"),
        ("TextLastHiddenState", "mean"),
        ("TextCausalLMNext", "phrases"),
        ("TextSeq2Seq", "generated"),
    ] {
        let (ok, out, err) = query(
            &s,
            "grpc",
            synapse,
            r#"{"text": "hello world", "topk": 4, "num_to_generate": 3}"#,
        );
        assert!(ok, "{synapse}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["code"], "Success", "{out}");
        assert!(!v["summary"][key].is_null(), "{synapse}: {out}");
    }
    let (ok, out, _) = query(
        &s,
        "grpc",
        "TextLastHiddenState",
        r#"{"text": "hello world"}"#,
    );
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["shape"], serde_json::json!([1, 2, 1024]), "{out}");

    // A key the axon does not expect: the legacy dialect refuses it by signature.
    let port = s.addr.port().to_string();
    let (ok, out, _) = neuron(&[
        "query",
        "--port",
        &port,
        "--hotkey",
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        "--dialect",
        "grpc",
        "--synapse",
        "TextCausalLM",
        "--json",
        r#"{"text": "x"}"#,
        "--wallet.uri",
        "//Bob",
    ]);
    assert!(!ok, "{out}");

    // The running neuron's metagraph, learned by gossip.
    let (ok, out, err) = neuron(&["metagraph", "--peer", &s.addr.to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("n = 1") && out.contains(ALICE), "{out}");
    assert!(out.contains("http,native,grpc,gossip"), "{out}");

    // /metrics counts what happened: 2 native requests answered, gRPC codes, gossip.
    let mut c = TcpStream::connect(s.metrics).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    assert!(
        text.contains(r#"neuron_axon_requests_total{outcome="ok"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"neuron_grpc_axon_codes_total{code="Success"} 5"#),
        "{text}"
    );
    assert!(text.contains("neuron_gossip_known_records 1"), "{text}");
}

#[test]
fn config_file_and_environment_set_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("neuron.toml");
    // The file says 1 (not bindable by tests); the environment overrides with 0.
    std::fs::write(&file, "[axon]\nport = 1\n[wallet]\nuri = \"//Alice\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(["serve", "--config", file.to_str().unwrap()])
        .env("BT_AXON_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("serving 127.0.0.1:") && line.contains(ALICE),
        "{line}"
    );
    assert!(!line.contains("127.0.0.1:1 "), "{line}");

    // A bad value is refused with the key and its source.
    std::fs::write(&file, "[axon]\nport = \"eighty\"\n").unwrap();
    let (ok, _, err) = neuron(&["serve", "--config", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("neuron.toml") && err.contains("port"), "{err}");
}
