//! The legacy gRPC dialect benchmarks, in one process over loopback (127.0.0.1):
//!
//! 1. **fan-out**: `text_causal_lm` from one `TextDendrite` to `AXONS` axons at once; the
//!    time until every axon has answered, p50 and p90 over `ROUNDS` rounds (after one
//!    warm-up round), against the target p50 ≤ 20 ms (printed PASS/MISS), and the median
//!    CPU time a round takes (all threads of the process: client, axons, kernel time of
//!    the sockets), which is far steadier than wall time on a shared machine. Four rows:
//!    * stub axons (a fixed top-k answer, no authentication): the client side alone, with
//!      replies expanded to full-vocabulary log-probabilities (`text_causal_lm`) and in
//!      the compact top-k form (`text_causal_lm_topk`);
//!    * real `neuron_axon::grpc::Service` axons (sr25519 verified, nonce checked, a model
//!      with 64 logits per position, top-k packed by the axon), both forms.
//!
//!    References in the same run: bare tonic unary calls (the transport floor) and, for
//!    the log-probs form, allocating and filling its outputs with no calls at all (1.65 GB
//!    a round for 256 axons: the memory floor any dense-output implementation pays).
//! 2. **single endpoint**: one caller, one call in flight, for `SECS` seconds: the legacy
//!    dialect (`TextDendrite::text_causal_lm_topk` to one real gRPC axon) beside the HTTP
//!    dialect (`neuron_dendrite::Dendrite` to `neuron_axon::Axon` serving
//!    `neuron_examples::Dummy`), calls per second and their ratio.
//!
//! Two bench targets run this code: `grpc_fanout` with mimalloc as the global allocator (as
//! the `neuron` binary ships) and `grpc_fanout_system` with the system allocator (glibc
//! malloc), for library users who keep the default.
//!
//! `cargo bench -p neuron-dendrite --bench grpc_fanout [-- AXONS ROUNDS SECS]` (defaults 256,
//! 30, 3). `--only=stub|real` and `--form=logprobs|topk` restrict the fan-out rows (for
//! profiling); `--no-single` skips part 2. Without them, each (axons, form) pair runs in a
//! child process of its own, so no row inherits the heap of another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use neuron_axon::grpc::{self as agrpc, SynapseType};
use neuron_dendrite::grpc::{Config, Endpoint, TextDendrite, TextOutput};
use neuron_examples::Dummy;
use neuron_protocol::legacy::{ReturnCode, Synapse, TensorMessage};
use neuron_tensor::legacy::{Serializer, from_candle};
use neuron_transport::legacy_grpc::bittensor_server::{Bittensor, BittensorServer};
use neuron_transport::server::{Config as ServerConfig, Server, ServerHandle};
use neuron_wallet::Keypair;

use crate::timing::{Timing, percentile, positional_args, process_cpu};

const TOPK: usize = 8;
const TARGET: Duration = Duration::from_millis(20);

/// An axon without authentication that answers every synapse with the same top-k rows.
#[derive(Clone)]
struct FixedAxon;

#[tonic::async_trait]
impl Bittensor for FixedAxon {
    async fn forward(
        &self,
        request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        let req = request.into_inner();
        let mut reply = TensorMessage {
            version: 370,
            return_code: ReturnCode::Success as i32,
            ..Default::default()
        };
        for (t, s) in req.tensors.iter().zip(&req.synapses) {
            let (b, sl) = (
                t.shape.first().copied().unwrap_or(1) as usize,
                t.shape.get(1).copied().unwrap_or(1) as usize,
            );
            let mut row: Vec<f32> = (0..TOPK).map(|k| 0.5f32.powi(k as i32 + 1)).collect();
            row.extend((0..TOPK).map(|k| k as f32 + 100.0));
            let data: Vec<f32> = std::iter::repeat_n(row, b * sl).flatten().collect();
            let out = Tensor::from_vec(data, (b, sl, 2 * TOPK), &Device::Cpu).unwrap();
            reply.tensors.push(
                from_candle(&out, Serializer::Msgpack)
                    .map_err(|e| tonic::Status::internal(e.to_string()))?,
            );
            reply.synapses.push(Synapse {
                return_code: ReturnCode::Success as i32,
                ..s.clone()
            });
        }
        Ok(tonic::Response::new(reply))
    }

    async fn backward(
        &self,
        _request: tonic::Request<TensorMessage>,
    ) -> Result<tonic::Response<TensorMessage>, tonic::Status> {
        Ok(tonic::Response::new(TensorMessage {
            version: 370,
            return_code: ReturnCode::Success as i32,
            ..Default::default()
        }))
    }
}

