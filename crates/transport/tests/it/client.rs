//! The pooled client: keep-alive reuse, per-host limits, timings, errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use neuron_transport::client::{Config, Error, HttpClient};
use neuron_transport::server::{Config as ServerConfig, Server};

async fn echo_server(
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> neuron_transport::ServerHandle {
    let app = Router::new().route(
        "/echo",
        post(move |body: Bytes| {
            let in_flight = in_flight.clone();
            let peak = peak.clone();
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                body
            }
        }),
    );
    let listener = Server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Server::serve(listener, app, ServerConfig::new())
}

fn post_req(addr: std::net::SocketAddr, body: &'static [u8]) -> http::Request<Bytes> {
    http::Request::post(format!("http://{addr}/echo"))
        .header("host", addr.to_string())
        .body(Bytes::from_static(body))
        .unwrap()
}

#[tokio::test]
async fn reuses_connections_and_reports_timings() {
    let server = echo_server(Default::default(), Default::default()).await;
    let addr = server.local_addr();
    let client = HttpClient::new(Config::new());
    let (resp, first) = client
        .send(addr, post_req(addr, b"one"), 1024)
        .await
        .unwrap();
    assert_eq!(resp.body().as_ref(), b"one");
    assert!(!first.reused);
    assert!(first.queued <= first.connect && first.connect <= first.sent);
    assert!(first.sent <= first.first_byte && first.first_byte <= first.done);
    assert_eq!(client.idle_connections(addr), 1);
    let (_, second) = client
        .send(addr, post_req(addr, b"two"), 1024)
        .await
        .unwrap();
    assert!(second.reused, "keep-alive connection was not reused");
    assert_eq!(server.open_connections(), 1);
}

#[tokio::test]
async fn per_host_limit_bounds_concurrency() {
    let peak = Arc::new(AtomicUsize::new(0));
    let server = echo_server(Default::default(), peak.clone()).await;
    let addr = server.local_addr();
    let client = HttpClient::new(Config::new().with_max_in_flight_per_host(3));
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.send(addr, post_req(addr, b"x"), 16).await })
        })
        .collect();
    let mut queued_any = false;
    for call in calls {
        let (_, t) = call.await.unwrap().unwrap();
        queued_any |= t.queued >= Duration::from_millis(10);
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(queued_any, "no call reported queueing time");
    assert!(client.idle_connections(addr) <= 3);
}

#[tokio::test]
async fn refused_connection_and_oversized_body_are_errors() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let client = HttpClient::new(Config::new());
    let err = client
        .send(closed, post_req(closed, b"x"), 16)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");

    let server = echo_server(Default::default(), Default::default()).await;
    let addr = server.local_addr();
    let err = client
        .send(addr, post_req(addr, b"0123456789abcdef0123"), 8)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge(8)), "{err}");
}

#[tokio::test]
async fn host_table_is_bounded() {
    let client = HttpClient::new(Config::new().with_max_hosts(2));
    let mut servers = Vec::new();
    for _ in 0..4 {
        let s = echo_server(Default::default(), Default::default()).await;
        let addr = s.local_addr();
        client.send(addr, post_req(addr, b"x"), 16).await.unwrap();
        servers.push(s);
    }
    assert_eq!(client.hosts(), 2);
}
