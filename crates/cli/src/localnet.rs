//! `neuron localnet`: a whole network on loopback, exercised end to end.
//!
//! 1. starts N miners (default 4), each serving the example synapses over HTTP and the
//!    native dialect and the text synapses over legacy gRPC, answered by its own built-in
//!    [`TinyLm`] (seed = miner index + 1), plus one validator;
//! 2. every neuron but the first is told only of the first (the bootstrap peer); they
//!    gossip until each knows all N + 1 endpoint records;
//! 3. the validator queries every miner it discovered, in every dialect, and checks every
//!    answer (not only its status) against what the miner must have computed;
//! 4. it builds a loss over the miners' hidden states and runs backward, which sends the
//!    gradients to each miner, whose model takes one training step (checked);
//! 5. it scores the miners, sets weights in its metagraph and prints them;
//! 6. it prints one table row per call, and exits 0 only if every call succeeded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use candle_core::{D, DType, Device, IndexOp, Tensor};
use clap::Args;
use futures::StreamExt;
use neuron::dendrite::grpc::{self as dgrpc, TextDendrite};
use neuron::dendrite::{Response, StreamEvent};
use neuron::examples::{self as ex, model::TinyLm};
use neuron::legacy::{ReturnCode, Seq2SeqArgs, SynapseSpec};
use neuron::protocol::synapse::Synapse;
use neuron::tensor::bt::BtTensor;
use neuron::wallet::Keypair;
use neuron::{Neuron, NeuronConfig, Peer, protocols};

use crate::serve::attach_examples;

/// `localnet` flags.
#[derive(Clone, Debug, Args)]
pub struct LocalnetArgs {
    /// Number of miners.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub neurons: u16,
    /// Timeout of each call, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub timeout: f64,
    /// How long gossip may take to reach full knowledge, in seconds.
    #[arg(long = "discovery-timeout", default_value_t = 60.0)]
    pub discovery_timeout: f64,
    /// The text the validator sends to the language models.
    #[arg(long, default_value = "The quick brown fox jumps over the lazy dog")]
    pub prompt: String,
    /// Save the validator's final metagraph here (safetensors + JSON sidecar).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Serve the validator's Prometheus `/metrics` on this port while the run lasts.
    #[arg(long = "metrics.port")]
    pub metrics_port: Option<u16>,
}

/// One call of the validator, one table row.
#[derive(Debug, Clone)]
struct Row {
    peer: String,
    dialect: &'static str,
    call: &'static str,
    code: String,
    ok: bool,
    millis: f64,
    bytes: u64,
    detail: String,
}

/// Progress on stderr: one line per step and per finished call.
struct Progress {
    start: Instant,
    done: AtomicUsize,
    total: usize,
}

impl Progress {
    fn step(&self, text: &str) {
        eprintln!("[{:6.2}s] {text}", self.start.elapsed().as_secs_f64());
    }

    fn call(&self, row: &Row) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!(
            "[{:6.2}s]   {done:>3}/{} {:<8} {:<6} {:<22} {}",
            self.start.elapsed().as_secs_f64(),
            self.total,
            row.peer,
            row.dialect,
            row.call,
            if row.ok { "ok" } else { "FAILED" }
        );
    }
}

/// What one miner is, for the validator's checks (the models are in this process, so
/// the answers can be recomputed).
struct Miner {
    name: String,
    neuron: Neuron,
    model: Arc<TinyLm>,
}

/// Calls made per miner: 5 HTTP/native synapse calls and 4 gRPC calls.
const CALLS_PER_MINER: usize = 9;

fn fast_gossip(config: &mut NeuronConfig, bootstrap: Option<std::net::SocketAddr>) {
    config.axon.port = 0;
    config.axon.ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    config.metagraph.interval_ms = 50;
    config.metagraph.ttl_secs = 120;
    config.metagraph.bootstrap = bootstrap.into_iter().collect();
}

