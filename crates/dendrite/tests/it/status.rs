//! Status mapping (wire-modern §8.2, §9) against scripted axons.

use std::time::Duration;

use neuron_dendrite::Failure;

use crate::server::{Mode, TestAxon, closed_port, start_disconnecting};
use crate::synapses::Dummy;
use crate::{SHORT, axon_at, bob};

fn dummy(n: i64) -> Dummy {
    Dummy {
        dummy_input: n,
        dummy_output: None,
    }
}

#[tokio::test]
async fn success_merges_reply_and_headers() {
    let server = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dendrite = bob();
    let r = dendrite
        .call(&axon_at(server.addr), dummy(21), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(200), "{:?}", r.status_message());
    assert_eq!(r.status_message(), Some("Success"));
    assert!(r.failure.is_none());
    assert_eq!(r.fields().dummy_output, Some(42));
    assert_eq!(r.deserialize()["dummy_output"], 42);
    assert_eq!(r.synapse.axon.process_time, Some(0.25));
    assert_eq!(r.axon_process_time(), Some(Duration::from_millis(250)));
    assert_eq!(
        r.synapse.dendrite.hotkey.as_deref(),
        Some(dendrite.hotkey())
    );
    assert!(r.synapse.dendrite.process_time.is_some());
}

#[tokio::test]
async fn timeout_is_408_by_the_callers_deadline() {
    // The server would answer after 30 s; the dendrite must give up at its own 300 ms.
    let server = TestAxon::start(Mode::Echo, Duration::from_secs(30)).await;
    let started = std::time::Instant::now();
    let r = bob().call(&axon_at(server.addr), dummy(1), SHORT).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status_code(), Some(408));
    assert_eq!(
        r.status_message(),
        Some("Request timeout after 0.3 seconds")
    );
    assert_eq!(r.failure, Some(Failure::Timeout(SHORT)));
    assert!(elapsed >= SHORT, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(r.timings.total >= SHORT);
    // The request went out: it was sent, and the reply never came.
    assert!(r.timings.first_byte.is_none());
}

#[tokio::test]
async fn closed_port_is_503() {
    let addr = closed_port().await;
    let r = bob()
        .call(&axon_at(addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(503));
    let want = format!("Service unavailable at 127.0.0.1:{}/Dummy", addr.port());
    assert_eq!(r.status_message(), Some(want.as_str()));
    assert!(matches!(r.failure, Some(Failure::Unavailable(_))));
    // Nothing was sent: the synapse is the request, with its signature.
    assert_eq!(r.synapse.fields.dummy_input, 1);
    assert!(r.synapse.dendrite.signature.is_some());
}

#[tokio::test]
async fn disconnect_mid_response_is_503() {
    let addr = start_disconnecting().await;
    let r = bob()
        .call(&axon_at(addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(503), "{:?}", r.status_message());
    assert!(
        matches!(r.failure, Some(Failure::Disconnected(_))),
        "{:?}",
        r.failure
    );
    assert!(
        r.status_message()
            .unwrap()
            .starts_with("Service disconnected: ")
    );
}

#[tokio::test]
async fn non_json_reply_is_422() {
    let server = TestAxon::start(Mode::NonJson, Duration::ZERO).await;
    let r = bob()
        .call(&axon_at(server.addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(422));
    assert!(matches!(r.failure, Some(Failure::Parse(_))));
    assert!(
        r.status_message()
            .unwrap()
            .starts_with("Failed to parse response: ")
    );
}

#[tokio::test]
async fn oversized_reply_is_422() {
    let server = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dendrite = neuron_dendrite::Dendrite::new(
        neuron_wallet::Keypair::from_uri("//Bob").unwrap(),
        neuron_dendrite::Config::new().with_max_response_bytes(64),
    );
    let r = dendrite
        .call(&axon_at(server.addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(422));
    assert!(matches!(r.failure, Some(Failure::Parse(_))));
}

#[tokio::test]
async fn header_status_overrides_body_status() {
    let server = TestAxon::start(
        Mode::StatusOverride {
            body_status: Some(200),
            header_status: Some(299),
        },
        Duration::ZERO,
    )
    .await;
    let r = bob()
        .call(&axon_at(server.addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(299));
    assert_eq!(r.status_message(), Some("from header"));
    assert_eq!(r.fields().dummy_output, Some(7));
    assert!(r.failure.is_none());
}

#[tokio::test]
async fn body_status_is_used_without_header() {
    let server = TestAxon::start(
        Mode::StatusOverride {
            body_status: Some(500),
            header_status: None,
        },
        Duration::ZERO,
    )
    .await;
    let r = bob()
        .call(&axon_at(server.addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(500));
    assert_eq!(r.status_message(), Some("from body"));
}

#[tokio::test]
async fn null_status_is_not_success() {
    let server = TestAxon::start(
        Mode::StatusOverride {
            body_status: None,
            header_status: None,
        },
        Duration::ZERO,
    )
    .await;
    let r = bob()
        .call(&axon_at(server.addr), dummy(1), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), None);
    assert!(!r.is_success());
}

#[tokio::test]
async fn error_status_and_message_come_from_the_axon() {
    let server = TestAxon::start(
        Mode::Error {
            status: 403,
            message: "Forbidden. Key is blacklisted: nope.",
        },
        Duration::ZERO,
    )
    .await;
    let r = bob()
        .call(&axon_at(server.addr), dummy(5), Duration::from_secs(5))
        .await;
    assert_eq!(r.status_code(), Some(403));
    assert_eq!(
        r.status_message(),
        Some("Forbidden. Key is blacklisted: nope.")
    );
    assert!(r.failure.is_none());
    assert_eq!(r.synapse.fields.dummy_input, 5);
    assert_eq!(r.synapse.axon.status_code, Some(403));
}

#[tokio::test]
async fn timings_are_monotone_and_connections_reused() {
    let server = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dendrite = bob();
    let axon = axon_at(server.addr);
    let first = dendrite.call(&axon, dummy(1), Duration::from_secs(5)).await;
    let second = dendrite.call(&axon, dummy(2), Duration::from_secs(5)).await;
    for r in [&first, &second] {
        assert!(r.is_success());
        let t = r.timings;
        assert!(t.is_monotone(), "{t:?}");
        assert!(t.queued.is_some() && t.connect.is_some() && t.sent.is_some());
        assert!(t.first_byte.is_some() && t.done.is_some());
        assert!(t.network().is_some());
    }
    assert!(!first.timings.reused);
    assert!(second.timings.reused, "keep-alive connection not reused");
}
