//! neuron-facade (in progress).
