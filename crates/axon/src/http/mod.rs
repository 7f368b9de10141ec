//! The Synapse/HTTP dialect (wire-modern spec): `GET`/`POST /{SynapseName}`, `bt_header_*`
//! headers, a JSON body, sr25519 signatures and SHA3-256 body hashes.
//!
//! Every route runs the pipeline of [`pipeline`]; unknown names answer 404 and methods
//! other than GET and POST answer 405 with `allow: POST, GET`.

mod body;
mod pipeline;
mod reply;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use futures::FutureExt;
use futures::future::BoxFuture;
use neuron_protocol::status;
use neuron_protocol::synapse::Synapse;

use crate::axon::{Routes, Shared};
use crate::route::TypedRoute;

/// A route with its synapse type erased.
pub(crate) trait Endpoint: Send + Sync {
    /// Runs the pipeline for one request.
    fn call(
        &self,
        shared: Arc<Shared>,
        request: http::Request<Body>,
        peer: SocketAddr,
    ) -> BoxFuture<'static, Response>;
}

struct Typed<T>(Arc<TypedRoute<T>>);

impl<T: Synapse> Endpoint for Typed<T> {
    fn call(
        &self,
        shared: Arc<Shared>,
        request: http::Request<Body>,
        peer: SocketAddr,
    ) -> BoxFuture<'static, Response> {
        pipeline::run(shared, self.0.clone(), request, peer).boxed()
    }
}

/// Erases the synapse type of a route.
pub(crate) fn endpoint<T: Synapse>(route: TypedRoute<T>) -> Arc<dyn Endpoint> {
    Arc::new(Typed(Arc::new(route)))
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    routes: Arc<std::collections::BTreeMap<&'static str, Arc<dyn Endpoint>>>,
}

/// The router of the HTTP dialect over the attached routes.
pub(crate) fn router(shared: Arc<Shared>, routes: &Routes) -> Router {
    let state = AppState {
        shared,
        routes: Arc::new(routes.by_name.clone()),
    };
    Router::new()
        .route("/{name}", axum::routing::any(dispatch))
        .fallback(not_found)
        .with_state(state)
}

async fn dispatch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: http::Request<Body>,
) -> Response {
    if request.method() != http::Method::GET && request.method() != http::Method::POST {
        return reply::method_not_allowed();
    }
    match state.routes.get(name.as_str()) {
        Some(endpoint) => endpoint.call(state.shared.clone(), request, peer).await,
        None => not_found().await,
    }
}

/// 404 for unknown synapses. Unlike the SDK, the body does not list the served synapses.
async fn not_found() -> Response {
    let name = [("name", "Synapse".to_owned())];
    reply::error(status::NOT_FOUND, "Synapse not found", &name)
}
