//! The nonce verifier with simulated time: every SDK rule (bittensor 10.5
//! `default_verify`), the strict policy's reordering tolerance, replay and future
//! rejection, the legacy rule, and the memory bounds.

use std::time::Duration;

use neuron_protocol::nonce::{
    Config, LegacyNonces, NonceError, NonceInput, NoncePolicy, NonceVerifier, StrictConfig,
};

const S: u64 = 1_000_000_000;
/// 2026-11-22, about when the spec's captures were made.
const NOW: u64 = 1_795_310_834_565_781_717;
const HOTKEY: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const UUID: &str = "d90fcadc-e613-11f1-b657-02fc00000001";

fn req(nonce: u64) -> NonceInput<'static> {
    NonceInput {
        hotkey: HOTKEY,
        uuid: Some(UUID),
        nonce: Some(nonce),
        version: Some(10_005_000),
        timeout_s: Some(12.0),
    }
}

fn accept(v: &mut NonceVerifier, r: &NonceInput<'_>, now: u64) {
    v.check(r, now).expect("check passes");
    v.commit(r, now).expect("commit passes");
}

fn sdk() -> NonceVerifier {
    NonceVerifier::new(Config::sdk())
}

fn strict() -> NonceVerifier {
    NonceVerifier::new(Config::new())
}

// ---------------------------------------------------------------- SDK policy

#[test]
fn sdk_missing_nonce() {
    let v = sdk();
    let r = NonceInput {
        nonce: None,
        ..req(NOW)
    };
    assert_eq!(v.check(&r, NOW), Err(NonceError::MissingNonce));
    assert_eq!(NonceError::MissingNonce.to_string(), "Missing Nonce");
}

#[test]
fn sdk_window_for_an_unseen_key() {
    let v = sdk();
    // Window = 4 s + 12 s; `nonce <= now - 16 s` is too old, a µs newer is fine (the
    // float arithmetic below makes the exact boundary a multiple of 256 ns).
    assert!(v.check(&req(NOW - 16 * S + 1_000), NOW).is_ok());
    let err = v.check(&req(NOW - 16 * S), NOW).expect_err("too old");
    assert_eq!(
        err.to_string(),
        "Nonce is too old: acceptable delta is 16.00 seconds but request was 16.00 seconds old"
    );
    let err = v
        .check(&req(NOW - 100 * S - 123_456_789), NOW)
        .expect_err("too old");
    assert_eq!(
        err.to_string(),
        "Nonce is too old: acceptable delta is 16.00 seconds but request was 100.12 seconds old"
    );
}

#[test]
fn sdk_window_without_timeout_is_four_seconds() {
    let v = sdk();
    let r = |nonce| NonceInput {
        timeout_s: None,
        ..req(nonce)
    };
    assert!(v.check(&r(NOW - 4 * S + 1), NOW).is_ok());
    let err = v.check(&r(NOW - 4 * S), NOW).expect_err("too old");
    assert_eq!(
        err.to_string(),
        "Nonce is too old: acceptable delta is 4.00 seconds but request was 4.00 seconds old"
    );
    // `timeout or 0`: a zero timeout is the same as none.
    let zero = |nonce| NonceInput {
        timeout_s: Some(0.0),
        ..req(nonce)
    };
    assert!(v.check(&zero(NOW - 4 * S + 1), NOW).is_ok());
    assert!(v.check(&zero(NOW - 4 * S), NOW).is_err());
}

