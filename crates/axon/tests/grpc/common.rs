//! A legacy axon on loopback with small deterministic models, and a signing tonic client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor};
use neuron_axon::grpc::{self, Service, SynapseSpec, SynapseType};
use neuron_axon::queue::Scheduler;
use neuron_legacy::{NETWORK_DIM, VOCAB_SIZE};
use neuron_protocol::legacy::{Synapse, Tensor as WireTensor, TensorMessage};
use neuron_protocol::signing::{
    legacy_v1_header, legacy_v1_message, legacy_v2_header, legacy_v2_message,
};
use neuron_tensor::Limits;
use neuron_transport::legacy_grpc::bittensor_client::BittensorClient;
use neuron_transport::server::{Config as ServerConfig, Server, ServerHandle};
use neuron_wallet::Keypair;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// Token values that make the test model misbehave (first token of the first row).
pub const FAIL_TOKEN: i64 = 9001;
pub const HANG_TOKEN: i64 = 9002;
pub const BAD_SHAPE_TOKEN: i64 = 9003;
pub const EMPTY_TOKEN: i64 = 9004;

pub fn alice() -> Keypair {
    Keypair::from_uri("//Alice").unwrap()
}
pub fn bob() -> Keypair {
    Keypair::from_uri("//Bob").unwrap()
}
pub fn eve() -> Keypair {
    Keypair::from_uri("//Eve").unwrap()
}
pub fn dave() -> Keypair {
    Keypair::from_uri("//Dave").unwrap()
}

pub fn cpu() -> Device {
    Device::Cpu
}

pub fn tokens(rows: &[&[i64]]) -> Tensor {
    let s = rows[0].len();
    let v: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(v, (rows.len(), s), &cpu()).unwrap()
}

fn first_token(inputs: &Tensor) -> i64 {
    inputs.flatten_all().unwrap().to_vec1::<i64>().unwrap()[0]
}

/// Hidden state: every element of position (b, s) is its token id.
pub fn hidden_model(inputs: &Tensor) -> Result<Tensor, String> {
    let ids = inputs.flatten_all().unwrap().to_vec1::<i64>().unwrap();
    let (b, s) = inputs.dims2().unwrap();
    let v: Vec<f32> = ids
        .iter()
        .flat_map(|&id| std::iter::repeat_n(id as f32, NETWORK_DIM))
        .collect();
    Ok(Tensor::from_vec(v, (b, s, NETWORK_DIM), &cpu()).unwrap())
}

/// Causal LM: logits peaked at `(id + 1) % V`.
pub fn lm_model(inputs: &Tensor) -> Result<Tensor, String> {
    let ids = inputs.flatten_all().unwrap().to_vec1::<i64>().unwrap();
    let (b, s) = inputs.dims2().unwrap();
    let mut v = vec![0f32; ids.len() * VOCAB_SIZE];
    for (r, &id) in ids.iter().enumerate() {
        v[r * VOCAB_SIZE + (id as usize + 1) % VOCAB_SIZE] = 30.0;
    }
    Ok(Tensor::from_vec(v, (b, s, VOCAB_SIZE), &cpu()).unwrap())
}

/// Phrases: topk phrases `[last + k]` (k odd: `[last + k, 7]`), p = 0.8 / topk each.
pub fn phrases_model(inputs: &Tensor, topk: usize) -> Result<Tensor, String> {
    let (b, s) = inputs.dims2().unwrap();
    let ids = inputs.to_vec2::<i64>().unwrap();
    let mut v = Vec::new();
    for row in ids.iter().take(b) {
        let last = row[s - 1] as f32;
        for k in 0..topk {
            let second = if k % 2 == 1 { 7.0 } else { -100.0 };
            v.extend([0.8 / topk as f32, last + k as f32, second]);
        }
        v.extend([0.2 / (VOCAB_SIZE - topk) as f32, -100.0, -100.0]);
    }
    Ok(Tensor::from_vec(v, (b, topk + 1, 3), &cpu()).unwrap())
}

