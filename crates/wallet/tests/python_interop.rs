//! Cross-language tests against the real Python `bittensor_wallet` (4.1.1) in the project
//! venv, through `tests/python/wallet_interop.py`.
//!
//! The interpreter is `$NEURON_PYTHON`, else `<workspace root>/.venv/bin/python`. A missing
//! interpreter is a failure (run `cargo xtask venv`), never a skip.
//! Random inputs come from a seed printed on failure; set `NEURON_WALLET_INTEROP_SEED` to
//! replay one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use neuron_wallet::{Keypair, PublicKey, Signature, VerifierCache, Wallet};
use serde_json::{Value, json};

const MESSAGES: usize = 200;

fn workspace_root() -> PathBuf {
    let lexical = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Resolve `..` physically once, here: Python finds its venv from the interpreter path
    // *as given*, so that path must not hide a `..` (only the venv's own symlink may stay).
    std::fs::canonicalize(&lexical).unwrap_or(lexical)
}

fn python() -> PathBuf {
    let path = std::env::var_os("NEURON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python interpreter {} not found: run `cargo xtask venv` to create the project venv \
         (or point NEURON_PYTHON at a Python with bittensor-wallet installed)",
        path.display()
    );
    path
}

/// Runs one request through the Python helper and returns its JSON answer.
fn py(request: Value) -> Value {
    let script = workspace_root().join("tests/python/wallet_interop.py");
    assert!(script.exists(), "missing {}", script.display());
    let mut child = Command::new(python())
        .arg(&script)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    // A helper that dies early closes its stdin; its stderr, reported below, says why.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python helper failed for op {}:\n{}",
        request["op"],
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad helper output ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// splitmix64: small, good enough for test inputs, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("NEURON_WALLET_INTEROP_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("NEURON_WALLET_INTEROP_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Random messages: empty, ASCII request-like, and arbitrary binary, up to 1 KiB.
    fn messages(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new(), b"<Bytes>x</Bytes>".to_vec()];
        while out.len() < n {
            let len = (self.next() % 1024) as usize;
            if self.next().is_multiple_of(2) {
                out.push(self.bytes(len));
            } else {
                out.push(
                    (0..len)
                        .map(|_| b"0123456789abcdef.-5FGH"[(self.next() % 22) as usize])
                        .collect(),
                );
            }
        }
        out
    }
}

fn hexes(messages: &[Vec<u8>]) -> Vec<String> {
    messages.iter().map(hex::encode).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// (a) a hotkey created by the Python wallet loads in Rust with the same address, and
/// Python's signatures with it verify in Rust.
#[test]
fn python_created_hotkey_loads_in_rust() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let created = py(json!({"op": "create_hotkey", "root": root, "name": "pyw", "hotkey": "pyh"}));
    let wallet = Wallet::new(root, "pyw", "pyh");
    let kp = wallet.load_hotkey().unwrap();
    assert_eq!(kp.ss58(), created["ss58"].as_str().unwrap());
    assert_eq!(
        hex::encode(kp.public().0),
        created["public_key"].as_str().unwrap()
    );
    assert!(kp.seed().is_some(), "Python writes secretSeed");
    assert!(kp.mnemonic().is_some(), "Python writes secretPhrase");
    assert_eq!(
        wallet.hotkeypub().unwrap(),
        kp.public(),
        "Python's <hotkey>pub.txt"
    );
    assert_eq!(wallet.list_hotkeys().unwrap(), ["pyh"]);

    // //Alice through create_hotkey_from_uri: only privateKey in the file
    let uri = py(
        json!({"op": "create_hotkey_from_uri", "root": root, "name": "pyw", "hotkey": "alice", "uri": "//Alice"}),
    );
    let alice = Wallet::new(root, "pyw", "alice").load_hotkey().unwrap();
    assert_eq!(alice.ss58(), uri["ss58"].as_str().unwrap());
    assert_eq!(
        alice.ss58(),
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    );

    // and Python signatures made with the file's key verify in Rust
    let mut rng = Rng::from_env();
    let msgs = rng.messages(20);
    let signed = py(
        json!({"op": "load_hotkey_and_sign", "root": root, "name": "pyw", "hotkey": "pyh", "messages": hexes(&msgs)}),
    );
    for (m, s) in msgs.iter().zip(strings(&signed["signatures"])) {
        assert!(kp.public().verify_raw(m, &Signature::from_hex(&s).unwrap()));
    }
}

