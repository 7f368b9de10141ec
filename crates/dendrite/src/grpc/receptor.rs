//! [`Receptor`]: one gRPC channel to one remote axon (wire-legacy §4, §7, §8).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candle_core::Tensor;
use neuron_legacy::{CausalLmForm, SynapseSpec};
use neuron_protocol::legacy::{self, ReturnCode, TensorMessage, metadata};
use neuron_tensor::Limits;
use neuron_transport::legacy_grpc::bittensor_client::BittensorClient;
use neuron_wallet::Keypair;
use prost::Message as _;
use tokio::sync::Semaphore;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::Channel;

use crate::lock;

use super::clock::NonceClock as Clock;
use super::endpoint::Endpoint;
use super::error::{Error, Result};
use super::presign::{self, Signer, SignerSpec};
use super::stats::{Rpc, Stats};

/// Settings of a [`Receptor`].
///
/// | knob | default |
/// |---|---|
/// | `max_concurrent` | 10 calls in flight (upstream `max_processes`) |
/// | `limits` | [`Limits::DEFAULT`], applied to every decoded reply tensor |
/// | `clock` | [`NonceClock::monotonic`](super::NonceClock::monotonic), the nonce source |
/// | `strict_nonce` | `true`: nonce = max(clock, last + 1) per receptor |
/// | `presign` | `true`: the next call's signature is made after each call, off the request path (see [`presigned`](super::presigned)) |
/// | `connect_timeout` | 5 s |
/// | `max_message_bytes` | 64 MiB per reply |
#[derive(Debug, Clone)]
pub struct Config {
    /// Calls one receptor runs at once; more wait (inside their timeout).
    pub max_concurrent: usize,
    /// Bounds of decoded reply tensors.
    pub limits: Limits,
    /// Where nonces come from.
    pub clock: Clock,
    /// Whether nonces are forced strictly increasing per receptor. Only tests that
    /// replay nonces turn this off.
    pub strict_nonce: bool,
    /// Whether the next call's `bittensor-signature` is made ahead of time, on the
    /// low-priority presigning thread, after each call that reached the axon. Needs
    /// `strict_nonce`.
    pub presign: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Largest reply accepted.
    pub max_message_bytes: usize,
}

impl Config {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self {
            max_concurrent: 10,
            limits: Limits::DEFAULT,
            clock: Clock::monotonic(),
            strict_nonce: true,
            presign: true,
            connect_timeout: Duration::from_secs(5),
            max_message_bytes: 64 << 20,
        }
    }

    /// With another concurrency limit (at least 1).
    pub fn with_max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    /// With another nonce clock; `strict` keeps the per-receptor increase.
    pub fn with_clock(mut self, clock: Clock, strict: bool) -> Self {
        self.clock = clock;
        self.strict_nonce = strict;
        self
    }

    /// With presigning on or off.
    pub fn with_presign(mut self, presign: bool) -> Self {
        self.presign = presign;
        self
    }

    /// With other tensor limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Connectivity of a receptor's channel, named like gRPC's `ChannelConnectivity`.
/// tonic does not expose its channel state, so this is what the last call observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No call has completed yet.
    Idle,
    /// The last call reached the axon.
    Ready,
    /// The last call could not reach the axon (unavailable or timed out).
    TransientFailure,
    /// The receptor was closed.
    Shutdown,
}

impl State {
    /// Upstream's name, e.g. `"READY"`.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "IDLE",
            State::Ready => "READY",
            State::TransientFailure => "TRANSIENT_FAILURE",
            State::Shutdown => "SHUTDOWN",
        }
    }
}

/// The result of one forward or backward call: one entry per requested synapse.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Decoded outputs (caller-visible form); zeros of the documented shape on failure.
    /// For backward: the synapses' zero tensors (nothing flows back, as upstream).
    pub outputs: Vec<Tensor>,
    /// Code of each synapse.
    pub codes: Vec<ReturnCode>,
    /// Seconds from the start of the call to its result, per synapse.
    pub times: Vec<f64>,
    /// Messages (remote messages are prefixed `"Remote Server Failure: "`).
    pub messages: Vec<String>,
    /// Request bytes sent (0 without RPC).
    pub bytes_out: usize,
    /// Reply bytes received.
    pub bytes_in: usize,
}

impl Outcome {
    /// `(outputs, codes, times)`, the upstream triple.
    pub fn into_parts(self) -> (Vec<Tensor>, Vec<ReturnCode>, Vec<f64>) {
        (self.outputs, self.codes, self.times)
    }

