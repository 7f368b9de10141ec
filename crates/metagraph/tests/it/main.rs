//! Integration tests of neuron-metagraph: gossip over loopback gRPC, the virtual-time
//! simulator, and persistence.

mod loopback;
mod persist;
mod sim;
