//! A grpcio receptor written from the spec (tests/python/grpc_client_peer.py) against the
//! Rust legacy axon.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

fn run_peer(port: u16, axon_hotkey: &str) -> Value {
    let script = workspace_root().join("tests/python/grpc_client_peer.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let args = json!({
        "port": port,
        "axon_hotkey": axon_hotkey,
        "seed": hex::encode(bob().seed().unwrap()),
        "blacklisted_seed": hex::encode(eve().seed().unwrap()),
        "tokens": {"fail": FAIL_TOKEN, "bad_shape_output": BAD_SHAPE_TOKEN, "empty_output": EMPTY_TOKEN, "hang": HANG_TOKEN},
    });
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{args}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "grpc_client_peer.py failed: {:?}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad peer output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn refused(v: &Value, details: &str) {
    assert_eq!(
        (v["grpc"].as_str(), v["details"].as_str()),
        (Some("UNAUTHENTICATED"), Some(details)),
        "{v}"
    );
}

fn codes(v: &Value) -> Vec<i64> {
    v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_receptor_against_rust_axon() {
    let (node, mut rx) = start_models().await;
    let (port, hotkey) = (node.addr.port(), node.hotkey.clone());
    let r = tokio::task::spawn_blocking(move || run_peer(port, &hotkey))
        .await
        .unwrap();
    assert_eq!(r["client_hotkey"], bob().ss58());

    let all = &r["all_types"];
    assert_eq!(
        (all["grpc"].as_str(), all["code"].as_i64()),
        (Some("OK"), Some(1)),
        "{all}"
    );
    assert_eq!(codes(all), [1, 1, 1, 1, 1]);
    assert_eq!(
        (all["version"].as_i64(), all["hotkey"].as_str()),
        (Some(370), Some(node.hotkey.as_str()))
    );
    assert_eq!(
        all["shapes"],
        json!([
            [2, 3, 1024],
            [2, 1024],
            [2, 3, 8],
            [all["shapes"][3][0].clone()],
            [2, 2]
        ])
    );
    assert_eq!(all["hidden_value"], 22.0);
    assert_eq!(all["masked_rows"], json!([12.0, 22.0]));
    assert_eq!(all["lm_top_ids"], json!([[11, 12, 13], [21, 22, 23]]));
    assert!(all["lm_top_prob"].as_f64().unwrap() > 0.99);
    assert_eq!(all["phrases_shape"], json!([2, 4, 3]));
    assert_eq!(
        (&all["phrase_1_1"][1], &all["phrase_1_1"][2]),
        (&json!(23.0), &json!(7.0))
    );
    assert_eq!(all["generated"], json!([[12, 11], [22, 21]]));
    assert_eq!(all["generated_dtype"], "int64");
    assert_eq!(all["synapse_data_echo"], true);

    assert_eq!(codes(&r["v1"]), [1]);
    assert_eq!(codes(&r["replay"][0]), [1]);
    refused(&r["replay"][1], "Nonce is too small");
    refused(&r["bad_signature"], "Signature mismatch");
    refused(&r["old_version"], "Incorrect Version");
    refused(&r["no_signature"], "Request signature missing");
    refused(&r["blacklisted"], "Request type is blacklisted");

    assert_eq!(
        (
            r["empty_request"]["code"].as_i64(),
            codes(&r["empty_request"])
        ),
        (Some(6), vec![6, 6])
    );
    assert_eq!(
        (
            r["length_mismatch"]["code"].as_i64(),
            codes(&r["length_mismatch"])
        ),
        (Some(10), vec![10, 10])
    );
    assert_eq!(
        (
            r["object_array"]["code"].as_i64(),
            codes(&r["object_array"])
        ),
        (Some(1), vec![14, 1])
    );
    assert_eq!(r["object_array"]["n_tensors"], 2);
    assert_eq!(codes(&r["bad_shape"]), [10, 1]);
    assert_eq!(codes(&r["float_tokens"]), [14, 1]);
    assert_eq!(codes(&r["null_synapse"]), [5, 1]);
    assert_eq!(r["null_synapse"]["messages"][0], "Not Implemented");
    assert_eq!(codes(&r["fail"]), [22, 1]);
    assert_eq!(r["fail"]["messages"][0], "model exploded");
    assert_eq!(codes(&r["bad_shape_output"]), [11, 1]);
    assert_eq!(codes(&r["empty_output"]), [7, 1]);
    assert_eq!(
        (r["hang"]["code"].as_i64(), codes(&r["hang"])),
        (Some(2), vec![2, 2])
    );
    assert_eq!(r["hang"]["n_tensors"], 0);
    assert_eq!(codes(&r["bad_topk"]), [13, 9, 1]);
    assert!(
        r["bad_topk"]["messages"][0]
            .as_str()
            .unwrap()
            .starts_with("Synapse response serialization exception with error: ")
    );
    assert_eq!(codes(&r["synapse_check"]), [22]);
    assert_eq!(r["synapse_check"]["messages"][0], "Synapse Check Failed");
    assert_eq!(
        (
            r["cmppack_response"]["serializer"].as_i64(),
            r["cmppack_response"]["dtype"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["cmppack_response"]["value"], 22.0);
    assert_eq!(
        r["oversized"]["grpc"], "RESOURCE_EXHAUSTED",
        "{}",
        r["oversized"]
    );

    assert_eq!(
        (r["backward"]["code"].as_i64(), codes(&r["backward"])),
        (Some(1), vec![1, 1]),
        "{}",
        r["backward"]
    );
    assert_eq!(r["backward"]["n_tensors"], 0);
    assert_eq!(codes(&r["backward_one_tensor"]), [9]);
    assert_eq!(codes(&r["backward_empty"]), [6, 6]);
    let (name, _, shape, sum) = rx.recv().await.unwrap();
    assert_eq!(
        (name.as_str(), shape, sum),
        ("TextLastHiddenState", vec![2, 3, 1024], 0.5 * 6.0 * 1024.0)
    );
    let (name, _, shape, sum) = rx.recv().await.unwrap();
    assert_eq!(
        (name.as_str(), shape, sum),
        ("TextCausalLM", vec![2, 3, neuron_legacy::VOCAB_SIZE], 6.0)
    );
}
