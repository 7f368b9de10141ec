//! Mounting tonic (gRPC) services on the shared axum router, and the client channel that
//! matches the server's HTTP/2 settings.
//!
//! tonic's own `Routes` installs a catch-all fallback, which cannot be merged with the HTTP
//! dialect's router; [`add_service`] mounts one service at `/{package.Service}/{*method}`
//! instead, exactly as tonic does, so gRPC and HTTP routes share the listener of
//! [`crate::server`].

use std::convert::Infallible;

use http::Request;
use tonic::server::NamedService;
use tower::{Service, ServiceExt};

/// Adds a tonic service to `router` under its gRPC path prefix.
pub fn add_service<S>(router: axum::Router, service: S) -> axum::Router
where
    S: Service<Request<tonic::body::Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    router.route_service(
        &format!("/{}/{{*rest}}", S::NAME),
        service.map_request(|req: Request<axum::body::Body>| req.map(tonic::body::Body::new)),
    )
}

/// A lazily connecting HTTP/2 channel to `addr` with the same flow-control settings as the
/// server ([`crate::server::Config::new`]: 4 MiB stream and 16 MiB connection windows),
/// `TCP_NODELAY`, and no per-request timeout of its own (callers set deadlines per call).
/// Every call on the channel is multiplexed on one connection.
///
/// # Errors
/// When `addr` does not make a valid URI (it always does for a socket address).
pub fn channel(
    addr: std::net::SocketAddr,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    Ok(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .initial_stream_window_size(crate::server::HTTP2_STREAM_WINDOW)
            .initial_connection_window_size(crate::server::HTTP2_CONNECTION_WINDOW)
            .http2_adaptive_window(false)
            .connect_lazy(),
    )
}
