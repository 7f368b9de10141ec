//! Signatures both ways: Python-signed checked in Rust, Rust-signed checked by the SDK.

use neuron_protocol::signing::bytes_wrapped;
use neuron_wallet::{Keypair, PublicKey, Signature};
use serde::Serialize;

use super::{Emitted, RUST_SIGNATURES, SCRIPT, VerifyResults, emitted, fail_with, seed};

/// Messages signed in Python by //Bob (from its seed) verify here, and the controls don't.
#[test]
fn python_signatures_verify_in_rust() -> anyhow::Result<()> {
    let out = emitted()?;
    let mut mismatches = Vec::new();
    for (i, s) in out.signatures.iter().enumerate() {
        let pk = PublicKey::from_ss58(&s.ss58)?;
        let sig = Signature::from_hex(&s.signature)?;
        let msg = hex::decode(&s.message_hex)?;
        let (raw, sdk) = (pk.verify_raw(&msg, &sig), pk.verify(&msg, &sig));
        if (raw, sdk) != (s.raw, s.sdk) {
            mismatches.push(format!(
                "signature {i} ({}): python says raw={} sdk={}, rust says raw={raw} sdk={sdk}",
                s.note, s.raw, s.sdk
            ));
        }
    }
    let valid = out.signatures.iter().filter(|s| s.raw).count();
    println!(
        "agreement: {} python signatures checked in rust ({valid} valid), {} mismatches",
        out.signatures.len(),
        mismatches.len()
    );
    fail_with("python→rust signature", &mismatches)
}

/// One Rust-signed message and what the SDK must say about it.
#[derive(Serialize)]
struct Pair {
    ss58: String,
    message_hex: String,
    signature: String,
    #[serde(skip)]
    want: (bool, bool),
    #[serde(skip)]
    note: &'static str,
}

/// A deterministic byte string (xorshift), so failures reproduce.
fn bytes_from(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

fn rust_pairs(out: &Emitted) -> anyhow::Result<Vec<Pair>> {
    let bob = Keypair::from_uri("//Bob")?;
    let alice = Keypair::from_uri("//Alice")?;
    let mut state = seed() | 1;
    let mut pairs = Vec::with_capacity(RUST_SIGNATURES);
    for i in 0..RUST_SIGNATURES {
        let msg = match i % 3 {
            0 => out.cases[i % out.cases.len()]
                .signing_message
                .clone()
                .into_bytes(),
            _ => {
                let len = (state % 160) as usize;
                bytes_from(&mut state, len)
            }
        };
        let signer = if i % 2 == 0 { &bob } else { &alice };
        let (shown, sig, want, note) = match i % 10 {
            7 => {
                let mut tampered = msg.clone();
                match tampered.first_mut() {
                    Some(b) => *b ^= 1,
                    None => tampered.push(b'!'),
                }
                (tampered, signer.sign(&msg), (false, false), "tampered")
            }
            8 => (
                msg.clone(),
                signer.sign(&bytes_wrapped(&msg)),
                (true, false),
                "bytes_wrapped",
            ),
            _ => (msg.clone(), signer.sign(&msg), (true, true), "valid"),
        };
        // every 25th pair claims the other key
        let (ss58, want, note) = if i % 25 == 24 {
            let other = if i % 2 == 0 { &alice } else { &bob };
            (other.ss58().to_owned(), (false, false), "wrong_key")
        } else {
            (signer.ss58().to_owned(), want, note)
        };
        pairs.push(Pair {
            ss58,
            message_hex: hex::encode(shown),
            signature: sig.to_hex(),
            want,
            note,
        });
    }
    Ok(pairs)
}

/// Messages signed here verify with the SDK's `Keypair.verify` and py-sr25519-bindings.
#[test]
fn rust_signatures_verify_in_python() -> anyhow::Result<()> {
    let out = emitted()?;
    let pairs = rust_pairs(out)?;
    let input = serde_json::to_vec(&serde_json::json!({ "pairs": &pairs }))?;
    let results: VerifyResults = neuron_tests::run_python(SCRIPT, &["verify"], &input)?;
    assert_eq!(results.results.len(), pairs.len(), "one result per pair");
    let mut mismatches = Vec::new();
    for (i, (p, r)) in pairs.iter().zip(&results.results).enumerate() {
        if (r.sdk, r.strict) != p.want {
            mismatches.push(format!(
                "pair {i} ({}): expected sdk={} strict={}, python says sdk={} strict={}",
                p.note, p.want.0, p.want.1, r.sdk, r.strict
            ));
        }
    }
    let valid = pairs.iter().filter(|p| p.want.1).count();
    println!(
        "agreement: {} rust signatures checked by the sdk ({valid} valid), {} mismatches",
        pairs.len(),
        mismatches.len()
    );
    fail_with("rust→python signature", &mismatches)
}
