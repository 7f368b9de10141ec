//! Metadata authentication in front of the generated server (wire-legacy §8), run on the
//! request head before the body is read or decoded.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use futures::future::BoxFuture;
use http::HeaderMap;
use neuron_protocol::legacy::{BACKWARD_PATH, FORWARD_PATH, RequestType, metadata};
use neuron_protocol::nonce::LegacyNonces;
use neuron_protocol::signing::{ParseError, check_legacy_version, parse_legacy_signature_header};
use neuron_wallet::VerifierCache;
use tonic::codegen::Service;
use tonic::server::NamedService;

use super::hooks::BlacklistFn;
use super::stats::Stats;
use crate::Caller;

/// The checks of the v3.7 `AuthInterceptor`, with bounded state.
pub(crate) struct Auth {
    pub(crate) own_hotkey: String,
    pub(crate) nonces: Mutex<LegacyNonces>,
    pub(crate) verifier: VerifierCache,
    pub(crate) blacklist: Option<BlacklistFn>,
    pub(crate) stats: Arc<Stats>,
}

/// A request whose metadata parsed and whose nonce is fresh, waiting for its signature
/// check.
pub(crate) struct Pending {
    sender: String,
    uid: String,
    nonce: u64,
    version: i64,
    message: Vec<u8>,
    signature: String,
    request_type: Option<RequestType>,
    peer: SocketAddr,
}

impl Auth {
    /// The checks that need no signature verification: signature present and parsed,
    /// version, nonce above the last accepted one. `UNAUTHENTICATED` details on failure.
    fn prepare(
        &self,
        headers: &HeaderMap,
        path: &str,
        peer: SocketAddr,
    ) -> Result<Pending, String> {
        let text = |name: &str| headers.get(name).map(|v| v.to_str().map_err(drop));
        let signature = match text(metadata::SIGNATURE) {
            None => return Err(ParseError::SignatureMissing.to_string()),
            Some(Err(())) => return Err(ParseError::UnknownFormat.to_string()),
            Some(Ok(s)) => s,
        };
        let version = check_legacy_version(text(metadata::VERSION).and_then(Result::ok))
            .map_err(|e| e.to_string())?;
        let sig = parse_legacy_signature_header(signature).map_err(|e| e.to_string())?;
        self.nonces()
            .check(&sig.sender, sig.uid, sig.nonce)
            .map_err(|e| e.to_string())?;
        let request_type = match path {
            FORWARD_PATH => Some(RequestType::Forward),
            BACKWARD_PATH => Some(RequestType::Backward),
            _ => None,
        };
        Ok(Pending {
            message: sig.message(&self.own_hotkey).into_bytes(),
            sender: sig.sender.into_owned(),
            uid: sig.uid.to_owned(),
            nonce: sig.nonce,
            signature: sig.signature.to_owned(),
            version,
            request_type,
            peer,
        })
    }

    /// The verified caller, or the `UNAUTHENTICATED` details: the signature (checked in a
    /// batch with the other requests that arrived at the same time, `neuron_wallet::batch`), the nonce again, the method, the blacklist.
    async fn verify(&self, pending: Pending) -> Result<Caller, String> {
        let Pending {
            sender,
            uid,
            nonce,
            version,
            message,
            signature,
            request_type,
            peer,
        } = pending;
        if self
            .verifier
            .verify_batched(&sender, message, &signature)
            .await
            .is_err()
        {
            return Err("Signature mismatch".into());
        }
        // Checked again under the lock: two calls with the same nonce may race here.
        self.nonces()
            .commit(&sender, &uid, nonce)
            .map_err(|e| e.to_string())?;
        let Some(request_type) = request_type else {
            return Err("Unknown request type".into());
        };
        let caller = Caller {
            hotkey: sender,
            uuid: uid,
            nonce,
            version: u64::try_from(version).ok(),
            peer,
        };
        if self
            .blacklist
            .as_ref()
            .is_some_and(|blacklisted| blacklisted(&caller, request_type))
        {
            return Err("Request type is blacklisted".into());
        }
        Ok(caller)
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, LegacyNonces> {
        // No critical section can panic half-way, so a poisoned table is still consistent.
        self.nonces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The tonic service behind authentication: refuses with `UNAUTHENTICATED` before the
/// inner service sees the request, and hands the verified [`Caller`] to it as a request
/// extension. Built by [`Service::into_tonic`](super::Service::into_tonic); mount it with
/// `neuron_transport::grpc::add_service`.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    auth: Arc<Auth>,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S, auth: Arc<Auth>) -> Self {
        Self { inner, auth }
    }
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("hotkey", &self.auth.own_hotkey)
            .finish_non_exhaustive()
    }
}

impl<S: NamedService> NamedService for Guard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Guard<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .or_else(|| {
                req.extensions()
                    .get::<tonic::transport::server::TcpConnectInfo>()
                    .and_then(|c| c.remote_addr())
            })
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        let refuse = move |auth: &Auth, details: String| {
            tracing::debug!(%peer, %details, "legacy gRPC call refused");
            auth.stats.unauthenticated();
            Ok(tonic::Status::unauthenticated(details).into_http())
        };
        let pending = match self.auth.prepare(req.headers(), req.uri().path(), peer) {
            Ok(pending) => pending,
            Err(details) => return Box::pin(std::future::ready(refuse(&self.auth, details))),
        };
        // The inner service was made ready by `poll_ready`; the call happens after the
        // signature check, so take the ready one and leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = Arc::clone(&self.auth);
        Box::pin(async move {
            match auth.verify(pending).await {
                Err(details) => refuse(&auth, details),
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await.map(oversize_as_grpcio)
                }
            }
        })
    }
}

/// tonic refuses an oversized message with `OUT_OF_RANGE`; grpcio (the upstream axon)
/// says `RESOURCE_EXHAUSTED`. The handlers never produce `OUT_OF_RANGE`, so the status
/// of a trailers-only reply is rewritten.
fn oversize_as_grpcio(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    let headers = response.headers_mut();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        let exhausted = (tonic::Code::ResourceExhausted as i32).to_string();
        if let Ok(v) = http::HeaderValue::from_str(&exhausted) {
            headers.insert("grpc-status", v);
        }
    }
    response
}
