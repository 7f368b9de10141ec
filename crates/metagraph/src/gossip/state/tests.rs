//! Unit tests of the gossip rules, in virtual time.

use std::time::Duration;

use super::*;
use crate::sim::{sim_addr, sim_keypair};

const S: Duration = Duration::from_secs(1);

fn state(config: Config, seeds: &[SocketAddr]) -> GossipState {
    GossipState::new(config, seeds.iter().copied(), 1)
}

fn record(i: usize, version: u64, port: u16) -> EndpointRecord {
    let addr = SocketAddr::new(sim_addr(i).ip(), port);
    EndpointRecord::sign(
        &sim_keypair(i),
        Endpoint::new(addr).with_protocol(PROTOCOL_GOSSIP),
        version,
    )
    .expect("within limits")
}

fn none() -> Verified {
    Verified::default()
}

fn batch(records: &[&EndpointRecord]) -> proto::GossipBatch {
    proto::GossipBatch {
        protocol_version: PROTOCOL_VERSION,
        records: records.iter().map(|r| r.to_wire()).collect(),
        ..proto::GossipBatch::default()
    }
}

#[test]
fn newer_wins_older_is_stale_equal_with_other_content_conflicts() {
    let mut s = state(Config::new(), &[]);
    s.on_request(S, &batch(&[&record(1, 5, 80)]), &none())
        .expect("valid batch");
    s.on_request(
        S,
        &batch(&[&record(1, 4, 81), &record(1, 5, 80), &record(1, 5, 82)]),
        &none(),
    )
    .expect("valid batch");
    assert_eq!(
        s.record(sim_keypair(1).ss58()).map(|r| r.addr().port()),
        Some(80)
    );
    s.on_request(S, &batch(&[&record(1, 6, 83)]), &none())
        .expect("valid batch");
    assert_eq!(
        s.record(sim_keypair(1).ss58()).map(|r| r.addr().port()),
        Some(83)
    );
    let stats = s.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.stale,
            stats.duplicates,
            stats.conflicts
        ),
        (2, 1, 1, 1)
    );
}

#[test]
fn forged_and_tampered_records_are_dropped_and_counted_whoever_checks() {
    let genuine = record(1, 5, 80);
    let mut tampered = genuine.to_wire();
    tampered.port = 81;
    let mut forged = record(2, 5, 80).to_wire();
    forged.hotkey = sim_keypair(3).ss58().to_owned();
    let request = proto::GossipBatch {
        protocol_version: PROTOCOL_VERSION,
        records: vec![tampered, forged, genuine.to_wire()],
        ..proto::GossipBatch::default()
    };
    for ahead in [false, true] {
        let mut s = state(Config::new(), &[]);
        let verified = if ahead {
            Verified::check(s.to_verify(&request))
        } else {
            none()
        };
        s.on_request(S, &request, &verified).expect("valid batch");
        let stats = s.stats();
        assert_eq!(
            (stats.rejected_forged, stats.accepted),
            (2, 1),
            "checked ahead: {ahead}"
        );
        assert_eq!(
            s.record(genuine.hotkey()).map(|r| r.addr().port()),
            Some(80)
        );
        assert!(s.record(sim_keypair(3).ss58()).is_none());
        // Known now: a second copy needs no signature check.
        assert!(s.to_verify(&batch(&[&genuine])).is_empty());
    }
}

#[test]
fn liveness_needs_new_versions_and_tombstones_stop_resurrection() {
    let ttl = Duration::from_secs(30);
    let mut s = state(Config::new().with_ttl(ttl), &[]);
    let old = record(1, 5, 80);
    s.on_request(S, &batch(&[&old]), &none())
        .expect("valid batch");
    // The same version arriving again does not refresh the heartbeat.
    s.on_request(ttl, &batch(&[&old]), &none())
        .expect("valid batch");
    s.tick(ttl + 2 * S, 0);
    assert!(s.record(old.hotkey()).is_none(), "expired after the ttl");
    assert_eq!(s.stats().expired, 1);
    s.on_request(ttl + 3 * S, &batch(&[&old]), &none())
        .expect("valid batch");
    assert!(
        s.record(old.hotkey()).is_none(),
        "a copy of the expired version stays dead"
    );
    s.on_request(ttl + 4 * S, &batch(&[&record(1, 6, 80)]), &none())
        .expect("valid batch");
    assert!(
        s.record(old.hotkey()).is_some(),
        "a newer version brings it back"
    );
}

