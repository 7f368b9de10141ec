//! neuron-metagraph (in progress).
