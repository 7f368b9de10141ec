//! Every status of the pipeline, with requests built and signed by hand.

use std::time::Duration;

use neuron_examples::{Dummy, Hashed, StreamCount, TensorEcho};
use neuron_tensor::bt::BtTensor;

use crate::common::*;

async fn axon() -> neuron_axon::Running {
    start(config(), attach_examples).await
}

fn hashed_request() -> Hashed {
    let meta = serde_json::json!({"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": null});
    Hashed {
        text: "héllo wörld".into(),
        numbers: vec![1, 2, 3],
        ratio: 0.1,
        flag: true,
        meta: meta.as_object().unwrap().clone(),
        output: None,
    }
}

#[tokio::test]
async fn ok_dummy_echoes_inputs_and_sets_the_axon_terminal() {
    let axon = axon().await;
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(21))
        // A client cannot choose the status by presetting it in the body.
        .json_edit(|m| {
            m.insert(
                "axon".into(),
                serde_json::json!({"status_code": 299, "status_message": "x"}),
            );
        });
    let resp = send(axon.local_addr(), &req).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.header("bt_header_axon_status_code"), Some("200"));
    assert_eq!(
        resp.header("bt_header_axon_status_message"),
        Some("Success")
    );
    assert_eq!(resp.header("name"), Some("Dummy"));
    let body = resp.json();
    assert_eq!(body["dummy_input"], 21);
    assert_eq!(body["dummy_output"], 42);
    assert_eq!(body["axon"]["status_code"], 200);
    assert_eq!(body["axon"]["status_message"], "Success");
    assert_eq!(body["axon"]["hotkey"], axon.hotkey());
    assert!(body["axon"]["process_time"].as_f64().unwrap() >= 0.0);
    assert_eq!(body["dendrite"]["hotkey"], bob().ss58());
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "timeout",
            "total_size",
            "header_size",
            "dendrite",
            "axon",
            "computed_body_hash",
            "dummy_input",
            "dummy_output"
        ]
    );
}

#[tokio::test]
async fn ok_hashed_and_tensor_echo() {
    let axon = axon().await;
    let resp = send(
        axon.local_addr(),
        &Req::signed(&bob(), axon.hotkey(), &hashed_request()),
    )
    .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.json()["output"], "héllo wörld|6|0.1|True|5");
    // UTF-8 is sent raw, not \u-escaped.
    assert!(
        std::str::from_utf8(&resp.body)
            .unwrap()
            .contains("héllo wörld")
    );

    let echo = TensorEcho {
        tensor: Some(BtTensor {
            buffer: Some(
                "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/"
                    .into(),
            ),
            dtype: "float32".into(),
            shape: vec![4],
        }),
        scale: 2.0,
    };
    let req = Req::signed(&bob(), axon.hotkey(), &echo);
    let want_hash = "13b11199110a911b34d1b6555e4976da0c1854b05656a29739562bf54dfff2fb";
    assert!(
        req.headers
            .iter()
            .any(|(k, v)| k == "computed_body_hash" && v == want_hash)
    );
    let resp = send(axon.local_addr(), &req).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(
        resp.json()["tensor"]["buffer"],
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAACAPwAAAEAAAEBA"
    );
    assert_eq!(
        resp.header("computed_body_hash"),
        Some("afd2bb2507963440aa621d6a6ecee57196754d475b0f8419672b144264d2addb")
    );
}

/// A caller on any supported CPython release is accepted when its text holds characters the
/// releases render differently, and the reply's hash is rendered the way the caller's was.
#[tokio::test]
async fn the_callers_cpython_release_is_matched_and_the_reply_hashed_like_it() {
    use neuron_protocol::pystr::Unicode;
    let axon = axon().await;
    let mut fields = hashed_request();
    // U+1FAE8 (Unicode 15.0) inside a list: escaped by CPython 3.10 and 3.11 only
    fields
        .meta
        .insert("new".into(), serde_json::json!(["face \u{1fae8}"]));
    let mut reply_hashes = Vec::new();
    for unicode in Unicode::ALL {
        let req = Req::signed_as(&bob(), axon.hotkey(), &fields, unicode);
        let resp = send(axon.local_addr(), &req).await;
        assert_eq!(resp.status, 200, "{unicode}: {:?}", resp.body);
        let reply: Hashed = serde_json::from_value(resp.json()).unwrap();
        assert_eq!(reply.output.as_deref(), Some("héllo wörld|6|0.1|True|6"));
        let want = neuron_protocol::hash::synapse_body_hash_in(&reply, unicode).unwrap();
        assert_eq!(resp.header("computed_body_hash"), Some(want.as_str()));
        reply_hashes.push(want);
    }
    // two renderings: before and after Unicode 15.0
    assert_eq!(reply_hashes[0], reply_hashes[1]);
    assert_ne!(reply_hashes[1], reply_hashes[2]);
    assert_eq!(reply_hashes[2], reply_hashes[4]);
    // a hash that no release's rendering gives is still refused
    let wrong = Req::signed(&bob(), axon.hotkey(), &hashed_request());
    let wrong = wrong.json_edit(|body| {
        body.insert("text".into(), "changed \u{1fae8}".into());
    });
    assert_eq!(send(axon.local_addr(), &wrong).await.status, 500);
}

