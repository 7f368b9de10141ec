//! The legacy gRPC client (`neuron_dendrite::grpc`) against a grpcio Python axon written
//! from the spec (`tests/python/grpc_server_peer.py`), and the pool/input plumbing.
//!
//! The interpreter is `$NEURON_PYTHON`, else `<workspace root>/.venv/bin/python`; when it
//! is missing these tests fail and say to run `cargo xtask venv`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use candle_core::{DType, Device, Tensor, Var};
use neuron_dendrite::grpc::{
    BackwardMode, Config, Endpoint, Endpoints, Mask, NonceClock as Clock, Receptor, ReceptorConfig,
    ReceptorPool, State, TextDendrite, TextInputs,
};
use neuron_legacy::SynapseSpec;
use neuron_protocol::legacy::ReturnCode;
use neuron_wallet::Keypair;
use serde_json::Value;

const BOB_SEED: &str = "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89";
const ALICE_SEED: &str = "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
const TIMEOUT: Duration = Duration::from_secs(10);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let path = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` (or set NEURON_PYTHON)",
        path.display()
    );
    path
}

fn bob() -> Keypair {
    Keypair::from_seed(&hex::decode(BOB_SEED).unwrap()).unwrap()
}

fn alice() -> Keypair {
    Keypair::from_seed(&hex::decode(ALICE_SEED).unwrap()).unwrap()
}

/// A running Python axon; killed on drop.
struct Peer {
    child: Child,
    port: u16,
    hotkey: String,
    record: tempfile::NamedTempFile,
}

impl Peer {
    fn start() -> Peer {
        let record = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(python())
            .arg(root().join("tests/python/grpc_server_peer.py"))
            .arg("--record")
            .arg(record.path())
            .current_dir(root().join("tests/python"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer said {line:?}: {e}"));
        Peer {
            child,
            port: v["port"].as_u64().unwrap() as u16,
            hotkey: v["hotkey"].as_str().unwrap().to_owned(),
            record,
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(0, self.hotkey.clone(), "127.0.0.1", self.port)
    }

    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.record.path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tokens(rows: &[&[i64]]) -> Tensor {
    let s = rows[0].len();
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(flat, (rows.len(), s), &Device::Cpu).unwrap()
}

fn receptor(peer: &Peer) -> Receptor {
    Receptor::new(peer.endpoint(), Arc::new(bob()), ReceptorConfig::new()).unwrap()
}

#[tokio::test]
async fn every_synapse_type_against_python_axon() {
    let peer = Peer::start();
    let r = receptor(&peer);
    let x = tokens(&[&[10, 20, 30], &[40, 50, 60]]);
    let synapses = [
        SynapseSpec::last_hidden_state(),
        SynapseSpec::causal_lm(8),
        SynapseSpec::causal_lm_next(3),
        SynapseSpec::seq2seq(neuron_legacy::Seq2SeqArgs {
            num_to_generate: 2,
            ..Default::default()
        }),
    ];
    let out = r.forward(&synapses, &x, TIMEOUT).await;
    assert_eq!(
        out.codes,
        vec![ReturnCode::Success; 4],
        "{:?}",
        out.messages
    );
    // hidden: h[b, s, d] = ((id * 31 + d) % 97) / 97
    let h = &out.outputs[0];
    assert_eq!(h.dims(), &[2, 3, 1024]);
    let v: f32 = h
        .get(1)
        .unwrap()
        .get(2)
        .unwrap()
        .get(5)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((v - ((60 * 31 + 5) % 97) as f32 / 97.0).abs() < 1e-6);
    // causal lm: log-probs over the vocabulary, top id (id + k) has log(0.5^(k+1))
    let lm = &out.outputs[1];
    assert_eq!(lm.dims(), &[2, 3, 50258]);
    let row = lm.get(0).unwrap().get(1).unwrap();
    let at = |i: usize| -> f32 { row.get(i).unwrap().to_scalar().unwrap() };
    assert!((at(20) - 0.5f32.ln()).abs() < 1e-4);
    assert!((at(23) - 0.0625f32.ln()).abs() < 1e-4);
    // next: [B, topk+1, L]; phrase 1 has two tokens
    let next = &out.outputs[2];
    assert_eq!(next.dims()[..2], [2, 4]);
    let p1: Vec<f32> = next.get(0).unwrap().get(1).unwrap().to_vec1().unwrap();
    assert!((p1[0] - 0.25).abs() < 1e-6);
    assert_eq!(&p1[1..3], &[31.0, 32.0]);
    // seq2seq: echo cut to num_to_generate
    let s2s = out.outputs[3].to_dtype(DType::I64).unwrap();
    assert_eq!(
        s2s.to_vec2::<i64>().unwrap(),
        vec![vec![10, 20], vec![40, 50]]
    );
    assert!(out.times.iter().all(|&t| t > 0.0));
    assert_eq!(r.state(), State::Ready);
    let stats = r.stats();
    assert_eq!(stats.requests, 1);
    assert_eq!(stats.codes.get("Success"), Some(&4));
    assert!(stats.bytes_in > 4 * 1024 && stats.bytes_out > 0);
    assert!(r.to_string().starts_with(&format!(
        "Receptor({}, 127.0.0.1:{}, READY",
        peer.hotkey, peer.port
    )));

    // the axon saw a v2 signature and the metadata in order
    let rec = &peer.records()[0];
    assert_eq!(rec["format"], "v2");
    assert_eq!(rec["sender"], bob().ss58());
    assert_eq!(rec["uid"], r.uid());
    let keys: Vec<&str> = rec["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| kv[0].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "rpc-auth-header",
            "bittensor-signature",
            "bittensor-version",
            "request_type"
        ]
    );
    assert_eq!(rec["metadata"][3][1], "1");
    assert_eq!(rec["metadata"][2][1], "370");
    assert_eq!(rec["synapses"], serde_json::json!([1, 2, 4, 3]));
    assert_eq!(rec["version"], 370);
    assert_eq!(rec["requires_grad"], true);
}

#[tokio::test]
async fn masked_hidden_state_and_text_api() {
    let peer = Peer::start();
    let d = TextDendrite::new(bob(), Config::new());
    let out = d
        .text_last_hidden_state(
            peer.endpoint(),
            tokens(&[&[1, 2, 3, 4]]),
            Mask::One(-1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.codes, vec![vec![ReturnCode::Success]]);
    let h = &out.outputs[0][0];
    assert_eq!(h.dims(), &[1, 4, 1024]);
    let sums: Vec<f32> = h.abs().unwrap().sum((0, 2)).unwrap().to_vec1().unwrap();
    assert_eq!(sums[..3], [0.0, 0.0, 0.0]);
    assert!(sums[3] > 0.0);

    // a string prompt: generate echoes it through the GPT-2 tokenizer
    let g = d
        .generate(peer.endpoint(), "Hello world", None, None)
        .await
        .unwrap();
    assert_eq!(g.codes, ["Success"]);
    assert_eq!(g.texts, ["Hello world"]);

    // causal lm next over two endpoints (same axon twice under two hotkeys fails the
    // second's signature: receiver mismatch)
    let mut wrong = peer.endpoint();
    wrong.hotkey = bob().ss58().to_owned();
    let out = d
        .text_causal_lm_next(vec![peer.endpoint(), wrong], "a b", Some(2), None)
        .await
        .unwrap();
    assert_eq!(
        out.codes,
        vec![vec![ReturnCode::Success], vec![ReturnCode::Unauthenticated]]
    );
    let zeros = &out.outputs[1][0];
    assert_eq!(zeros.dims()[..2], out.outputs[0][0].dims()[..2]);
    let text = d.metrics().encode_text();
    assert!(
        text.contains("dendrite_codes_total{code=\"Unauthenticated\"} 1"),
        "{text}"
    );
    assert!(text.contains("dendrite_calls_total 4"), "{text}");
}

#[tokio::test]
async fn v1_signature_towards_old_endpoints() {
    let peer = Peer::start();
    let r = Receptor::new(
        peer.endpoint().with_version(350),
        Arc::new(bob()),
        ReceptorConfig::new(),
    )
    .unwrap();
    let out = r
        .forward(&[SynapseSpec::causal_lm(2)], &tokens(&[&[5, 6]]), TIMEOUT)
        .await;
    assert_eq!(out.codes, [ReturnCode::Success]);
    assert_eq!(peer.records()[0]["format"], "v1");
}

#[tokio::test]
async fn replayed_nonce_is_unauthenticated() {
    let peer = Peer::start();
    let config = ReceptorConfig::new().with_clock(Clock::from_fn(|| 1_000), false);
    let r = Receptor::new(peer.endpoint(), Arc::new(bob()), config).unwrap();
    let x = tokens(&[&[5, 6]]);
    let first = r.forward(&[SynapseSpec::causal_lm(2)], &x, TIMEOUT).await;
    assert_eq!(first.codes, [ReturnCode::Success]);
    let replay = r.forward(&[SynapseSpec::causal_lm(2)], &x, TIMEOUT).await;
    assert_eq!(replay.codes, [ReturnCode::Unauthenticated]);
    assert!(
        replay.messages[0].contains("Nonce is too small"),
        "{:?}",
        replay.messages
    );
    assert_eq!(replay.outputs[0].dims(), &[1, 2, 50258]);
    // the strict default never repeats even with a stuck clock
    let config = ReceptorConfig::new().with_clock(Clock::from_fn(|| 1_000), true);
    let r = Receptor::new(peer.endpoint(), Arc::new(bob()), config).unwrap();
    for _ in 0..2 {
        let ok = r.forward(&[SynapseSpec::causal_lm(2)], &x, TIMEOUT).await;
        assert_eq!(ok.codes, [ReturnCode::Success]);
    }
}

#[tokio::test]
async fn timeout_unavailable_dummy_and_empty() {
    let peer = Peer::start();
    let r = receptor(&peer);
    let slow = r
        .forward(
            &[SynapseSpec::causal_lm(2)],
            &tokens(&[&[7777, 1]]),
            Duration::from_millis(400),
        )
        .await;
    assert_eq!(slow.codes, [ReturnCode::Timeout]);
    assert!(
        slow.times[0] >= 0.35 && slow.times[0] < 2.0,
        "{:?}",
        slow.times
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let gone = Receptor::new(
        Endpoint::new(1, peer.hotkey.clone(), "127.0.0.1", port),
        Arc::new(bob()),
        ReceptorConfig::new(),
    )
    .unwrap();
    let out = gone
        .forward(
            &[SynapseSpec::last_hidden_state()],
            &tokens(&[&[1, 2]]),
            TIMEOUT,
        )
        .await;
    assert_eq!(out.codes, [ReturnCode::Unavailable]);
    assert_eq!(out.outputs[0].dims(), &[1, 2, 1024]);
    assert_eq!(gone.state(), State::TransientFailure);

    let dummy = Receptor::new(Endpoint::dummy(), Arc::new(bob()), ReceptorConfig::new()).unwrap();
    let out = dummy
        .forward(&[SynapseSpec::causal_lm(4)], &tokens(&[&[1, 2]]), TIMEOUT)
        .await;
    assert_eq!(out.codes, [ReturnCode::BadEndpoint]);
    let empty = Tensor::zeros((1, 0), DType::I64, &Device::Cpu).unwrap();
    let out = r
        .forward(&[SynapseSpec::causal_lm(4)], &empty, TIMEOUT)
        .await;
    assert_eq!(out.codes, [ReturnCode::EmptyRequest]);
    r.close();
    assert_eq!(r.state(), State::Shutdown);
    let out = r
        .forward(&[SynapseSpec::causal_lm(4)], &tokens(&[&[1, 2]]), TIMEOUT)
        .await;
    assert_eq!(out.codes, [ReturnCode::Unavailable]);
    // only the slow call reached the axon
    assert_eq!(peer.records().len(), 1);
}

#[tokio::test]
async fn server_error_codes() {
    let peer = Peer::start();
    let r = receptor(&peer);
    let two = [SynapseSpec::causal_lm(2), SynapseSpec::causal_lm_next(2)];
    let cases: &[(i64, [ReturnCode; 2])] = &[
        (6666, [ReturnCode::UnknownException; 2]),
        (5555, [ReturnCode::Success, ReturnCode::NotImplemented]),
        (1010, [ReturnCode::RequestShapeException; 2]),
        (1111, [ReturnCode::ResponseShapeException; 2]),
        (7070, [ReturnCode::EmptyResponse; 2]),
        (1313, [ReturnCode::ResponseSerializationException; 2]),
        (2020, [ReturnCode::Timeout; 2]),
        (9090, [ReturnCode::UnknownException; 2]),
        (9191, [ReturnCode::ResponseShapeException; 2]),
        (1515, [ReturnCode::ResponseDeserializationException; 2]),
    ];
    for (magic, want) in cases {
        let out = r.forward(&two, &tokens(&[&[*magic, 3, 4]]), TIMEOUT).await;
        assert_eq!(&out.codes[..], want, "magic {magic}: {:?}", out.messages);
        assert_eq!(out.outputs[0].dims(), &[1, 3, 50258], "magic {magic}");
        assert_eq!(out.outputs[1].dims()[..2], [1, 3], "magic {magic}");
    }
}

#[tokio::test]
async fn loss_gradients_reach_the_remote() {
    let peer = Peer::start();
    let d = TextDendrite::new(bob(), Config::new().with_backward(BackwardMode::Await));
    let synapses = [SynapseSpec::last_hidden_state()];
    let (out, handle) = d
        .forward_autograd(peer.endpoint(), &synapses, tokens(&[&[3, 4]]), None)
        .await
        .unwrap();
    assert_eq!(out.codes, vec![vec![ReturnCode::Success]]);
    // loss = sum(2 * h): d loss / d h = 2 everywhere
    let h = handle.var(0, 0).unwrap().as_tensor().clone();
    let loss = (h * 2.0).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let result = handle.backward_from(&grads).await.unwrap();
    assert_eq!(result.codes, vec![vec![ReturnCode::Success]]);
    assert_eq!(result.input_grads[0].dims(), &[1, 2]);
    let rec = peer
        .records()
        .into_iter()
        .find(|r| r["rpc"] == "Backward")
        .unwrap();
    assert_eq!(rec["metadata"][3][1], "2");
    let tensors = rec["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 2);
    assert_eq!(tensors[0]["values"], serde_json::json!([3, 4]));
    assert_eq!(tensors[1]["shape"], serde_json::json!([1, 2, 1024]));
    assert!(
        tensors[1]["values"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.as_f64() == Some(2.0))
    );
    let _ = Var::new(0f32, &Device::Cpu);
}

#[tokio::test]
async fn pool_is_bounded_lru_and_replaces_moved_endpoints() {
    let pool = ReceptorPool::with_max_active(Arc::new(bob()), ReceptorConfig::new(), 2);
    let e = |i: u64, port: u16| Endpoint::new(i, format!("hotkey{i}"), "127.0.0.1", port);
    let a = pool.receptor(&e(1, 1)).unwrap();
    drop(pool.receptor(&e(2, 2)).unwrap());
    drop(pool.receptor(&e(1, 1)).unwrap()); // touch 1: 2 is now least recently used
    drop(a);
    drop(pool.receptor(&e(3, 3)).unwrap());
    let states = pool.receptors_state();
    assert_eq!(states.len(), 2);
    assert!(states.contains_key("hotkey1") && states.contains_key("hotkey3"));
    let old = pool.receptor(&e(1, 1)).unwrap();
    let moved = pool.receptor(&e(1, 9)).unwrap();
    assert_eq!(old.state(), State::Shutdown);
    assert_eq!(moved.endpoint().port, 9);
    let err = pool
        .forward(&[e(1, 9)], &[SynapseSpec::causal_lm(2)], &[], TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected 1"), "{err}");
}

#[test]
fn endpoint_tensors_and_input_forms() {
    let tokenizer = neuron_dendrite::grpc::Tokenizer::gpt2();
    let ep = Endpoint::new(7, alice().ss58(), "10.0.0.1", 8091);
    let json = ep.to_json();
    assert!(
        json.starts_with("{\"version\": 370, \"uid\": 7, \"hotkey\": \"5Grw"),
        "{json}"
    );
    let t = ep.to_tensor().unwrap();
    assert_eq!(t.dims(), &[250]);
    assert_eq!(Endpoint::from_tensor(&t).unwrap(), ep);
    let dummy = Tensor::full(-1i64, 250, &Device::Cpu).unwrap();
    assert!(Endpoint::from_tensor(&dummy).unwrap().is_dummy());
    let stacked = Tensor::stack(&[t.clone(), dummy], 0).unwrap();
    let (eps, xs) = neuron_dendrite::grpc::format_text_inputs(
        &tokenizer,
        Endpoints::Tensor(stacked),
        TextInputs::from("Hello world"),
    )
    .unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(xs[0].to_vec2::<i64>().unwrap(), vec![vec![15496, 995]]);
    let (_, xs) = neuron_dendrite::grpc::format_text_inputs(
        &tokenizer,
        Endpoints::One(ep.clone()),
        TextInputs::from(vec!["Hello world".to_owned(), "Hi".to_owned()]),
    )
    .unwrap();
    assert_eq!(
        xs[0].to_vec2::<i64>().unwrap(),
        vec![vec![15496, 995], vec![50257, 17250]]
    );
    let f = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
    let (_, xs) =
        neuron_dendrite::grpc::format_text_inputs(&tokenizer, ep.clone().into(), f.into()).unwrap();
    assert_eq!(xs[0].dtype(), DType::I64);
    assert_eq!(xs[0].dims(), &[1, 2]);
    let three = Tensor::zeros((3, 1, 2), DType::I64, &Device::Cpu).unwrap();
    let err = neuron_dendrite::grpc::format_text_inputs(
        &tokenizer,
        vec![ep.clone(), ep].into(),
        three.into(),
    );
    assert!(err.is_err());
}

#[tokio::test]
async fn modality_calls_against_python_axon() {
    use candle_core::IndexOp;
    use neuron_dendrite::grpc::Modality;
    let peer = Peer::start();
    let d = TextDendrite::new(bob(), Config::new().with_backward(BackwardMode::Await));
    let scalar = |t: Tensor| t.to_scalar::<f32>().unwrap();

    // TENSOR: h[b, s, d] = Σ x[b, s, :].
    let x = Tensor::arange(0f32, 6.0, &Device::Cpu)
        .unwrap()
        .reshape((1, 2, 3))
        .unwrap();
    let out = d
        .forward_tensor(peer.endpoint(), x.clone(), None)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::Success]], "{:?}", out.messages);
    assert_eq!(out.outputs[0][0].dims(), [1, 2, 1024]);
    assert_eq!(scalar(out.outputs[0][0].i((0, 1, 77)).unwrap()), 12.0);

    // IMAGE: [B, S, C, H, W].
    let images = Tensor::ones((1, 2, 3, 2, 2), DType::F32, &Device::Cpu).unwrap();
    let out = d
        .forward_image(peer.endpoint(), images, None)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::Success]], "{:?}", out.messages);
    assert_eq!(scalar(out.outputs[0][0].i((0, 1, 5)).unwrap()), 12.0);

    // TEXT through the modality call: the peer's hidden state ((id·31 + d) % 97) / 97.
    let out = d
        .forward_modality(peer.endpoint(), Modality::Text, tokens(&[&[3, 4]]), None)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::Success]]);
    let v = scalar(out.outputs[0][0].i((0, 1, 2)).unwrap());
    assert!((v - ((4 * 31 + 2) % 97) as f32 / 97.0).abs() < 1e-6);

    // The caller checks the rank for the modality before sending: nothing reaches the peer.
    let r = receptor(&peer);
    let out = r
        .forward_modality(Modality::Image, &x.unsqueeze(0).unwrap(), TIMEOUT)
        .await;
    assert_eq!(
        out.codes,
        [ReturnCode::RequestShapeException],
        "caller-side check"
    );

    // Backward: the peer sends back Σ_d g = 0.5 · 1024 for every input element.
    let (out, handle) = d
        .forward_modality_autograd(peer.endpoint(), Modality::Tensor, x, None)
        .await
        .unwrap();
    assert_eq!(out.codes, [[ReturnCode::Success]]);
    let h = handle.var(0, 0).unwrap().as_tensor().clone();
    let loss = (h * 0.5).unwrap().sum_all().unwrap();
    let result = handle
        .backward_from(&loss.backward().unwrap())
        .await
        .unwrap();
    assert_eq!(result.codes, [[ReturnCode::Success]]);
    assert_eq!(
        result.input_grads[0]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        [512.0; 6]
    );
    let recs = peer.records();
    let forwards: Vec<_> = recs.iter().filter(|r| r["rpc"] == "Forward").collect();
    assert_eq!(forwards[0]["synapses"], serde_json::json!([]));
    assert_eq!(forwards[0]["modalities"], serde_json::json!([2]));
    assert_eq!(forwards[1]["modalities"], serde_json::json!([1]));
    let back = recs.iter().find(|r| r["rpc"] == "Backward").unwrap();
    let tensors = back["tensors"].as_array().unwrap();
    assert_eq!(tensors[1]["shape"], serde_json::json!([1, 2, 1024]));
}