#[test]
fn own_record_is_refreshed_and_outbids_an_earlier_run() {
    let refresh = Duration::from_secs(10);
    let mut s = state(Config::new().with_refresh(refresh), &[]);
    let v1 = s
        .subscribe(S, sim_keypair(0), Endpoint::new(sim_addr(0)), 100)
        .expect("subscribed")
        .version();
    assert_eq!(v1, 100);
    s.tick(S + refresh - S, 0);
    assert_eq!(
        s.own().map(EndpointRecord::version),
        Some(100),
        "not due yet"
    );
    s.tick(S + refresh, 0);
    assert_eq!(s.own().map(EndpointRecord::version), Some(101));
    // A record of ours from an earlier run with a higher version: we re-sign above it.
    let earlier =
        EndpointRecord::sign(&sim_keypair(0), Endpoint::new(sim_addr(0)), 500).expect("limits");
    s.on_request(2 * refresh, &batch(&[&earlier]), &none())
        .expect("valid batch");
    assert_eq!(s.own().map(EndpointRecord::version), Some(501));
    assert!(
        s.own()
            .is_some_and(|r| r.speaks(PROTOCOL_GOSSIP) && r.verify().is_ok())
    );
}

#[test]
fn the_table_is_capped_by_evicting_the_least_recently_refreshed() {
    let mut s = state(Config::new().with_max_records(4), &[]);
    for i in 1..=6 {
        s.on_request(S * i as u32, &batch(&[&record(i, 1, 80)]), &none())
            .expect("valid batch");
    }
    assert_eq!(s.len(), 4);
    assert_eq!(s.stats().evicted, 2);
    assert!(s.record(sim_keypair(1).ss58()).is_none() && s.record(sim_keypair(2).ss58()).is_none());
    assert!(s.record(sim_keypair(6).ss58()).is_some());
}

#[test]
fn oversized_batches_are_refused_whole() {
    let mut s = state(Config::new(), &[]);
    let r = record(1, 1, 80);
    let many = vec![&r; MAX_BATCH_RECORDS + 1];
    assert_eq!(
        s.on_request(S, &batch(&many), &none()),
        Err(BatchError::TooManyRecords(MAX_BATCH_RECORDS + 1))
    );
    assert!(s.is_empty());
    let mut peers = batch(&[&r]);
    peers.peers = vec![
        proto::PeerInfo {
            address: "127.0.0.1:1".into(),
            age_ms: 0
        };
        MAX_BATCH_PEERS + 1
    ];
    assert_eq!(
        s.on_request(S, &peers, &none()),
        Err(BatchError::TooManyPeers(MAX_BATCH_PEERS + 1))
    );
    assert!(s.is_empty() && s.peers(usize::MAX).is_empty());
    assert_eq!(s.stats().rejected_batches, 2);
}

#[test]
fn a_reply_carries_what_the_digest_says_the_requester_lacks() {
    let mut responder = state(Config::new(), &[]);
    responder
        .subscribe(S, sim_keypair(0), Endpoint::new(sim_addr(0)), 1)
        .expect("subscribed");
    let (a, b) = (record(1, 3, 80), record(2, 3, 80));
    responder
        .on_request(S, &batch(&[&a, &b]), &none())
        .expect("valid batch");
    let mut requester = state(Config::new().with_push_window(2 * S), &[sim_addr(0)]);
    requester
        .on_request(S, &batch(&[&a, &record(2, 2, 80)]), &none())
        .expect("valid batch");

    let (_, request) = requester.poll_exchange(2 * S).expect("a peer");
    assert_eq!(
        request.records.len(),
        2,
        "records accepted within the push window are pushed"
    );
    let (_, request) = requester.poll_exchange(10 * S).expect("a peer");
    assert!(
        request.records.is_empty(),
        "older records wait for a digest to ask for them"
    );
    assert!(!request.digest.is_empty());

    let reply = responder
        .on_request(10 * S, &request, &none())
        .expect("valid batch");
    let hotkeys: Vec<&str> = reply.records.iter().map(|r| r.hotkey.as_str()).collect();
    assert!(
        hotkeys.contains(&sim_keypair(0).ss58()),
        "the responder's own record"
    );
    assert!(
        hotkeys.contains(&b.hotkey()),
        "newer than the requester's version"
    );
    assert!(
        !hotkeys.contains(&a.hotkey()),
        "the requester has it already"
    );
    requester
        .on_reply(10 * S, sim_addr(0), &reply, &none())
        .expect("valid reply");
    assert_eq!(
        requester.record(b.hotkey()).map(EndpointRecord::version),
        Some(3)
    );

    let mut bad = request.clone();
    bad.digest_hashes = 0;
    assert_eq!(
        responder.on_request(10 * S, &bad, &none()),
        Err(BatchError::Digest)
    );
}

