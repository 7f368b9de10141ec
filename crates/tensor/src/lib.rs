//! neuron-tensor (in progress).
