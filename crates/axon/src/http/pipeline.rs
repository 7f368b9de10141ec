//! The request pipeline of the HTTP dialect, in order (see the crate docs):
//! limits → headers → verify → blacklist → body → JSON → body hash → queue → handler →
//! response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use neuron_protocol::hash;
use neuron_protocol::headers::{self, HeaderSynapse};
use neuron_protocol::nonce::NonceInput;
use neuron_protocol::pystr::Unicode;
use neuron_protocol::signing;
use neuron_protocol::status;
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_protocol::terminal::TerminalInfo;

use crate::axon::Shared;
use crate::caller::Caller;
use crate::http::body::{self, BodyError};
use crate::http::reply;
use crate::metrics::Counters;
use crate::queue::QueueFull;
use crate::ratelimit::RATE_LIMITED;
use crate::route::{Forward, HandlerError, TypedRoute};

/// One request on its way through the pipeline.
struct Ctx {
    shared: Arc<Shared>,
    peer: SocketAddr,
    start: Instant,
}

impl Ctx {
    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The axon terminal this axon reports: status, time, its own address and hotkey.
    /// Whatever the client wrote into `axon` is discarded, so it cannot choose the status.
    fn axon_terminal(&self, status: u16, message: &str) -> TerminalInfo {
        let advertised = self.shared.advertised();
        TerminalInfo {
            status_code: Some(i64::from(status)),
            status_message: Some(message.to_owned()),
            process_time: Some(self.start.elapsed().as_secs_f64()),
            ip: Some(advertised.ip().to_string()),
            port: Some(i64::from(advertised.port())),
            hotkey: Some(self.shared.hotkey.clone()),
            ..TerminalInfo::default()
        }
    }

    /// The dendrite terminal of the header synapse with the socket peer address.
    fn dendrite_terminal(&self, header: &HeaderSynapse) -> TerminalInfo {
        let mut dendrite = header.dendrite.clone();
        dendrite.ip = Some(self.peer.ip().to_string());
        dendrite.port = Some(i64::from(self.peer.port()));
        dendrite
    }

    /// An error response carrying the header synapse's headers (spec §7).
    fn error_with(&self, header: &HeaderSynapse, status: u16, message: &str) -> Response {
        let mut echo = header.clone();
        echo.dendrite = self.dendrite_terminal(header);
        echo.axon = self.axon_terminal(status, message);
        reply::error(status, message, &echo.to_headers())
    }

    /// An error response before any synapse could be built (`name: Synapse`).
    fn error_bare(&self, status: u16, message: &str) -> Response {
        let name = [("name", "Synapse".to_owned())];
        reply::error(status, message, &name)
    }

    /// A 500 with a fresh error id; `detail` goes to the log only.
    fn internal(&self, header: Option<&HeaderSynapse>, detail: &str) -> Response {
        let id = uuid::Uuid::new_v4().to_string();
        tracing::debug!(error_id = %id, peer = %self.peer, detail, "request failed");
        let message = status::internal_error(&id);
        match header {
            Some(h) => self.error_with(h, status::INTERNAL_SERVER_ERROR, &message),
            None => self.error_bare(status::INTERNAL_SERVER_ERROR, &message),
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Header pairs as raw bytes, for `from_headers`.
fn header_pairs(map: &http::HeaderMap) -> impl Iterator<Item = (&str, &[u8])> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))
}

