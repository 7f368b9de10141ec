//! How a batch reaches a peer: the [`GossipTransport`] trait and its gRPC implementation.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use lru::LruCache;
use tonic::transport::{Channel, Endpoint};

use super::config::MAX_MESSAGE_BYTES;
use crate::proto;
use crate::proto::metagraph_client::MetagraphClient;

/// Why an exchange with a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer address does not make a valid URI.
    #[error("invalid gossip peer address: {0}")]
    Address(#[source] tonic::transport::Error),
    /// The call failed: connection refused, timeout, or an error status from the peer.
    #[error("gossip call failed: {0}")]
    Status(#[from] tonic::Status),
    /// The peer is not reachable (used by in-memory transports).
    #[error("gossip peer {0} is unreachable")]
    Unreachable(SocketAddr),
}

/// Carries one push-pull exchange: send `batch` to `peer`, return its reply.
///
/// The gossip driver ([`crate::Gossip`]) and the simulator ([`crate::sim`]) run the same
/// protocol code over different implementations of this trait.
pub trait GossipTransport: Send + Sync + 'static {
    /// Sends `batch` to `peer` and waits for the reply batch.
    fn exchange(
        &self,
        peer: SocketAddr,
        batch: proto::GossipBatch,
    ) -> impl Future<Output = Result<proto::GossipBatch, TransportError>> + Send;
}

/// Gossip over tonic, with one lazily connected HTTP/2 channel per peer, kept in a bounded
/// LRU so a large network does not hold a connection to everyone.
///
/// # Notes
///
/// The timeout covers connect plus call. A failed call forgets the peer's channel, so the
/// next exchange reconnects.
pub struct GrpcTransport {
    timeout: Duration,
    channels: Mutex<LruCache<SocketAddr, Channel>>,
}

impl GrpcTransport {
    /// A transport with the given per-exchange timeout, keeping at most 64 channels.
    pub fn new(timeout: Duration) -> Self {
        Self::with_capacity(timeout, NonZeroUsize::new(64).unwrap_or(NonZeroUsize::MIN))
    }

    /// A transport keeping at most `channels` channels.
    pub fn with_capacity(timeout: Duration, channels: NonZeroUsize) -> Self {
        Self {
            timeout,
            channels: Mutex::new(neuron_wallet::bounded_lru(channels)),
        }
    }

    fn channel(&self, peer: SocketAddr) -> Result<Channel, TransportError> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(&peer) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{peer}"))
            .map_err(TransportError::Address)?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_lazy();
        channels.put(peer, channel.clone());
        Ok(channel)
    }

    fn forget(&self, peer: SocketAddr) {
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop(&peer);
    }
}

impl GossipTransport for GrpcTransport {
    async fn exchange(
        &self,
        peer: SocketAddr,
        batch: proto::GossipBatch,
    ) -> Result<proto::GossipBatch, TransportError> {
        let mut client = MetagraphClient::new(self.channel(peer)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        match tokio::time::timeout(self.timeout, client.gossip(batch)).await {
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => {
                self.forget(peer);
                Err(status.into())
            }
            Err(_) => {
                self.forget(peer);
                Err(tonic::Status::deadline_exceeded("gossip exchange timed out").into())
            }
        }
    }
}
