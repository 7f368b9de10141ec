//! The same raw requests to a real SDK 10.5 axon and to ours: with `NoncePolicy::Sdk` the
//! statuses are equal; with the strict default they differ only where documented.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use neuron_examples::{Dummy, Hashed};
use neuron_protocol::{hash, signing};
use serde_json::json;

use crate::common::*;

/// A real SDK axon (//Alice) in a Python process.
struct SdkAxon {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl SdkAxon {
    fn start() -> SdkAxon {
        let mut child = Command::new(python())
            .arg(python_script("http_axon_statuscases.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let hello: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("SDK axon did not start ({e}): {line:?}"));
        assert_eq!(hello["hotkey"], alice().ss58());
        let port = u16::try_from(hello["port"].as_u64().unwrap()).unwrap();
        SdkAxon {
            child,
            stdin,
            stdout,
            port,
        }
    }

    fn statuses(&mut self, cases: &[(String, Req)]) -> Vec<u16> {
        let batch: Vec<serde_json::Value> = cases
            .iter()
            .map(|(id, r)| {
                json!({"id": id, "method": r.method, "path": r.path, "headers": r.headers,
                       "body": String::from_utf8(r.body.clone()).unwrap()})
            })
            .collect();
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", serde_json::Value::Array(batch)).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let out: Vec<serde_json::Value> = serde_json::from_str(&line).unwrap();
        out.iter()
            .map(|v| u16::try_from(v["status"].as_u64().unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SdkAxon {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The verification cases, freshly signed. Ids ending in `*` are expected to differ under
/// the strict policy.
fn cases(axon: &str) -> Vec<(String, Req)> {
    let bob = bob();
    let d = Dummy::new(7);
    let sign = |nonce: u64| Req::signed_with(&bob, axon, &d, nonce, &uuid());
    let mut out = vec![
        ("ok".to_owned(), Req::signed(&bob, axon, &d)),
        (
            "nonce_missing".to_owned(),
            Req::signed(&bob, axon, &d).without("bt_header_dendrite_nonce"),
        ),
        ("nonce_old".to_owned(), sign(now_ns() - 60_000_000_000)),
        (
            "nonce_future*".to_owned(),
            sign(now_ns() + 3_600_000_000_000),
        ),
        (
            "version_missing*".to_owned(),
            Req::signed(&bob, axon, &d).without("bt_header_dendrite_version"),
        ),
        (
            "signature_missing".to_owned(),
            Req::signed(&bob, axon, &d).without("bt_header_dendrite_signature"),
        ),
        (
            "signature_wrong_axon".to_owned(),
            Req::signed(&bob, bob.ss58(), &d),
        ),
        (
            "signature_garbage".to_owned(),
            Req::signed(&bob, axon, &d).header(
                "bt_header_dendrite_signature",
                &format!("0x{}", "12".repeat(64)),
            ),
        ),
        (
            "path_unknown".to_owned(),
            Req::signed(&bob, axon, &d).path("/Unknown"),
        ),
        (
            "method_put".to_owned(),
            Req::signed(&bob, axon, &d).method("PUT"),
        ),
        (
            "json_malformed".to_owned(),
            Req::signed(&bob, axon, &d).body("{\"dummy_input\": "),
        ),
        (
            "field_missing".to_owned(),
            Req::signed(&bob, axon, &d).json_edit(|m| {
                m.remove("dummy_input");
            }),
        ),
    ];
    let no_prefix = Req::signed(&bob, axon, &d);
    let sig = no_prefix
        .headers
        .iter()
        .find(|(k, _)| k == "bt_header_dendrite_signature")
        .unwrap()
        .1
        .clone();
    out.push((
        "signature_no_0x".to_owned(),
        no_prefix.header("bt_header_dendrite_signature", &sig[2..]),
    ));

    // <Bytes>-wrapped signature (polkadot.js style): accepted by the SDK and by us.
    let (nonce, id) = (now_ns(), uuid());
    let h = hash::synapse_body_hash(&d).unwrap();
    let message = signing::http_request_message(nonce, bob.ss58(), axon, &id, &h);
    let wrapped = bob
        .sign(&signing::bytes_wrapped(message.as_bytes()))
        .to_hex();
    out.push((
        "signature_bytes_wrapped".to_owned(),
        Req::signed_with(&bob, axon, &d, nonce, &id)
            .header("bt_header_dendrite_signature", &wrapped),
    ));

    let meta = json!({"k": "v"});
    let hashed = Hashed {
        text: "t".into(),
        numbers: vec![1],
        ratio: 0.5,
        flag: false,
        meta: meta.as_object().unwrap().clone(),
        output: None,
    };
    out.push((
        "hash_mismatch".to_owned(),
        Req::signed(&bob, axon, &hashed).json_edit(|m| {
            m.insert("numbers".into(), json!([2]));
        }),
    ));
    out.push(("hashed_ok".to_owned(), Req::signed(&bob, axon, &hashed)));
    let replay = Req::signed(&bob, axon, &d);
    out.push(("replay_first".to_owned(), replay.clone()));
    out.push(("replay_second".to_owned(), replay));
    out
}

async fn ours(policy_sdk: bool, cases: &[(String, Req)]) -> Vec<u16> {
    let mut config = config();
    if policy_sdk {
        config = config.with_sdk_nonces();
    }
    let axon = start(config, attach_examples).await;
    let mut out = Vec::new();
    for (_, req) in cases {
        out.push(send(axon.local_addr(), req).await.status);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_match_the_sdk_axon() {
    let mut sdk = tokio::task::spawn_blocking(SdkAxon::start).await.unwrap();
    assert_ne!(sdk.port, 0);
    let axon_hotkey = alice().ss58().to_owned();
    for strict in [false, true] {
        let batch = cases(&axon_hotkey);
        let ours = ours(!strict, &batch).await;
        let (batch, theirs) = tokio::task::spawn_blocking(move || {
            let s = sdk.statuses(&batch);
            ((batch, sdk), s)
        })
        .await
        .unwrap();
        let (batch, back) = batch;
        sdk = back;
        let mut report = Vec::new();
        for (((id, _), ours), theirs) in batch.iter().zip(&ours).zip(&theirs) {
            let documented = strict && id.ends_with('*');
            let ok = if documented {
                *ours == 401 && *theirs == 200
            } else {
                ours == theirs
            };
            if !ok {
                report.push(format!("{id}: ours {ours}, sdk {theirs} (strict={strict})"));
            }
        }
        assert!(
            report.is_empty(),
            "status differences:\n{}",
            report.join("\n")
        );
        // Sanity: the table exercises the interesting statuses.
        for want in [200, 401, 404, 405, 422, 500] {
            assert!(theirs.contains(&want), "no {want} in {theirs:?}");
        }
    }
}
