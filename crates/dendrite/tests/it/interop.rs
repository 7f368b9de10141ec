//! Rust dendrite (//Bob) → the real Python SDK axon (bittensor 10.5.0, //Alice), served by
//! `tests/python/http_dendrite_server.py` on 127.0.0.1.
//!
//! The interpreter is `$NEURON_PYTHON`, else `<workspace root>/.venv/bin/python`; when it is
//! missing these tests fail and say to run `cargo xtask venv`.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures::StreamExt;
use neuron_dendrite::{AxonInfo, Clock, Config, Dendrite, Failure, StreamEvent};
use neuron_protocol::synapse::Synapse;
use neuron_wallet::Keypair;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::server::closed_port;
use crate::synapses::{BtTensor, Dummy, Hashed, Slow, StreamCount, TensorEcho};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const T: Duration = Duration::from_secs(20);

/// The running SDK axon, shared by the tests of this module. It exits when this test
/// process does (it serves until its stdin closes).
struct Peer {
    _child: Child,
    port: u16,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let path = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` (or set NEURON_PYTHON)",
        path.display()
    );
    path
}

fn charlie() -> Keypair {
    Keypair::from_uri("//Charlie").unwrap()
}

fn peer() -> &'static Peer {
    static PEER: OnceLock<Peer> = OnceLock::new();
    PEER.get_or_init(|| {
        let script = workspace_root().join("tests/python/http_dendrite_server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg("--blacklist")
            .arg(charlie().ss58())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SDK axon");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the SDK axon's port");
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("SDK axon did not start ({e}): {line:?}"));
        assert_eq!(info["hotkey"], ALICE);
        let port = u16::try_from(info["port"].as_u64().expect("port")).expect("port fits");
        Peer {
            _child: child,
            port,
        }
    })
}

fn alice_axon() -> AxonInfo {
    AxonInfo::new(IpAddr::V4(Ipv4Addr::LOCALHOST), peer().port, ALICE)
}

fn dendrite(uri: &str) -> Dendrite {
    Dendrite::new(
        Keypair::from_uri(uri).unwrap(),
        Config::new().with_external_ip("127.0.0.1"),
    )
}

#[tokio::test]
async fn dummy_round_trip() {
    let r = dendrite("//Bob")
        .call(
            &alice_axon(),
            Dummy {
                dummy_input: 21,
                dummy_output: None,
            },
            T,
        )
        .await;
    assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
    assert_eq!(r.status_message(), Some("Success"));
    assert_eq!(r.fields().dummy_output, Some(42));
    assert_eq!(r.deserialize()["dummy_output"], 42);
    assert!(r.axon_process_time().is_some());
    assert_eq!(r.synapse.axon.hotkey.as_deref(), Some(ALICE));
    assert!(r.timings.is_monotone(), "{:?}", r.timings);
}

#[tokio::test]
async fn hashed_every_json_type() {
    let meta = json!({"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": null});
    let synapse = Hashed {
        text: "héllo wörld".into(),
        numbers: vec![1, 2, 3],
        ratio: 0.1,
        flag: true,
        meta: meta.as_object().unwrap().clone(),
    };
    // The body hash the SDK captured for these values (wire-modern §4.2).
    let hash = neuron_protocol::hash::body_hash(&synapse, Hashed::REQUIRED_HASH_FIELDS).unwrap();
    assert_eq!(
        hash,
        "3301b5f774520ea2334367dde8217ae80d15d3785888bff5f973cb5930468567"
    );
    let r = dendrite("//Bob").call(&alice_axon(), synapse, T).await;
    assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
    let f = r.fields();
    assert_eq!(f.text, "HÉLLO WÖRLD");
    assert_eq!(f.numbers, [1, 2, 3, 6]);
    assert_eq!(f.ratio, 0.2);
    assert!(!f.flag);
    let want = json!({"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": null, "seen": true});
    assert_eq!(serde_json::Value::Object(f.meta.clone()), want);
}

/// U+1FAE8 (Unicode 15.0) inside a hashed container: the SDK axon's CPython 3.11 escapes
/// it in `repr()`, so only a dendrite hashing as 3.11 does (the default) is accepted; one
/// told the axons run CPython 3.12 computes another hash, which this axon refuses.
#[tokio::test]
async fn a_character_newer_than_the_axons_unicode_hashes_as_its_python_does() {
    let synapse = || Hashed {
        text: "plain".into(),
        numbers: vec![1],
        ratio: 0.5,
        flag: false,
        meta: json!({"new": ["face \u{1fae8}"]})
            .as_object()
            .unwrap()
            .clone(),
    };
    let r = dendrite("//Bob").call(&alice_axon(), synapse(), T).await;
    assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
    let want = json!({"new": ["face \u{1fae8}"], "seen": true});
    assert_eq!(serde_json::Value::Object(r.fields().meta.clone()), want);

    let as_312 = Dendrite::new(
        Keypair::from_uri("//Bob").unwrap(),
        Config::new()
            .with_external_ip("127.0.0.1")
            .with_unicode(neuron_protocol::pystr::Unicode::V15_0),
    );
    let r = as_312.call(&alice_axon(), synapse(), T).await;
    // the SDK axon answers a body hash mismatch with its generic 500
    assert_eq!(r.status_code(), Some(500), "{:?}", r.status_message());
}

#[tokio::test]
async fn tensor_is_doubled() {
    let synapse = TensorEcho {
        tensor: Some(BtTensor {
            buffer: "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/"
                .into(),
            dtype: "float32".into(),
            shape: vec![4],
        }),
        scale: 2.0,
    };
    let r = dendrite("//Bob").call(&alice_axon(), synapse, T).await;
    assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
    let tensor = r.fields().tensor.clone().unwrap();
    assert_eq!(tensor.dtype, "float32");
    assert_eq!(tensor.shape, [4]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&tensor.buffer)
        .unwrap();
    // msgpack-numpy: the raw little-endian data is the last 16 bytes (`data` is last).
    let data = &bytes[bytes.len() - 16..];
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0]);
}

#[tokio::test]
async fn streaming_chunks_then_final_synapse() {
    let events: Vec<_> = dendrite("//Bob")
        .call_stream(
            &alice_axon(),
            StreamCount {
                n: 3,
                tokens: Vec::new(),
            },
            T,
        )
        .collect()
        .await;
    let mut text = Vec::new();
    let mut done = None;
    for event in events {
        match event {
            StreamEvent::Chunk(bytes) => text.extend_from_slice(&bytes),
            StreamEvent::Done(response) => done = Some(response),
        }
    }
    assert_eq!(String::from_utf8(text).unwrap(), "tok0\ntok1\ntok2\n");
    let done = done.expect("final event");
    assert_eq!(done.status_code(), Some(200), "{:?}", done.status_message());
    assert_eq!(done.synapse.fields.n, 3);
    assert_eq!(done.synapse.axon.hotkey.as_deref(), Some(ALICE));
}

#[tokio::test]
async fn signed_for_another_axon_is_401() {
    let mut wrong = alice_axon();
    wrong.hotkey = BOB.into();
    let r = dendrite("//Bob")
        .call(
            &wrong,
            Dummy {
                dummy_input: 1,
                dummy_output: None,
            },
            T,
        )
        .await;
    assert_eq!(r.status_code(), Some(401));
    let message = r.status_message().unwrap();
    assert!(
        message.starts_with("Not Verified with error: Signature mismatch with "),
        "{message}"
    );
    assert!(r.failure.is_none());
}

#[tokio::test]
async fn replayed_nonce_is_401() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let config = Config::new().with_external_ip("127.0.0.1");
    let d = Dendrite::with_clock(
        Keypair::from_uri("//Bob").unwrap(),
        config,
        Clock::from_fn(move || now),
    );
    let synapse = Dummy {
        dummy_input: 2,
        dummy_output: None,
    };
    let first = d.call(&alice_axon(), synapse.clone(), T).await;
    assert_eq!(
        first.status_code(),
        Some(200),
        "{:?}",
        first.status_message()
    );
    let replay = d.call(&alice_axon(), synapse, T).await;
    assert_eq!(replay.status_code(), Some(401));
    let message = replay.status_message().unwrap();
    assert!(message.contains("Nonce is too old"), "{message}");
}

#[tokio::test]
async fn blacklisted_hotkey_is_403() {
    let r = dendrite("//Charlie")
        .call(
            &alice_axon(),
            Dummy {
                dummy_input: 1,
                dummy_output: None,
            },
            T,
        )
        .await;
    assert_eq!(r.status_code(), Some(403));
    assert_eq!(
        r.status_message(),
        Some("Forbidden. Key is blacklisted: test blacklist.")
    );
}

/// A synapse the SDK axon does not serve.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Unserved {}

impl Synapse for Unserved {
    const NAME: &'static str = "Unserved";
}

#[tokio::test]
async fn unknown_route_is_404() {
    let r = dendrite("//Bob").call(&alice_axon(), Unserved {}, T).await;
    assert_eq!(r.status_code(), Some(404));
    let message = r.status_message().unwrap();
    assert!(
        message.starts_with("Synapse name 'Unserved' not found."),
        "{message}"
    );
}

#[tokio::test]
async fn slow_handler_is_408() {
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let r = dendrite("//Bob")
        .call(
            &alice_axon(),
            Slow {
                delay: 4.0,
                done: false,
            },
            timeout,
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(r.status_code(), Some(408));
    assert_eq!(
        r.status_message(),
        Some("Request timeout after 1.0 seconds")
    );
    assert_eq!(r.failure, Some(Failure::Timeout(timeout)));
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn closed_port_is_503() {
    // Start the peer anyway so a broken Python set-up fails here too.
    let _ = peer();
    let addr = closed_port().await;
    let axon = AxonInfo::at(addr, ALICE);
    let r = dendrite("//Bob")
        .call(
            &axon,
            Dummy {
                dummy_input: 1,
                dummy_output: None,
            },
            T,
        )
        .await;
    assert_eq!(r.status_code(), Some(503));
}

#[tokio::test]
async fn fan_out_to_the_sdk_axon() {
    let axons = vec![alice_axon(); 4];
    let results = dendrite("//Bob")
        .forward(
            &axons,
            Dummy {
                dummy_input: 5,
                dummy_output: None,
            },
            T,
        )
        .await;
    for r in &results {
        assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
        assert_eq!(r.fields().dummy_output, Some(10));
    }
}