/// A language model with 64 logits per position, peaked at `(id + 1) % 64`.
fn small_lm(inputs: &Tensor) -> Result<Tensor, String> {
    const V: usize = 64;
    let (b, s) = inputs.dims2().map_err(|e| e.to_string())?;
    let ids = inputs
        .flatten_all()
        .and_then(|t| t.to_vec1::<i64>())
        .map_err(|e| e.to_string())?;
    let mut v = vec![0f32; b * s * V];
    for (r, &id) in ids.iter().enumerate() {
        v[r * V + (id.unsigned_abs() as usize + 1) % V] = 8.0;
    }
    Tensor::from_vec(v, (b, s, V), &Device::Cpu).map_err(|e| e.to_string())
}

fn real_axon(i: usize) -> agrpc::Service {
    let kp = Keypair::from_uri(&format!("//Axon{i}")).unwrap();
    agrpc::Service::new(kp, agrpc::Config::new()).with_callback(
        SynapseType::TextCausalLm,
        |_caller, inputs, _spec| async move { small_lm(&inputs) },
    )
}

async fn serve(router: axum::Router) -> ServerHandle {
    let listener = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    Server::serve(listener, router, ServerConfig::new())
}

/// `n` axons: stubs or real services. Returns the endpoints and the servers to keep alive.
async fn start_axons(n: usize, real: bool) -> (Vec<Endpoint>, Vec<ServerHandle>) {
    let mut servers = Vec::with_capacity(n);
    let mut endpoints = Vec::with_capacity(n);
    for i in 0..n {
        let (router, hotkey) = if real {
            let svc = real_axon(i);
            let hotkey = svc.hotkey().to_owned();
            (
                neuron_transport::grpc::add_service(axum::Router::new(), svc.into_tonic()),
                hotkey,
            )
        } else {
            let kp = Keypair::from_uri(&format!("//Axon{i}")).unwrap();
            (
                neuron_transport::grpc::add_service(
                    axum::Router::new(),
                    BittensorServer::new(FixedAxon),
                ),
                kp.ss58().to_owned(),
            )
        };
        let handle = serve(router).await;
        endpoints.push(Endpoint::new(
            i as u64,
            hotkey,
            "127.0.0.1",
            handle.local_addr().port(),
        ));
        servers.push(handle);
    }
    (endpoints, servers)
}

fn all_succeeded(out: &TextOutput, axons: usize, what: &str) {
    let ok = out
        .codes
        .iter()
        .filter(|c| c[0] == ReturnCode::Success)
        .count();
    assert_eq!(
        ok,
        axons,
        "{what}: {:?}",
        out.messages.iter().find(|m| m[0] != "Success")
    );
}

/// Wall and CPU times of `rounds` fan-outs (after one warm-up round that opens the
/// connections).
async fn fanout(
    dendrite: &TextDendrite,
    endpoints: &[Endpoint],
    rounds: usize,
    topk_form: bool,
    pause: bool,
) -> Timing {
    let inputs = Tensor::from_vec((0..32i64).collect::<Vec<_>>(), (2, 16), &Device::Cpu).unwrap();
    let timeout = Some(Duration::from_secs(30));
    let mut samples = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        if pause {
            // the validator pattern: a round starts after a pause, once the presigning
            // thread has made every receptor's next signature
            neuron_dendrite::grpc::presigned().await;
        }
        let (start, cpu_start) = (Instant::now(), process_cpu());
        let out = if topk_form {
            dendrite
                .text_causal_lm_topk(
                    endpoints.to_vec(),
                    inputs.clone(),
                    Some(TOPK as u32),
                    timeout,
                )
                .await
        } else {
            dendrite
                .text_causal_lm(
                    endpoints.to_vec(),
                    inputs.clone(),
                    Some(TOPK as u32),
                    timeout,
                )
                .await
        }
        .unwrap();
        let (elapsed, cpu_used) = (start.elapsed(), process_cpu() - cpu_start);
        all_succeeded(&out, endpoints.len(), &format!("round {round}"));
        drop(out);
        if round > 0 {
            samples.push(elapsed);
            cpu.push(cpu_used);
        }
    }
    Timing::of(samples, cpu)
}

