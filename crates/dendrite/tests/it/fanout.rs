//! Fan-out: per-axon deadlines, as-completed order, quorum.

use std::time::{Duration, Instant};

use futures::StreamExt;
use neuron_dendrite::{Failure, Target};

use crate::server::{Mode, TestAxon, closed_port};
use crate::synapses::Dummy;
use crate::{axon_at, bob};

fn dummy(n: i64) -> Dummy {
    Dummy {
        dummy_input: n,
        dummy_output: None,
    }
}

#[tokio::test]
async fn forward_keeps_input_order_and_per_axon_deadlines() {
    let slow = TestAxon::start(Mode::Echo, Duration::from_secs(30)).await;
    let fast = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dead = closed_port().await;
    let targets = [
        Target::new(axon_at(slow.addr)).with_timeout(Duration::from_millis(400)),
        Target::new(axon_at(fast.addr)),
        Target::new(axon_at(dead)),
    ];
    let started = Instant::now();
    let results = bob()
        .forward(&targets, dummy(4), Duration::from_secs(20))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].status_code(), Some(408));
    assert_eq!(
        results[0].failure,
        Some(Failure::Timeout(Duration::from_millis(400)))
    );
    assert_eq!(results[1].status_code(), Some(200));
    assert_eq!(results[1].fields().dummy_output, Some(8));
    assert_eq!(results[2].status_code(), Some(503));
    // The slow axon's own 400 ms deadline bounds the fan-out, not the 20 s call timeout.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // The fast answer was complete long before the slow axon's deadline.
    assert!(
        results[1].timings.total < Duration::from_millis(400),
        "{:?}",
        results[1].timings
    );
    assert!(results[0].timings.total >= Duration::from_millis(400));
}

#[tokio::test]
async fn forward_stream_yields_as_completed() {
    let slow = TestAxon::start(Mode::Echo, Duration::from_millis(600)).await;
    let fast = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let axons = [axon_at(slow.addr), axon_at(fast.addr)];
    let mut stream = Box::pin(bob().forward_stream(&axons, dummy(1), Duration::from_secs(10)));
    let (first, r1) = stream.next().await.unwrap();
    let at_first = Instant::now();
    let (second, r2) = stream.next().await.unwrap();
    assert!(stream.next().await.is_none());
    assert_eq!(
        (first, second),
        (1, 0),
        "fast axon (index 1) must come first"
    );
    assert!(r1.is_success() && r2.is_success());
    assert!(r1.timings.total < r2.timings.total);
    // The first result was available before the slow one finished.
    assert!(at_first.elapsed() > Duration::from_millis(100));
}

#[tokio::test]
async fn quorum_returns_early_and_cancels_stragglers() {
    let fast_a = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let fast_b = TestAxon::start(Mode::Echo, Duration::from_millis(200)).await;
    let slow = TestAxon::start(Mode::Echo, Duration::from_secs(30)).await;
    let axons = [
        axon_at(slow.addr),
        axon_at(fast_a.addr),
        axon_at(fast_b.addr),
    ];
    let started = Instant::now();
    let results = bob()
        .forward_quorum(&axons, dummy(2), Duration::from_secs(20), 2)
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "quorum did not return early: {elapsed:?}"
    );
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].status_code(), Some(408));
    assert_eq!(results[0].failure, Some(Failure::Cancelled));
    assert_eq!(
        results[0].status_message(),
        Some("Request cancelled: quorum of 2 reached")
    );
    assert!(results[1].is_success() && results[2].is_success());
    // The slow axon did receive the request (it was cancelled, not skipped).
    assert_eq!(slow.requests().len(), 1);
}

#[tokio::test]
async fn quorum_larger_than_successes_waits_for_all() {
    let ok = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dead = closed_port().await;
    let axons = [axon_at(ok.addr), axon_at(dead)];
    let results = bob()
        .forward_quorum(&axons, dummy(2), Duration::from_secs(5), 2)
        .await;
    assert_eq!(results[0].status_code(), Some(200));
    assert_eq!(results[1].status_code(), Some(503));
    assert!(
        results
            .iter()
            .all(|r| r.failure != Some(Failure::Cancelled))
    );
}
