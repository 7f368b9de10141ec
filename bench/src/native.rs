//! The native dialect against its transport ceiling (issue 6), measured in the same run as
//! the HTTP dialect:
//!
//! * **native**: a [`NativeDendrite`] (//Bob, one HTTP/2 connection, one session) calling the
//!   bench axon's native service: the `Echo` tensor route (body and raw tensor frames back as
//!   received) and, for 1 KB, also the `Hashed` synapse (JSON body, the synapse path);
//! * **bare tonic**: a tonic unary echo of the same generated messages, no auth, no queue,
//!   served by the same one-port listener ([`neuron_transport::Server`]) and called over the
//!   same kind of channel ([`neuron_transport::grpc::channel`]): the ceiling of the transport;
//! * **tonic pipe**: the same bare echo over one bidirectional `Pipe` stream (answers matched
//!   by `call_id`, the server answering in order from one task): the ceiling of the
//!   pipelined transport the native client uses by default;
//! * **QUIC ref**: the btlightning-shaped QUIC reference of [`crate::quic`] (//Bob to //Alice,
//!   one signed handshake, then one stream per request, all on one connection), echoing the
//!   same 1 KB and the same 1 MiB tensor as MessagePack binary fields. The native dialect is
//!   meant to be at least as fast.
//!
//! The HTTP dialect's figures are the Rust → Rust rows of the main table (same run).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use neuron_axon::HandlerError;
use neuron_axon::native::proto::native_client::NativeClient;
use neuron_axon::native::proto::native_server::{Native, NativeServer};
use neuron_axon::native::proto::{
    CallRequest, CallResponse, HandshakeRequest, HandshakeResponse, Tensor,
};
use neuron_axon::native::{self as axon_native, TensorCall, TensorReply};
use neuron_dendrite::native::NativeDendrite;
use neuron_dendrite::{AxonInfo, Dendrite};
use neuron_examples::Hashed;
use neuron_tensor::{Dtype, WireTensor, frame};
use neuron_wallet::Keypair;
use tokio::sync::{mpsc, oneshot};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::quic::{self, QuicClient, QuicServer};
use crate::{Measured, drive};

/// Adds the bench's native service (tensor routes `Echo` and `Scale`) to `axon`'s router.
pub(crate) fn service(axon: &neuron_axon::Axon, key: Keypair) -> anyhow::Result<axum::Router> {
    let svc = axon_native::Service::new(axon, key, axon_native::Config::default())?
        .with_tensor_route("Echo", |_caller, call: TensorCall| async move {
            Ok(TensorReply {
                body: call.body,
                tensors: call.tensors,
            })
        })?
        .with_blocking_tensor_route("Scale", |_caller, call: TensorCall| {
            let tensors = call
                .tensors
                .into_iter()
                .map(|t| scale_f32(&t, 2.0))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(TensorReply {
                body: Bytes::new(),
                tensors,
            })
        })?;
    Ok(neuron_transport::grpc::add_service(
        axon.router(),
        svc.into_tonic(),
    ))
}

fn scale_f32(t: &WireTensor, s: f32) -> Result<WireTensor, HandlerError> {
    if t.dtype != Dtype::F32 {
        return Err(HandlerError::with_status(400, "float32 only"));
    }
    let data: Vec<u8> = t
        .data
        .chunks_exact(4)
        .flat_map(|c| (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * s).to_le_bytes())
        .collect();
    Ok(WireTensor {
        dtype: t.dtype,
        shape: t.shape.clone(),
        data: data.into(),
    })
}

/// The bare echo: answers every call with its own body and tensors; no handshake.
#[derive(Clone, Copy, Debug)]
struct BareEcho;

#[tonic::async_trait]
impl Native for BareEcho {
    async fn handshake(
        &self,
        _request: tonic::Request<HandshakeRequest>,
    ) -> Result<tonic::Response<HandshakeResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare echo has no handshake"))
    }

    async fn call(
        &self,
        request: tonic::Request<CallRequest>,
    ) -> Result<tonic::Response<CallResponse>, tonic::Status> {
        let call = request.into_inner();
        Ok(tonic::Response::new(CallResponse {
            status_code: 200,
            status_message: String::new(),
            process_time: 0.0,
            body: call.body,
            tensors: call.tensors,
            call_id: call.call_id,
        }))
    }

    type PipeStream = ReceiverStream<Result<CallResponse, tonic::Status>>;

    /// Echoes every call of the stream, in order, from one task.
    async fn pipe(
        &self,
        request: tonic::Request<tonic::Streaming<CallRequest>>,
    ) -> Result<tonic::Response<Self::PipeStream>, tonic::Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Ok(Some(call)) = inbound.message().await {
                let reply = CallResponse {
                    status_code: 200,
                    status_message: String::new(),
                    process_time: 0.0,
                    body: call.body,
                    tensors: call.tensors,
                    call_id: call.call_id,
                };
                if tx.send(Ok(reply)).await.is_err() {
                    break;
                }
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(rx)))
    }
}

