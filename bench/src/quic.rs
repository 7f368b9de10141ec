//! A QUIC reference transport with the shape of btlightning (the fastest Rust transport for
//! Bittensor we know of), written here from its public description so the native dialect can
//! be measured against it in the same run (issue 6).
//!
//! The shape:
//!
//! * QUIC (quinn, rustls with the ring provider), ALPN `btlightning`, a self-signed server
//!   certificate for `localhost`; the client accepts any certificate (it still checks the TLS
//!   1.3 handshake signature) and binds the certificate it saw into the signed handshake
//!   instead. At most 128 concurrent bidirectional streams per connection, 150 s idle timeout.
//! * Frames `[type: u8 | payload length: u32 big-endian | payload]`, payload at most 64 MiB,
//!   MessagePack payloads with named map keys.
//! * One handshake per connection on its own stream: the validator signs
//!   `handshake:{validator}:{timestamp}:{nonce}:{cert fingerprint}` (sr25519; the fingerprint
//!   is base64 of blake2-256 of the server's DER certificate); the server checks the
//!   timestamp's age, the nonce's novelty and the signature, then answers with its own
//!   signature over `handshake_response:{validator}:{miner}:{timestamp}:{nonce}:{fingerprint}`,
//!   which the client checks.
//! * Then one fresh stream per request on the same connection: one `SynapsePacket` frame in,
//!   one `SynapseResponse` frame out, each side finishing its send half. Handlers are picked
//!   by synapse type; the bench registers only `Echo`, which answers the data map unchanged.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine as _;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest as _};
use bytes::Bytes;
use neuron_wallet::{Keypair, PublicKey, Signature};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// The ALPN protocol both sides insist on.
pub(crate) const ALPN: &[u8] = b"btlightning";
/// Largest frame payload either side reads or writes.
pub(crate) const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Concurrent bidirectional streams a server grants one connection.
const MAX_STREAMS: u32 = 128;
/// A connection with no traffic for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(150);
/// Oldest handshake timestamp accepted, in seconds before now.
const MAX_AGE_SECS: u64 = 300;
/// Newest handshake timestamp accepted, in seconds after now.
const MAX_FUTURE_SECS: u64 = 60;
/// Handshake nonces remembered at once; a full table refuses new handshakes.
const NONCE_CAPACITY: usize = 65_536;
/// Longest nonce accepted.
const MAX_NONCE_LEN: usize = 128;
/// Connections a server serves at once; more are refused.
const MAX_CONNECTIONS: usize = 256;
/// Largest buffer reserved up front for a frame payload (a bigger one grows as bytes come).
const INITIAL_PAYLOAD_CAPACITY: usize = 4 * 1024 * 1024;
/// Frame header: type byte and length.
const HEADER_LEN: usize = 5;

/// Frame types.
const HANDSHAKE_REQUEST: u8 = 0x01;
const HANDSHAKE_RESPONSE: u8 = 0x02;
const SYNAPSE_PACKET: u8 = 0x03;
const SYNAPSE_RESPONSE: u8 = 0x04;

/// The synapse fields of a packet or a response.
pub(crate) type Data = BTreeMap<String, rmpv::Value>;

/// The validator's signed hello.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HandshakeRequest {
    pub(crate) validator_hotkey: String,
    pub(crate) timestamp: u64,
    pub(crate) nonce: String,
    pub(crate) signature: String,
}

/// The miner's answer to a handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HandshakeResponse {
    pub(crate) miner_hotkey: String,
    pub(crate) timestamp: u64,
    pub(crate) signature: String,
    pub(crate) accepted: bool,
    pub(crate) connection_id: String,
    pub(crate) error: Option<String>,
}

/// A request, borrowed for encoding (the client keeps its data).
#[derive(Serialize)]
struct SynapsePacketRef<'a> {
    synapse_type: &'a str,
    data: &'a Data,
    timestamp: u64,
}