/// Runs the local network; see the [module docs](self).
pub async fn run(args: &LocalnetArgs, base: NeuronConfig) -> anyhow::Result<()> {
    let n = usize::from(args.neurons);
    let timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let progress = Progress {
        start: Instant::now(),
        done: AtomicUsize::new(0),
        total: n * CALLS_PER_MINER,
    };
    progress.step(&format!(
        "starting {n} miners and 1 validator on 127.0.0.1 (built-in model, no downloads)"
    ));
    let mut miners: Vec<Miner> = Vec::with_capacity(n);
    let mut bootstrap = None;
    for i in 0..n {
        let name = format!("miner{i}");
        let keypair = Keypair::from_uri(&format!("//localnet//{name}"))?;
        let mut config = base.clone();
        fast_gossip(&mut config, bootstrap);
        config.metrics.port = None;
        let model = Arc::new(TinyLm::new(i as u64 + 1).context("building the model")?);
        let mut builder = Neuron::builder(keypair.clone(), config);
        attach_examples(builder.axon(), Arc::default(), Duration::ZERO);
        let neuron = builder
            .legacy(crate::model::legacy_service(
                keypair,
                model.clone(),
                Arc::default(),
            ))
            .start()
            .await
            .with_context(|| format!("starting {name}"))?;
        progress.step(&format!(
            "  {name:<9} {}  {}  [{}]",
            neuron.local_addr(),
            neuron.hotkey(),
            neuron.protocols().join(", ")
        ));
        bootstrap.get_or_insert(neuron.local_addr());
        miners.push(Miner {
            name,
            neuron,
            model,
        });
    }
    let mut config = base.clone();
    fast_gossip(&mut config, bootstrap);
    config.metrics.port = args.metrics_port;
    let validator = Neuron::builder(Keypair::from_uri("//localnet//validator")?, config)
        .text_dendrite(dgrpc::Config::new().with_timeout(timeout))
        .start()
        .await
        .context("starting the validator")?;
    progress.step(&format!(
        "  validator {}  {}",
        validator.local_addr(),
        validator.hotkey()
    ));
    if let Some(addr) = validator.metrics_addr() {
        progress.step(&format!("  metrics   http://{addr}/metrics"));
    }

    let result = exercise(args, &progress, &miners, &validator, timeout).await;

    progress.step("stopping every neuron");
    let grace = Duration::from_secs(2);
    validator.shutdown(grace).await;
    for m in miners {
        m.neuron.shutdown(grace).await;
    }
    result
}