/// Signature and nonce checks on the header synapse; the error is the 401 reason.
fn verify(shared: &Shared, header: &HeaderSynapse, peer: SocketAddr) -> Result<Caller, String> {
    let d = &header.dendrite;
    let hotkey = d.hotkey.as_deref().unwrap_or("None");
    let version = d.version;
    let input = NonceInput {
        hotkey,
        uuid: d.uuid.as_deref(),
        nonce: d.nonce,
        version,
        timeout_s: header.timeout,
    };
    let now = now_ns();
    shared
        .lock_nonces()
        .check(&input, now)
        .map_err(|e| e.to_string())?;
    let signature = match d.signature.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ => return Err(status::MISSING_SIGNATURE.to_owned()),
    };
    let nonce = d.nonce.ok_or_else(|| "Missing Nonce".to_owned())?;
    let uuid = d.uuid.as_deref().unwrap_or("None");
    let body_hash = header.computed_body_hash.as_deref().unwrap_or("");
    let message = signing::http_request_message(nonce, hotkey, &shared.hotkey, uuid, body_hash);
    shared
        .verifier
        .verify(hotkey, message.as_bytes(), signature)
        .map_err(|e| match e {
            neuron_wallet::VerifyError::Mismatch => status::signature_mismatch(&message, signature),
            other => other.to_string(),
        })?;
    shared
        .lock_nonces()
        .commit(&input, now)
        .map_err(|e| e.to_string())?;
    Ok(Caller {
        hotkey: hotkey.to_owned(),
        uuid: uuid.to_owned(),
        nonce,
        version: version.and_then(|v| u64::try_from(v).ok()),
        peer,
    })
}