/// Starts the bare echo on 127.0.0.1:0 with the listener the axon uses.
pub(crate) async fn start_bare() -> anyhow::Result<neuron_transport::ServerHandle> {
    let listener = neuron_transport::Server::bind(([127, 0, 0, 1], 0).into()).await?;
    let limit = 16 * 1024 * 1024;
    let service = NativeServer::new(BareEcho)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let router = neuron_transport::grpc::add_service(axum::Router::new(), service);
    Ok(neuron_transport::Server::serve(
        listener,
        router,
        neuron_transport::server::Config::new(),
    ))
}

/// One row of the native table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NativeCase {
    Kb1,
    Kb64,
    Mib1,
}

impl NativeCase {
    pub(crate) const ALL: [NativeCase; 3] = [NativeCase::Kb1, NativeCase::Kb64, NativeCase::Mib1];

    pub(crate) fn label(self) -> &'static str {
        match self {
            NativeCase::Kb1 => "1 KB echo, 1 in flight",
            NativeCase::Kb64 => "1 KB echo, 64 in flight",
            NativeCase::Mib1 => "1 MiB f32 tensor, 1 in flight",
        }
    }

    fn concurrency(self) -> usize {
        match self {
            NativeCase::Kb64 => 64,
            NativeCase::Kb1 | NativeCase::Mib1 => 1,
        }
    }
}

/// One measured row of the native table.
pub(crate) struct NativeRow {
    pub(crate) case: NativeCase,
    /// The native `Echo` tensor route.
    pub(crate) echo: Measured,
    /// The native `Hashed` synapse (`None` for the tensor case).
    pub(crate) synapse: Option<Measured>,
    /// The bare tonic echo.
    pub(crate) tonic: Measured,
    /// The bare tonic echo over one pipe.
    pub(crate) tonic_pipe: Measured,
    /// The btlightning-shaped QUIC reference.
    pub(crate) quic: Measured,
}

/// The measured rows, in [`NativeCase::ALL`] order.
pub(crate) struct NativeResults {
    pub(crate) rows: Vec<NativeRow>,
}

fn kb_body() -> Bytes {
    Bytes::from("0123456789abcdef".repeat(64))
}

fn mib_tensor() -> WireTensor {
    let data: Vec<u8> = (0..crate::TENSOR_ELEMENTS)
        .flat_map(|i| (i as f32 * 0.001).to_le_bytes())
        .collect();
    WireTensor {
        dtype: Dtype::F32,
        shape: vec![crate::TENSOR_ELEMENTS],
        data: data.into(),
    }
}

/// Runs every native case against the bench axon (`axon`, native service mounted) and the
/// bare echo at `bare`.
pub(crate) async fn run(
    axon: &AxonInfo,
    bare: std::net::SocketAddr,
    duration: Duration,
) -> anyhow::Result<NativeResults> {
    let mut info = axon.clone();
    info.protocols = Some(vec![neuron_dendrite::native::PROTOCOL.to_owned()]);
    let native = NativeDendrite::new(
        Dendrite::new(Keypair::from_uri("//Bob")?, neuron_dendrite::Config::new()),
        neuron_dendrite::native::Config::default(),
    );
    let limit = 16 * 1024 * 1024;
    let bare_client = NativeClient::new(neuron_transport::grpc::channel(bare)?)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let alice = Keypair::from_uri("//Alice")?;
    let quic_server = QuicServer::start(alice.clone())?;
    eprintln!("bench: QUIC reference on {}", quic_server.local_addr());
    let quic_client = Arc::new(
        QuicClient::connect(
            quic_server.local_addr(),
            &Keypair::from_uri("//Bob")?,
            alice.ss58(),
        )
        .await?,
    );
    let warmup = Duration::from_millis(300);
    let mut rows = Vec::new();
    for case in NativeCase::ALL {
        eprintln!("bench: native / bare tonic / QUIC ref {}", case.label());
        let mut last = None;
        for d in [warmup, duration] {
            let echo = native_case(case, &native, &info, d).await;
            let synapse = match case {
                NativeCase::Mib1 => None,
                _ => Some(synapse_case(case, &native, &info, d).await),
            };
            let tonic = bare_case(case, &bare_client, d).await;
            let tonic_pipe = bare_pipe_case(case, &bare_client, d).await;
            let quic = quic_case(case, &quic_client, d).await;
            last = Some(NativeRow {
                case,
                echo,
                synapse,
                tonic,
                tonic_pipe,
                quic,
            });
        }
        rows.extend(last);
    }
    drop(quic_client);
    quic_server.shutdown().await;
    Ok(NativeResults { rows })
}

