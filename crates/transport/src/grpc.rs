//! Mounting tonic (gRPC) services on the shared axum router.
//!
//! tonic's own `Routes` installs a catch-all fallback, which cannot be merged with the HTTP
//! dialect's router; this helper mounts one service at `/{package.Service}/{*method}` instead,
//! exactly as tonic does, so gRPC and HTTP routes share the listener of [`crate::server`].

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