async fn exercise(
    args: &LocalnetArgs,
    progress: &Progress,
    miners: &[Miner],
    validator: &Neuron,
    timeout: Duration,
) -> anyhow::Result<()> {
    let n = miners.len();
    let everyone: Vec<&Neuron> = miners
        .iter()
        .map(|m| &m.neuron)
        .chain(std::iter::once(validator))
        .collect();
    progress.step(&format!(
        "gossip: one bootstrap peer; waiting until each of the {} neurons knows all of them",
        n + 1
    ));
    let known = |nr: &Neuron| nr.gossip().map_or(0, |g| g.len());
    let discovery = Instant::now();
    let limit = Duration::from_secs_f64(args.discovery_timeout.max(1.0));
    while everyone.iter().any(|nr| known(nr) < n + 1) {
        if discovery.elapsed() > limit {
            let counts: Vec<usize> = everyone.iter().map(|nr| known(nr)).collect();
            bail!("gossip did not converge within {limit:?}: records known per neuron {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    progress.step(&format!(
        "gossip: full knowledge after {:.0} ms",
        discovery.elapsed().as_secs_f64() * 1e3
    ));

    let peers = validator.peers(n);
    if peers.len() != n {
        bail!(
            "the validator discovered {} peers, expected {n}",
            peers.len()
        );
    }
    let by_hotkey: HashMap<&str, &Miner> = miners.iter().map(|m| (m.neuron.hotkey(), m)).collect();
    let snapshot = validator
        .gossip()
        .context("the validator has no gossip")?
        .metagraph(0)?;
    progress.step(&format!(
        "querying {n} peers: HTTP synapses, native, gRPC text_causal_lm / text_last_hidden_state / generate, backward"
    ));
    let text = validator.text_dendrite();
    let jobs = peers.iter().map(|peer| {
        let miner = by_hotkey.get(peer.axon.hotkey.as_str()).copied();
        let uid = u64::from(snapshot.uid(&peer.axon.hotkey).unwrap_or(0));
        async move {
            match miner {
                Some(m) => {
                    query_peer(
                        validator,
                        text,
                        peer,
                        m,
                        uid,
                        &args.prompt,
                        timeout,
                        progress,
                    )
                    .await
                }
                None => vec![Row {
                    peer: peer.axon.hotkey.clone(),
                    dialect: "-",
                    call: "discovery",
                    code: "unknown peer".into(),
                    ok: false,
                    millis: 0.0,
                    bytes: 0,
                    detail: "a hotkey that is not one of the miners".into(),
                }],
            }
        }
    });
    let mut rows: Vec<Row> = futures::future::join_all(jobs)
        .await
        .into_iter()
        .flatten()
        .collect();
    // One block per miner in miner order; calls keep their order within a block.
    rows.sort_by(|a, b| a.peer.cmp(&b.peer));

    // Weights: the share of each miner's calls that succeeded, normalised.
    let mut scores: Vec<(String, f32)> = peers
        .iter()
        .map(|p| {
            let name = by_hotkey
                .get(p.axon.hotkey.as_str())
                .map_or("?", |m| m.name.as_str());
            let mine: Vec<&Row> = rows.iter().filter(|r| r.peer == name).collect();
            let ok = mine.iter().filter(|r| r.ok).count();
            (p.axon.hotkey.clone(), ok as f32 / mine.len().max(1) as f32)
        })
        .collect();
    let total: f32 = scores.iter().map(|(_, s)| s).sum();
    if total > 0.0 {
        for (_, s) in &mut scores {
            *s /= total;
        }
    }
    let gossip = validator.gossip().context("the validator has no gossip")?;
    let pairs: Vec<(&str, f32)> = scores.iter().map(|(h, s)| (h.as_str(), *s)).collect();
    gossip
        .set_weights(&pairs)
        .map_err(|e| anyhow::anyhow!("setting weights: {e}"))?;
    let meta = gossip.metagraph(1)?;
    let own = meta
        .uid(validator.hotkey())
        .context("the validator is not in its metagraph")?;
    let row = meta.weights_of(own)?.to_vec1::<f32>()?;
    progress.step("weights set in the validator's metagraph");

    print_table(&rows);
    println!();
    println!("weights (validator uid {own}):");
    for (uid, hotkey) in meta.hotkeys().iter().enumerate() {
        let name = by_hotkey
            .get(hotkey.as_str())
            .map_or("validator", |m| m.name.as_str());
        println!(
            "  uid {uid:<3} {name:<10} {hotkey}  {:.4}",
            row.get(uid).copied().unwrap_or(0.0)
        );
    }
    if let Some(path) = &args.save {
        meta.save(path)
            .with_context(|| format!("saving the metagraph to {}", path.display()))?;
        println!("metagraph saved to {}", path.display());
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.ok).collect();
    println!();
    if failed.is_empty() {
        println!(
            "localnet: OK, {} calls to {n} peers in 3 dialects succeeded and were checked",
            rows.len()
        );
        Ok(())
    } else {
        let reasons: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}: {} {}",
                    r.peer, r.dialect, r.call, r.code, r.detail
                )
            })
            .collect();
        bail!(
            "{} of {} calls failed:\n  {}",
            failed.len(),
            rows.len(),
            reasons.join("\n  ")
        )
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8} {:<7} {:<22} {:<13} {:>9} {:>9}  check",
        "peer", "dialect", "call", "code", "time ms", "bytes"
    );
    println!("{}", "-".repeat(96));
    for r in rows {
        println!(
            "{:<8} {:<7} {:<22} {:<13} {:>9.2} {:>9}  {}",
            r.peer,
            r.dialect,
            r.call,
            r.code,
            r.millis,
            r.bytes,
            if r.ok {
                r.detail.clone()
            } else {
                format!("FAILED: {}", r.detail)
            }
        );
    }
}