/// A request as the server decodes it.
#[derive(Deserialize)]
struct SynapsePacket {
    synapse_type: String,
    data: Data,
    #[allow(dead_code)]
    timestamp: u64,
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SynapseResponse {
    pub(crate) success: bool,
    pub(crate) data: Data,
    pub(crate) timestamp: u64,
    pub(crate) error: Option<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Base64 of blake2-256 of a DER certificate.
fn cert_fingerprint(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Blake2b::<U32>::digest(der))
}

fn handshake_message(validator: &str, timestamp: u64, nonce: &str, fingerprint: &str) -> String {
    format!("handshake:{validator}:{timestamp}:{nonce}:{fingerprint}")
}

fn response_message(
    validator: &str,
    miner: &str,
    timestamp: u64,
    nonce: &str,
    fingerprint: &str,
) -> String {
    format!("handshake_response:{validator}:{miner}:{timestamp}:{nonce}:{fingerprint}")
}

fn signature_ok(ss58: &str, message: &str, signature: &str) -> bool {
    match (PublicKey::from_ss58(ss58), Signature::from_hex(signature)) {
        (Ok(key), Ok(sig)) => key.verify_raw(message.as_bytes(), &sig),
        _ => false,
    }
}

/// Total bytes of the binary and string values of `data`, for sizing an encode buffer.
fn size_hint(data: &Data) -> usize {
    data.iter()
        .map(|(k, v)| {
            k.len()
                + 16
                + match v {
                    rmpv::Value::Binary(b) => b.len(),
                    rmpv::Value::String(s) => s.as_bytes().len(),
                    _ => 16,
                }
        })
        .sum::<usize>()
        + 64
}

/// One frame of `kind` carrying `msg` as named-key MessagePack.
fn encode_frame<T: Serialize>(kind: u8, msg: &T, hint: usize) -> anyhow::Result<Bytes> {
    let mut buf = Vec::with_capacity(HEADER_LEN + hint);
    buf.extend_from_slice(&[kind, 0, 0, 0, 0]);
    rmp_serde::encode::write_named(&mut buf, msg)?;
    let len = buf.len() - HEADER_LEN;
    if len > MAX_PAYLOAD {
        bail!("frame payload of {len} bytes is over the 64 MiB limit");
    }
    let len = u32::try_from(len)?;
    buf[1..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(buf.into())
}

/// Reads the one frame a stream carries and checks that the stream ends right after it.
async fn read_frame(recv: &mut quinn::RecvStream) -> anyhow::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; HEADER_LEN];
    recv.read_exact(&mut header)
        .await
        .context("reading a frame header")?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        bail!("frame payload of {len} bytes is over the 64 MiB limit");
    }
    let mut payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
    while payload.len() < len {
        match recv.read_chunk(len - payload.len(), true).await? {
            Some(chunk) => payload.extend_from_slice(&chunk.bytes),
            None => bail!(
                "stream ended {} bytes into a {len}-byte payload",
                payload.len()
            ),
        }
    }
    if recv.read_chunk(1, true).await?.is_some() {
        bail!("bytes after the frame");
    }
    Ok((header[0], payload))
}

/// A server-side handler: the request's data in, the response's data (or an error) out.
type Handler = fn(Data) -> Result<Data, String>;

fn echo(data: Data) -> Result<Data, String> {
    Ok(data)
}

/// Nonces of accepted handshakes, in arrival order, forgotten once no timestamp that could
/// carry them is still fresh.
struct NonceTable {
    seen: HashSet<String>,
    order: VecDeque<(String, u64)>,
    capacity: usize,
}

