//! The native dialect, client side (`neuron.native.v1.Native`; spec in `docs/PROTOCOL.md`,
//! "Native dialect").
//!
//! [`NativeDendrite`] wraps a [`Dendrite`] and keeps, per axon, one HTTP/2 channel (every call
//! to that axon is multiplexed on it) and one session from a mutual sr25519 handshake. The
//! table is bounded ([`Config::max_axons`]); the least recently used axon is dropped first.
//! [`NativeDendrite::call`] picks the dialect: native when [`AxonInfo::protocols`] lists
//! `"native"`, the HTTP dialect otherwise.

pub use neuron_transport::native_grpc as proto;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_wallet::{PublicKey, Signature};
use tonic::transport::{Channel, Endpoint};

use crate::axon::AxonInfo;
use crate::dendrite::Dendrite;
use crate::error::Failure;
use crate::response::{Response, axon_process_time};
use crate::timings::Timings;
use proto::native_client::NativeClient;
use proto::{CallRequest, HandshakeRequest, HandshakeResponse};

/// The protocol name an axon lists in [`AxonInfo::protocols`] to be called natively.
pub const PROTOCOL: &str = "native";

/// Settings of the native client.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most axons with a kept channel and session.
    pub max_axons: usize,
    /// Largest encoded message sent or accepted, bytes.
    pub max_message_bytes: usize,
    /// Sessions are renewed this long before the axon's announced expiry.
    pub renew_margin: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_axons: 1024,
            max_message_bytes: 16 * 1024 * 1024,
            renew_margin: Duration::from_secs(30),
        }
    }
}

/// Why a handshake failed, on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The axon refused or could not be reached.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// The axon's answer did not authenticate it.
    #[error("axon not authenticated: {0}")]
    BadAxon(&'static str),
}

/// The client message of the handshake (see `docs/PROTOCOL.md`).
pub fn hello_message(
    client_hotkey: &str,
    axon_hotkey: &str,
    timestamp_ns: u64,
    client_nonce: &[u8],
    client_uuid: &str,
) -> String {
    format!(
        "neuron-native-v1/hello.{client_hotkey}.{axon_hotkey}.{timestamp_ns}.{}.{client_uuid}",
        hex(client_nonce)
    )
}