    /// Whether any synapse succeeded.
    pub fn any_success(&self) -> bool {
        self.codes.contains(&ReturnCode::Success)
    }

    /// Every synapse failed with `code` before any RPC (zeros in `form` as outputs).
    pub(crate) fn failed(
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        code: ReturnCode,
        message: &str,
        form: CausalLmForm,
    ) -> Self {
        let n = synapses.len();
        Self {
            outputs: synapses.iter().map(|s| s.zeros_as(inputs, form)).collect(),
            codes: vec![code; n],
            times: vec![0.0; n],
            messages: vec![message.to_owned(); n],
            bytes_out: 0,
            bytes_in: 0,
        }
    }

    pub(super) fn fail_all(&mut self, code: ReturnCode, message: &str, time: f64) {
        for i in 0..self.codes.len() {
            self.set(i, code, message.to_owned(), time);
        }
    }

    pub(super) fn set(&mut self, i: usize, code: ReturnCode, message: String, time: f64) {
        if let (Some(c), Some(m), Some(t)) = (
            self.codes.get_mut(i),
            self.messages.get_mut(i),
            self.times.get_mut(i),
        ) {
            *c = code;
            *m = message;
            *t = time;
        }
    }
}

/// One channel to one remote axon, with its own signer identity (a uuid1), nonce,
/// concurrency limit, state and statistics.
///
/// # Notes
/// * Must be created inside a tokio runtime (the channel connects lazily on first use).
/// * Never returns an error for a network failure: every failure is a [`ReturnCode`]
///   with zeros of the synapse's documented shape as output.
pub struct Receptor {
    endpoint: Endpoint,
    keypair: Arc<Keypair>,
    signer: Arc<Signer>,
    client: Mutex<Option<BittensorClient<Channel>>>,
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
    stats: Mutex<Stats>,
    config: Config,
}

fn new_uid() -> String {
    let node: [u8; 6] = rand::random();
    uuid::Uuid::now_v1(&node).to_string()
}