#[test]
fn sdk_window_uses_python_float_arithmetic() {
    let v = sdk();
    // With a float timeout the SDK computes `float(now - 4e9) - t * 1e9`, which rounds
    // to a multiple of 256 ns at this magnitude: NOW - 16 s rounds to ...781824, so a
    // nonce a few ns "newer" than the exact boundary is still too old, as in Python.
    // (Python: (1795310834565781717 - 4000000000) - 12.0 * 1e9 == 1.7953108185657818e18,
    // int(...) == 1795310818565781760.)
    let boundary = 1_795_310_818_565_781_760;
    assert!(v.check(&req(boundary), NOW).is_err());
    assert!(v.check(&req(boundary + 1), NOW).is_ok());
    // Fractional timeouts widen the window by exactly that much.
    let r = NonceInput {
        timeout_s: Some(0.5),
        ..req(NOW - 5 * S)
    };
    let err = v.check(&r, NOW).expect_err("too old");
    assert_eq!(
        err.to_string(),
        "Nonce is too old: acceptable delta is 4.50 seconds but request was 5.00 seconds old"
    );
}

#[test]
fn sdk_window_edge_timeouts() {
    let v = sdk();
    // NaN: the comparison is false in Python, so the window never rejects.
    assert!(
        v.check(
            &NonceInput {
                timeout_s: Some(f64::NAN),
                ..req(1)
            },
            NOW
        )
        .is_ok()
    );
    // Infinite timeout: the window is -inf.
    assert!(
        v.check(
            &NonceInput {
                timeout_s: Some(f64::INFINITY),
                ..req(1)
            },
            NOW
        )
        .is_ok()
    );
    // Negative timeout narrows the window (the SDK does not clamp it).
    assert!(
        v.check(
            &NonceInput {
                timeout_s: Some(-3.0),
                ..req(NOW - S)
            },
            NOW
        )
        .is_err()
    );
    // An hour in the future is accepted: the SDK has no upper bound.
    assert!(v.check(&req(NOW + 3600 * S), NOW).is_ok());
}

#[test]
fn sdk_window_needs_version_7_2() {
    let v = sdk();
    for version in [None, Some(7_001_999), Some(6_000_000)] {
        // A nonce of 12345 (verified against the SDK) passes without the window.
        let r = NonceInput {
            version,
            ..req(12_345)
        };
        assert!(v.check(&r, NOW).is_ok(), "{version:?}");
    }
    assert!(
        v.check(
            &NonceInput {
                version: Some(7_002_000),
                ..req(12_345)
            },
            NOW
        )
        .is_err()
    );
}

#[test]
fn sdk_seen_key_is_monotonic_only() {
    let mut v = sdk();
    accept(&mut v, &req(NOW - S), NOW);
    // Equal or older than the stored nonce: refused with the SDK's text.
    let err = v.check(&req(NOW - S), NOW).expect_err("replay");
    assert_eq!(err, NonceError::NotNewer);
    assert_eq!(
        err.to_string(),
        "Nonce is too old, a newer one was last processed"
    );
    assert_eq!(v.check(&req(NOW - 2 * S), NOW), Err(NonceError::NotNewer));
    // Once seen, the window no longer applies: a nonce newer than the stored one is
    // accepted even long after (the SDK checks the window for unseen keys only).
    assert!(v.check(&req(NOW - S + 1), NOW + 3600 * S).is_ok());
    // Old clients: monotonic check only.
    let old = NonceInput {
        version: Some(6_000_000),
        ..req(NOW - S)
    };
    assert_eq!(v.check(&old, NOW), Err(NonceError::NotNewer));
}

#[test]
fn sdk_keys_are_hotkey_and_uuid() {
    let mut v = sdk();
    accept(&mut v, &req(NOW - S), NOW);
    // Same hotkey, other uuid: a separate counter.
    let other = NonceInput {
        uuid: Some("other"),
        ..req(NOW - 2 * S)
    };
    assert!(v.check(&other, NOW).is_ok());
    // A missing uuid is keyed as the text "None", like the SDK's f-string.
    accept(
        &mut v,
        &NonceInput {
            uuid: None,
            ..req(NOW - S)
        },
        NOW,
    );
    let literal = NonceInput {
        uuid: Some("None"),
        ..req(NOW - S)
    };
    assert_eq!(v.check(&literal, NOW), Err(NonceError::NotNewer));
}

