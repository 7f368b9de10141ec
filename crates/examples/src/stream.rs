//! `StreamCount`: a streaming synapse.

use bytes::Bytes;
use futures::Stream;
use neuron_protocol::synapse::{Synapse, empty};
use serde::{Deserialize, Serialize};

/// `class StreamCount(bt.StreamingSynapse): n: int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCount {
    /// How many chunks to stream.
    pub n: i64,
}

impl Synapse for StreamCount {
    const NAME: &'static str = "StreamCount";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("n", empty::INT)];
}

/// Most chunks one request may ask for.
pub const MAX_CHUNKS: i64 = 1 << 20;

/// The handler: `n` chunks `tok0\n`, `tok1\n`, … (none when `n <= 0`, at most
/// [`MAX_CHUNKS`]).
pub fn stream_count(synapse: StreamCount) -> impl Stream<Item = Bytes> + Send + 'static {
    let n = synapse.n.clamp(0, MAX_CHUNKS);
    futures::stream::iter((0..n).map(|i| Bytes::from(format!("tok{i}\n"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn chunks() {
        let got: Vec<Bytes> =
            futures::executor::block_on(stream_count(StreamCount { n: 3 }).collect());
        assert_eq!(
            got,
            [&b"tok0\n"[..], b"tok1\n", b"tok2\n"].map(Bytes::from_static)
        );
        let none: Vec<Bytes> =
            futures::executor::block_on(stream_count(StreamCount { n: -1 }).collect());
        assert!(none.is_empty());
    }
}