/// One case over the QUIC reference: every answer must carry the bytes sent (1 KB) or a
/// tensor of the same length, dtype and shape (1 MiB, as the native case checks lengths).
async fn quic_case(case: NativeCase, client: &Arc<QuicClient>, d: Duration) -> Measured {
    let data = Arc::new(match case {
        NativeCase::Mib1 => {
            let t = mib_tensor();
            quic::tensor_data(&t.data, &t.shape)
        }
        _ => quic::kb_data(&kb_body()),
    });
    let client = client.clone();
    drive(case.concurrency(), d, move |_| {
        let (client, data) = (client.clone(), data.clone());
        async move {
            let r = client
                .call("Echo", &data)
                .await
                .map_err(|e| format!("QUIC ref: {e:#}"))?;
            let same = match case {
                NativeCase::Mib1 => {
                    quic::binary_len(&r.data, "tensor") == quic::binary_len(&data, "tensor")
                        && r.data.get("dtype") == data.get("dtype")
                        && r.data.get("shape") == data.get("shape")
                }
                _ => r.data == *data,
            };
            if r.success && same {
                Ok(())
            } else {
                Err(format!(
                    "QUIC ref: success {} {}",
                    r.success,
                    r.error.as_deref().unwrap_or("wrong answer")
                ))
            }
        }
    })
    .await
}

async fn native_case(
    case: NativeCase,
    native: &NativeDendrite,
    info: &AxonInfo,
    d: Duration,
) -> Measured {
    let (body, tensors) = match case {
        NativeCase::Mib1 => (Bytes::new(), vec![mib_tensor()]),
        _ => (kb_body(), Vec::new()),
    };
    let native = native.clone();
    let info = info.clone();
    let tensors: Arc<[WireTensor]> = tensors.into();
    drive(case.concurrency(), d, move |_| {
        let (native, info, body, tensors) =
            (native.clone(), info.clone(), body.clone(), tensors.clone());
        async move {
            let r = native
                .call_tensors(&info, "Echo", body.clone(), tensors.to_vec(), None)
                .await;
            let same = r.body == body
                && r.tensors.len() == tensors.len()
                && r.tensors
                    .iter()
                    .zip(tensors.iter())
                    .all(|(a, b)| a.data.len() == b.data.len());
            if r.is_success() && same {
                Ok(())
            } else {
                Err(format!(
                    "native Echo: {} {}",
                    r.status_code, r.status_message
                ))
            }
        }
    })
    .await
}

async fn synapse_case(
    case: NativeCase,
    native: &NativeDendrite,
    info: &AxonInfo,
    d: Duration,
) -> Measured {
    let request = crate::hashed_request();
    let want = neuron_examples::hashed(request.clone()).output;
    let native = native.clone();
    let info = info.clone();
    drive(case.concurrency(), d, move |_| {
        let (native, info, request, want) =
            (native.clone(), info.clone(), request.clone(), want.clone());
        async move {
            let r = native.call_native::<Hashed>(&info, request, None).await;
            if r.is_success() && r.fields().output == want {
                Ok(())
            } else {
                Err(format!(
                    "native Hashed: {:?} {:?}",
                    r.status_code(),
                    r.status_message()
                ))
            }
        }
    })
    .await
}

