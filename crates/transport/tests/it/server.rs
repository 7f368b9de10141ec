//! The listener: HTTP/1.1 and h2c on one port, limits, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use neuron_transport::server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

fn app() -> Router {
    app_with(Arc::new(Notify::new()))
}

fn app_with(started: Arc<Notify>) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(move || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow done"
            }),
        )
}

async fn start(config: Config) -> neuron_transport::ServerHandle {
    start_app(app(), config).await
}

async fn start_app(app: Router, config: Config) -> neuron_transport::ServerHandle {
    let listener = Server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Server::serve(listener, app, config)
}

async fn raw_http1(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn http1_and_h2c_share_one_port() {
    let server = start(Config::new()).await;
    let addr = server.local_addr();
    let reply = raw_http1(
        addr,
        b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("hello"), "{reply}");

    // HTTP/2 prior knowledge (h2c), as gRPC clients use.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake::<_, http_body_util::Empty<bytes::Bytes>>(hyper_util::rt::TokioIo::new(
                stream,
            ))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{addr}/peer"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    use http_body_util::BodyExt;
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let peer: SocketAddr = std::str::from_utf8(&body).unwrap().parse().unwrap();
    assert_eq!(peer.ip(), addr.ip());
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let server = start(Config::new().with_max_header_bytes(16 * 1024)).await;
    let big = "a".repeat(70 * 1024);
    let req = format!("GET /hello HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    let reply = raw_http1(server.local_addr(), req.as_bytes()).await;
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "expected 431 or a closed connection, got {reply:.80}"
    );
    // The server still serves others.
    let ok = raw_http1(
        server.local_addr(),
        b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn slow_header_dribble_is_cut_off() {
    let server = start(Config::new().with_header_read_timeout(Duration::from_millis(200))).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Never finish the head: the server must close the connection on its own.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "server kept a dribbling client open");
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("hello"), "{text}");
}

#[tokio::test]
async fn connection_limit_is_enforced_and_released() {
    let server = start(Config::new().with_max_connections(2)).await;
    let addr = server.local_addr();
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    // Wait until both are accepted.
    while server.open_connections() < 2 {
        tokio::task::yield_now().await;
    }
    // A third connection completes the TCP handshake in the backlog but gets no answer.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let blocked = tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await;
    assert!(
        blocked.is_err(),
        "third connection was served past the limit"
    );
    drop(_a);
    // Once a slot frees, the queued connection is served.
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
}

/// Sends one `GET /hello` with `connection: close` on `s` and returns what came back (empty
/// when the server closed the connection without answering).
async fn hello_on(mut s: TcpStream) -> String {
    let _ = s
        .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the server neither answered nor closed");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn per_address_limit_closes_extra_connections_and_releases_slots() {
    let server = start(Config::new().with_max_connections_per_ip(2)).await;
    let addr = server.local_addr();
    let a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    while server.open_connections() < 2 {
        tokio::task::yield_now().await;
    }
    // A third connection from the same address is closed at once, unanswered.
    let third = TcpStream::connect(addr).await.unwrap();
    assert_eq!(hello_on(third).await, "");
    assert_eq!(server.refused_connections(), 1);
    assert_eq!(server.open_connections(), 2);
    // Closing one frees its slot for a new connection.
    drop(a);
    while server.open_connections() > 1 {
        tokio::task::yield_now().await;
    }
    let fourth = TcpStream::connect(addr).await.unwrap();
    let answer = hello_on(fourth).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
    assert_eq!(server.refused_connections(), 1);
}

#[tokio::test]
async fn accept_filter_closes_refused_addresses_before_reading() {
    use neuron_transport::AcceptFilter;
    let refuse_loopback = AcceptFilter::new(|ip| !ip.is_loopback());
    let server = start(Config::new().with_accept_filter(refuse_loopback)).await;
    let s = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eq!(hello_on(s).await, "");
    assert_eq!(server.refused_connections(), 1);

    let allow_loopback = AcceptFilter::new(|ip| ip.is_loopback());
    let server = start(Config::new().with_accept_filter(allow_loopback)).await;
    let s = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(hello_on(s).await.ends_with("hello"));
    assert_eq!(server.refused_connections(), 0);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let started = Arc::new(Notify::new());
    let server = start_app(app_with(started.clone()), Config::new()).await;
    let addr = server.local_addr();
    let in_flight = tokio::spawn(raw_http1(
        addr,
        b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    ));
    started.notified().await;
    server.shutdown(Duration::from_secs(5)).await;
    let reply = in_flight.await.unwrap();
    assert!(reply.ends_with("slow done"), "{reply}");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let config = Config::new().with_header_read_timeout(Duration::from_millis(200));
    let server = start(config).await;
    let started = std::time::Instant::now();
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut buf = [0u8; 16];
    // The server closes the socket: the read ends (EOF or reset) instead of waiting forever.
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn authentication_deadlines_close_only_connections_that_asked_and_failed() {
    use neuron_transport::ConnectionAuth;
    // `/ask` asks for authentication within 200 ms; `/ask-and-pass` also authenticates.
    let app = Router::new()
        .route(
            "/ask",
            get(
                |axum::Extension(auth): axum::Extension<ConnectionAuth>| async move {
                    auth.require(Duration::from_millis(200));
                    "asked"
                },
            ),
        )
        .route(
            "/ask-and-pass",
            get(
                |axum::Extension(auth): axum::Extension<ConnectionAuth>| async move {
                    auth.require(Duration::from_millis(200));
                    auth.authenticate();
                    "passed"
                },
            ),
        )
        .route("/hello", get(|| async { "hello" }));
    let server = start_app(app, Config::new()).await;
    let addr = server.local_addr();
    let keep_alive = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut streams = Vec::new();
    for path in ["/ask", "/ask-and-pass", "/hello"] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(keep_alive(path).as_bytes()).await.unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        streams.push(s);
    }
    let started = std::time::Instant::now();
    // The connection that asked and did not authenticate is closed...
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), streams[0].read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // ...the two others still answer on the same connections.
    for (s, path) in streams.iter_mut().skip(1).zip(["/hello", "/hello"]) {
        s.write_all(keep_alive(path).as_bytes()).await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    // The count drops right after the socket closes; allow the task a moment to get there.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while server.open_connections() != 2 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.open_connections(), 2);
}