/// True for `application/json` (parameters such as `charset` allowed).
fn is_json(map: &http::HeaderMap) -> bool {
    map.get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Runs the whole pipeline for one request to the route of `T`.
pub(crate) async fn run<T: Synapse>(
    shared: Arc<Shared>,
    route: Arc<TypedRoute<T>>,
    request: http::Request<Body>,
    peer: SocketAddr,
) -> Response {
    let ctx = Ctx {
        shared,
        peer,
        start: Instant::now(),
    };
    Counters::bump(&ctx.counters().requests);
    let (parts, body) = request.into_parts();
    let config = &ctx.shared.config;

    // Limits: a declared body over the limit is refused before any work.
    if body::declared_length(&parts.headers).is_some_and(|n| n > config.max_body_bytes as u64) {
        Counters::bump(&ctx.counters().bad_requests);
        return ctx.error_bare(status::PAYLOAD_TOO_LARGE, "Payload Too Large");
    }

    // Headers → header synapse (the SDK answers 500 when it cannot build one).
    let header = match headers::from_headers(header_pairs(&parts.headers)) {
        Ok(h) => h,
        Err(e) => {
            Counters::bump(&ctx.counters().bad_requests);
            return ctx.internal(None, &e.to_string());
        }
    };

    // Verify (signature mandatory, nonce policy), then the user's verify hook.
    let caller = match verify(&ctx.shared, &header, peer)
        .and_then(|caller| route.check_verify(&caller).map(|()| caller))
    {
        Ok(caller) => caller,
        Err(reason) => {
            Counters::bump(&ctx.counters().unauthorized);
            let message = status::not_verified(&reason);
            return ctx.error_with(&header, status::UNAUTHORIZED, &message);
        }
    };

    // Blacklist on the verified hotkey.
    if let Err(reason) = route.check_blacklist(&caller) {
        Counters::bump(&ctx.counters().blacklisted);
        let message = status::blacklisted(&reason);
        return ctx.error_with(&header, status::FORBIDDEN, &message);
    }

    // Per-hotkey rate limit, before the body is read.
    if let Err(wait) = ctx.shared.check_rate(&caller.hotkey) {
        let mut response = ctx.error_with(&header, status::TOO_MANY_REQUESTS, RATE_LIMITED);
        reply::set_retry_after(&mut response, wait);
        return response;
    }

    let timeout = config.deadline_for(header.timeout);
    let deadline = tokio::time::Instant::from_std(ctx.start) + timeout;

    // Body, within the size limit and the read timeout.
    let read_for = config
        .body_read_timeout
        .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
    let bytes = match body::read(body, config.max_body_bytes, read_for).await {
        Ok(b) => b,
        Err(e) => {
            Counters::bump(&ctx.counters().bad_requests);
            let (code, text) = match e {
                BodyError::TooLarge => (status::PAYLOAD_TOO_LARGE, "Payload Too Large"),
                BodyError::TimedOut => (status::REQUEST_TIMEOUT, "Request body timeout"),
                BodyError::Broken => (status::BAD_REQUEST, "Bad Request"),
            };
            return ctx.error_with(&header, code, text);
        }
    };

    // JSON: not JSON at all → 422 (FastAPI); not the synapse → 500 (SDK). The body is
    // parsed straight into the synapse; only when that fails is it read again through a
    // `Value` (which also takes what Python's parser takes, such as repeated keys).
    let parsed = match serde_json::from_slice::<SynapseMessage<T>>(&bytes) {
        Ok(m) => Ok(Ok(m)),
        Err(_) => serde_json::from_slice::<serde_json::Value>(&bytes).map(serde_json::from_value),
    };
    let parsed: Result<SynapseMessage<T>, serde_json::Error> = match parsed {
        Ok(typed) => typed,
        Err(_) => {
            Counters::bump(&ctx.counters().bad_requests);
            return reply::invalid_json();
        }
    };
    if !is_json(&parts.headers) {
        Counters::bump(&ctx.counters().bad_requests);
        return ctx.internal(Some(&header), "content-type is not application/json");
    }
    let message: SynapseMessage<T> = match parsed {
        Ok(m) => m,
        Err(e) => {
            Counters::bump(&ctx.counters().bad_requests);
            return ctx.internal(Some(&header), &e.to_string());
        }
    };

    // Body hash recomputed from the typed body, compared with the signed header value: as
    // the configured CPython release renders it, else (only for text holding characters the
    // releases render differently) as another supported release does.
    let claimed = header.computed_body_hash.as_deref().unwrap_or_default();
    let preferred = ctx.shared.config.unicode;
    let unicode = match hash::match_synapse_body_hash(&message.fields, claimed, preferred) {
        Ok(Some(unicode)) if !claimed.is_empty() => unicode,
        _ => {
            Counters::bump(&ctx.counters().bad_requests);
            return ctx.internal(Some(&header), "body hash mismatch");
        }
    };

    // Queue by priority, then the handler, both within the deadline.
    let priority = route.priority_of(&caller, &message.fields);
    let permit =
        match tokio::time::timeout_at(deadline, ctx.shared.scheduler.acquire(priority)).await {
            Ok(Ok(p)) => p,
            Ok(Err(QueueFull)) => {
                Counters::bump(&ctx.counters().shed);
                return ctx.error_with(&header, status::SERVICE_UNAVAILABLE, "Service Unavailable");
            }
            Err(_) => return timed_out(&ctx, &header, timeout),
        };

    let envelope = Envelope {
        header,
        unicode,
        echo: (message.timeout, message.total_size, message.header_size),
        large: bytes.len() >= LARGE_BODY,
    };
    let fields = message.fields;
    let outcome = match &route.forward {
        Forward::Async(f) => {
            let fut = f(caller, fields);
            let out = tokio::time::timeout_at(deadline, fut).await;
            drop(permit);
            out.ok()
        }
        Forward::Blocking(f) => {
            let f = f.clone();
            // The permit moves into the job: a job that outlives its deadline still holds
            // its worker slot until it really ends.
            let job = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                f(caller, fields)
            });
            match tokio::time::timeout_at(deadline, job).await {
                Ok(Ok(out)) => Some(out),
                Ok(Err(join)) => Some(Err(HandlerError::new(join.to_string()))),
                Err(_) => None,
            }
        }
        Forward::Stream(f) => {
            // The head (with the bt headers) goes out before the first chunk (spec §12).
            let message = envelope.message(&ctx, fields, status::OK, status::SUCCESS);
            let head = reply_headers(&message, envelope.unicode);
            let stream = f(caller, message.fields);
            return streaming(&ctx, &head, stream, permit, deadline);
        }
    };
    match outcome {
        None => timed_out(&ctx, &envelope.header, timeout),
        Some(Err(e)) => {
            Counters::bump(&ctx.counters().handler_errors);
            if e.status == status::INTERNAL_SERVER_ERROR {
                ctx.internal(Some(&envelope.header), &e.detail)
            } else {
                let text = status::reason(e.status).unwrap_or("Error");
                ctx.error_with(&envelope.header, e.status, text)
            }
        }
        Some(Ok(fields)) => success(&ctx, &envelope, fields),
    }
}