impl NonceTable {
    fn new(capacity: usize) -> Self {
        NonceTable {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Records `nonce` (seen at `now`); refuses a nonce already recorded, or any when the
    /// table is full of nonces that may still be replayed.
    fn insert(&mut self, nonce: &str, now: u64) -> Result<(), &'static str> {
        // A nonce recorded at `t` had a timestamp of at most `t + MAX_FUTURE_SECS`, so after
        // `t + MAX_FUTURE_SECS + MAX_AGE_SECS` a replay fails the age check on its own.
        while let Some((old, at)) = self.order.front() {
            if at + MAX_FUTURE_SECS + MAX_AGE_SECS >= now {
                break;
            }
            self.seen.remove(old);
            self.order.pop_front();
        }
        if self.seen.contains(nonce) {
            return Err("nonce already used");
        }
        if self.seen.len() >= self.capacity {
            return Err("nonce table full");
        }
        self.seen.insert(nonce.to_owned());
        self.order.push_back((nonce.to_owned(), now));
        Ok(())
    }
}

struct ServerState {
    key: Keypair,
    fingerprint: String,
    nonces: Mutex<NonceTable>,
    handlers: HashMap<String, Handler>,
    connections: AtomicU64,
}

impl ServerState {
    fn handshake(&self, payload: &[u8], auth: &OnceLock<String>) -> HandshakeResponse {
        let now = now_secs();
        match self.check_handshake(payload, auth, now) {
            Ok(request) => {
                let miner = self.key.ss58();
                let message = response_message(
                    &request.validator_hotkey,
                    miner,
                    now,
                    &request.nonce,
                    &self.fingerprint,
                );
                HandshakeResponse {
                    miner_hotkey: miner.to_owned(),
                    timestamp: now,
                    signature: self.key.sign(message.as_bytes()).to_hex(),
                    accepted: true,
                    connection_id: format!(
                        "conn-{}",
                        self.connections.fetch_add(1, Ordering::Relaxed)
                    ),
                    error: None,
                }
            }
            Err(why) => HandshakeResponse {
                miner_hotkey: self.key.ss58().to_owned(),
                timestamp: now,
                signature: String::new(),
                accepted: false,
                connection_id: String::new(),
                error: Some(why.to_owned()),
            },
        }
    }

    fn check_handshake(
        &self,
        payload: &[u8],
        auth: &OnceLock<String>,
        now: u64,
    ) -> Result<HandshakeRequest, &'static str> {
        let request: HandshakeRequest =
            rmp_serde::from_slice(payload).map_err(|_| "malformed handshake")?;
        if auth.get().is_some() {
            return Err("connection already authenticated");
        }
        if request.timestamp.saturating_add(MAX_AGE_SECS) < now {
            return Err("handshake timestamp too old");
        }
        if request.timestamp > now.saturating_add(MAX_FUTURE_SECS) {
            return Err("handshake timestamp in the future");
        }
        if request.nonce.is_empty() || request.nonce.len() > MAX_NONCE_LEN {
            return Err("bad nonce length");
        }
        let message = handshake_message(
            &request.validator_hotkey,
            request.timestamp,
            &request.nonce,
            &self.fingerprint,
        );
        if !signature_ok(&request.validator_hotkey, &message, &request.signature) {
            return Err("bad handshake signature");
        }
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(&request.nonce, now)?;
        auth.set(request.validator_hotkey.clone())
            .map_err(|_| "connection already authenticated")?;
        Ok(request)
    }

    fn dispatch(&self, payload: &[u8], auth: &OnceLock<String>) -> SynapseResponse {
        let failed = |why: String| SynapseResponse {
            success: false,
            data: Data::new(),
            timestamp: now_secs(),
            error: Some(why),
        };
        if auth.get().is_none() {
            return failed("connection not authenticated".to_owned());
        }
        let packet: SynapsePacket = match rmp_serde::from_slice(payload) {
            Ok(p) => p,
            Err(e) => return failed(format!("malformed synapse packet: {e}")),
        };
        let Some(handler) = self.handlers.get(&packet.synapse_type) else {
            return failed(format!("unknown synapse type `{}`", packet.synapse_type));
        };
        match handler(packet.data) {
            Ok(data) => SynapseResponse {
                success: true,
                data,
                timestamp: now_secs(),
                error: None,
            },
            Err(e) => failed(e),
        }
    }
}

/// The ring primitives (no C toolchain beyond ring's own, unlike aws-lc). rustls marks this
/// provider deprecated only for lacking post-quantum key exchange, which a loopback
/// benchmark has no use for.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn transport() -> anyhow::Result<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(0))
        .max_idle_timeout(Some(quinn::IdleTimeout::try_from(IDLE_TIMEOUT)?));
    Ok(t)
}

