//! neuron-transport (in progress).