/// A row for an HTTP or native call, `check` judging the reply.
fn synapse_row<T: Synapse>(
    peer: &str,
    dialect: &'static str,
    call: &'static str,
    response: &Response<T>,
    check: impl FnOnce(&T) -> Result<String, String>,
) -> Row {
    let status = response.status_code();
    let bytes = response.synapse.to_json_vec().map_or(0, |b| b.len() as u64);
    let (ok, detail) = if response.is_success() {
        match check(response.fields()) {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        }
    } else {
        (
            false,
            format!(
                "{} {:?}",
                response.status_message().unwrap_or(""),
                response.failure
            ),
        )
    };
    Row {
        peer: peer.to_owned(),
        dialect,
        call,
        code: status.map_or_else(|| "none".into(), |c| c.to_string()),
        ok,
        millis: response.timings.total.as_secs_f64() * 1e3,
        bytes,
        detail,
    }
}

/// A row for a gRPC call that failed before it had an answer to check.
fn grpc_failure(peer: &str, call: &'static str, code: ReturnCode, message: &str) -> Row {
    grpc_row(peer, call, code, message, 0.0, 0, Err(String::new()))
}

/// A row for a gRPC call.
#[allow(clippy::too_many_arguments)]
fn grpc_row(
    peer: &str,
    call: &'static str,
    code: ReturnCode,
    message: &str,
    seconds: f64,
    bytes: u64,
    check: Result<String, String>,
) -> Row {
    let (ok, detail) = if code != ReturnCode::Success {
        (false, message.to_owned())
    } else {
        match check {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        }
    };
    Row {
        peer: peer.to_owned(),
        dialect: "grpc",
        call,
        code: code.name().to_owned(),
        ok,
        millis: seconds * 1e3,
        bytes,
        detail,
    }
}

fn hashed_request() -> ex::Hashed {
    let mut meta = serde_json::Map::new();
    meta.insert("subnet".into(), serde_json::json!(1));
    meta.insert("tags".into(), serde_json::json!(["a", "b"]));
    ex::Hashed {
        text: "localnet \"quoted\" ✓".into(),
        numbers: vec![1, 2, 3, 40],
        ratio: 0.1,
        flag: true,
        meta,
        output: None,
    }
}

fn echo_request() -> anyhow::Result<ex::TensorEcho> {
    let values: Vec<f32> = (0..32).map(|i| i as f32 * 0.25).collect();
    let t = Tensor::from_vec(values, (4, 8), &Device::Cpu)?;
    Ok(ex::TensorEcho {
        tensor: Some(BtTensor::from_candle(&t)?),
        scale: 2.0,
    })
}

fn check_echo(sent: &ex::TensorEcho, got: &ex::TensorEcho) -> Result<String, String> {
    let want = ex::tensor_echo(sent.clone()).map_err(|e| e.to_string())?;
    if want.tensor == got.tensor {
        Ok("tensor x 2, float32 [4, 8]".into())
    } else {
        Err("the echoed tensor differs from tensor x 2".into())
    }
}

/// The bytes a receptor has received and sent so far.
fn receptor_bytes(text: &TextDendrite, endpoint: &dgrpc::Endpoint) -> (u64, u64) {
    text.pool()
        .receptor(endpoint)
        .map(|r| {
            let s = r.stats();
            (s.bytes_in, s.bytes_out)
        })
        .unwrap_or((0, 0))
}

