//! Streaming synapses against a scripted axon.

use std::time::Duration;

use futures::StreamExt;
use neuron_dendrite::{Failure, StreamEvent};

use crate::server::{Mode, TestAxon, closed_port};
use crate::synapses::StreamCount;
use crate::{axon_at, bob};

fn count(n: i64) -> StreamCount {
    StreamCount {
        n,
        tokens: Vec::new(),
    }
}

#[tokio::test]
async fn chunks_then_final_synapse_from_headers() {
    let server = TestAxon::start(
        Mode::Stream {
            chunks: vec!["tok0\n", "tok1\n", "tok2\n"],
            gap: Duration::from_millis(20),
        },
        Duration::ZERO,
    )
    .await;
    let events: Vec<_> = bob()
        .call_stream(&axon_at(server.addr), count(3), Duration::from_secs(5))
        .collect()
        .await;
    let mut text = String::new();
    let mut done = None;
    for (i, event) in events.into_iter().enumerate() {
        match event {
            StreamEvent::Chunk(bytes) => {
                assert!(done.is_none(), "chunk after done");
                text.push_str(std::str::from_utf8(&bytes).unwrap());
            }
            StreamEvent::Done(response) => {
                assert!(i > 0);
                done = Some(response);
            }
        }
    }
    assert_eq!(text, "tok0\ntok1\ntok2\n");
    let done = done.expect("a final event");
    assert_eq!(done.status_code(), Some(200));
    assert_eq!(done.status_message(), Some("Success"));
    assert_eq!(done.synapse.fields.n, 3);
    assert_eq!(done.synapse.axon.process_time, Some(0.25));
    assert!(done.timings.is_monotone(), "{:?}", done.timings);
    assert!(done.timings.done.is_some());
}

#[tokio::test]
async fn deadline_mid_stream_ends_with_408() {
    let server = TestAxon::start(
        Mode::Stream {
            chunks: vec!["a", "b", "c"],
            gap: Duration::from_secs(2),
        },
        Duration::ZERO,
    )
    .await;
    let events: Vec<_> = bob()
        .call_stream(&axon_at(server.addr), count(3), Duration::from_millis(300))
        .collect()
        .await;
    let Some(StreamEvent::Done(last)) = events.last() else {
        panic!("no final event")
    };
    assert_eq!(last.status_code(), Some(408));
    assert_eq!(
        last.failure,
        Some(Failure::Timeout(Duration::from_millis(300)))
    );
}

#[tokio::test]
async fn error_reply_and_closed_port_end_with_a_single_done() {
    let server = TestAxon::start(
        Mode::Error {
            status: 401,
            message: "Not Verified with error: nope",
        },
        Duration::ZERO,
    )
    .await;
    let events: Vec<_> = bob()
        .call_stream(&axon_at(server.addr), count(3), Duration::from_secs(5))
        .collect()
        .await;
    assert_eq!(events.len(), 1);
    let StreamEvent::Done(done) = &events[0] else {
        panic!("expected done")
    };
    assert_eq!(done.status_code(), Some(401));
    assert_eq!(done.status_message(), Some("Not Verified with error: nope"));

    let addr = closed_port().await;
    let events: Vec<_> = bob()
        .call_stream(&axon_at(addr), count(3), Duration::from_secs(5))
        .collect()
        .await;
    assert_eq!(events.len(), 1);
    let StreamEvent::Done(done) = &events[0] else {
        panic!("expected done")
    };
    assert_eq!(done.status_code(), Some(503));
}
