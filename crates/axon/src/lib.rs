//! neuron-axon (in progress).
