//! The axon: the server side of a neuron.
//!
//! An [`Axon`] serves the synapses attached to it. Each request goes through one pipeline,
//! in this order:
//!
//! 1. **limits**: request-head size and read time (transport), declared body size;
//! 2. **decode** the request headers into the *header synapse* (failure → 500, as the SDK);
//! 3. **verify**: the sr25519 signature is mandatory and is checked over
//!    `nonce.dendrite_hotkey.OWN_hotkey.uuid.body_hash`; the nonce policy is strict by
//!    default ([`neuron_protocol::nonce::NoncePolicy`]); then the route's verify hook (401);
//! 4. **blacklist** on the *verified* hotkey (403);
//! 5. **body**: size limit (413) and read timeout (408), JSON (422 when not JSON, 500 when
//!    not the synapse), body hash recomputed from the typed body (500 on mismatch);
//! 6. **priority queue**: a bounded queue ordered by the priority hook, in front of a fixed
//!    number of workers (503 when full);
//! 7. **handler**, async or blocking (on the blocking pool), within the request's timeout
//!    (408);
//! 8. **response**: the synapse echoed as compact JSON with the axon terminal set by the
//!    axon (never by the client), or a short `{"message": ...}` error.
//!
//! Handlers get the verified [`Caller`] apart from the body. See `docs/SECURITY.md` for
//! where this differs from the Python SDK on purpose.

mod axon;
mod caller;
mod config;
pub mod grpc;
mod http;
pub mod metrics;
pub mod native;
pub mod queue;
mod ratelimit;
mod route;

pub use axon::{Axon, Error, Running};
pub use caller::Caller;
pub use config::Config;
pub use metrics::{Counters, Snapshot};
pub use ratelimit::{RateLimit, RateLimiter};
pub use route::{Attach, HandlerError, HandlerResult};
