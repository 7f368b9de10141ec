//! `neuron wallet` end to end: create, show and list in a temporary wallet root.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

fn neuron(root: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neuron"))
        .args(args)
        .arg("--wallet.path")
        .arg(root)
        .args(["--wallet.name", "w1", "--wallet.hotkey", "h1"])
        .env_remove("BT_WALLET_URI")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn create_show_list_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, created) = neuron(dir.path(), &["wallet", "create"]);
    assert!(ok, "{created}");
    let address = created
        .lines()
        .find_map(|l| l.strip_prefix("hotkey   "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(address.len(), 48, "{created}");
    assert!(dir.path().join("w1/hotkeys/h1").is_file());

    let (ok, shown) = neuron(dir.path(), &["wallet", "show"]);
    assert!(ok, "{shown}");
    assert!(shown.contains(&address), "{shown}");

    let (ok, listed) = neuron(dir.path(), &["wallet", "list"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains("w1") && listed.contains(&address),
        "{listed}"
    );

    // Creating again without --overwrite must refuse and keep the key.
    let (ok, again) = neuron(dir.path(), &["wallet", "create"]);
    assert!(!ok, "{again}");
    let (_, shown2) = neuron(dir.path(), &["wallet", "show"]);
    assert!(shown2.contains(&address));
}

#[test]
fn show_missing_hotkey_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = neuron(dir.path(), &["wallet", "show"]);
    assert!(!ok);
    assert!(text.contains("loading"), "{text}");
}