async fn bare_case(case: NativeCase, client: &NativeClient<Channel>, d: Duration) -> Measured {
    let (body, tensors) = match case {
        NativeCase::Mib1 => {
            let t = mib_tensor();
            let (header, data) = match frame::encode_parts(t.dtype, &t.shape, t.data) {
                Ok(parts) => parts,
                Err(e) => {
                    return Measured {
                        errors: 1,
                        first_error: Some(e.to_string()),
                        ..Measured::default()
                    };
                }
            };
            (Bytes::new(), vec![Tensor { header, data }])
        }
        _ => (kb_body(), Vec::new()),
    };
    let client = client.clone();
    drive(case.concurrency(), d, move |_| {
        let (mut client, body, tensors) = (client.clone(), body.clone(), tensors.clone());
        async move {
            let request = CallRequest {
                session_id: Bytes::new(),
                synapse: "Echo".to_owned(),
                timeout: 0.0,
                body: body.clone(),
                tensors: tensors.clone(),
                call_id: 0,
            };
            match client.call(request).await {
                Ok(r) => {
                    let r = r.into_inner();
                    if r.body == body && r.tensors.len() == tensors.len() {
                        Ok(())
                    } else {
                        Err("bare echo: wrong answer".to_owned())
                    }
                }
                Err(status) => Err(format!("bare echo: {status}")),
            }
        }
    })
    .await
}

/// A bare pipe client: calls waiting by `call_id`, one reader task.
type Waiting = Arc<std::sync::Mutex<std::collections::HashMap<u64, oneshot::Sender<CallResponse>>>>;

async fn bare_pipe_case(case: NativeCase, client: &NativeClient<Channel>, d: Duration) -> Measured {
    let failed = |e: String| Measured {
        errors: 1,
        first_error: Some(e),
        ..Measured::default()
    };
    let (body, tensors) = match case {
        NativeCase::Mib1 => {
            let t = mib_tensor();
            match frame::encode_parts(t.dtype, &t.shape, t.data) {
                Ok((header, data)) => (Bytes::new(), vec![Tensor { header, data }]),
                Err(e) => return failed(e.to_string()),
            }
        }
        _ => (kb_body(), Vec::new()),
    };
    let (requests, outgoing) = mpsc::channel(256);
    let mut replies = match client.clone().pipe(ReceiverStream::new(outgoing)).await {
        Ok(r) => r.into_inner(),
        Err(status) => return failed(format!("bare pipe: {status}")),
    };
    let waiting: Waiting = Arc::default();
    let reader = {
        let waiting = waiting.clone();
        tokio::spawn(async move {
            while let Ok(Some(reply)) = replies.message().await {
                let call = waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&reply.call_id);
                if let Some(call) = call {
                    let _ = call.send(reply);
                }
            }
        })
    };
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let measured = drive(case.concurrency(), d, move |_| {
        let (requests, waiting, next) = (requests.clone(), waiting.clone(), next.clone());
        let (body, tensors) = (body.clone(), tensors.clone());
        async move {
            let call_id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (answer, answered) = oneshot::channel();
            waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(call_id, answer);
            let request = CallRequest {
                session_id: Bytes::new(),
                synapse: "Echo".to_owned(),
                timeout: 0.0,
                body: body.clone(),
                tensors: tensors.clone(),
                call_id,
            };
            requests
                .send(request)
                .await
                .map_err(|_| "bare pipe: closed".to_owned())?;
            let r = answered
                .await
                .map_err(|_| "bare pipe: no answer".to_owned())?;
            if r.body == body && r.tensors.len() == tensors.len() {
                Ok(())
            } else {
                Err("bare pipe: wrong answer".to_owned())
            }
        }
    })
    .await;
    reader.abort();
    measured
}

fn pct(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.1}%", 100.0 * a / b)
    } else {
        "n/a".to_owned()
    }
}

