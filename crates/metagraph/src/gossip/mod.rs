//! Gossip discovery: signed endpoint records spread by push-pull exchanges.
//!
//! * [`GossipState`]: the protocol, sans-IO (time and batches in, batches out).
//! * [`Gossip`]: the driver, a background tokio task over a [`GossipTransport`].
//! * [`GrpcTransport`] and [`service`]: the tonic client and server.

mod clock;
mod config;
pub mod digest;
mod node;
mod service;
mod state;
mod transport;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, MAX_BATCH_PEERS, MAX_BATCH_RECORDS, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
pub use node::{Gossip, GossipError};
pub use service::{GossipService, service};
pub use state::{BatchError, GossipState, Stats, Verified, WeightsError};
pub use transport::{GossipTransport, GrpcTransport, TransportError};