#[allow(clippy::too_many_arguments)]
async fn query_peer(
    validator: &Neuron,
    text: &TextDendrite,
    peer: &Peer,
    miner: &Miner,
    uid: u64,
    prompt: &str,
    timeout: Duration,
    progress: &Progress,
) -> Vec<Row> {
    let name = miner.name.as_str();
    let mut rows = Vec::with_capacity(CALLS_PER_MINER);
    let push = |row: Row, rows: &mut Vec<Row>| {
        progress.call(&row);
        rows.push(row);
    };
    let axon = &peer.axon;

    // HTTP dialect (what a Python SDK validator speaks).
    let sent = hashed_request();
    let r = validator.call_http(axon, sent.clone(), timeout).await;
    let want = ex::hashed(sent).output;
    push(
        synapse_row(name, "http", "Hashed", &r, |got| {
            if got.output == want {
                Ok(format!("output {:?}", got.output.as_deref().unwrap_or("")))
            } else {
                Err(format!("output {:?}, expected {want:?}", got.output))
            }
        }),
        &mut rows,
    );
    match echo_request() {
        Ok(sent) => {
            let r = validator.call_http(axon, sent.clone(), timeout).await;
            push(
                synapse_row(name, "http", "TensorEcho", &r, |got| check_echo(&sent, got)),
                &mut rows,
            );
            // Native dialect: the same synapse, binary and authenticated per connection.
            let r = validator.call_native(axon, sent.clone(), timeout).await;
            push(
                synapse_row(name, "native", "TensorEcho", &r, |got| {
                    check_echo(&sent, got)
                }),
                &mut rows,
            );
        }
        Err(e) => push(
            Row {
                peer: name.into(),
                dialect: "http",
                call: "TensorEcho",
                code: "none".into(),
                ok: false,
                millis: 0.0,
                bytes: 0,
                detail: format!("building the request: {e}"),
            },
            &mut rows,
        ),
    }
    let row = stream_row(validator, axon, name, timeout).await;
    push(row, &mut rows);
    let r = validator
        .call(
            axon,
            ex::Dummy {
                dummy_input: 21,
                dummy_output: None,
            },
            timeout,
        )
        .await;
    let dialect = if peer.speaks(protocols::NATIVE) {
        "native"
    } else {
        "http"
    };
    push(
        synapse_row(name, dialect, "Dummy (auto dialect)", &r, |got| {
            match got.dummy_output {
                Some(42) => Ok("dummy_output 42".into()),
                other => Err(format!("dummy_output {other:?}, expected 42")),
            }
        }),
        &mut rows,
    );

    // Legacy gRPC dialect: the text synapses of the built-in model.
    let endpoint = peer.legacy_endpoint(uid);
    rows.extend(grpc_calls(text, &endpoint, miner, prompt, timeout, progress).await);
    rows
}

/// Rows that report progress as they are added.
struct Sink<'a> {
    rows: Vec<Row>,
    progress: &'a Progress,
}

impl Sink<'_> {
    fn push(&mut self, row: Row) {
        self.progress.call(&row);
        self.rows.push(row);
    }
}

async fn stream_row(
    validator: &Neuron,
    axon: &neuron::dendrite::AxonInfo,
    name: &str,
    timeout: Duration,
) -> Row {
    let start = Instant::now();
    let events =
        validator
            .dendrite()
            .dendrite()
            .call_stream(axon, ex::StreamCount { n: 3 }, timeout);
    futures::pin_mut!(events);
    let mut chunks = Vec::new();
    let mut bytes = 0u64;
    let mut code = "none".to_string();
    let mut ok = false;
    let mut detail = "the stream ended without a final synapse".to_string();
    while let Some(event) = events.next().await {
        match event {
            StreamEvent::Chunk(b) => {
                bytes += b.len() as u64;
                chunks.extend_from_slice(&b);
            }
            StreamEvent::Done(response) => {
                code = response
                    .status_code()
                    .map_or_else(|| "none".into(), |c| c.to_string());
                let text = String::from_utf8_lossy(&chunks).into_owned();
                ok = response.is_success() && text == "tok0\ntok1\ntok2\n";
                detail = if ok {
                    "3 chunks tok0..tok2".into()
                } else {
                    format!("chunks {text:?}, failure {:?}", response.failure)
                };
            }
        }
    }
    Row {
        peer: name.into(),
        dialect: "http",
        call: "StreamCount (stream)",
        code,
        ok,
        millis: start.elapsed().as_secs_f64() * 1e3,
        bytes,
        detail,
    }
}