impl Receptor {
    /// A receptor to `endpoint` signing as `keypair`.
    pub fn new(endpoint: Endpoint, keypair: Arc<Keypair>, config: Config) -> Result<Self> {
        let client = if endpoint.is_dummy() {
            None
        } else {
            let channel = tonic::transport::Endpoint::from_shared(endpoint.uri())
                .map_err(|e| Error::Endpoint(format!("{}: {e}", endpoint.uri())))?
                .connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(100))
                .connect_lazy();
            Some(
                BittensorClient::new(channel)
                    .max_decoding_message_size(config.max_message_bytes)
                    .max_encoding_message_size(usize::MAX),
            )
        };
        let signer = Arc::new(Signer::new(SignerSpec {
            keypair: Arc::clone(&keypair),
            receiver: endpoint.hotkey.clone(),
            v2: endpoint.version >= 360,
            uid: new_uid(),
            clock: config.clock.clone(),
            strict: config.strict_nonce,
            presign: config.presign,
        }));
        Ok(Self {
            semaphore: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            endpoint,
            keypair,
            signer,
            client: Mutex::new(client),
            state: Mutex::new(State::Idle),
            stats: Mutex::new(Stats::default()),
            config,
        })
    }

    /// The remote endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// This receptor's uuid1 (the last part of every signature).
    pub fn uid(&self) -> &str {
        self.signer.uid()
    }

    /// The connectivity observed by the last call.
    pub fn state(&self) -> State {
        *lock(&self.state)
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.stats).clone();
        stats.presigned = self.signer.presigned_calls();
        stats
    }

    /// Whether the next call's signature is already made.
    pub fn is_presigned(&self) -> bool {
        self.signer.has_ready()
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> usize {
        self.config.max_concurrent.max(1) - self.semaphore.available_permits()
    }

    /// Releases the channel; later calls fail with `Unavailable` and no RPC.
    pub fn close(&self) {
        lock(&self.client).take();
        *lock(&self.state) = State::Shutdown;
    }

    /// The next nonce: the clock, forced above the previous one unless the config says
    /// otherwise.
    pub fn next_nonce(&self) -> u64 {
        self.signer.next_nonce()
    }

    /// A fresh `bittensor-signature` value: v2 when the endpoint's version is ≥ 360,
    /// else v1 (wire-legacy §8). Calls use a presigned one when it is ready.
    pub fn sign(&self) -> String {
        self.signer.sign()
    }

    fn request(
        &self,
        message: TensorMessage,
        rpc: Rpc,
        timeout: Duration,
    ) -> Result<tonic::Request<TensorMessage>, String> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        let mut signature =
            MetadataValue::try_from(self.signer.take()).map_err(|e| e.to_string())?;
        // Single-use and a credential: HPACK "never indexed", so neither side's header table
        // stores it (nothing to evict per call, nothing for a compression oracle).
        signature.set_sensitive(true);
        let md = request.metadata_mut();
        md.insert(
            metadata::AUTH_HEADER,
            MetadataValue::from_static(metadata::AUTH_HEADER_VALUE),
        );
        md.insert(metadata::SIGNATURE, signature);
        md.insert(metadata::VERSION, MetadataValue::from(legacy::VERSION));
        let kind = if rpc == Rpc::Forward { "1" } else { "2" };
        md.insert(
            MetadataKey::from_static(metadata::REQUEST_TYPE),
            MetadataValue::from_static(kind),
        );
        Ok(request)
    }

    /// Forward: one tensor per synapse, all carrying `inputs` (int64 `[B, S]`).
    pub async fn forward(
        &self,
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        timeout: Duration,
    ) -> Outcome {
        self.forward_as(synapses, inputs, timeout, CausalLmForm::LogProbs)
            .await
    }

    /// [`Receptor::forward`] with TEXT_CAUSAL_LM results in `form` (see
    /// [`CausalLmForm`]; the top-k form skips the full-vocabulary expansion).
    pub async fn forward_as(
        &self,
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        timeout: Duration,
        form: CausalLmForm,
    ) -> Outcome {
        let call = Call {
            rpc: Rpc::Forward,
            synapses,
            inputs,
            grads: None,
            form,
        };
        self.call(call, timeout).await
    }

    /// Alias of [`Receptor::forward`] (upstream `async_forward`).
    pub async fn async_forward(
        &self,
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        timeout: Duration,
    ) -> Outcome {
        self.forward(synapses, inputs, timeout).await
    }

    /// Backward: inputs once per synapse, then each synapse's encoded gradient. The
    /// outputs are the synapses' zero tensors. `grads.len()` must equal `synapses.len()`.
    pub async fn backward(
        &self,
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        grads: &[Tensor],
        timeout: Duration,
    ) -> Result<Outcome> {
        if grads.len() != synapses.len() {
            return Err(Error::Length {
                what: "gradients per synapse",
                expected: synapses.len(),
                actual: grads.len(),
            });
        }
        let call = Call {
            rpc: Rpc::Backward,
            synapses,
            inputs,
            grads: Some(grads),
            form: CausalLmForm::LogProbs,
        };
        Ok(self.call(call, timeout).await)
    }

    /// Alias of [`Receptor::backward`] (upstream `async_backward`).
    pub async fn async_backward(
        &self,
        synapses: &[SynapseSpec],
        inputs: &Tensor,
        grads: &[Tensor],
        timeout: Duration,
    ) -> Result<Outcome> {
        self.backward(synapses, inputs, grads, timeout).await
    }

    async fn call(&self, call: Call<'_>, timeout: Duration) -> Outcome {
        let Call {
            rpc,
            synapses,
            inputs,
            grads,
            ..
        } = call;
        let start = Instant::now();
        let n = synapses.len();
        // Outputs are filled in by `finish`: the decoded ones, zeros for the rest (zeros
        // of a full-vocabulary synapse are megabytes; only failures pay for them).
        let mut decoded: Vec<Option<Tensor>> = vec![None; n];
        let mut out = Outcome {
            outputs: Vec::new(),
            codes: vec![ReturnCode::Success; n],
            times: vec![0.0; n],
            messages: vec![String::new(); n],
            bytes_out: 0,
            bytes_in: 0,
        };
        if inputs.elem_count() == 0 {
            out.fail_all(ReturnCode::EmptyRequest, "Empty request", 0.0);
            return self.finish(&call, out, decoded, start);
        }
        if self.endpoint.is_dummy() {
            out.fail_all(ReturnCode::BadEndpoint, "Bad endpoint", 0.0);
            return self.finish(&call, out, decoded, start);
        }
        // Encode; `sent` maps request positions back to synapse indices.
        let mut sent = Vec::with_capacity(n);
        let mut tensors = Vec::with_capacity(2 * n);
        let mut grad_tensors = Vec::with_capacity(n);
        for (i, spec) in synapses.iter().enumerate() {
            let encoded = spec.encode_request_detailed(inputs).and_then(|t| {
                match grads.and_then(|g| g.get(i)) {
                    Some(g) => spec.encode_grad_detailed(inputs, g).map(|g| (t, Some(g))),
                    None => Ok((t, None)),
                }
            });
            match encoded {
                Ok((t, g)) => {
                    tensors.push(t);
                    grad_tensors.extend(g);
                    sent.push(i);
                }
                Err(f) => out.set(i, f.code, f.message, 0.0),
            }
        }
        if sent.is_empty() {
            return self.finish(&call, out, decoded, start);
        }
        tensors.extend(grad_tensors);
        let message = TensorMessage {
            version: legacy::VERSION,
            hotkey: self.keypair.ss58().to_owned(),
            tensors,
            synapses: sent
                .iter()
                .filter_map(|&i| synapses.get(i))
                .map(SynapseSpec::to_wire)
                .collect(),
            requires_grad: true,
            ..TensorMessage::default()
        };
        out.bytes_out = message.encoded_len();
        let reply = self.send(rpc, message, timeout, start).await;
        let elapsed = start.elapsed().as_secs_f64();
        match reply {
            Err((code, message)) => {
                for &i in &sent {
                    out.set(i, code, message.clone(), elapsed);
                }
            }
            Ok(reply) => {
                out.bytes_in = reply.encoded_len();
                let reply = Reply {
                    sent: &sent,
                    message: reply,
                    elapsed,
                };
                self.apply_reply(&call, reply, &mut out, &mut decoded);
            }
        }
        self.finish(&call, out, decoded, start)
    }

    pub(super) async fn send(
        &self,
        rpc: Rpc,
        message: TensorMessage,
        timeout: Duration,
        start: Instant,
    ) -> std::result::Result<TensorMessage, (ReturnCode, String)> {
        let Some(mut client) = lock(&self.client).clone() else {
            return Err((ReturnCode::Unavailable, "receptor closed".into()));
        };
        let deadline = tokio::time::Instant::from_std(start + timeout);
        let timed_out = || {
            (
                ReturnCode::Timeout,
                format!("GRPC request timeout after: {}s", timeout.as_secs_f64()),
            )
        };
        let Ok(_permit) = tokio::time::timeout_at(deadline, self.semaphore.acquire()).await else {
            return Err(timed_out());
        };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let request = self
            .request(message, rpc, remaining)
            .map_err(|e| (ReturnCode::UnknownException, e))?;
        let call = async {
            match rpc {
                Rpc::Forward => client.forward(request).await,
                Rpc::Backward => client.backward(request).await,
            }
        };
        let result = tokio::time::timeout_at(deadline, call).await;
        let state = match &result {
            Ok(Ok(_)) => State::Ready,
            Ok(Err(s)) if s.code() == tonic::Code::Unauthenticated => State::Ready,
            _ => State::TransientFailure,
        };
        {
            let mut current = lock(&self.state);
            if *current != State::Shutdown {
                *current = state;
            }
        }
        if state == State::Ready {
            presign::submit(&self.signer);
        }
        match result {
            Err(_) => Err(timed_out()),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            // tonic enforces the grpc-timeout itself and reports `Cancelled`: a failure at
            // the deadline is a timeout whatever its status.
            Ok(Err(status))
                if status.code() == tonic::Code::Cancelled
                    && tokio::time::Instant::now() + Duration::from_millis(5) >= deadline =>
            {
                Err(timed_out())
            }
            Ok(Err(status)) => Err(map_status(&status)),
        }
    }

    fn apply_reply(
        &self,
        call: &Call<'_>,
        reply: Reply<'_>,
        out: &mut Outcome,
        decoded: &mut [Option<Tensor>],
    ) {
        let Reply {
            sent,
            message: reply,
            elapsed,
        } = reply;
        let top = ReturnCode::from_code(reply.return_code).unwrap_or(ReturnCode::UnknownException);
        // Rule 1: a non-success reply. Upstream leaves Success when the synapse count is
        // wrong; we use the reply's top-level code (wire-legacy §19.5).
        if top != ReturnCode::Success {
            if reply.synapses.len() == sent.len() {
                for (&i, s) in sent.iter().zip(&reply.synapses) {
                    // A synapse cannot have succeeded in a reply that failed as a whole.
                    let code = ReturnCode::from_code(s.return_code)
                        .filter(|&c| c != ReturnCode::Success)
                        .unwrap_or(top);
                    out.set(
                        i,
                        code,
                        format!("Remote Server Failure: {}", s.message),
                        elapsed,
                    );
                }
            } else {
                for &i in sent {
                    out.set(
                        i,
                        top,
                        format!("Remote Server Failure: {}", reply.message),
                        elapsed,
                    );
                }
            }
            return;
        }
        if call.rpc == Rpc::Backward {
            for (pos, &i) in sent.iter().enumerate() {
                let code = reply
                    .synapses
                    .get(pos)
                    .and_then(|s| ReturnCode::from_code(s.return_code))
                    .unwrap_or(ReturnCode::Success);
                out.set(i, code, code.name().to_owned(), elapsed);
            }
            return;
        }
        // Rule 2: counts must agree.
        if reply.tensors.len() != reply.synapses.len() || reply.tensors.len() != sent.len() {
            for &i in sent {
                out.set(
                    i,
                    ReturnCode::ResponseShapeException,
                    "Responses do not match synapses".into(),
                    elapsed,
                );
            }
            return;
        }
        // Rules 3 and 4: per-synapse codes, then decode the successes.
        for ((&i, s), t) in sent.iter().zip(&reply.synapses).zip(&reply.tensors) {
            let code = ReturnCode::from_code(s.return_code).unwrap_or(ReturnCode::UnknownException);
            if code != ReturnCode::Success {
                out.set(
                    i,
                    code,
                    format!("Remote Server Failure: {}", s.message),
                    elapsed,
                );
                continue;
            }
            let (Some(spec), Some(slot)) = (call.synapses.get(i), decoded.get_mut(i)) else {
                continue;
            };
            // Decoding maps NaN to 0 (torch's `nan_to_num`), as upstream's receptor does.
            match spec.decode_response_as(call.inputs, t, &self.config.limits, call.form) {
                Ok(tensor) => {
                    *slot = Some(tensor);
                    out.set(i, ReturnCode::Success, "Success".into(), elapsed);
                }
                Err(f) => out.set(i, f.code, f.message, elapsed),
            }
        }
    }

    /// Records a finished call in the statistics.
    pub(super) fn record(&self, rpc: Rpc, out: &Outcome, start: Instant) {
        lock(&self.stats).record(
            rpc,
            &out.codes,
            start.elapsed(),
            out.bytes_out,
            out.bytes_in,
        );
    }

    /// The signing keypair.
    pub(super) fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The settings.
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    fn finish(
        &self,
        call: &Call<'_>,
        mut out: Outcome,
        decoded: Vec<Option<Tensor>>,
        start: Instant,
    ) -> Outcome {
        out.outputs = decoded
            .into_iter()
            .zip(call.synapses)
            .map(|(d, spec)| d.unwrap_or_else(|| spec.zeros_as(call.inputs, call.form)))
            .collect();
        lock(&self.stats).record(
            call.rpc,
            &out.codes,
            start.elapsed(),
            out.bytes_out,
            out.bytes_in,
        );
        out
    }
}

