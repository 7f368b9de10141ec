//! neuron-wallet (in progress).