#[test]
fn sdk_stores_only_on_commit() {
    let mut v = sdk();
    let r = req(NOW - S);
    v.check(&r, NOW).expect("fresh");
    // Signature failed: no commit, so the same nonce may come again.
    assert!(v.check(&r, NOW).is_ok());
    assert!(v.is_empty());
    v.commit(&r, NOW).expect("first commit");
    // Two copies verified concurrently: the second commit loses.
    assert_eq!(v.commit(&r, NOW), Err(NonceError::NotNewer));
}

// ------------------------------------------------------------- strict policy

#[test]
fn strict_requires_version() {
    let v = strict();
    assert_eq!(
        v.check(
            &NonceInput {
                version: None,
                ..req(NOW)
            },
            NOW
        ),
        Err(NonceError::MissingVersion)
    );
    let err = v
        .check(
            &NonceInput {
                version: Some(6_002_000),
                ..req(NOW)
            },
            NOW,
        )
        .expect_err("old");
    assert_eq!(
        err,
        NonceError::UnsupportedVersion {
            version: 6_002_000,
            minimum: 7_002_000
        }
    );
    assert_eq!(
        v.check(
            &NonceInput {
                nonce: None,
                ..req(NOW)
            },
            NOW
        ),
        Err(NonceError::MissingNonce)
    );
}

#[test]
fn strict_window_both_sides() {
    let v = strict();
    // Old side: window 4 s + timeout 12 s.
    assert!(v.check(&req(NOW - 16 * S + 1), NOW).is_ok());
    let err = v.check(&req(NOW - 16 * S), NOW).expect_err("too old");
    assert_eq!(
        err.to_string(),
        "Nonce is too old: acceptable delta is 16.00 seconds but request was 16.00 seconds old"
    );
    // Future side: at most 2 s ahead.
    assert!(v.check(&req(NOW + 2 * S), NOW).is_ok());
    let err = v.check(&req(NOW + 2 * S + 1), NOW).expect_err("too new");
    assert_eq!(
        err.to_string(),
        "Nonce is too new: acceptable skew is 2.00 seconds but request was 2.00 seconds ahead"
    );
    assert!(matches!(
        v.check(&req(NOW + 3600 * S), NOW),
        Err(NonceError::TooNew { .. })
    ));
}

#[test]
fn strict_timeout_is_clamped() {
    let v = strict();
    // A huge (unsigned) timeout widens the window by at most 60 s.
    let huge = |nonce| NonceInput {
        timeout_s: Some(1e12),
        ..req(nonce)
    };
    assert!(v.check(&huge(NOW - 63 * S), NOW).is_ok());
    assert!(v.check(&huge(NOW - 64 * S), NOW).is_err());
    for t in [f64::NAN, -5.0, f64::NEG_INFINITY] {
        let r = NonceInput {
            timeout_s: Some(t),
            ..req(NOW - 4 * S)
        };
        assert!(v.check(&r, NOW).is_err(), "{t}: window is 4 s");
    }
}

#[test]
fn strict_tolerates_reordering_but_not_replay() {
    let mut v = strict();
    let (a, b, c) = (NOW - 3 * S, NOW - 2 * S, NOW - S);
    // Sent a, b, c; arrive c, a, b.
    accept(&mut v, &req(c), NOW);
    accept(&mut v, &req(a), NOW);
    accept(&mut v, &req(b), NOW);
    for n in [a, b, c] {
        assert_eq!(v.check(&req(n), NOW), Err(NonceError::Replayed));
        assert_eq!(v.commit(&req(n), NOW), Err(NonceError::Replayed));
    }
    assert_eq!(NonceError::Replayed.to_string(), "Nonce was already used");
    // Any other nonce in the window is still fine.
    assert!(v.check(&req(a + 1), NOW).is_ok());
}