/// What the response needs from the request besides the handler's output.
struct Envelope {
    header: HeaderSynapse,
    /// The CPython release whose rendering the request's body hash matched; the reply's
    /// hash is computed the same way.
    unicode: Unicode,
    /// The body's `timeout`, `total_size` and `header_size`, echoed back.
    echo: (Option<f64>, Option<i64>, Option<i64>),
    /// The request body was large (so the reply probably is too).
    large: bool,
}

/// From this request body size on, the reply's JSON and its body hash (the reply header
/// `computed_body_hash`) are computed on two threads at once: for a 1 MiB tensor the hash
/// takes ~6 ms and the JSON ~1 ms, against ~30 µs to start a thread.
const LARGE_BODY: usize = 256 * 1024;

impl Envelope {
    /// The response synapse: the verified request terminals, our axon terminal, and the
    /// handler's fields (which echo every input).
    fn message<T: Synapse>(
        &self,
        ctx: &Ctx,
        fields: T,
        status: u16,
        text: &str,
    ) -> SynapseMessage<T> {
        SynapseMessage {
            name: Some(T::NAME.to_owned()),
            timeout: self.echo.0,
            total_size: self.echo.1,
            header_size: self.echo.2,
            dendrite: ctx.dendrite_terminal(&self.header),
            axon: ctx.axon_terminal(status, text),
            computed_body_hash: Some(String::new()),
            fields,
        }
    }
}

fn timed_out(ctx: &Ctx, header: &HeaderSynapse, timeout: Duration) -> Response {
    Counters::bump(&ctx.counters().timeouts);
    let message = status::response_timeout(timeout.as_secs_f64());
    ctx.error_with(header, status::REQUEST_TIMEOUT, &message)
}

fn success<T: Synapse>(ctx: &Ctx, envelope: &Envelope, fields: T) -> Response {
    let message = envelope.message(ctx, fields, status::OK, status::SUCCESS);
    let (body, head) = if envelope.large {
        std::thread::scope(|scope| {
            let json = scope.spawn(|| message.to_json_vec().map_err(|e| e.to_string()));
            let head = reply_headers(&message, envelope.unicode);
            let body = json
                .join()
                .unwrap_or_else(|_| Err("reply JSON panicked".to_owned()));
            (body, head)
        })
    } else {
        let body = message.to_json_vec().map_err(|e| e.to_string());
        (body, reply_headers(&message, envelope.unicode))
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => return ctx.internal(Some(&envelope.header), &e),
    };
    Counters::bump(&ctx.counters().ok);
    let mut response = reply::json(status::OK, body);
    reply::append_synapse_headers(&mut response, &head);
    reply::set_status_headers(&mut response, status::OK, status::SUCCESS);
    response
}

/// The reply's synapse headers, its body hash rendered for `unicode` (empty if the hash
/// cannot be computed, as [`headers::to_headers`] does).
fn reply_headers<T: Synapse>(
    message: &SynapseMessage<T>,
    unicode: Unicode,
) -> Vec<headers::Header> {
    let hash = hash::synapse_body_hash_in(&message.fields, unicode).unwrap_or_default();
    headers::to_headers_with_hash(message, &hash)
}

fn streaming(
    ctx: &Ctx,
    head: &[headers::Header],
    stream: futures::stream::BoxStream<'static, Bytes>,
    permit: crate::queue::Permit,
    deadline: tokio::time::Instant,
) -> Response {
    let chunks = stream
        .take_until(tokio::time::sleep_until(deadline))
        .map(move |chunk| {
            // The worker slot is held for as long as the stream runs.
            let _held = &permit;
            Ok::<_, std::convert::Infallible>(chunk)
        });
    Counters::bump(&ctx.counters().ok);
    let mut response = reply::stream(Body::from_stream(chunks));
    reply::append_headers(&mut response, head);
    reply::set_status_headers(&mut response, status::OK, status::SUCCESS);
    response
}