/// A running reference server on 127.0.0.1.
pub(crate) struct QuicServer {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl QuicServer {
    /// Starts a server for miner `key` on 127.0.0.1, port 0, with the `Echo` handler.
    pub(crate) fn start(key: Keypair) -> anyhow::Result<QuicServer> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
        let cert: CertificateDer<'static> = certified.cert.der().clone();
        let fingerprint = cert_fingerprint(&cert);
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(vec![cert], private)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let mut config =
            quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
        config.transport_config(Arc::new(transport()?));
        let endpoint = quinn::Endpoint::server(config, SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = endpoint.local_addr()?;

        let mut handlers: HashMap<String, Handler> = HashMap::new();
        handlers.insert("Echo".to_owned(), echo);
        let state = Arc::new(ServerState {
            key,
            fingerprint,
            nonces: Mutex::new(NonceTable::new(NONCE_CAPACITY)),
            handlers,
            connections: AtomicU64::new(0),
        });
        let accepting = endpoint.clone();
        let accept = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            while let Some(incoming) = accepting.accept().await {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    incoming.refuse();
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Ok(connection) = incoming.await {
                        serve_connection(connection, state).await;
                    }
                });
            }
        });
        Ok(QuicServer {
            endpoint,
            addr,
            accept,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection and stops accepting.
    pub(crate) async fn shutdown(self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"shutdown");
        self.accept.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// Serves one connection: every stream runs on its own task (quinn grants at most
/// [`MAX_STREAMS`] at once, which bounds them).
async fn serve_connection(connection: quinn::Connection, state: Arc<ServerState>) {
    let auth = Arc::new(OnceLock::new());
    while let Ok((send, recv)) = connection.accept_bi().await {
        tokio::spawn(serve_stream(state.clone(), auth.clone(), send, recv));
    }
}

async fn serve_stream(
    state: Arc<ServerState>,
    auth: Arc<OnceLock<String>>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let reply = match read_frame(&mut recv).await {
        Ok((HANDSHAKE_REQUEST, payload)) => {
            encode_frame(HANDSHAKE_RESPONSE, &state.handshake(&payload, &auth), 512)
        }
        Ok((SYNAPSE_PACKET, payload)) => {
            let response = state.dispatch(&payload, &auth);
            encode_frame(SYNAPSE_RESPONSE, &response, size_hint(&response.data))
        }
        Ok(_) | Err(_) => {
            let _ = send.reset(quinn::VarInt::from_u32(1));
            return;
        }
    };
    match reply {
        Ok(frame) => {
            if send.write_chunk(frame).await.is_ok() {
                let _ = send.finish();
            }
        }
        Err(_) => {
            let _ = send.reset(quinn::VarInt::from_u32(2));
        }
    }
}

/// Accepts any server certificate (the handshake binds its fingerprint instead) but still
/// checks the TLS handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A QUIC connection to `addr` without the handshake, and the server certificate's
/// fingerprint as seen in the TLS session.
pub(crate) async fn dial(
    addr: SocketAddr,
) -> anyhow::Result<(quinn::Endpoint, quinn::Connection, String)> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    config.transport_config(Arc::new(transport()?));
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    endpoint.set_default_client_config(config);
    let connection = endpoint.connect(addr, "localhost")?.await?;
    let fingerprint = connection
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().map(|c| cert_fingerprint(c)))
        .context("the server presented no certificate")?;
    Ok((endpoint, connection, fingerprint))
}

/// A fresh handshake request of validator `key` for a server whose certificate has
/// `fingerprint`.
pub(crate) fn signed_handshake(key: &Keypair, fingerprint: &str) -> HandshakeRequest {
    let timestamp = now_secs();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let message = handshake_message(key.ss58(), timestamp, &nonce, fingerprint);
    HandshakeRequest {
        validator_hotkey: key.ss58().to_owned(),
        timestamp,
        nonce,
        signature: key.sign(message.as_bytes()).to_hex(),
    }
}

/// One round trip on a fresh stream: a frame of `kind` out, the one frame back.
async fn exchange(
    connection: &quinn::Connection,
    frame: Bytes,
    want: u8,
) -> anyhow::Result<Vec<u8>> {
    let (mut send, mut recv) = connection.open_bi().await?;
    send.write_chunk(frame).await?;
    send.finish()?;
    let (kind, payload) = read_frame(&mut recv).await?;
    if kind != want {
        bail!("expected frame type {want:#04x}, got {kind:#04x}");
    }
    Ok(payload)
}

/// Sends `request` on its own stream and returns the server's answer (not yet checked).
pub(crate) async fn handshake(
    connection: &quinn::Connection,
    request: &HandshakeRequest,
) -> anyhow::Result<HandshakeResponse> {
    let frame = encode_frame(HANDSHAKE_REQUEST, request, 512)?;
    let payload = exchange(connection, frame, HANDSHAKE_RESPONSE).await?;
    Ok(rmp_serde::from_slice(&payload)?)
}