/// The transport floor: the same fan-out as bare tonic unary calls (one prebuilt, unsigned
/// request, replies not decoded) to the stub axons.
async fn bare_fanout(endpoints: &[Endpoint], rounds: usize) -> Timing {
    use neuron_transport::legacy_grpc::bittensor_client::BittensorClient;
    let clients: Vec<_> = endpoints
        .iter()
        .map(|e| {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", e.port))
                    .unwrap()
                    .tcp_nodelay(true)
                    .connect_lazy();
            BittensorClient::new(channel)
        })
        .collect();
    let inputs = Tensor::from_vec((0..32i64).collect::<Vec<_>>(), (2, 16), &Device::Cpu).unwrap();
    let spec = neuron_legacy::SynapseSpec::causal_lm(TOPK as u32);
    let message = TensorMessage {
        version: 370,
        tensors: vec![spec.encode_request(&inputs).unwrap()],
        synapses: vec![spec.to_wire()],
        ..Default::default()
    };
    let mut samples = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        let (start, cpu_start) = (Instant::now(), process_cpu());
        // one task per call, and one wake-up of this task when the last ends (as
        // `ReceptorPool` does), so the floor pays no wake-up per call either
        let (left, ok) = (
            Arc::new(AtomicUsize::new(clients.len())),
            Arc::new(AtomicUsize::new(0)),
        );
        let done = Arc::new(tokio::sync::Notify::new());
        for c in &clients {
            let (mut c, m) = (c.clone(), message.clone());
            let (left, ok, done) = (left.clone(), ok.clone(), done.clone());
            tokio::spawn(async move {
                let code = c.forward(m).await.map(|r| r.into_inner().return_code);
                if code.is_ok_and(|code| code == ReturnCode::Success as i32) {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    done.notify_one();
                }
            });
        }
        done.notified().await;
        assert_eq!(
            ok.load(Ordering::Relaxed),
            clients.len(),
            "bare tonic calls failed"
        );
        if round > 0 {
            samples.push(start.elapsed());
            cpu.push(process_cpu() - cpu_start);
        }
    }
    Timing::of(samples, cpu)
}

/// The memory floor of the log-probs form: the time to allocate and fill the outputs a
/// round returns (`axons` tensors of `[2, 16, VOCAB_SIZE]` f32, 1.65 GB for 256) on two
/// threads, with nothing else going on. Any implementation that hands the caller dense
/// full-vocabulary outputs writes at least this much. p50 and p90.
fn memory_floor(axons: usize, rounds: usize) -> (Duration, Duration) {
    let len = 2 * 16 * neuron_legacy::VOCAB_SIZE;
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        let start = Instant::now();
        let outputs: Vec<Vec<f32>> = std::thread::scope(|scope| {
            let halves: Vec<_> = [axons / 2, axons - axons / 2]
                .into_iter()
                .map(|n| {
                    scope.spawn(move || (0..n).map(|_| vec![-9.5f32; len]).collect::<Vec<_>>())
                })
                .collect();
            halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let elapsed = start.elapsed();
        assert_eq!(outputs.len(), axons);
        drop(outputs);
        if round > 0 {
            samples.push(elapsed);
        }
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.9))
}

/// Sequential calls for `secs`; calls per second.
async fn rate<F, Fut>(secs: f64, mut call: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let warmup = Instant::now();
    while warmup.elapsed() < Duration::from_millis(300) {
        call().await;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        call().await;
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn single_endpoint(secs: f64) {
    // Legacy gRPC dialect: one real axon, TEXT_CAUSAL_LM top-k form, inputs [1, 4].
    let (endpoints, _servers) = start_axons(1, true).await;
    let dendrite = TextDendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new());
    let inputs = Tensor::from_vec(vec![1i64, 2, 3, 4], (1, 4), &Device::Cpu).unwrap();
    let grpc = rate(secs, || async {
        let out = dendrite
            .text_causal_lm_topk(
                endpoints[0].clone(),
                inputs.clone(),
                Some(TOPK as u32),
                None,
            )
            .await
            .unwrap();
        all_succeeded(&out, 1, "single endpoint gRPC");
    })
    .await;

    // HTTP dialect: neuron_axon::Axon serving Dummy, neuron_dendrite::Dendrite.
    let config = neuron_axon::Config::new()
        .with_ip([127, 0, 0, 1].into())
        .with_port(0);
    let mut axon = neuron_axon::Axon::new(Keypair::from_uri("//Alice").unwrap(), config);
    let _ = axon.attach::<Dummy, _, _>(|_caller, s| async move { Ok(neuron_examples::dummy(s)) });
    let running = axon.serve().await.unwrap();
    let target = neuron_dendrite::AxonInfo::at(running.local_addr(), running.hotkey().to_owned());
    let http_dendrite = neuron_dendrite::Dendrite::new(
        Keypair::from_uri("//Bob").unwrap(),
        neuron_dendrite::Config::new(),
    );
    let http = rate(secs, || async {
        let r = http_dendrite.call(&target, Dummy::new(21), None).await;
        assert!(r.is_success(), "HTTP Dummy: {:?}", r.status_message());
        assert_eq!(r.fields().dummy_output, Some(42));
    })
    .await;
    println!(
        "single endpoint, 1 in flight, {secs} s each: legacy gRPC text_causal_lm_topk [1, 4] {grpc:.0} calls/s; HTTP Dummy {http:.0} calls/s; gRPC/HTTP {:.2}",
        grpc / http
    );
}

fn verdict(p50: Duration) -> &'static str {
    if p50 <= TARGET { "PASS" } else { "MISS" }
}