#[test]
fn failures_back_off_and_drop_learned_peers_but_not_seeds() {
    let seed: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    let config = Config::new().with_backoff(3, 2 * S, 8 * S);
    let mut s = state(config, &[seed]);
    s.on_request(S, &batch(&[&record(1, 1, 80)]), &none())
        .expect("valid batch");
    let learned = SocketAddr::new(sim_addr(1).ip(), 80);
    assert_eq!(s.peers(usize::MAX).len(), 2);
    let mut now = S;
    for failure in 1..=3u32 {
        s.on_failure(now, seed);
        s.on_failure(now, learned);
        let backoff = Duration::from_secs(2 << (failure - 1)).min(8 * S);
        if failure < 3 {
            assert!(
                s.poll_exchange(now + backoff - S).is_none(),
                "both peers back off for {backoff:?}"
            );
        }
        now += backoff;
    }
    assert_eq!(
        s.peers(usize::MAX),
        vec![seed],
        "the learned peer is dropped, the seed is kept"
    );
    assert_eq!(s.stats().peers_dropped, 1);
    assert_eq!(s.poll_exchange(now).map(|(peer, _)| peer), Some(seed));
    s.on_reply(now, seed, &batch(&[]), &none())
        .expect("valid reply");
    assert!(
        s.poll_exchange(now).is_some(),
        "a success clears the back-off"
    );
}

#[test]
fn hinted_peers_are_capped_and_never_forwarded() {
    let mut config = Config::new();
    config.max_hinted_peers = 3;
    let mut s = state(config, &[]);
    let mut hints = batch(&[]);
    hints.peers = (1..=10)
        .map(|i| proto::PeerInfo {
            address: format!("127.0.0.1:{i}"),
            age_ms: 5,
        })
        .collect();
    hints.peers.push(proto::PeerInfo {
        address: "not an address".into(),
        age_ms: 0,
    });
    s.on_request(S, &hints, &none()).expect("valid batch");
    assert_eq!(s.peers(usize::MAX).len(), 3);
    assert_eq!(s.stats().rejected_invalid, 1);
    let reply = s.on_request(S, &batch(&[]), &none()).expect("valid batch");
    assert!(
        reply.peers.is_empty(),
        "unconfirmed hints are not passed on"
    );
    // A peer from a signed record is confirmed, so it is passed on.
    s.on_request(S, &batch(&[&record(1, 1, 80)]), &none())
        .expect("valid batch");
    let reply = s.on_request(S, &batch(&[]), &none()).expect("valid batch");
    assert_eq!(reply.peers.len(), 1);
}

#[test]
fn weights_need_known_hotkeys_and_go_with_their_record() {
    let ttl = Duration::from_secs(30);
    let mut s = state(Config::new().with_ttl(ttl), &[]);
    let r = record(1, 1, 80);
    s.on_request(S, &batch(&[&r]), &none())
        .expect("valid batch");
    assert!(matches!(
        s.set_weights(&[("unknown", 1.0)]),
        Err(WeightsError::Unknown(_))
    ));
    assert!(matches!(
        s.set_weights(&[(r.hotkey(), f32::NAN)]),
        Err(WeightsError::Invalid { .. })
    ));
    s.set_weights(&[(r.hotkey(), 0.5)]).expect("valid");
    assert_eq!(s.weights(&[r.hotkey(), "unknown"]), vec![0.5, 0.0]);
    s.tick(ttl + 2 * S, 0);
    assert_eq!(s.weights(&[r.hotkey()]), vec![0.0]);
}
