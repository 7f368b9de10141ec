//! The harness keys and the sdkpeer patches.

use neuron_wallet::Keypair;
use serde_json::Value;

use super::emitted;

/// The harness keys: spec §14.1 values, Rust derivation, and the Python peer's seed keys.
#[test]
fn harness_keys_match_the_spec_and_the_python_peer() -> anyhow::Result<()> {
    const DEV_PHRASE: &str =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    let spec = [
        (
            DEV_PHRASE,
            "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e",
            "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a",
            None,
        ),
        (
            "//Alice",
            "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a",
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
            Some("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
        ),
        (
            "//Bob",
            "398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89",
            "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
            Some("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"),
        ),
    ];
    for (uri, seed, public, ss58) in spec {
        let kp = Keypair::from_uri(uri)?;
        assert_eq!(hex::encode(kp.public().0), public, "public key of {uri:?}");
        assert_eq!(
            kp.seed().map(hex::encode).as_deref(),
            Some(seed),
            "mini-secret of {uri:?}"
        );
        if let Some(ss58) = ss58 {
            assert_eq!(kp.ss58(), ss58, "ss58 of {uri}");
        }
        let from_seed = Keypair::from_seed(&hex::decode(seed)?)?;
        assert_eq!(
            from_seed.public(),
            kp.public(),
            "seed and URI of {uri:?} disagree"
        );
    }

    // sdkpeer.SEEDS: every key the Python peers use is the one Rust derives from its URI.
    let out = emitted()?;
    assert!(out.keys.len() >= 3, "sdkpeer reports too few keys");
    for (uri, key) in &out.keys {
        let field = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kp = if uri.is_empty() {
            Keypair::from_uri(DEV_PHRASE)?
        } else {
            Keypair::from_uri(uri)?
        };
        assert_eq!(
            kp.seed().map(hex::encode),
            Some(field("seed")),
            "sdkpeer seed of {uri:?}"
        );
        assert_eq!(
            hex::encode(kp.public().0),
            field("public_key"),
            "sdkpeer public key of {uri:?}"
        );
        assert_eq!(kp.ss58(), field("ss58"), "sdkpeer ss58 of {uri:?}");
        assert_eq!(
            field("public_key"),
            field("sdk_uri_public_key"),
            "SDK URI derivation of {uri:?}"
        );
    }
    Ok(())
}

/// The sdkpeer patches are in force: loopback only, fixed external IP, torch-less Tensor.
#[test]
fn sdkpeer_patches_are_in_force() -> anyhow::Result<()> {
    let check = &emitted()?.self_check;
    assert!(
        check.refuses_remote_connect,
        "sdkpeer lets a peer connect off the machine"
    );
    assert!(check.allows_loopback_connect, "sdkpeer refuses loopback");
    assert!(
        check.refuses_dns,
        "sdkpeer lets a peer resolve remote names"
    );
    assert_eq!(check.external_ip, "127.0.0.1");
    // spec §10 worked example: float32 [0, 0.5, 1, 1.5]
    assert_eq!(
        check.tensor_buffer,
        "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/"
    );
    Ok(())
}