/// One forward or backward call of a receptor.
struct Call<'a> {
    rpc: Rpc,
    synapses: &'a [SynapseSpec],
    inputs: &'a Tensor,
    grads: Option<&'a [Tensor]>,
    form: CausalLmForm,
}

/// A reply that reached the receptor; `sent[p]` is the synapse index of position `p`.
struct Reply<'a> {
    sent: &'a [usize],
    message: TensorMessage,
    elapsed: f64,
}

/// gRPC status → return code (wire-legacy §7).
fn map_status(status: &tonic::Status) -> (ReturnCode, String) {
    let (code, prefix) = match status.code() {
        tonic::Code::DeadlineExceeded => (ReturnCode::Timeout, "grpc.StatusCode.DEADLINE_EXCEEDED"),
        tonic::Code::Unavailable => (ReturnCode::Unavailable, "grpc.StatusCode.UNAVAILABLE"),
        tonic::Code::Unauthenticated => (
            ReturnCode::Unauthenticated,
            "grpc.StatusCode.UNAUTHENTICATED",
        ),
        _ => (ReturnCode::UnknownException, "GRPC error code"),
    };
    (code, format!("{prefix}: {}", status.message()))
}

impl std::fmt::Display for Receptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Receptor({}, {}:{}, {})",
            self.endpoint.hotkey,
            self.endpoint.ip,
            self.endpoint.port,
            self.state().name()
        )
    }
}

impl std::fmt::Debug for Receptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Drop for Receptor {
    fn drop(&mut self) {
        self.close();
    }
}
