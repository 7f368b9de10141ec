//! The Bittensor wire protocol, sans I/O.
//!
//! This crate contains no networking code: no tokio, no sockets, no clock reads. Headers,
//! body hashing, signed messages and nonce rules take bytes and time as inputs and are
//! deterministic, so every dialect (Synapse/HTTP, TensorMessage/gRPC, native) and every
//! test can drive them directly.

pub mod hash;
pub mod headers;
pub mod legacy;
pub mod nonce;
pub mod pystr;
pub mod signing;
pub mod status;
pub mod synapse;
pub mod terminal;