/// Sends one request on a fresh stream of `connection`.
pub(crate) async fn request(
    connection: &quinn::Connection,
    synapse_type: &str,
    data: &Data,
) -> anyhow::Result<SynapseResponse> {
    let packet = SynapsePacketRef {
        synapse_type,
        data,
        timestamp: now_secs(),
    };
    let frame = encode_frame(SYNAPSE_PACKET, &packet, size_hint(data))?;
    let payload = exchange(connection, frame, SYNAPSE_RESPONSE).await?;
    Ok(rmp_serde::from_slice(&payload)?)
}

/// A validator's authenticated connection to one miner.
pub(crate) struct QuicClient {
    _endpoint: quinn::Endpoint,
    connection: quinn::Connection,
}

impl QuicClient {
    /// Connects to `addr`, runs the handshake as validator `key` and checks that the answer
    /// is signed by `miner` (SS58) over this session's certificate.
    pub(crate) async fn connect(
        addr: SocketAddr,
        key: &Keypair,
        miner: &str,
    ) -> anyhow::Result<QuicClient> {
        let (endpoint, connection, fingerprint) = dial(addr).await?;
        let request = signed_handshake(key, &fingerprint);
        let response = handshake(&connection, &request).await?;
        if !response.accepted {
            bail!(
                "handshake refused: {}",
                response.error.as_deref().unwrap_or("no reason given")
            );
        }
        if response.miner_hotkey != miner {
            bail!(
                "handshake answered by {} instead of {miner}",
                response.miner_hotkey
            );
        }
        let message = response_message(
            key.ss58(),
            miner,
            response.timestamp,
            &request.nonce,
            &fingerprint,
        );
        if !signature_ok(miner, &message, &response.signature) {
            bail!("the miner's handshake signature does not verify");
        }
        Ok(QuicClient {
            _endpoint: endpoint,
            connection,
        })
    }

    /// One request on a fresh stream of the connection.
    pub(crate) async fn call(
        &self,
        synapse_type: &str,
        data: &Data,
    ) -> anyhow::Result<SynapseResponse> {
        request(&self.connection, synapse_type, data).await
    }
}

/// The data map of a 1 KB echo: the bytes as one binary field.
pub(crate) fn kb_data(body: &[u8]) -> Data {
    let mut data = Data::new();
    data.insert("body".to_owned(), rmpv::Value::Binary(body.to_vec()));
    data
}

/// The data map of a float32 tensor: raw little-endian bytes, dtype and shape.
pub(crate) fn tensor_data(bytes: &[u8], shape: &[usize]) -> Data {
    let mut data = Data::new();
    data.insert("tensor".to_owned(), rmpv::Value::Binary(bytes.to_vec()));
    data.insert("dtype".to_owned(), rmpv::Value::from("float32"));
    data.insert(
        "shape".to_owned(),
        rmpv::Value::Array(shape.iter().map(|&n| rmpv::Value::from(n as u64)).collect()),
    );
    data
}