#[test]
fn strict_reorder_tolerance_is_bounded_per_key() {
    let config = Config::new().with_policy(NoncePolicy::Strict(
        StrictConfig::new().with_max_nonces_per_key(4),
    ));
    let mut v = NonceVerifier::new(config);
    let base = NOW - 10 * S;
    for i in 0..10 {
        accept(&mut v, &req(base + i * 1000), NOW);
    }
    // Only the 4 newest are remembered; anything at or below the 5th newest is refused
    // as too old instead of being remembered forever.
    assert_eq!(v.remembered_nonces(), 4);
    assert_eq!(
        v.check(&req(base + 5 * 1000), NOW),
        Err(NonceError::NotNewer)
    );
    assert_eq!(v.check(&req(base + 5 * 1000 + 1), NOW), Ok(()));
    assert_eq!(
        v.check(&req(base + 9 * 1000), NOW),
        Err(NonceError::Replayed)
    );
}

#[test]
fn strict_replay_is_refused_for_the_whole_window_then_by_the_window() {
    let mut v = strict();
    let nonce = NOW;
    accept(&mut v, &req(nonce), NOW);
    for t in [0, S, 10 * S, 15 * S] {
        assert_eq!(
            v.check(&req(nonce), NOW + t),
            Err(NonceError::Replayed),
            "t={t}"
        );
    }
    assert!(matches!(
        v.check(&req(nonce), NOW + 16 * S),
        Err(NonceError::TooOld { .. })
    ));
}

#[test]
fn strict_commit_rechecks() {
    let mut v = strict();
    let r = req(NOW);
    v.check(&r, NOW).expect("fresh");
    v.check(&r, NOW).expect("fresh, concurrently");
    v.commit(&r, NOW).expect("first");
    assert_eq!(v.commit(&r, NOW), Err(NonceError::Replayed));
    // The window is checked again at commit time too.
    let late = req(NOW + 100);
    v.check(&late, NOW).expect("fresh");
    assert!(v.commit(&late, NOW + 20 * S).is_err());
}

#[test]
fn strict_expires_idle_keys() {
    let mut v = strict();
    for i in 0..100u64 {
        let uuid = format!("uuid-{i}");
        let r = NonceInput {
            uuid: Some(&uuid),
            ..req(NOW)
        };
        accept(&mut v, &r, NOW);
    }
    assert_eq!(v.len(), 100);
    // Retention is window + max timeout = 64 s.
    v.expire(NOW + 63 * S);
    assert_eq!(v.len(), 100);
    v.expire(NOW + 65 * S);
    assert!(v.is_empty());
}

// --------------------------------------------------------------- memory bounds

#[test]
fn memory_is_bounded_under_1e5_distinct_keys() {
    for (name, config) in [
        ("strict", Config::new().with_max_keys(10_000)),
        ("sdk", Config::sdk().with_max_keys(10_000)),
    ] {
        let mut v = NonceVerifier::new(config);
        for i in 0..100_000u64 {
            let uuid = format!("{i:032x}");
            let now = NOW + i * 1_000;
            let r = NonceInput {
                uuid: Some(&uuid),
                ..req(now)
            };
            accept(&mut v, &r, now);
            assert!(v.len() <= 10_000, "{name}");
        }
        assert_eq!(v.len(), 10_000, "{name}");
        assert!(v.remembered_nonces() <= 10_000, "{name}");
    }
}

#[test]
fn seen_sets_are_bounded_under_a_flood_from_one_key() {
    let mut v = strict();
    for i in 0..100_000u64 {
        let now = NOW + i * 1_000;
        accept(&mut v, &req(now), now);
    }
    assert_eq!(v.len(), 1);
    assert_eq!(v.remembered_nonces(), 16_384);
}