/// (b) a hotkey written by Rust loads in Python with the same address, and a Python
/// signature with it verifies in Rust; Rust's coldkeypub.txt loads in Python too.
#[test]
fn rust_written_hotkey_loads_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let mut rng = Rng::from_env();
    let msgs = rng.messages(30);
    let cache = VerifierCache::new(16);

    let generated = Wallet::new(root, "rw", "generated");
    let (gen_kp, _) = generated.create_hotkey(false).unwrap();
    let from_uri = Wallet::new(root, "rw", "uri");
    from_uri
        .write_hotkey(&Keypair::from_uri("//Alice//hotkey").unwrap(), false)
        .unwrap();
    let soft = Wallet::new(root, "rw", "soft");
    // no mini-secret: only privateKey is written, like Python does for URIs
    let soft_kp = Keypair::from_uri("//Bob/soft").unwrap();
    assert!(soft_kp.seed().is_none());
    soft.write_hotkey(&soft_kp, false).unwrap();
    let seeded = Wallet::new(root, "rw", "seeded");
    let seeded_kp = Keypair::from_seed(&rng.bytes(32)).unwrap();
    seeded.write_hotkey(&seeded_kp, false).unwrap();

    for (wallet, kp) in [
        (&generated, gen_kp),
        (&from_uri, Keypair::from_uri("//Alice//hotkey").unwrap()),
        (&soft, soft_kp),
        (&seeded, seeded_kp),
    ] {
        let answer = py(json!({
            "op": "load_hotkey_and_sign", "root": root, "name": "rw",
            "hotkey": wallet.hotkey_name(), "messages": hexes(&msgs),
        }));
        assert_eq!(
            answer["ss58"].as_str().unwrap(),
            kp.ss58(),
            "{}",
            wallet.hotkey_name()
        );
        assert_eq!(
            answer["hotkeypub_ss58"].as_str(),
            Some(kp.ss58()),
            "{answer}"
        );
        for (m, s) in msgs.iter().zip(strings(&answer["signatures"])) {
            let sig = Signature::from_hex(&s).unwrap();
            assert!(kp.public().verify_raw(m, &sig));
            assert_eq!(cache.verify(kp.ss58(), m, &s), Ok(()));
        }
    }

    let cold = Keypair::from_uri("//Charlie").unwrap().public();
    generated.write_coldkeypub(&cold, false).unwrap();
    let answer = py(json!({"op": "coldkeypub", "root": root, "name": "rw"}));
    assert_eq!(answer["ss58"].as_str().unwrap(), cold.to_ss58());
}

/// (c) signatures made in Rust verify in Python, Python's verify in Rust, over many random
/// messages; corrupted ones are refused by both.
#[test]
fn signatures_cross_verify_over_random_messages() {
    let mut rng = Rng::from_env();
    let msgs = rng.messages(MESSAGES);
    let uris = ["//Alice", "//Bob//hotkey", "//Alice/soft///pw"];
    let cache = VerifierCache::new(16);
    for uri in uris {
        let kp = Keypair::from_uri(uri).unwrap();

        // Rust → Python: good signatures, plus a corrupted copy of every 10th
        let mut items = Vec::new();
        let mut expected = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let sig = kp.sign(m);
            items.push(
                json!({"ss58": kp.ss58(), "message": hex::encode(m), "signature": sig.to_hex()}),
            );
            expected.push(true);
            if i % 10 == 0 {
                let mut bad = sig;
                bad.0[(rng.next() % 64) as usize] ^= 1 << (rng.next() % 8);
                items.push(json!({"ss58": kp.ss58(), "message": hex::encode(m), "signature": bad.to_hex()}));
                expected.push(false);
                let mut other = m.clone();
                other.push(b'!');
                items.push(json!({"ss58": kp.ss58(), "message": hex::encode(&other), "signature": sig.to_hex()}));
                expected.push(false);
            }
        }
        let answer = py(json!({"op": "verify", "items": items}));
        let results: Vec<bool> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        assert_eq!(
            results, expected,
            "{uri}: Python's verdicts on Rust signatures"
        );

        // Python → Rust
        let answer = py(json!({"op": "sign_uri", "uri": uri, "messages": hexes(&msgs)}));
        assert_eq!(answer["ss58"].as_str().unwrap(), kp.ss58(), "{uri}");
        for (m, s) in msgs.iter().zip(strings(&answer["signatures"])) {
            let sig = Signature::from_hex(&s).unwrap();
            assert!(kp.public().verify_raw(m, &sig), "{uri}");
            assert_eq!(cache.verify(kp.ss58(), m, &s), Ok(()));
            let mut other = m.clone();
            other.push(0);
            assert!(!kp.public().verify(&other, &sig));
        }
    }
}

