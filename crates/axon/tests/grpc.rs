//! Integration tests of the legacy gRPC (TensorMessage) axon over loopback: a tonic client
//! with hand-built, hand-signed messages, and a grpcio receptor written from the spec.
#![allow(clippy::unwrap_used)]

#[path = "grpc/auth.rs"]
mod auth;
#[path = "grpc/backward.rs"]
mod backward;
#[path = "grpc/badinput.rs"]
mod badinput;
#[path = "grpc/common.rs"]
mod common;
#[path = "grpc/forward.rs"]
mod forward;
#[path = "grpc/interop.rs"]
mod interop;
#[path = "grpc/limits.rs"]
mod limits;
#[path = "grpc/metrics.rs"]
mod metrics;
#[path = "grpc/modality.rs"]
mod modality;