/// Largest absolute difference between two tensors.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> candle_core::Result<f32> {
    (a.to_dtype(DType::F32)? - b.to_dtype(DType::F32)?)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()
}

async fn grpc_calls(
    text: &TextDendrite,
    endpoint: &dgrpc::Endpoint,
    miner: &Miner,
    prompt: &str,
    timeout: Duration,
    progress: &Progress,
) -> Vec<Row> {
    let name = miner.name.as_str();
    let mut rows = Sink {
        rows: Vec::new(),
        progress,
    };
    let ids = match text.tokenizer().encode_batch(&[prompt]) {
        Ok(ids) => ids,
        Err(e) => {
            rows.push(grpc_failure(
                name,
                "tokenize",
                ReturnCode::UnknownException,
                &e.to_string(),
            ));
            return rows.rows;
        }
    };

    // text_causal_lm: the remote's most likely next token must be the model's.
    let before = receptor_bytes(text, endpoint);
    let out = text
        .text_causal_lm(endpoint.clone(), ids.clone(), Some(16), Some(timeout))
        .await;
    let after = receptor_bytes(text, endpoint);
    rows.push(match out {
        Ok(out) => {
            let check = (|| -> anyhow::Result<Result<String, String>> {
                let got = &out.outputs[0][0];
                let s = ids.dim(1)?;
                let remote = got.i((0, s - 1))?.argmax(D::Minus1)?.to_scalar::<u32>()?;
                let local = miner
                    .model
                    .logits(&ids)?
                    .i((0, s - 1))?
                    .argmax(D::Minus1)?
                    .to_scalar::<u32>()?;
                let word = text
                    .tokenizer()
                    .decode(&[i64::from(remote)])
                    .unwrap_or_default();
                Ok(if remote == local {
                    Ok(format!("[1, {s}, {}] next token {word:?}", got.dim(2)?))
                } else {
                    Err(format!("next token {remote}, the model says {local}"))
                })
            })()
            .unwrap_or_else(|e| Err(e.to_string()));
            grpc_row(
                name,
                "text_causal_lm",
                out.codes[0][0],
                &out.messages[0][0],
                out.times[0][0],
                after.0 - before.0,
                check,
            )
        }
        Err(e) => grpc_failure(
            name,
            "text_causal_lm",
            ReturnCode::UnknownException,
            &e.to_string(),
        ),
    });

    // text_last_hidden_state with autograd: the hidden states must be the model's; then a
    // loss over them runs backward, and the miner's model must take one training step.
    let spec = SynapseSpec::last_hidden_state();
    let before = receptor_bytes(text, endpoint);
    let forward = text
        .forward_autograd(
            endpoint.clone(),
            std::slice::from_ref(&spec),
            ids.clone(),
            Some(timeout),
        )
        .await;
    let after = receptor_bytes(text, endpoint);
    let handle = match forward {
        Ok((out, handle)) => {
            let check = (|| -> anyhow::Result<Result<String, String>> {
                let got = &out.outputs[0][0];
                let local = miner.model.hidden(&ids)?;
                let diff = max_abs_diff(got, &local)?;
                Ok(if diff < 1e-4 {
                    Ok(format!(
                        "{:?} equal to the model's (max diff {diff:.1e})",
                        got.dims()
                    ))
                } else {
                    Err(format!("differs from the model's by {diff}"))
                })
            })()
            .unwrap_or_else(|e| Err(e.to_string()));
            let ok = out.codes[0][0] == ReturnCode::Success;
            rows.push(grpc_row(
                name,
                "text_last_hidden_state",
                out.codes[0][0],
                &out.messages[0][0],
                out.times[0][0],
                after.0 - before.0,
                check,
            ));
            ok.then_some(handle)
        }
        Err(e) => {
            rows.push(grpc_failure(
                name,
                "text_last_hidden_state",
                ReturnCode::UnknownException,
                &e.to_string(),
            ));
            None
        }
    };
    rows.push(match handle {
        Some(handle) => backward_row(handle, miner, endpoint, text).await,
        None => grpc_failure(
            name,
            "backward",
            ReturnCode::NoReturn,
            "no forward output to differentiate",
        ),
    });

    // generate (TEXT_SEQ_2_SEQ): greedy tokens, decoded.
    let before = receptor_bytes(text, endpoint);
    let args = Seq2SeqArgs {
        num_to_generate: 6,
        ..Seq2SeqArgs::default()
    };
    let generated = text
        .generate(endpoint.clone(), prompt, Some(args), Some(timeout))
        .await;
    let after = receptor_bytes(text, endpoint);
    rows.push(match generated {
        Ok(g) => {
            let code = if g.codes.first().map(String::as_str) == Some("Success") {
                ReturnCode::Success
            } else {
                ReturnCode::UnknownException
            };
            let words = g.texts.first().cloned().unwrap_or_default();
            let check = if words.is_empty() {
                Err("nothing generated".into())
            } else {
                Ok(format!("{words:?}"))
            };
            let message = g.codes.first().cloned().unwrap_or_default();
            grpc_row(
                name,
                "generate",
                code,
                &message,
                g.times.first().copied().unwrap_or(0.0),
                after.0 - before.0,
                check,
            )
        }
        Err(e) => grpc_failure(
            name,
            "generate",
            ReturnCode::UnknownException,
            &e.to_string(),
        ),
    });
    rows.rows
}