#[tokio::test]
async fn ok_stream() {
    let axon = axon().await;
    let resp = send(
        axon.local_addr(),
        &Req::signed(&bob(), axon.hotkey(), &StreamCount { n: 3 }),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(resp.header("bt_header_axon_status_code"), Some("200"));
    assert_eq!(resp.header("name"), Some("StreamCount"));
    assert_eq!(&resp.body[..], b"tok0\ntok1\ntok2\n");
}

async fn status_of(axon: &neuron_axon::Running, req: &Req) -> (u16, String) {
    let resp = send(axon.local_addr(), req).await;
    let message = serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if resp.status != 405 && resp.status != 422 {
        assert_eq!(
            resp.header("bt_header_axon_status_code"),
            Some(resp.status.to_string().as_str()),
            "status header"
        );
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
    (resp.status, message)
}

#[tokio::test]
async fn unauthorized() {
    let axon = axon().await;
    let alice = axon.hotkey().to_owned();
    let dummy = Dummy::new(1);

    let wrong_axon = Req::signed(&bob(), bob().ss58(), &dummy);
    let (code, msg) = status_of(&axon, &wrong_axon).await;
    assert_eq!(code, 401);
    assert!(
        msg.starts_with("Not Verified with error: Signature mismatch with "),
        "{msg}"
    );

    let bad_sig = Req::signed(&bob(), &alice, &dummy).header(
        "bt_header_dendrite_signature",
        &format!("0x{}", "ab".repeat(64)),
    );
    assert_eq!(status_of(&axon, &bad_sig).await.0, 401);

    let no_sig = Req::signed(&bob(), &alice, &dummy).without("bt_header_dendrite_signature");
    assert_eq!(
        status_of(&axon, &no_sig).await,
        (401, "Not Verified with error: Missing Signature".to_owned())
    );

    let no_prefix = Req::signed(&bob(), &alice, &dummy);
    let sig = no_prefix
        .headers
        .iter()
        .find(|(k, _)| k == "bt_header_dendrite_signature")
        .unwrap()
        .1
        .clone();
    let no_prefix = no_prefix.header("bt_header_dendrite_signature", &sig[2..]);
    let (code, msg) = status_of(&axon, &no_prefix).await;
    assert_eq!(
        (code, msg.as_str()),
        (
            401,
            "Not Verified with error: Invalid signature format. Expected hex string."
        )
    );

    let once = Req::signed(&bob(), &alice, &dummy);
    assert_eq!(status_of(&axon, &once).await.0, 200);
    let (code, msg) = status_of(&axon, &once).await;
    assert_eq!(code, 401, "replay");
    assert!(msg.starts_with("Not Verified with error: Nonce"), "{msg}");

    let old = Req::signed_with(
        &bob(),
        &alice,
        &dummy,
        now_ns() - 60_000_000_000,
        "old-uuid",
    );
    let (code, msg) = status_of(&axon, &old).await;
    assert_eq!(code, 401);
    assert!(msg.contains("Nonce is too old"), "{msg}");

    // Strict policy: nonces from the future and a missing version header are refused.
    let future = Req::signed_with(
        &bob(),
        &alice,
        &dummy,
        now_ns() + 3_600_000_000_000,
        "future-uuid",
    );
    assert_eq!(status_of(&axon, &future).await.0, 401);
    let no_version = Req::signed(&bob(), &alice, &dummy).without("bt_header_dendrite_version");
    assert_eq!(status_of(&axon, &no_version).await.0, 401);
    assert!(axon.counters().unauthorized >= 8);
}

#[tokio::test]
async fn forbidden_uses_the_verified_hotkey() {
    let axon = axon().await;
    let alice = axon.hotkey().to_owned();
    let req = Req::signed(&charlie(), &alice, &Dummy::new(1));
    assert_eq!(
        status_of(&axon, &req).await,
        (
            403,
            "Forbidden. Key is blacklisted: test blacklist.".to_owned()
        )
    );
    // Claiming to be Charlie without Charlie's key is a 401, not a 403: the blacklist
    // never sees unverified claims.
    let forged = Req::signed(&bob(), &alice, &Dummy::new(1))
        .header("bt_header_dendrite_hotkey", charlie().ss58());
    assert_eq!(status_of(&axon, &forged).await.0, 401);
}

#[tokio::test]
async fn too_many_requests_per_verified_hotkey_before_the_body_is_read() {
    use neuron_axon::RateLimit;
    // 2 at once, then one per 1000 s: the third call inside the test is over the limit
    let axon = start(
        config().with_rate_limit(Some(RateLimit::new(0.001, 2))),
        attach_examples,
    )
    .await;
    let alice = axon.hotkey().to_owned();
    for _ in 0..2 {
        let req = Req::signed(&bob(), &alice, &Dummy::new(1));
        assert_eq!(status_of(&axon, &req).await.0, 200);
    }
    // over the limit: 429 with retry-after, even with a body that would be refused (it is
    // never read)
    let req = Req::signed(&bob(), &alice, &Dummy::new(1)).body("not json");
    let resp = send(axon.local_addr(), &req).await;
    assert_eq!(resp.status, 429, "{:?}", resp.body);
    assert_eq!(resp.header("bt_header_axon_status_code"), Some("429"));
    assert_eq!(
        resp.header("bt_header_axon_status_message"),
        Some("Rate limit exceeded")
    );
    let retry: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((900..=1000).contains(&retry), "retry-after {retry}");
    // another verified caller has its own budget
    let dave = neuron_wallet::Keypair::from_uri("//Dave").unwrap();
    let req = Req::signed(&dave, &alice, &Dummy::new(1));
    assert_eq!(status_of(&axon, &req).await.0, 200);
    // a forged claim to be Dave is refused by verification and spends nothing of his
    let forged = Req::signed(&bob(), &alice, &Dummy::new(1))
        .header("bt_header_dendrite_hotkey", dave.ss58());
    assert_eq!(status_of(&axon, &forged).await.0, 401);
    let req = Req::signed(&dave, &alice, &Dummy::new(1));
    assert_eq!(status_of(&axon, &req).await.0, 200);
    let counters = axon.counters();
    assert_eq!(counters.rate_limited, 1);
    assert_eq!(counters.ok, 4);
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let axon = axon().await;
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(1));
    assert_eq!(
        status_of(&axon, &req.clone().path("/Nope")).await,
        (404, "Synapse not found".to_owned())
    );
    assert_eq!(status_of(&axon, &req.clone().path("/")).await.0, 404);
    let resp = send(axon.local_addr(), &req.clone().method("PUT")).await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("POST, GET"));
    // GET is served like POST.
    assert_eq!(status_of(&axon, &req.method("GET")).await.0, 200);
}

