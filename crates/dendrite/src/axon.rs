//! Who to call: [`AxonInfo`] and per-call [`Target`]s.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a dendrite needs to know about a remote axon (wire-modern §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxonInfo {
    /// IP address the axon serves on.
    pub ip: IpAddr,
    /// TCP port.
    pub port: u16,
    /// The axon's hotkey (SS58); requests are signed for it.
    pub hotkey: String,
    /// The version the axon announced on chain, if known (informational).
    pub version: Option<u64>,
    /// Wire dialects the axon is known to speak, if known (informational).
    pub protocols: Option<Vec<String>>,
}

impl AxonInfo {
    /// An axon at `ip:port` with `hotkey`.
    pub fn new(ip: IpAddr, port: u16, hotkey: impl Into<String>) -> Self {
        Self {
            ip,
            port,
            hotkey: hotkey.into(),
            version: None,
            protocols: None,
        }
    }

    /// An axon at `addr` with `hotkey`.
    pub fn at(addr: SocketAddr, hotkey: impl Into<String>) -> Self {
        Self::new(addr.ip(), addr.port(), hotkey)
    }

    /// The socket address to dial.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }
}

/// One destination of a fan-out: an axon and, optionally, its own timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The axon to call.
    pub axon: AxonInfo,
    /// This axon's timeout; `None` uses the call's timeout.
    pub timeout: Option<Duration>,
}

impl Target {
    /// `axon` with the call's timeout.
    pub fn new(axon: AxonInfo) -> Self {
        Self {
            axon,
            timeout: None,
        }
    }

    /// Gives this axon its own timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl From<AxonInfo> for Target {
    fn from(axon: AxonInfo) -> Self {
        Self::new(axon)
    }
}

impl From<&AxonInfo> for Target {
    fn from(axon: &AxonInfo) -> Self {
        Self::new(axon.clone())
    }
}

impl From<&Target> for Target {
    fn from(target: &Target) -> Self {
        target.clone()
    }
}