async fn backward_row(
    handle: dgrpc::BackwardHandle,
    miner: &Miner,
    endpoint: &dgrpc::Endpoint,
    text: &TextDendrite,
) -> Row {
    let name = miner.name.as_str();
    let steps_before = miner.model.backward_steps();
    let start = Instant::now();
    let before = receptor_bytes(text, endpoint);
    let loss = handle
        .var(0, 0)
        .map(|v| v.as_tensor().sqr().and_then(|t| t.mean_all()));
    let grads = match loss {
        Some(Ok(loss)) => loss.backward(),
        Some(Err(e)) => Err(e),
        None => {
            return grpc_failure(
                name,
                "backward",
                ReturnCode::NoReturn,
                "no output to differentiate",
            );
        }
    };
    let result = match grads {
        Ok(grads) => handle.backward_from(&grads).await,
        Err(e) => {
            return grpc_failure(
                name,
                "backward",
                ReturnCode::UnknownException,
                &e.to_string(),
            );
        }
    };
    let after = receptor_bytes(text, endpoint);
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            let code = r
                .codes
                .first()
                .and_then(|c| c.first())
                .copied()
                .unwrap_or(ReturnCode::NoReturn);
            let steps = miner.model.backward_steps();
            let check = if steps == steps_before + 1 {
                Ok("loss mean(h^2): the miner took 1 training step".to_string())
            } else {
                Err(format!(
                    "the miner's model took {} steps, expected 1",
                    steps - steps_before
                ))
            };
            grpc_row(
                name,
                "backward",
                code,
                code.name(),
                seconds,
                after.1 - before.1,
                check,
            )
        }
        Err(e) => grpc_row(
            name,
            "backward",
            ReturnCode::UnknownException,
            &e.to_string(),
            seconds,
            0,
            Err(String::new()),
        ),
    }
}
