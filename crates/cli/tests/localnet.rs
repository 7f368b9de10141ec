//! `neuron localnet` end to end: exit status, the table, the saved metagraph.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

fn neuron(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn localnet_succeeds_and_prints_every_dialect_for_every_peer() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("net");
    let (ok, out, err) = neuron(&[
        "localnet",
        "--neurons",
        "3",
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(ok, "localnet failed:\n{out}\n{err}");
    assert!(out.contains("localnet: OK, 27 calls to 3 peers"), "{out}");
    // Progress went to stderr while it worked.
    assert!(err.contains("gossip: full knowledge after"), "{err}");
    assert!(err.contains("27/27"), "{err}");
    for miner in ["miner0", "miner1", "miner2"] {
        for (dialect, call) in [
            ("http", "Hashed"),
            ("http", "TensorEcho"),
            ("native", "TensorEcho"),
            ("http", "StreamCount (stream)"),
            ("native", "Dummy (auto dialect)"),
            ("grpc", "text_causal_lm"),
            ("grpc", "text_last_hidden_state"),
            ("grpc", "backward"),
            ("grpc", "generate"),
        ] {
            let row = out
                .lines()
                .find(|l| {
                    let cells: Vec<&str> = l.split_whitespace().collect();
                    cells.first() == Some(&miner)
                        && cells.get(1) == Some(&dialect)
                        && l.contains(call)
                })
                .unwrap_or_else(|| panic!("no row {miner} {dialect} {call} in\n{out}"));
            assert!(row.contains(" 200 ") || row.contains(" Success "), "{row}");
            assert!(!row.contains("FAILED"), "{row}");
        }
    }
    // Equal scores: every miner weighs 1/3, the validator 0.
    assert_eq!(out.matches("0.3333").count(), 3, "{out}");

    // The saved metagraph loads and shows the 4 neurons and the validator's weights.
    let (ok, shown, err) = neuron(&["metagraph", "--file", saved.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(shown.contains("n = 4"), "{shown}");
    assert_eq!(
        shown.matches("http,native,grpc,gossip").count(),
        3,
        "{shown}"
    );
    assert!(shown.contains("weights of uid"), "{shown}");
}

#[test]
fn localnet_fails_with_the_reason_when_calls_fail() {
    // A 1 ms deadline is too short for the language model calls.
    let (ok, out, err) = neuron(&["localnet", "--neurons", "1", "--timeout", "0.001"]);
    assert!(!ok, "localnet should fail:\n{out}\n{err}");
    assert!(err.contains("calls failed"), "{err}");
    assert!(out.contains("FAILED"), "{out}");
}

#[test]
fn corrupt_saved_metagraph_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad");
    std::fs::write(
        dir.path().join("bad.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.json"), b"{}").unwrap();
    let (ok, _, err) = neuron(&["metagraph", "--file", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("loading the metagraph"), "{err}");
}
