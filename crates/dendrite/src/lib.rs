//! neuron-dendrite (in progress).
