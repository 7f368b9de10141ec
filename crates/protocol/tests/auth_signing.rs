//! Signed messages of the HTTP dialect (wire-modern §5, §14.2), btauth/1 (appendix B)
//! with simulated time, and the status texts.

use std::time::Duration;

use neuron_protocol::signing::btauth::{
    self, BtAuthConfig, BtAuthHeaders, BtAuthRequest, BtAuthVerifier, body_sha256,
};
use neuron_protocol::signing::{
    BtAuthError, http_axon_message, http_request_message, signature_hex,
};
use neuron_protocol::status;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const EMPTY_HASH: &str = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

#[test]
fn http_request_messages_of_the_captured_requests() {
    // wire-modern §14.2, triples 1 and 2 (also modern-http.json "signature_triples").
    assert_eq!(
        http_request_message(
            1_795_310_834_565_781_717,
            BOB,
            ALICE,
            "d90fcadc-e613-11f1-b657-02fc00000001",
            EMPTY_HASH
        ),
        "1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.d90fcadc-e613-11f1-b657-02fc00000001.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
    );
    assert_eq!(
        http_request_message(
            1_795_310_875_652_506_934,
            BOB,
            ALICE,
            "f18d1970-e613-11f1-93eb-02fc00000001",
            "13b11199110a911b34d1b6555e4976da0c1854b05656a29739562bf54dfff2fb"
        ),
        "1795310875652506934.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.f18d1970-e613-11f1-93eb-02fc00000001.13b11199110a911b34d1b6555e4976da0c1854b05656a29739562bf54dfff2fb"
    );
}

#[test]
fn http_axon_message_of_the_captured_401() {
    // wire-modern §14.2 triple 3: the axon signs with the *claimed* axon hotkey (Bob).
    assert_eq!(
        http_axon_message(
            1_795_310_838_692_887_439,
            BOB,
            BOB,
            "d314e194-e613-11f1-8eba-02fc00000001"
        ),
        "1795310838692887439.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.d314e194-e613-11f1-8eba-02fc00000001"
    );
}

#[test]
fn signature_hex_is_0x_lowercase() {
    assert_eq!(signature_hex(&[0xAB, 0x01]), "0xab01");
}

// ----------------------------------------------------------------- btauth/1

const NONCE: u64 = 1_700_000_000_000_000_000;
const BODY: &[u8] = br#"{"prompt": "hello"}"#;
const VECTOR_SIGNATURE: &str = "0xfabacd1cb43914847b993aba70e75c218d3c148cbfc7c0a9f03ed5ff2b50e7061ca95d7b9af62f22d056b274a0118334d432f46f8db8c56a13494383ce5e8a8c";

fn vector_request() -> BtAuthRequest<'static> {
    BtAuthRequest {
        method: "post",
        target: "/generate",
        body: BODY,
        nonce: NONCE,
        sender: ALICE,
        receiver: Some(BOB),
    }
}

#[test]
fn btauth_payload_vector() {
    // wire-modern appendix B: //Alice → //Bob, POST /generate.
    assert_eq!(
        body_sha256(BODY),
        "341c57448e531310fbbe83f44cea2a5e838bd9e8a6b82b269f01d0dbbc23c3cc"
    );
    assert_eq!(
        vector_request().signed_payload(),
        format!(
            "btauth/1\nsr25519\nPOST\n/generate\n341c57448e531310fbbe83f44cea2a5e838bd9e8a6b82b269f01d0dbbc23c3cc\n1700000000000000000\n{ALICE}\n{BOB}"
        )
    );
    let unbound = BtAuthRequest {
        receiver: None,
        ..vector_request()
    };
    assert!(unbound.signed_payload().ends_with(&format!("\n{ALICE}\n-")));
}

#[test]
fn btauth_headers_round_trip() {
    let signature = hex::decode(&VECTOR_SIGNATURE[2..]).expect("hex");
    let sent = vector_request().headers(&signature);
    let names: Vec<&str> = sent.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            btauth::HEADER_VERSION,
            btauth::HEADER_HOTKEY,
            btauth::HEADER_NONCE,
            btauth::HEADER_SIGNATURE,
            btauth::HEADER_RECEIVER
        ]
    );
    let get = |name: &str| {
        sent.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let headers = BtAuthHeaders::from_lookup(get);
    assert_eq!(headers.signature, Some(VECTOR_SIGNATURE));
    assert_eq!(headers.nonce, Some("1700000000000000000"));
}

/// A stand-in for sr25519: accepts exactly the expected (sender, payload, signature).
fn fake_verify(expected_payload: String) -> impl Fn(&str, &[u8], &str) -> bool {
    move |ss58, msg, sig| {
        ss58 == ALICE && msg == expected_payload.as_bytes() && sig == VECTOR_SIGNATURE
    }
}