/// The axon message of the handshake (see `docs/PROTOCOL.md`).
pub fn welcome_message(
    axon_hotkey: &str,
    client_hotkey: &str,
    client_nonce: &[u8],
    axon_nonce: &[u8],
    session_id: &[u8],
) -> String {
    format!(
        "neuron-native-v1/welcome.{axon_hotkey}.{client_hotkey}.{}.{}.{}",
        hex(client_nonce),
        hex(axon_nonce),
        hex(session_id)
    )
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[derive(Clone)]
struct Session {
    id: Bytes,
    renew_at: Instant,
}

struct Entry {
    client: NativeClient<Channel>,
    session: Arc<tokio::sync::Mutex<Option<Session>>>,
    last_used: Instant,
}

type Key = (SocketAddr, String);

/// A [`Dendrite`] that also speaks the native dialect; see the [module docs](self).
#[derive(Clone)]
pub struct NativeDendrite {
    dendrite: Dendrite,
    config: Config,
    pool: Arc<Mutex<HashMap<Key, Entry>>>,
}

impl std::fmt::Debug for NativeDendrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeDendrite")
            .field("hotkey", &self.dendrite.hotkey())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NativeDendrite {
    /// Wraps `dendrite` (its key signs the handshakes; its HTTP client serves the HTTP
    /// dialect).
    pub fn new(dendrite: Dendrite, config: Config) -> Self {
        Self {
            dendrite,
            config,
            pool: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The wrapped dendrite.
    pub fn dendrite(&self) -> &Dendrite {
        &self.dendrite
    }

    /// Axons with a kept channel.
    pub fn connections(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        // No critical section can panic half-way, so a poisoned map is consistent.
        self.pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `axon` natively when it lists `"native"` in its protocols, over HTTP otherwise.
    pub async fn call<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let native = axon
            .protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|s| s == PROTOCOL));
        if native {
            self.call_native(axon, synapse, timeout).await
        } else {
            self.dendrite.call(axon, synapse, timeout).await
        }
    }

    /// Calls `axon` over the native dialect (handshaking first if there is no live
    /// session), within `timeout` (or the dendrite's default).
    pub async fn call_native<T: Synapse>(
        &self,
        axon: &AxonInfo,
        synapse: T,
        timeout: impl Into<Option<Duration>>,
    ) -> Response<T> {
        let start = Instant::now();
        let timeout = timeout.into().unwrap_or(self.dendrite.config().timeout);
        let mut message = SynapseMessage::new(synapse);
        message.timeout = Some(timeout.as_secs_f64());
        message.dendrite.hotkey = Some(self.dendrite.hotkey().to_owned());
        message.dendrite.uuid = Some(self.dendrite.uuid().to_owned());
        message.dendrite.version = Some(i64::from(self.dendrite.config().version));
        message.axon.hotkey = Some(axon.hotkey.clone());
        let body = match message.to_json_vec() {
            Ok(b) => Bytes::from(b),
            Err(e) => return failed(message, Failure::Request(e.to_string()), start),
        };
        let prepared = start.elapsed();
        let outcome =
            tokio::time::timeout(timeout, self.exchange(axon, &message, body, timeout)).await;
        let (result, mut timings) = match outcome {
            Ok(r) => r,
            Err(_) => (Err(Failure::Timeout(timeout)), Timings::default()),
        };
        timings.prepared = prepared;
        timings.total = start.elapsed();
        match result {
            Ok(mut reply) => {
                timings.axon_process_time = axon_process_time(reply.axon.process_time);
                reply.dendrite.status_code = reply.axon.status_code;
                reply.dendrite.status_message = reply.axon.status_message.clone();
                Response {
                    synapse: reply,
                    timings,
                    failure: None,
                }
            }
            Err(failure) => {
                let mut r = failed(message, failure, start);
                r.timings = Timings {
                    total: r.timings.total,
                    ..timings
                };
                r
            }
        }
    }

    /// Handshake if needed, then the call; one retry with a fresh session when the axon
    /// no longer knows ours.
    async fn exchange<T: Synapse>(
        &self,
        axon: &AxonInfo,
        sent: &SynapseMessage<T>,
        body: Bytes,
        timeout: Duration,
    ) -> (Result<SynapseMessage<T>, Failure>, Timings) {
        let start = Instant::now();
        let mut timings = Timings::default();
        let (mut client, slot) = match self.entry(axon) {
            Ok(e) => e,
            Err(f) => return (Err(f), timings),
        };
        timings.queued = Some(start.elapsed());
        for attempt in 0..2 {
            let session = match self.session(&mut client, &slot, axon).await {
                Ok(s) => s,
                Err(e) => return (Err(Failure::Unavailable(e.to_string())), timings),
            };
            timings.connect = Some(start.elapsed());
            let mut request = tonic::Request::new(CallRequest {
                session_id: session.id.clone(),
                synapse: T::NAME.to_owned(),
                timeout: timeout.as_secs_f64(),
                body: body.clone(),
                tensors: Vec::new(),
            });
            request.set_timeout(timeout);
            timings.sent = Some(start.elapsed());
            let reply = match client.call(request).await {
                Ok(r) => r.into_inner(),
                Err(status) if status.code() == tonic::Code::Unauthenticated && attempt == 0 => {
                    *slot.lock().await = None;
                    continue;
                }
                Err(status) => return (Err(status_failure(&status, timeout)), timings),
            };
            timings.first_byte = Some(start.elapsed());
            timings.done = timings.first_byte;
            return (decode_reply(sent, reply), timings);
        }
        (
            Err(Failure::Unavailable("session refused twice".to_owned())),
            timings,
        )
    }

    /// The channel and session slot of `axon`, created on first use (LRU-bounded).
    #[allow(clippy::type_complexity)]
    fn entry(
        &self,
        axon: &AxonInfo,
    ) -> Result<
        (
            NativeClient<Channel>,
            Arc<tokio::sync::Mutex<Option<Session>>>,
        ),
        Failure,
    > {
        let key = (axon.addr(), axon.hotkey.clone());
        let mut pool = self.lock();
        let now = Instant::now();
        if let Some(e) = pool.get_mut(&key) {
            e.last_used = now;
            return Ok((e.client.clone(), e.session.clone()));
        }
        let endpoint = Endpoint::from_shared(format!("http://{}", axon.addr()))
            .map_err(|e| Failure::Request(e.to_string()))?
            .tcp_nodelay(true);
        let limit = self.config.max_message_bytes;
        let client = NativeClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        if pool.len() >= self.config.max_axons.max(1) {
            let oldest = pool
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                pool.remove(&k);
            }
        }
        let session = Arc::new(tokio::sync::Mutex::new(None));
        pool.insert(
            key,
            Entry {
                client: client.clone(),
                session: session.clone(),
                last_used: now,
            },
        );
        Ok((client, session))
    }

    /// The live session with `axon`, handshaking (once, for all waiting calls) if needed.
    async fn session(
        &self,
        client: &mut NativeClient<Channel>,
        slot: &tokio::sync::Mutex<Option<Session>>,
        axon: &AxonInfo,
    ) -> Result<Session, HandshakeError> {
        let mut guard = slot.lock().await;
        if let Some(s) = guard.as_ref().filter(|s| s.renew_at > Instant::now()) {
            return Ok(s.clone());
        }
        let session = self.handshake(client, axon).await?;
        *guard = Some(session.clone());
        Ok(session)
    }

    async fn handshake(
        &self,
        client: &mut NativeClient<Channel>,
        axon: &AxonInfo,
    ) -> Result<Session, HandshakeError> {
        let keypair = self.dendrite.keypair();
        let nonce: [u8; 32] = rand::random();
        let timestamp_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let uuid = self.dendrite.uuid();
        let hello = hello_message(keypair.ss58(), &axon.hotkey, timestamp_ns, &nonce, uuid);
        let request = HandshakeRequest {
            client_hotkey: keypair.ss58().to_owned(),
            axon_hotkey: axon.hotkey.clone(),
            client_nonce: Bytes::copy_from_slice(&nonce),
            timestamp_ns,
            client_uuid: uuid.to_owned(),
            signature: Bytes::copy_from_slice(&keypair.sign(hello.as_bytes()).0),
        };
        let sent = Instant::now();
        let reply = client
            .handshake(request)
            .await
            .map_err(|s| HandshakeError::Refused(format!("{:?}: {}", s.code(), s.message())))?
            .into_inner();
        verify_welcome(keypair.ss58(), &axon.hotkey, &nonce, &reply)?;
        let ttl = Duration::from_millis(reply.ttl_ms).saturating_sub(self.config.renew_margin);
        Ok(Session {
            id: reply.session_id,
            renew_at: sent.checked_add(ttl).unwrap_or(sent),
        })
    }
}

