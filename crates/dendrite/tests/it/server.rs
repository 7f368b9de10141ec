//! A small axum server that plays a Synapse/HTTP axon with scripted behaviour.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The hotkey the scripted axons claim (//Alice).
pub const AXON_HOTKEY: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

/// How a scripted axon answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Echoes the body with `dummy_output = 2 * dummy_input` and status 200 (body + headers).
    Echo,
    /// Answers 200 with a `text/plain` body.
    NonJson,
    /// Answers 200 with JSON whose `axon.status_code` is `body_status`, plus a
    /// `bt_header_axon_status_code` header of `header_status` (if any).
    StatusOverride {
        /// Status in the JSON body.
        body_status: Option<u16>,
        /// Status in the header.
        header_status: Option<u16>,
    },
    /// Answers `status` with `{"message": message}` and the bt status headers.
    Error {
        /// HTTP status.
        status: u16,
        /// Error text.
        message: &'static str,
    },
    /// Streams `chunks` (chunked, `text/event-stream`), `gap` apart, with the bt headers.
    Stream {
        /// Chunks to send.
        chunks: Vec<&'static str>,
        /// Pause between chunks.
        gap: Duration,
    },
}

/// One received request.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Path.
    pub path: String,
    /// Headers in arrival order (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    mode: Mode,
    delay: Duration,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

/// A running scripted axon.
pub struct TestAxon {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl TestAxon {
    /// Starts a scripted axon that waits `delay` before answering.
    pub async fn start(mode: Mode, delay: Duration) -> TestAxon {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            mode,
            delay,
            seen: seen.clone(),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestAxon { addr, seen }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

fn bt_headers(
    builder: axum::http::response::Builder,
    status: u16,
    message: &str,
) -> axum::http::response::Builder {
    builder
        .header("name", "Dummy")
        .header("bt_header_axon_status_code", status.to_string())
        .header("bt_header_axon_status_message", message)
        .header("bt_header_axon_process_time", "0.25")
        .header("bt_header_axon_hotkey", AXON_HOTKEY)
}

async fn handle(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut seen = shared.seen.lock().unwrap();
        if seen.len() < 256 {
            seen.push(Recorded {
                path: uri.path().to_owned(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: body.clone(),
            });
        }
    }
    tokio::time::sleep(shared.delay).await;
    let json_ct = HeaderValue::from_static("application/json");
    match shared.mode {
        Mode::Echo => {
            let mut reply = body;
            let input = reply["dummy_input"].as_i64().unwrap_or(0);
            reply["dummy_output"] = json!(input * 2);
            reply["axon"]["status_code"] = json!(200);
            reply["axon"]["status_message"] = json!("Success");
            reply["axon"]["process_time"] = json!(0.25);
            bt_headers(Response::builder().status(200), 200, "Success")
                .header("content-type", json_ct)
                .body(Body::from(reply.to_string()))
                .unwrap()
        }
        Mode::NonJson => Response::builder()
            .status(200)
            .header("content-type", "text/plain")
            .body(Body::from("not json"))
            .unwrap(),
        Mode::StatusOverride {
            body_status,
            header_status,
        } => {
            let mut reply = body;
            reply["dummy_output"] = json!(7);
            reply["axon"]["status_code"] = json!(body_status);
            reply["axon"]["status_message"] = json!("from body");
            let mut builder = Response::builder()
                .status(200)
                .header("content-type", json_ct);
            if let Some(code) = header_status {
                builder = builder
                    .header("bt_header_axon_status_code", code.to_string())
                    .header("bt_header_axon_status_message", "from header");
            }
            builder.body(Body::from(reply.to_string())).unwrap()
        }
        Mode::Error { status, message } => {
            bt_headers(Response::builder().status(status), status, message)
                .header("content-type", json_ct)
                .body(Body::from(json!({ "message": message }).to_string()))
                .unwrap()
        }
        Mode::Stream { chunks, gap } => {
            let stream = futures::stream::unfold(chunks.into_iter(), move |mut it| async move {
                let chunk = it.next()?;
                tokio::time::sleep(gap).await;
                Some((
                    Ok::<_, std::io::Error>(Bytes::from_static(chunk.as_bytes())),
                    it,
                ))
            });
            bt_headers(Response::builder().status(StatusCode::OK), 200, "Success")
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// A raw TCP server that reads a request and then sends half a response and closes.
pub async fn start_disconnecting() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"name\":",
                    )
                    .await;
                let _ = sock.flush().await;
                // Dropping the socket closes it mid-body.
            });
        }
    });
    addr
}

/// An address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}
