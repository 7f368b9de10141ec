//! Owned by the protocol-core helper (in progress).