/// Seq2seq: each row reversed, cut to `num_to_generate`.
pub fn seq2seq_model(inputs: &Tensor, n: usize) -> Result<Tensor, String> {
    let rows = inputs.to_vec2::<i64>().unwrap();
    let len = rows[0].len().min(n);
    let v: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.iter().rev().take(len).copied())
        .collect();
    Ok(Tensor::from_vec(v, (rows.len(), len), &cpu()).unwrap())
}

/// What the backward callback saw: (synapse name, inputs shape, grad shape, grad sum).
pub type Seen = (String, Vec<usize>, Vec<usize>, f32);

/// The test axon's callbacks: all four synapse types, the hidden-state one misbehaving on
/// the special tokens; `//Eve` blacklisted; `//Dave` blacklisted for Backward only.
pub fn model_service(config: grpc::Config) -> (Service, mpsc::Receiver<Seen>) {
    model_service_as(alice(), config)
}

/// [`model_service`] answering as `keypair`.
pub fn model_service_as(keypair: Keypair, config: grpc::Config) -> (Service, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel(64);
    let svc = Service::new(keypair, config)
        .with_callback(
            SynapseType::TextLastHiddenState,
            |_caller, inputs, _spec| async move {
                match first_token(&inputs) {
                    FAIL_TOKEN => Err("model exploded".to_owned()),
                    HANG_TOKEN => std::future::pending().await,
                    BAD_SHAPE_TOKEN => {
                        Ok(Tensor::zeros((1, 1, 7), DType::F32, &Device::Cpu).unwrap())
                    }
                    EMPTY_TOKEN => Ok(Tensor::zeros((0,), DType::F32, &Device::Cpu).unwrap()),
                    _ => hidden_model(&inputs),
                }
            },
        )
        .with_blocking_callback(SynapseType::TextCausalLm, |_c, inputs, _s| {
            lm_model(&inputs)
        })
        .with_callback(
            SynapseType::TextCausalLmNext,
            |_c, inputs, spec| async move { phrases_model(&inputs, spec.topk()) },
        )
        .with_callback(SynapseType::TextSeq2Seq, |_c, inputs, spec| async move {
            let neuron_legacy::SynapseKind::Seq2Seq(args) = &spec.kind else {
                return Err("not seq2seq".into());
            };
            seq2seq_model(&inputs, args.num_to_generate as usize)
        })
        .with_backward(move |_c, inputs, grad, spec| {
            let tx = tx.clone();
            async move {
                let sum = grad
                    .to_dtype(DType::F32)
                    .and_then(|g| g.sum_all())
                    .and_then(|s| s.to_scalar::<f32>())
                    .map_err(|e| e.to_string())?;
                let seen = (
                    spec.name().to_owned(),
                    inputs.dims().to_vec(),
                    grad.dims().to_vec(),
                    sum,
                );
                tx.send(seen).await.map_err(|e| e.to_string())
            }
        })
        .with_blacklist(|caller, kind| {
            caller.hotkey == eve().ss58()
                || (caller.hotkey == dave().ss58() && kind == grpc::RequestType::Backward)
        });
    (svc, rx)
}

/// A running legacy axon.
pub struct Node {
    pub addr: SocketAddr,
    pub hotkey: String,
    pub stats: Arc<grpc::Stats>,
    pub queue: Scheduler,
    _handle: ServerHandle,
}

pub async fn start(svc: Service) -> Node {
    let hotkey = svc.hotkey().to_owned();
    let stats = svc.stats();
    let queue = svc.queue();
    let listener = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let router = neuron_transport::grpc::add_service(axum::Router::new(), svc.into_tonic());
    let handle = Server::serve(listener, router, ServerConfig::new());
    Node {
        addr: handle.local_addr(),
        hotkey,
        stats,
        queue,
        _handle: handle,
    }
}

