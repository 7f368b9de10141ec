//! The gossip gRPC service, mountable on the axon's shared port.

use tonic::{Request, Response, Status};

use super::config::MAX_MESSAGE_BYTES;
use super::node::Gossip;
use crate::proto;
use crate::proto::metagraph_server::{Metagraph, MetagraphServer};

/// The `neuron.metagraph.v1.Metagraph` service over a [`Gossip`] handle.
pub struct GossipService {
    gossip: Gossip,
}

#[tonic::async_trait]
impl Metagraph for GossipService {
    async fn gossip(
        &self,
        request: Request<proto::GossipBatch>,
    ) -> Result<Response<proto::GossipBatch>, Status> {
        self.gossip
            .handle(request.get_ref())
            .await
            .map(Response::new)
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }
}

/// The tonic service answering gossip for `gossip`, with message sizes capped at
/// [`MAX_MESSAGE_BYTES`](super::config::MAX_MESSAGE_BYTES); add it to a tonic router
/// (`Server::builder().add_service(service(gossip))`) or to the axon's.
pub fn service(gossip: Gossip) -> MetagraphServer<GossipService> {
    MetagraphServer::new(GossipService { gossip })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}