struct Sent(Vec<(&'static str, String)>);

impl Sent {
    fn new() -> Self {
        let signature = hex::decode(&VECTOR_SIGNATURE[2..]).expect("hex");
        Self(vector_request().headers(&signature))
    }
    fn set(mut self, name: &'static str, value: Option<&str>) -> Self {
        self.0.retain(|(n, _)| *n != name);
        if let Some(v) = value {
            self.0.push((name, v.to_owned()));
        }
        self
    }
    fn headers(&self) -> BtAuthHeaders<'_> {
        BtAuthHeaders::from_lookup(|name| {
            self.0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        })
    }
}

fn verify_at(v: &mut BtAuthVerifier, sent: &Sent, now: u64) -> Result<u64, BtAuthError> {
    let verify = fake_verify(vector_request().signed_payload());
    v.verify(&sent.headers(), "POST", "/generate", BODY, BOB, now, verify)
        .map(|c| c.nonce)
}

#[test]
fn btauth_accepts_then_refuses_the_replay() {
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    assert_eq!(verify_at(&mut v, &Sent::new(), NONCE + 1_000), Ok(NONCE));
    let err = verify_at(&mut v, &Sent::new(), NONCE + 2_000).expect_err("replay");
    assert_eq!(err, BtAuthError::Replayed);
    assert_eq!(
        err.to_string(),
        "this nonce was already accepted from this hotkey"
    );
}

#[test]
fn btauth_freshness_bounds() {
    let s = 1_000_000_000;
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    // `now - nonce > 10 s` is stale; exactly 10 s is fine.
    let err = verify_at(&mut v, &Sent::new(), NONCE + 10 * s + 1).expect_err("stale");
    assert_eq!(
        err.to_string(),
        "nonce is older than the 10s freshness window"
    );
    // `nonce - now > 2 s` is too far ahead; exactly 2 s is fine.
    let err = verify_at(&mut v, &Sent::new(), NONCE - 2 * s - 1).expect_err("future");
    assert_eq!(err.to_string(), "nonce is more than 2s in the future");
    assert!(verify_at(&mut v, &Sent::new(), NONCE + 10 * s).is_ok());
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    assert!(verify_at(&mut v, &Sent::new(), NONCE - 2 * s).is_ok());
    // Negative and huge nonces parse (Python ints) and are stale.
    for nonce in ["-5", "99999999999999999999999999"] {
        let sent = Sent::new().set(btauth::HEADER_NONCE, Some(nonce));
        assert!(
            matches!(verify_at(&mut v, &sent, NONCE), Err(BtAuthError::Stale(_))),
            "{nonce}"
        );
    }
}

#[test]
fn btauth_header_shape_errors_in_upstream_order() {
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    let cases: [(Sent, &str); 8] = [
        (
            Sent::new().set(btauth::HEADER_VERSION, Some("2")),
            "missing or unsupported X-Bittensor-Version (expected '1')",
        ),
        (
            Sent::new().set(btauth::HEADER_HOTKEY, Some("")),
            "missing X-Bittensor-Hotkey",
        ),
        (
            Sent::new().set(btauth::HEADER_NONCE, None),
            "missing X-Bittensor-Nonce",
        ),
        (
            Sent::new().set(btauth::HEADER_NONCE, Some("12a")),
            "X-Bittensor-Nonce is not a decimal integer",
        ),
        (
            Sent::new().set(btauth::HEADER_CRYPTO, Some("ed25519")),
            "unsupported X-Bittensor-Crypto",
        ),
        (
            Sent::new().set(btauth::HEADER_SIGNATURE, Some("0xzz")),
            "X-Bittensor-Signature is not hex",
        ),
        (
            Sent::new().set(btauth::HEADER_RECEIVER, None),
            "missing X-Bittensor-Receiver: this server requires receiver-bound requests",
        ),
        (
            Sent::new().set(btauth::HEADER_RECEIVER, Some(ALICE)),
            "request was signed for a different receiving hotkey",
        ),
    ];
    for (sent, text) in cases {
        let err = verify_at(&mut v, &sent, NONCE).expect_err(text);
        assert_eq!(err.to_string(), text);
        assert_eq!(err.status(), 401);
    }
    // The default scheme may be named explicitly, in any case.
    assert!(
        verify_at(
            &mut v,
            &Sent::new().set(btauth::HEADER_CRYPTO, Some(" SR25519 ")),
            NONCE
        )
        .is_ok()
    );
}

#[test]
fn btauth_bad_signature_is_not_remembered() {
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    let tampered = Sent::new().set(
        btauth::HEADER_SIGNATURE,
        Some(&format!("0x{}", "00".repeat(64))),
    );
    assert_eq!(
        verify_at(&mut v, &tampered, NONCE),
        Err(BtAuthError::BadSignature)
    );
    assert!(
        v.is_empty(),
        "unauthenticated traffic cannot poison the cache"
    );
    assert!(verify_at(&mut v, &Sent::new(), NONCE).is_ok());
    // A short signature is malformed, as upstream's verifier raises on it.
    let short = Sent::new().set(btauth::HEADER_SIGNATURE, Some("0xabcd"));
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    assert!(matches!(
        verify_at(&mut v, &short, NONCE),
        Err(BtAuthError::Malformed(_))
    ));
}

#[test]
fn btauth_optional_receiver() {
    let mut v = BtAuthVerifier::new(BtAuthConfig::new().with_require_receiver(false));
    let unbound = Sent::new().set(btauth::HEADER_RECEIVER, None);
    let payload = BtAuthRequest {
        receiver: None,
        ..vector_request()
    }
    .signed_payload();
    let caller = v.verify(
        &unbound.headers(),
        "POST",
        "/generate",
        BODY,
        BOB,
        NONCE,
        fake_verify(payload),
    );
    assert_eq!(caller.map(|c| c.hotkey), Ok(ALICE));
}

#[test]
fn btauth_replay_cache_is_bounded_and_fails_closed() {
    let s = 1_000_000_000;
    let mut v = BtAuthVerifier::new(BtAuthConfig::new().with_max_entries(100));
    for i in 0..100 {
        v.commit(ALICE, NONCE + i, NONCE).expect("room");
    }
    // Full of entries that could still be replayed: refuse rather than forget.
    assert_eq!(
        v.commit(ALICE, NONCE + 100, NONCE + s),
        Err(BtAuthError::Overloaded)
    );
    assert_eq!(BtAuthError::Overloaded.status(), 503);
    // Once the oldest can no longer pass freshness (12 s later), it is evicted early.
    v.commit(ALICE, NONCE + 100, NONCE + 13 * s)
        .expect("evicts a stale entry");
    assert_eq!(v.len(), 100);
    // After the retention (60 s) the first hundred expire; the one from 13 s stays.
    v.commit(ALICE, NONCE + 200, NONCE + 61 * s)
        .expect("expired");
    assert_eq!(v.len(), 2);
    let mut v = BtAuthVerifier::new(BtAuthConfig::new().with_retention(Duration::from_secs(1)));
    v.commit(ALICE, NONCE, NONCE).expect("first");
    // Retention is raised to the 12 s window, so a replay 5 s later is still caught.
    assert_eq!(
        v.commit(ALICE, NONCE, NONCE + 5 * s),
        Err(BtAuthError::Replayed)
    );
}

#[test]
fn btauth_replay_keys_are_per_hotkey() {
    let mut v = BtAuthVerifier::new(BtAuthConfig::new());
    v.commit(ALICE, NONCE, NONCE).expect("alice");
    v.commit(BOB, NONCE, NONCE).expect("bob, same nonce");
}

// ------------------------------------------------------------------- status

#[test]
fn status_texts() {
    assert_eq!(
        status::not_verified("Missing Nonce"),
        "Not Verified with error: Missing Nonce"
    );
    assert_eq!(
        status::blacklisted("Hotkey not registered"),
        "Forbidden. Key is blacklisted: Hotkey not registered."
    );
    assert_eq!(
        status::not_found("X", &["Synapse", "Dummy"]),
        "Synapse name 'X' not found. Available synapses ['Synapse', 'Dummy']"
    );
    assert_eq!(
        status::not_found("X", &[]),
        "Synapse name 'X' not found. Available synapses []"
    );
    assert_eq!(
        status::internal_error("51722631"),
        "Internal Server Error #51722631"
    );
    assert_eq!(
        status::response_timeout(12.0),
        "Response timeout after: 12.0s"
    );
    assert_eq!(
        status::request_timeout(1.0),
        "Request timeout after 1.0 seconds"
    );
    assert_eq!(
        status::service_unavailable("127.0.0.1", 8091, "Dummy"),
        "Service unavailable at 127.0.0.1:8091/Dummy"
    );
    assert_eq!(
        status::signature_mismatch("1.a.b.c.d", "0x00"),
        "Signature mismatch with 1.a.b.c.d and 0x00"
    );
    use status::DendriteFailure as F;
    assert_eq!(F::ServerTimeout.message("x"), "Server timeout error: x");
    assert_eq!(F::ParseFailure.status(), Some(422));
    assert_eq!(F::ClientResponseError.status(), None);
    for code in [200, 401, 403, 404, 405, 408, 413, 422, 429, 500, 503, 504] {
        assert!(status::reason(code).is_some(), "{code}");
    }
    assert_eq!(status::reason(401), Some("Unauthorized"));
    assert_eq!(status::reason(299), None);
}
