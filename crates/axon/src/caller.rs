//! The verified identity of a caller, handed to hooks and handlers apart from the body.

use std::net::SocketAddr;

/// Who sent a request, as established by the axon: the hotkey whose signature verified, the
/// client uuid and nonce that were signed, and the socket peer address.
///
/// Handlers must take their caller identity from here, never from the body's `dendrite`
/// terminal, which the signature does not cover (spec wire-modern.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// SS58 hotkey of the caller (signature verified).
    pub hotkey: String,
    /// The caller's per-process uuid (signed).
    pub uuid: String,
    /// The caller's nonce, nanoseconds since the epoch (signed).
    pub nonce: u64,
    /// The caller's claimed version (`version_as_int`), if sent; not signed.
    pub version: Option<u64>,
    /// The socket peer address.
    pub peer: SocketAddr,
}

impl Caller {
    /// The peer IP as text, as the SDK writes it into `dendrite.ip`.
    pub fn ip(&self) -> String {
        self.peer.ip().to_string()
    }

    /// The peer port.
    pub fn port(&self) -> u16 {
        self.peer.port()
    }
}