#[tokio::test]
async fn request_timeout_for_a_slow_handler() {
    let axon = axon().await;
    let req = Req::signed(
        &bob(),
        axon.hotkey(),
        &Slow {
            delay_ms: 10_000,
            done: None,
        },
    )
    .header("timeout", "0.3");
    let started = std::time::Instant::now();
    let (code, msg) = status_of(&axon, &req).await;
    assert_eq!(code, 408);
    assert_eq!(msg, "Response timeout after: 0.3s");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn payload_too_large() {
    let axon = start(config().with_max_body_bytes(1024), attach_examples).await;
    let mut dummy = Req::signed(&bob(), axon.hotkey(), &Dummy::new(1));
    dummy = dummy.json_edit(|m| {
        m.insert(
            "padding".into(),
            serde_json::Value::String("x".repeat(4096)),
        );
    });
    assert_eq!(status_of(&axon, &dummy).await.0, 413);
}

#[tokio::test]
async fn unprocessable_and_internal_errors() {
    let axon = axon().await;
    let alice = axon.hotkey().to_owned();

    let bad_json = Req::signed(&bob(), &alice, &Dummy::new(1)).body("{not json");
    assert_eq!(status_of(&axon, &bad_json).await.0, 422);

    let mismatch = Req::signed(&bob(), &alice, &hashed_request()).json_edit(|m| {
        m.insert("text".into(), "tampered".into());
    });
    let (code, msg) = status_of(&axon, &mismatch).await;
    assert_eq!(code, 500);
    assert!(msg.starts_with("Internal Server Error #"), "{msg}");

    let missing = Req::signed(&bob(), &alice, &Dummy::new(1)).json_edit(|m| {
        m.remove("dummy_input");
    });
    assert_eq!(status_of(&axon, &missing).await.0, 500);

    let mistyped = Req::signed(&bob(), &alice, &Dummy::new(1)).json_edit(|m| {
        m.insert("dummy_input".into(), "many".into());
    });
    assert_eq!(status_of(&axon, &mistyped).await.0, 500);

    let bad_header =
        Req::signed(&bob(), &alice, &Dummy::new(1)).header("bt_header_dendrite_nonce", "soon");
    assert_eq!(status_of(&axon, &bad_header).await.0, 500);
}

#[tokio::test]
async fn builtin_ping_and_body_echo() {
    let axon = axon().await;
    let ping = Req::signed(&bob(), axon.hotkey(), &neuron_protocol::synapse::Ping {});
    let resp = send(axon.local_addr(), &ping).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.header("name"), Some("Synapse"));
    let req = Req::signed(&bob(), axon.hotkey(), &Dummy::new(5)).json_edit(|m| {
        m.insert("timeout".into(), serde_json::json!(7.5));
        m.insert("total_size".into(), serde_json::json!(1234));
    });
    let body = send(axon.local_addr(), &req).await.json();
    assert_eq!(body["timeout"], 7.5);
    assert_eq!(body["total_size"], 1234);
    assert_eq!(body["dummy_output"], 10);
}