/// Commits `nonces` in the given order as one key, each at the wall-clock time the
/// simulated dendrite would see it arrive.
fn commit_all(v: &mut NonceVerifier, nonces: &[u64], arrival: impl Fn(u64) -> u64) {
    for &n in nonces {
        let now = arrival(n);
        v.check(&req(n), now)
            .unwrap_or_else(|e| panic!("nonce {n} refused at check: {e}"));
        v.commit(&req(n), now)
            .unwrap_or_else(|e| panic!("nonce {n} refused at commit: {e}"));
    }
}

#[test]
fn one_dendrite_with_many_requests_in_flight_is_never_refused() {
    // One key issues a nonce every 50 µs (20 000 requests/s) for 2 s; requests arrive in a
    // scrambled order: each one overtaken by up to 2 000 later ones (100 ms late), far
    // beyond the 128 nonces the previous design remembered.
    let mut v = strict();
    let sent: Vec<u64> = (0..40_000u64).map(|i| NOW + i * 50_000).collect();
    let mut order = sent.clone();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in order.chunks_mut(2_000) {
        // Fisher-Yates with a fixed xorshift: deterministic, no dependency.
        for i in (1..chunk.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = (state % (i as u64 + 1)) as usize;
            chunk.swap(i, j);
        }
    }
    assert_ne!(order, sent);
    // Every request arrives 100 ms after the newest nonce sent so far.
    let latest = |n: u64| n - (n - NOW) % (2_000 * 50_000) + 2_000 * 50_000 + 100_000_000;
    commit_all(&mut v, &order, latest);
    // Every one of them is a replay now, wherever it falls.
    let now = latest(*sent.last().expect("sent"));
    for &n in sent.iter().step_by(97) {
        let refused = v.check(&req(n), now);
        assert!(
            matches!(refused, Err(NonceError::Replayed | NonceError::NotNewer)),
            "replay of {n} accepted: {refused:?}"
        );
    }
    assert!(v.remembered_nonces() <= 16_384);
}

#[test]
fn nonces_leave_the_set_by_time_not_by_count() {
    // 1 000 requests, one per 100 ms: the last 640 are within the 64 s retention at the
    // end, and a request 60 s late (with a 60 s timeout) is still accepted.
    let mut v = strict();
    let nonces: Vec<u64> = (0..1_000u64).map(|i| NOW + i * S / 10).collect();
    let late = nonces[400] + 1;
    commit_all(&mut v, &nonces, |n| n + 1_000);
    let now = nonces[999] + 1_000;
    assert_eq!(v.remembered_nonces(), 640);
    let r = NonceInput {
        timeout_s: Some(60.0),
        ..req(late)
    };
    v.check(&r, now).expect("60 s late, inside the 64 s window");
    v.commit(&r, now).expect("commit");
    assert_eq!(v.check(&r, now), Err(NonceError::Replayed));
}

#[test]
fn the_global_budget_folds_least_recently_used_keys_and_keeps_refusing_replays() {
    let mut v = NonceVerifier::new(Config::new().with_max_nonces(1_000));
    assert_eq!(Config::new().max_nonces(), 1 << 20);
    let uuids: Vec<String> = (0..20).map(|i| format!("uuid-{i}")).collect();
    fn key(u: &str, n: u64) -> NonceInput<'_> {
        NonceInput {
            uuid: Some(u),
            ..req(n)
        }
    }
    // 20 keys × 100 nonces = 2 000 > 1 000.
    for round in 0..100u64 {
        for (k, u) in uuids.iter().enumerate() {
            let n = NOW + round * 1_000 + k as u64;
            v.check(&key(u, n), n).expect("fresh");
            v.commit(&key(u, n), n).expect("fresh");
            assert!(v.remembered_nonces() <= 1_000);
        }
    }
    assert_eq!(v.len(), 20);
    // Every nonce of every key is still refused, folded or not.
    let now = NOW + 100 * 1_000;
    for (k, u) in uuids.iter().enumerate() {
        for round in (0..100u64).step_by(7) {
            let n = NOW + round * 1_000 + k as u64;
            assert!(v.check(&key(u, n), now).is_err(), "replay of {u} {round}");
        }
    }
    // The most recently used key kept its own nonces: a late request of it still passes.
    let last = &uuids[19];
    v.check(&key(last, NOW + 98 * 1_000 + 500), now)
        .expect("a late request of the busiest recent key");
}