/// Length of the binary field `key` of `data`, if it is one.
pub(crate) fn binary_len(data: &Data, key: &str) -> Option<usize> {
    match data.get(key) {
        Some(rmpv::Value::Binary(b)) => Some(b.len()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    async fn server() -> (QuicServer, Keypair, Keypair) {
        let alice = Keypair::from_uri("//Alice").unwrap();
        let bob = Keypair::from_uri("//Bob").unwrap();
        (QuicServer::start(alice.clone()).unwrap(), alice, bob)
    }

    #[tokio::test]
    async fn echoes_1kb_and_1mib() {
        let (server, alice, bob) = server().await;
        let client = QuicClient::connect(server.local_addr(), &bob, alice.ss58())
            .await
            .unwrap();

        let body: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
        let kb = kb_data(&body);
        let r = client.call("Echo", &kb).await.unwrap();
        assert!(r.success, "{:?}", r.error);
        assert_eq!(r.data, kb);

        let tensor: Vec<u8> = (0..256 * 1024u32)
            .flat_map(|i| (i as f32 * 0.001).to_le_bytes())
            .collect();
        assert_eq!(tensor.len(), 1024 * 1024);
        let mib = tensor_data(&tensor, &[256 * 1024]);
        let r = client.call("Echo", &mib).await.unwrap();
        assert!(r.success, "{:?}", r.error);
        assert_eq!(binary_len(&r.data, "tensor"), Some(1024 * 1024));
        assert_eq!(r.data, mib);

        // many requests at once over the one connection
        let client = Arc::new(client);
        let mut tasks = Vec::new();
        for i in 0..64u8 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let data = kb_data(&[i; 1000]);
                let r = client.call("Echo", &data).await.unwrap();
                r.success && r.data == data
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }

        let r = client.call("Nope", &kb).await.unwrap();
        assert!(!r.success);
        assert!(r.error.unwrap().contains("unknown synapse type"));
        server.shutdown().await;
    }

    #[tokio::test]
    async fn forged_handshake_is_refused() {
        let (server, alice, bob) = server().await;
        let (_endpoint, connection, fingerprint) = dial(server.local_addr()).await.unwrap();
        // Signed by Alice while claiming to be Bob.
        let mut forged = signed_handshake(&alice, &fingerprint);
        forged.validator_hotkey = bob.ss58().to_owned();
        let r = handshake(&connection, &forged).await.unwrap();
        assert!(!r.accepted);
        assert_eq!(r.error.as_deref(), Some("bad handshake signature"));
        // Signed over another certificate's fingerprint (a relayed handshake).
        let relayed = signed_handshake(&bob, "AAAA");
        let r = handshake(&connection, &relayed).await.unwrap();
        assert!(!r.accepted);
        // The connection stays unauthenticated: requests are refused.
        let r = request(&connection, "Echo", &kb_data(b"hi")).await.unwrap();
        assert!(!r.success);
        assert_eq!(r.error.as_deref(), Some("connection not authenticated"));
        // A client expecting another miner refuses Alice's answer.
        let err = QuicClient::connect(server.local_addr(), &bob, bob.ss58())
            .await
            .err()
            .expect("wrong miner must be refused");
        assert!(err.to_string().contains("instead of"), "{err}");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn replayed_nonce_is_refused() {
        let (server, _alice, bob) = server().await;
        let (_e1, first, fingerprint) = dial(server.local_addr()).await.unwrap();
        let request_once = signed_handshake(&bob, &fingerprint);
        let r = handshake(&first, &request_once).await.unwrap();
        assert!(r.accepted, "{:?}", r.error);
        let r = request(&first, "Echo", &kb_data(b"ok")).await.unwrap();
        assert!(r.success);

        // The same signed handshake on a second connection to the same server.
        let (_e2, second, _) = dial(server.local_addr()).await.unwrap();
        let r = handshake(&second, &request_once).await.unwrap();
        assert!(!r.accepted);
        assert_eq!(r.error.as_deref(), Some("nonce already used"));
        let r = request(&second, "Echo", &kb_data(b"no")).await.unwrap();
        assert!(!r.success);
        server.shutdown().await;
    }

    #[test]
    fn stale_nonces_are_forgotten_and_the_table_is_bounded() {
        let mut table = NonceTable::new(2);
        table.insert("a", 1000).unwrap();
        table.insert("b", 1000).unwrap();
        assert_eq!(table.insert("a", 1001), Err("nonce already used"));
        assert_eq!(table.insert("c", 1001), Err("nonce table full"));
        let later = 1000 + MAX_AGE_SECS + MAX_FUTURE_SECS + 1;
        table.insert("c", later).unwrap();
        table.insert("a", later).unwrap();
        assert_eq!(table.seen.len(), 2);
    }

    #[tokio::test]
    async fn oversized_frames_are_refused() {
        let (server, alice, bob) = server().await;
        let client = QuicClient::connect(server.local_addr(), &bob, alice.ss58())
            .await
            .unwrap();
        let (mut send, mut recv) = client.connection.open_bi().await.unwrap();
        let mut header = vec![SYNAPSE_PACKET];
        header.extend_from_slice(&(MAX_PAYLOAD as u32 + 1).to_be_bytes());
        send.write_all(&header).await.unwrap();
        send.finish().unwrap();
        // The server resets the stream instead of answering.
        assert!(read_frame(&mut recv).await.is_err());
        // The connection still serves.
        let r = client.call("Echo", &kb_data(b"still")).await.unwrap();
        assert!(r.success);
        server.shutdown().await;
    }
}