/// The default test axon (2 s deadline).
pub async fn start_models() -> (Node, mpsc::Receiver<Seen>) {
    let (svc, rx) = model_service(grpc::Config::new().with_timeout(Duration::from_secs(2)));
    (start(svc).await, rx)
}

pub async fn client(addr: SocketAddr) -> BittensorClient<Channel> {
    BittensorClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

/// Signature format of a [`Signer`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    V1,
    V2,
}

/// A receptor's signing state: a hotkey, a uuid and a strictly increasing nonce.
pub struct Signer {
    pub keypair: Keypair,
    pub uid: String,
    nonce: AtomicU64,
}

impl Signer {
    pub fn new(keypair: Keypair) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Self {
            keypair,
            uid: uuid::Uuid::new_v4().to_string(),
            nonce: AtomicU64::new(now),
        }
    }

    pub fn next_nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The `bittensor-signature` value for `nonce`, signed for `axon`.
    pub fn header(&self, format: Format, nonce: u64, axon: &str) -> String {
        let me = self.keypair.ss58();
        match format {
            Format::V2 => {
                let sig = self
                    .keypair
                    .sign(legacy_v2_message(nonce, me, axon, &self.uid).as_bytes());
                legacy_v2_header(nonce, me, &sig.0, &self.uid)
            }
            Format::V1 => {
                let sig = self
                    .keypair
                    .sign(legacy_v1_message(nonce, me, &self.uid).as_bytes());
                legacy_v1_header(nonce, me, &sig.0, &self.uid)
            }
        }
    }

    /// The four metadata entries of a v3.7 receptor, in order.
    pub fn metadata(
        &self,
        format: Format,
        axon: &str,
        request_type: &str,
    ) -> Vec<(&'static str, String)> {
        let nonce = self.next_nonce();
        vec![
            ("rpc-auth-header", "Bittensor".into()),
            ("bittensor-signature", self.header(format, nonce, axon)),
            ("bittensor-version", "370".into()),
            ("request_type", request_type.into()),
        ]
    }
}

pub fn request(
    message: TensorMessage,
    metadata: Vec<(&'static str, String)>,
) -> tonic::Request<TensorMessage> {
    let mut req = tonic::Request::new(message);
    for (k, v) in metadata {
        req.metadata_mut().insert(k, v.parse().unwrap());
    }
    req
}

/// A Forward message from `signer` with one copy of `inputs` per synapse.
pub fn forward_message(signer: &Signer, inputs: &Tensor, specs: &[SynapseSpec]) -> TensorMessage {
    TensorMessage {
        version: 370,
        hotkey: signer.keypair.ss58().to_owned(),
        tensors: specs
            .iter()
            .map(|s| s.encode_request(inputs).unwrap())
            .collect(),
        requires_grad: true,
        synapses: specs.iter().map(SynapseSpec::to_wire).collect(),
        ..TensorMessage::default()
    }
}

pub async fn forward(
    node: &Node,
    signer: &Signer,
    message: TensorMessage,
) -> Result<TensorMessage, tonic::Status> {
    let md = signer.metadata(Format::V2, &node.hotkey, "1");
    client(node.addr)
        .await
        .forward(request(message, md))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn backward(
    node: &Node,
    signer: &Signer,
    message: TensorMessage,
) -> Result<TensorMessage, tonic::Status> {
    let md = signer.metadata(Format::V2, &node.hotkey, "2");
    client(node.addr)
        .await
        .backward(request(message, md))
        .await
        .map(tonic::Response::into_inner)
}

pub fn codes(reply: &TensorMessage) -> Vec<i32> {
    reply.synapses.iter().map(|s| s.return_code).collect()
}

pub fn decode(spec: &SynapseSpec, inputs: &Tensor, t: &WireTensor) -> Tensor {
    spec.decode_response(inputs, t, &Limits::DEFAULT).unwrap()
}

pub fn null_synapse() -> Synapse {
    Synapse::default()
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv interpreter (`NEURON_PYTHON`, else `.venv/bin/python`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` (or set NEURON_PYTHON)",
        p.display()
    );
    p
}