/// Runs the benchmarks; `allocator` names the global allocator in the output.
pub fn main(allocator: &str) {
    let flags: Vec<String> = std::env::args().filter(|a| a.starts_with("--")).collect();
    let flag = |name: &str| {
        flags
            .iter()
            .find_map(|f| f.strip_prefix(name))
            .map(str::to_owned)
    };
    let only = flag("--only=");
    let form = flag("--form=");
    let single = !flags.iter().any(|f| f == "--no-single");
    let args = positional_args();
    let axons: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(256);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let secs: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let child = flags.iter().any(|f| f == "--child");
    if !child {
        println!(
            "grpc_fanout ({allocator}): text_causal_lm to {axons} loopback axons, inputs [2, 16], topk {TOPK}, {rounds} rounds, target p50 <= {TARGET:?}"
        );
    }
    if only.is_none() && form.is_none() {
        // Every (axons, form) pair in a process of its own: the log-probs rows allocate
        // ~1.6 GB a round, and the heap they leave behind slows whatever runs after them
        // in the same process.
        for kind in ["stub", "real"] {
            for form in ["topk", "logprobs"] {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([axons.to_string(), rounds.to_string(), secs.to_string()])
                    .args([format!("--only={kind}"), format!("--form={form}")])
                    .args(["--no-single", "--child"])
                    .status()
                    .unwrap();
                assert!(status.success(), "{kind} {form}: {status}");
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fanout_rows = only.is_some() || form.is_some();
    rt.block_on(async move {
        for real in [false, true] {
            if !fanout_rows
                || only.as_deref().is_some_and(|o| o != if real { "real" } else { "stub" })
            {
                continue;
            }
            let (endpoints, servers) = start_axons(axons, real).await;
            let kind = if real {
                "real axons (sr25519 verified)"
            } else {
                "stub axons (no auth)"
            };
            if !real && form.as_deref() == Some("logprobs") {
                let (p50, p90) = memory_floor(axons, rounds.min(10));
                println!(
                    "  {:<30} {:<34}: p50 {p50:>10.2?}  p90 {p90:>10.2?}  (memory floor of the log-probs form)",
                    "allocate + fill the outputs", "2 threads, no calls"
                );
            }
            if !real && form.as_deref() != Some("logprobs") {
                let Timing { p50, p90, cpu } = bare_fanout(&endpoints, rounds).await;
                println!(
                    "  {:<30} {:<34}: p50 {p50:>10.2?}  p90 {p90:>10.2?}  (transport floor)  (CPU {cpu:.1?} a round)",
                    "bare tonic unary, stub axons", "no decoding, back to back"
                );
            }
            for topk_form in [true, false] {
                if form.as_deref().is_some_and(|f| f != if topk_form { "topk" } else { "logprobs" }) {
                    continue;
                }
                for pause in [false, true] {
                    // A fresh dendrite per row: every row pays its own connection set-up
                    // in the warm-up round.
                    let dendrite =
                        TextDendrite::new(Keypair::from_uri("//Bob").unwrap(), Config::new());
                    let Timing { p50, p90, cpu } =
                        fanout(&dendrite, &endpoints, rounds, topk_form, pause).await;
                    let form = if topk_form { "top-k [B, S, 2k]" } else { "log-probs [B, S, V]" };
                    let rounds = if pause { "after a pause" } else { "back to back" };
                    println!(
                        "  {kind:<30} {form:<20} {rounds:<13}: p50 {p50:>10.2?}  p90 {p90:>10.2?}  {}  (CPU {cpu:.1?} a round)",
                        verdict(p50)
                    );
                }
            }
            drop(servers);
        }
        if single {
            single_endpoint(secs).await;
        }
    });
}
