//! Per-phase timings of one call.

use std::time::Duration;

/// When each phase of one call ended, measured from the moment the call started (before
/// signing), so a validator can tell its own delays from the axon's.
///
/// Phases that were not reached are `None` (a refused connection has no `sent`; a timeout
/// that struck while waiting for the reply has no `first_byte`). Reached phases are
/// monotone: `prepared <= queued <= connect <= sent <= first_byte <= done <= total`.
///
/// The time the axon itself may be charged with is [`Timings::network`]
/// (`first_byte - sent`), not the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Request serialized and signed (local work).
    pub prepared: Duration,
    /// A per-host slot was obtained (waiting behind other requests to the same host).
    pub queued: Option<Duration>,
    /// A connection was ready (fresh or reused).
    pub connect: Option<Duration>,
    /// The request was handed to the socket.
    pub sent: Option<Duration>,
    /// The response head arrived.
    pub first_byte: Option<Duration>,
    /// The response body was complete.
    pub done: Option<Duration>,
    /// The call returned (parsing included), or its deadline struck.
    pub total: Duration,
    /// Whether a keep-alive connection was reused.
    pub reused: bool,
    /// The handler time the axon reported (`axon.process_time`), if any.
    pub axon_process_time: Option<Duration>,
}

impl Timings {
    /// Time between handing the request to the socket and receiving the response head: the
    /// axon's share of the call (network + server), free of local queueing and signing.
    pub fn network(&self) -> Option<Duration> {
        Some(self.first_byte?.saturating_sub(self.sent?))
    }

    /// Whether the reached phases are in order (they always are; for tests and asserts).
    pub fn is_monotone(&self) -> bool {
        let mut last = self.prepared;
        for phase in [
            self.queued,
            self.connect,
            self.sent,
            self.first_byte,
            self.done,
        ]
        .into_iter()
        .flatten()
        {
            if phase < last {
                return false;
            }
            last = phase;
        }
        self.total >= last
    }

    /// Fills the transport phases, shifting them from "since the send started" to "since the
    /// call started".
    pub(crate) fn with_transport(
        mut self,
        t: &neuron_transport::Timings,
        offset: Duration,
    ) -> Self {
        self.queued = Some(offset + t.queued);
        self.connect = Some(offset + t.connect);
        self.sent = Some(offset + t.sent);
        self.first_byte = Some(offset + t.first_byte);
        if !t.done.is_zero() {
            self.done = Some(offset + t.done);
        }
        self.reused = t.reused;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_phases_are_shifted_and_monotone() {
        let t = neuron_transport::Timings {
            queued: Duration::from_millis(1),
            connect: Duration::from_millis(2),
            sent: Duration::from_millis(3),
            first_byte: Duration::from_millis(10),
            done: Duration::from_millis(11),
            reused: true,
        };
        let offset = Duration::from_millis(5);
        let mut timings = Timings {
            prepared: offset,
            ..Timings::default()
        }
        .with_transport(&t, offset);
        timings.total = Duration::from_millis(17);
        assert_eq!(timings.sent, Some(Duration::from_millis(8)));
        assert_eq!(timings.network(), Some(Duration::from_millis(7)));
        assert!(timings.reused);
        assert!(timings.is_monotone());
        timings.total = Duration::from_millis(1);
        assert!(!timings.is_monotone());
    }
}
