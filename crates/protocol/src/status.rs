//! Owned by the protocol-auth helper (in progress).
