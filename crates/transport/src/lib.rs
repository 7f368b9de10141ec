//! Transport for the neuron stack: the one-port listener and the pooled HTTP/1.1 client.
//!
//! * [`server`] accepts HTTP/1.1 and HTTP/2 cleartext (h2c, which is what gRPC uses) on one TCP
//!   port, detecting the protocol per connection, with bounds on connections, header size and
//!   header read time, and a graceful shutdown that lets in-flight requests finish.
//! * [`client`] is an HTTP/1.1 client with keep-alive connection reuse, a per-host concurrency
//!   limit, a bounded number of hosts and idle connections, and per-phase timings.
//! * [`grpc`] mounts tonic services on the same router as the HTTP routes.

pub mod client;
pub mod grpc;
pub mod server;

pub use client::{HttpClient, Timings};
pub use server::{AcceptFilter, ConnectionAuth, Server, ServerHandle};

/// The legacy `Bittensor` gRPC service (client and server), generated from
/// `proto/bittensor.proto` by `cargo xtask codegen` over the messages of
/// `neuron_protocol::legacy`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod legacy_grpc {
    include!("generated/bittensor_grpc.rs");
}

/// The native dialect's service `neuron.native.v1.Native` (messages, client and server),
/// generated from `proto/native.proto` by `cargo xtask codegen`; the axon serves it and the
/// dendrite calls it.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod native_grpc {
    include!("generated/native.rs");
}
