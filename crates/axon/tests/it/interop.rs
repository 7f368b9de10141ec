//! The real Python SDK dendrite (bittensor 10.5) against our axon.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::*;

fn run_client(port: u16, axon_hotkey: &str) -> Value {
    let mut child = Command::new(python())
        .arg(python_script("http_axon_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let args = json!({"port": port, "axon_hotkey": axon_hotkey, "other_hotkey": bob().ss58()});
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{args}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "http_axon_client.py failed: {:?}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad client output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_dendrite_against_rust_axon() {
    let axon = start(config(), attach_examples).await;
    let (port, hotkey) = (axon.local_addr().port(), axon.hotkey().to_owned());
    let r = tokio::task::spawn_blocking(move || run_client(port, &hotkey))
        .await
        .unwrap();

    assert_eq!(r["dummy"]["status"], 200, "{r:#}");
    assert_eq!(r["dummy"]["output"], 42);
    assert_eq!(r["dummy"]["input"], 21);

    assert_eq!(r["hashed"]["status"], 200, "{r:#}");
    assert_eq!(r["hashed"]["output"], r["hashed"]["expected"]);

    assert_eq!(r["tensor_f32"]["status"], 200, "{r:#}");
    assert_eq!(r["tensor_f32"]["values"], json!([0.0, 1.0, 2.0, 3.0]));
    assert_eq!(r["tensor_f32"]["dtype"], "float32");
    assert_eq!(r["tensor_i64"]["status"], 200, "{r:#}");
    assert_eq!(r["tensor_i64"]["values"], json!([3, -6, 9, 12, 15, -18]));
    assert_eq!(r["tensor_i64"]["dtype"], "int64");
    assert_eq!(r["tensor_i64"]["shape"], json!([2, 3]));

    assert_eq!(r["stream"]["status"], 200, "{r:#}");
    assert_eq!(r["stream"]["chunks"], json!(["tok0", "tok1", "tok2"]));

    assert_eq!(r["wrong_axon"]["status"], 401, "{r:#}");
    assert!(
        r["wrong_axon"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Not Verified with error: Signature mismatch")
    );
    assert_eq!(r["blacklisted"]["status"], 403, "{r:#}");
    assert_eq!(
        r["blacklisted"]["message"],
        "Forbidden. Key is blacklisted: test blacklist."
    );
    assert_eq!(r["unknown"]["status"], 404, "{r:#}");
    assert_eq!(r["slow"]["status"], 408, "{r:#}");
    assert_eq!(
        r["replay"],
        json!([{"http": 200, "header": "200"}, {"http": 401, "header": "401"}])
    );
}