/// Derivation semantics: random URIs (phrases, hard/soft junctions, passwords, hex seeds)
/// give the same addresses in both.
#[test]
fn uri_derivation_agrees() {
    let mut rng = Rng::from_env();
    let phrase = Keypair::generate().1;
    let words = [
        "Alice",
        "Bob",
        "hotkey",
        "1",
        "0",
        "42",
        "0x1234",
        "validator",
        "miner-7",
        "é",
    ];
    let mut uris = vec![
        "//Alice".to_owned(),
        "//Alice//hotkey".to_owned(),
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk".to_owned(),
        phrase.clone(),
        format!("{phrase}///secret"),
    ];
    for _ in 0..40 {
        let mut uri = match rng.next() % 3 {
            0 => String::new(),
            1 => phrase.clone(),
            _ => format!("0x{}", hex::encode(rng.bytes(32))),
        };
        for _ in 0..=(rng.next() % 3) {
            uri.push_str(if rng.next().is_multiple_of(2) {
                "//"
            } else {
                "/"
            });
            uri.push_str(words[(rng.next() % words.len() as u64) as usize]);
        }
        if rng.next().is_multiple_of(4) {
            uri.push_str("///pw");
        }
        uris.push(uri);
    }
    let answer = py(json!({"op": "uris", "uris": uris}));
    for (uri, ss58) in uris.iter().zip(strings(&answer["ss58"])) {
        assert_eq!(Keypair::from_uri(uri).unwrap().ss58(), ss58, "{uri}");
    }
}

/// SS58: Rust-encoded addresses of random keys and prefixes (1- and 2-byte forms) decode to
/// the same key in Python; corrupted ones are refused by both.
#[test]
fn ss58_agrees() {
    let mut rng = Rng::from_env();
    let mut addresses = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100 {
        let mut key = [0u8; 32];
        key.copy_from_slice(&rng.bytes(32));
        let prefix = match i % 3 {
            0 => 42,
            1 => match (rng.next() % 64) as u16 {
                46 | 47 => 45, // reserved: refused by both (see ss58_reserved_prefixes_refused_by_both)
                p => p,
            },
            _ => 64 + (rng.next() % (16_384 - 64)) as u16,
        };
        let address = PublicKey(key).to_ss58_with_prefix(prefix);
        addresses.push(address.clone());
        expected.push(Some(hex::encode(key)));
        // flip one character
        let mut chars: Vec<char> = address.chars().collect();
        let pos = (rng.next() as usize) % chars.len();
        chars[pos] = if chars[pos] == 'z' { 'y' } else { 'z' };
        let bad: String = chars.into_iter().collect();
        let ours = PublicKey::from_ss58(&bad).ok().map(|k| hex::encode(k.0));
        addresses.push(bad);
        expected.push(ours);
    }
    let answer = py(json!({"op": "ss58_decode", "addresses": addresses}));
    let theirs: Vec<Option<String>> = answer["public_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect();
    for ((addr, ours), theirs) in addresses.iter().zip(&expected).zip(&theirs) {
        assert_eq!(ours, theirs, "{addr}");
    }
}

/// Addresses with the reserved prefixes 46/47 and a valid checksum: the SDK refuses them, so
/// does Rust.
#[test]
fn ss58_reserved_prefixes_refused_by_both() {
    let key = [5u8; 32];
    let mut addresses = Vec::new();
    for prefix in [46u8, 47] {
        let mut raw = vec![prefix];
        raw.extend_from_slice(&key);
        let mut h = <blake2::Blake2b512 as blake2::Digest>::new();
        blake2::Digest::update(&mut h, b"SS58PRE");
        blake2::Digest::update(&mut h, &raw);
        let sum = blake2::Digest::finalize(h);
        raw.extend_from_slice(&sum[..2]);
        let address = bs58::encode(raw).into_string();
        assert!(PublicKey::from_ss58(&address).is_err(), "{address}");
        addresses.push(address);
    }
    let answer = py(json!({"op": "ss58_decode", "addresses": addresses}));
    assert_eq!(answer["public_keys"], json!([null, null]));
}