/// Checks the axon's half of the handshake: the hotkey we meant to reach and its signature
/// over both hotkeys, both nonces and the session id.
pub fn verify_welcome(
    client_hotkey: &str,
    axon_hotkey: &str,
    client_nonce: &[u8],
    reply: &HandshakeResponse,
) -> Result<(), HandshakeError> {
    if reply.axon_hotkey != axon_hotkey {
        return Err(HandshakeError::BadAxon("answered as another hotkey"));
    }
    if reply.session_id.len() != 32 || reply.axon_nonce.len() != 32 {
        return Err(HandshakeError::BadAxon("malformed session id or nonce"));
    }
    let signature: [u8; 64] = reply
        .signature
        .as_ref()
        .try_into()
        .map_err(|_| HandshakeError::BadAxon("malformed signature"))?;
    let public = PublicKey::from_ss58(axon_hotkey)
        .map_err(|_| HandshakeError::BadAxon("axon hotkey is not SS58"))?;
    let welcome = welcome_message(
        axon_hotkey,
        client_hotkey,
        client_nonce,
        &reply.axon_nonce,
        &reply.session_id,
    );
    if public.verify(welcome.as_bytes(), &Signature(signature)) {
        Ok(())
    } else {
        Err(HandshakeError::BadAxon("signature does not verify"))
    }
}

fn status_failure(status: &tonic::Status, timeout: Duration) -> Failure {
    match status.code() {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Failure::Timeout(timeout),
        tonic::Code::Unavailable => Failure::Unavailable(status.message().to_owned()),
        tonic::Code::ResourceExhausted | tonic::Code::Internal => {
            Failure::Parse(status.message().to_owned())
        }
        code => Failure::Disconnected(format!("{code:?}: {}", status.message())),
    }
}

/// The reply as the final synapse: the axon's JSON on 200, otherwise what was sent with
/// the axon's status.
fn decode_reply<T: Synapse>(
    sent: &SynapseMessage<T>,
    reply: proto::CallResponse,
) -> Result<SynapseMessage<T>, Failure> {
    let code = i64::from(reply.status_code);
    if reply.status_code == 200 {
        let mut message: SynapseMessage<T> =
            serde_json::from_slice(&reply.body).map_err(|e| Failure::Parse(e.to_string()))?;
        message.axon.status_code = Some(code);
        message.axon.status_message = Some(reply.status_message);
        message.axon.process_time = Some(reply.process_time);
        return Ok(message);
    }
    let mut message = sent.clone();
    message.axon.status_code = Some(code);
    message.axon.status_message = Some(reply.status_message);
    message.axon.process_time = Some(reply.process_time);
    Ok(message)
}

fn failed<T: Synapse>(
    mut synapse: SynapseMessage<T>,
    failure: Failure,
    start: Instant,
) -> Response<T> {
    let code = failure.status_code();
    synapse.dendrite.status_code = Some(i64::from(code));
    synapse.dendrite.status_message = Some(failure.to_string());
    Response {
        synapse,
        timings: Timings {
            total: start.elapsed(),
            ..Timings::default()
        },
        failure: Some(failure),
    }
}