/// Prints the native table and its targets.
pub(crate) fn report(results: &NativeResults, http: &std::collections::BTreeMap<String, Measured>) {
    let http_of = |case: NativeCase| match case {
        NativeCase::Kb1 => http.get(crate::Case::Hashed1.key()),
        NativeCase::Kb64 => http.get(crate::Case::Hashed64.key()),
        NativeCase::Mib1 => http.get(crate::Case::Tensor1.key()),
    };
    println!(
        "Native dialect vs HTTP dialect vs bare tonic echo (unary and pipe) vs QUIC reference (req/s, same run, one connection per client):"
    );
    println!();
    println!(
        "| {:<30} | {:>11} | {:>13} | {:>11} | {:>10} | {:>10} | {:>10} | {:>12} | {:>11} | {:>11} |",
        "case",
        "native echo",
        "native Hashed",
        "HTTP (Rust)",
        "bare tonic",
        "tonic pipe",
        "QUIC ref",
        "native/tonic",
        "native/QUIC",
        "native/HTTP"
    );
    println!(
        "|{:-<32}|{:->13}|{:->15}|{:->13}|{:->12}|{:->12}|{:->12}|{:->14}|{:->13}|{:->13}|",
        "", "", "", "", "", "", "", "", "", ""
    );
    for row in &results.rows {
        let h = http_of(row.case);
        let vs_http = match h {
            Some(h) if h.rps() > 0.0 => format!("{:.1}x", row.echo.rps() / h.rps()),
            _ => "n/a".to_owned(),
        };
        println!(
            "| {:<30} | {:>11.1} | {:>13} | {:>11} | {:>10.1} | {:>10.1} | {:>10.1} | {:>12} | {:>11} | {:>11} |",
            row.case.label(),
            row.echo.rps(),
            row.synapse
                .as_ref()
                .map_or_else(|| "-".to_owned(), |m| format!("{:.1}", m.rps())),
            crate::fmt_rps(h),
            row.tonic.rps(),
            row.tonic_pipe.rps(),
            row.quic.rps(),
            pct(row.echo.rps(), row.tonic.rps()),
            pct(row.echo.rps(), row.quic.rps()),
            vs_http
        );
    }
    println!();
    println!(
        "(HTTP 1 KB = the ~1 KB Hashed synapse; HTTP 1 MiB = TensorEcho, base64 JSON. Native 1 MiB = the Echo tensor route, raw frames. \
         tonic pipe = the bare echo over one bidirectional stream, answered by call_id. \
         QUIC ref = btlightning-shaped QUIC, one connection, one stream per request, MessagePack binary fields.)"
    );
    println!();
    let row = |c: NativeCase| results.rows.iter().find(|r| r.case == c);
    let share_of = |c: NativeCase, base: fn(&NativeRow) -> &Measured| {
        row(c).and_then(|r| (base(r).rps() > 0.0).then(|| r.echo.rps() / base(r).rps()))
    };
    let share = share_of(NativeCase::Kb64, |r| &r.tonic);
    let vs_pipe = share_of(NativeCase::Kb64, |r| &r.tonic_pipe);
    let vs_quic_kb64 = share_of(NativeCase::Kb64, |r| &r.quic);
    let vs_quic_mib = share_of(NativeCase::Mib1, |r| &r.quic);
    let kb64_rps = row(NativeCase::Kb64).map(|r| r.echo.rps());
    let mib = row(NativeCase::Mib1).map(|r| r.echo.rps());
    let pct = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let rate = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
    };
    // (target, value as printed, value, goal as printed, goal)
    let targets = [
        (
            "native 1 KB @64 vs bare tonic (unary)",
            pct(share),
            share,
            "≥ 80%",
            0.8,
        ),
        // The same ratio against the pipelined bare echo: the ceiling of the transport
        // pattern the native client now uses (no auth, no queue, no deadline, in order).
        (
            "native 1 KB @64 vs bare tonic pipe",
            pct(vs_pipe),
            vs_pipe,
            "≥ 80%",
            0.8,
        ),
        (
            "native 1 KB @64 vs QUIC reference",
            pct(vs_quic_kb64),
            vs_quic_kb64,
            "≥ 100%",
            1.0,
        ),
        (
            "native 1 MiB vs QUIC reference",
            pct(vs_quic_mib),
            vs_quic_mib,
            "≥ 100%",
            1.0,
        ),
        (
            "native 1 KB @64, 100k req/s class",
            rate(kb64_rps, 0),
            kb64_rps,
            "≥ 100000/s",
            100_000.0,
        ),
        (
            "native 1 MiB tensor, 1 in flight",
            rate(mib, 1),
            mib,
            "≥ 600/s",
            600.0,
        ),
    ];
    println!(
        "| target                                          | value      | goal          | verdict |"
    );
    println!(
        "|-------------------------------------------------|------------|---------------|---------|"
    );
    for (name, shown, value, goal, target) in targets {
        println!(
            "| {name:<47} | {shown:>10} | {goal:<13} | {:<7} |",
            crate::verdict(value, target)
        );
    }
    println!();
}