#[test]
fn eviction_does_not_reopen_replays() {
    for config in [Config::new(), Config::sdk()] {
        let mut v = NonceVerifier::new(config.with_max_keys(2));
        let victim = req(NOW);
        accept(&mut v, &victim, NOW);
        // Two other clients push the victim's key out of the table.
        for uuid in ["x", "y"] {
            accept(
                &mut v,
                &NonceInput {
                    uuid: Some(uuid),
                    ..req(NOW + 1)
                },
                NOW + 1,
            );
        }
        assert_eq!(v.len(), 2);
        // The victim's request replayed inside the window is still refused.
        assert_eq!(v.check(&victim, NOW + 2), Err(NonceError::NotNewer));
        // A fresh key unrelated to the tombstone is fine... unless it shares its slot; use
        // enough slots to make that impossible here.
    }
    let mut v = NonceVerifier::new(Config::new().with_max_keys(1).with_tombstone_slots(1 << 20));
    accept(&mut v, &req(NOW), NOW);
    accept(
        &mut v,
        &NonceInput {
            uuid: Some("x"),
            ..req(NOW + 1)
        },
        NOW + 1,
    );
    assert!(
        v.check(
            &NonceInput {
                uuid: Some("y"),
                ..req(NOW - S)
            },
            NOW + 2
        )
        .is_ok()
    );
}

// ------------------------------------------------------------------ legacy

#[test]
fn legacy_rule_is_strictly_increasing_per_sender_and_uid() {
    let mut v = LegacyNonces::new();
    let (sender, uid) = (
        "5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD",
        "8b7f3a2e-0000-11ee-8000-000000000000",
    );
    // Any first nonce, even 0 (monotonic clocks have arbitrary origins).
    v.check(sender, uid, 0).expect("first");
    v.commit(sender, uid, 5).expect("first");
    assert_eq!(v.check(sender, uid, 5), Err(NonceError::TooSmall));
    assert_eq!(v.check(sender, uid, 4), Err(NonceError::TooSmall));
    assert_eq!(NonceError::TooSmall.to_string(), "Nonce is too small");
    v.commit(sender, uid, 6).expect("increasing");
    // Another receptor of the same hotkey is independent.
    v.commit(sender, "other", 1).expect("independent");
    assert_eq!(v.commit(sender, uid, 6), Err(NonceError::TooSmall));
}

#[test]
fn legacy_table_is_bounded() {
    let mut v = LegacyNonces::with_max_keys(1_000);
    for i in 0..100_000u64 {
        v.commit("sender", &i.to_string(), i + 1).expect("new key");
        assert!(v.len() <= 1_000);
    }
}

#[test]
fn config_defaults_are_documented_values() {
    let c = Config::new();
    assert_eq!(c.max_keys(), 65_536);
    assert_eq!(c.policy(), &NoncePolicy::Strict(StrictConfig::new()));
    assert_eq!(Config::sdk().max_keys(), 1 << 20);
    let strict = StrictConfig::new()
        .with_window(Duration::from_secs(4))
        .with_max_future(Duration::from_secs(2))
        .with_max_timeout(Duration::from_secs(60))
        .with_min_version(7_002_000)
        .with_max_nonces_per_key(16_384);
    assert_eq!(strict, StrictConfig::default());
}

#[test]
fn verifiers_can_be_shared_behind_a_mutex() {
    fn shareable<T: Send + Sync>() {}
    shareable::<NonceVerifier>();
    shareable::<LegacyNonces>();
    shareable::<neuron_protocol::signing::BtAuthVerifier>();
}
