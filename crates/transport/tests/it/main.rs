//! Loopback tests of the one-port listener and the pooled client.
#![allow(clippy::unwrap_used, missing_docs)]

mod client;
mod server;
