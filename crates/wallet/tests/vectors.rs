//! Known-answer tests from the wire spec (§5.1, §14) and the captured vectors
//! (`modern-http.json` "keys", "signature_triples", "btauth_v1"; `legacy-grpc.json` "ss58.*",
//! "signature.*"). The values are copied here so the tests never depend on files outside the
//! repository; `shared_vector_files_agree` re-reads the JSON files when they are present.
#![allow(clippy::unwrap_used)]

use neuron_wallet::{Error, Keypair, PublicKey, Signature, VerifierCache, VerifyError};

const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// (uri, mini-secret (if the spec gives it), public key, ss58)
const KEYS: &[(&str, Option<&str>, &str, &str)] = &[
    (
        "//Alice",
        Some("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"),
        "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
    ),
    (
        "//Bob",
        Some("398f0c28f98885e046333d4a41c19cee4c37368a9832c6502f6cfd182e2aef89"),
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
    ),
    (
        "//Alice//hotkey",
        None,
        "8a3eca384b8333cb44d3668a182440ef192d080053362a387629f9aba90b893e",
        "5FBy7nNZZ3gBHSPdNQh8msKHxG1yf9pzrCDrnSXphZhJug2P",
    ),
];

/// (public key, message, signature): spec §14.2 and modern-http.json "signature_triples".
/// Triple 1 appears with two different (randomized) signatures, both valid.
const TRIPLES: &[(&str, &str, &str)] = &[
    (
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        "1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.d90fcadc-e613-11f1-b657-02fc00000001.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
        "0xee6a7d7d5f2de3b15ea21cd1833bf9489412df31d2a619615717ed450f2a516fbd81fd8b8519cc49ce564ced66c2a405ad2b99e89a278dfae9e5083ea3416686",
    ),
    (
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        "1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.d90fcadc-e613-11f1-b657-02fc00000001.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
        "0xfc28b73109df1725c7c75fee6c45d3765f7fee88efb6e46f6bf1cc354aca1c5adad74643a124c037be231f4ddc5192f534f48bc4c2a43fd11b9614ecfa9ef285",
    ),
    (
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        "1795310875652506934.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.f18d1970-e613-11f1-93eb-02fc00000001.13b11199110a911b34d1b6555e4976da0c1854b05656a29739562bf54dfff2fb",
        "0x7c64f39dc08881450f58a7284908f2e5ce876cab18f5874a010b4b68fcbd476fdbb6e7343aa646ecbc3ff49d5282c86762e24c968a3a1310dfae60e047eed48b",
    ),
    (
        "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
        "1795310838692887439.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.d314e194-e613-11f1-8eba-02fc00000001",
        "0xd0de3a2da830767995d55b5b1137d8f9151d96276c2f4ff587b32264be669047f87d8a6c392d463be634a6f80f6be5367d1974075d03fd56bd5bc8174ac66c8d",
    ),
];

fn pk(hex_str: &str) -> PublicKey {
    let mut b = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut b).unwrap();
    PublicKey(b)
}

fn raw_verify_other_context(public: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    let pk = schnorrkel::PublicKey::from_bytes(&public.0).unwrap();
    let sig = schnorrkel::Signature::from_bytes(&sig.0).unwrap();
    pk.verify_simple(b"polkadot", msg, &sig).is_ok()
}

#[test]
fn dev_keys_from_uri() {
    for (uri, seed, public, ss58) in KEYS {
        let kp = Keypair::from_uri(uri).unwrap();
        assert_eq!(hex::encode(kp.public().0), *public, "{uri}");
        assert_eq!(kp.ss58(), *ss58, "{uri}");
        assert_eq!(kp.public().to_ss58(), *ss58, "{uri}");
        assert_eq!(PublicKey::from_ss58(ss58).unwrap(), kp.public(), "{uri}");
        // hard junctions only: the mini-secret stays known
        let got_seed = kp.seed().unwrap();
        if let Some(seed) = seed {
            assert_eq!(hex::encode(got_seed), *seed, "{uri}");
            let from_seed = Keypair::from_seed(&hex::decode(seed).unwrap()).unwrap();
            assert_eq!(from_seed.public(), kp.public(), "{uri}");
            let from_hex_uri = Keypair::from_uri(&format!("0x{seed}")).unwrap();
            assert_eq!(from_hex_uri.public(), kp.public(), "{uri}");
        }
        // the seed reported is the one that reproduces the key
        assert_eq!(
            Keypair::from_seed(&got_seed).unwrap().public(),
            kp.public(),
            "{uri}"
        );
    }
}

#[test]
fn dev_phrase_with_explicit_junction_equals_short_uri() {
    let a = Keypair::from_uri(&format!("{DEV_PHRASE}//Alice")).unwrap();
    assert_eq!(a.ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
}

#[test]
fn bare_dev_phrase() {
    let expected_seed = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
    let expected_pub = "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a";
    let kp = Keypair::from_mnemonic(DEV_PHRASE, None).unwrap();
    assert_eq!(hex::encode(kp.public().0), expected_pub);
    assert_eq!(hex::encode(kp.seed().unwrap()), expected_seed);
    assert_eq!(kp.mnemonic(), Some(DEV_PHRASE));
    let by_uri = Keypair::from_uri(DEV_PHRASE).unwrap();
    assert_eq!(by_uri.public(), kp.public());
    assert_eq!(by_uri.mnemonic(), Some(DEV_PHRASE));
    // a BIP-39 password changes the key, and the phrase alone no longer reproduces it
    let with_pw = Keypair::from_mnemonic(DEV_PHRASE, Some("pw")).unwrap();
    assert_ne!(with_pw.public(), kp.public());
    assert_eq!(with_pw.mnemonic(), None);
}

/// Addresses computed by the Python SDK (bittensor-wallet 4.1.1 `Keypair.create_from_uri`),
/// covering soft junctions, passwords, hex seeds with junctions and numeric junctions.
#[test]
fn uri_semantics_match_python_wallet() {
    let cases = [
        (
            format!("{DEV_PHRASE}//Alice/soft///pw"),
            "5Fzyc8Ey4pqDaLZuAoyrk82565rnGwdSj82XtQSRmvCXvUuQ",
        ),
        (
            "//Alice/soft".to_owned(),
            "5C8PhJPLE54x23RjmqBcEEnALryCDWdTJM5xLaoL9W8XEpnt",
        ),
        (
            "//Alice///pw".to_owned(),
            "5CVNhgaHCEe41RKB2QgscUnzJmfZScb6EgYdXrJshoCY8CjY",
        ),
        (
            "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a//foo".to_owned(),
            "5GYv292f6FVWm6WYAom5ptgVyn5HSe7mtptWZkohqmEMbX5v",
        ),
        (
            "//1".to_owned(),
            "5GBNeWRhZc2jXu7D55rBimKYDk8PGk8itRYFTPfC8RJLKG5o",
        ),
        (
            "//0x1234".to_owned(),
            "5DqRiB7pu1bhbxL4UrYc9M8kiUB3iyZxQRrWp4QuWbe7dqeK",
        ),
    ];
    for (uri, ss58) in &cases {
        let kp = Keypair::from_uri(uri).unwrap();
        assert_eq!(kp.ss58(), *ss58, "{uri}");
    }
    // a soft junction loses the mini-secret
    assert_eq!(Keypair::from_uri("//Alice/soft").unwrap().seed(), None);
}

#[test]
fn bad_uris_and_seeds_are_errors() {
    assert!(matches!(
        Keypair::from_uri("0x1234"),
        Err(Error::InvalidUri(_))
    ));
    assert!(matches!(
        Keypair::from_uri("not a valid mnemonic phrase at all"),
        Err(Error::InvalidUri(_))
    ));
    assert!(Keypair::from_mnemonic("bottom drive obey", None).is_err());
    assert!(matches!(
        Keypair::from_seed(&[0u8; 31]),
        Err(Error::InvalidSeedLength { actual: 31, .. })
    ));
    assert!(Keypair::from_seed(&[0u8; 64]).is_err());
}

/// The 64-byte `privateKey` the Python wallet writes for `create_hotkey_from_uri("//Alice")`.
#[test]
fn python_private_key_format() {
    let python_private = "33a6f3093f158a7109f679410bef1a0c54168145e0cecb4df006c1c2fffb1f09925a225d97aa00682d6a59b95b18780c10d7032336e88f3442b42361f4a66011";
    let kp = Keypair::from_private_key(&hex::decode(python_private).unwrap()).unwrap();
    assert_eq!(
        kp.ss58(),
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    );
    assert_eq!(kp.seed(), None);
    let data = neuron_wallet::keyfile::keypair_to_data(&Keypair::from_uri("//Alice").unwrap());
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(json["privateKey"], format!("0x{python_private}"));
}

#[test]
fn legacy_seed_client_vectors() {
    // ss58.seed_client: mini-secret = blake2b-256(b"client")
    let seed = "7d44a2a56c2bb5cc1a1ad747223050a9cfd7cf3951277fb335bdf55bb6ec9d0c";
    let kp = Keypair::from_seed(&hex::decode(seed).unwrap()).unwrap();
    assert_eq!(
        hex::encode(kp.public().0),
        "c474d557ca192feb276d9c4281f2bff51d72628b2a68235aaee7aa2f4552f56f"
    );
    assert_eq!(
        kp.ss58(),
        "5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD"
    );
    // ss58.zero_pubkey.address
    assert_eq!(
        PublicKey([0u8; 32]).to_ss58(),
        "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM"
    );
    assert_eq!(
        PublicKey::from_ss58("5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM").unwrap(),
        PublicKey([0u8; 32])
    );
    // signature.v2: the header value carries a signature over signed_message by seed_client
    let signed = "123456789012345.5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD.5C8TvckcgLSmWGAVdEhPgcvvQEZKvwac35a5Ajrr3Ekyvt6d.8b7f3a2e-0000-11ee-8000-000000000000";
    let header = "123456789012345.5GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD.0x66bee38cee43115fb9f8a2779d936388791e37e22057a6007812b763d769b973b08cd7941bd1e1493f9a59f8f656634ae23268327fbb4bdacc6ed43ee8126c87.8b7f3a2e-0000-11ee-8000-000000000000";
    let parts: Vec<&str> = header.split('.').collect();
    assert_eq!(parts.len(), 4);
    let sig = Signature::from_hex(parts[2]).unwrap();
    let signer = PublicKey::from_ss58(parts[1]).unwrap();
    assert_eq!(signer, kp.public());
    assert!(signer.verify_raw(signed.as_bytes(), &sig));
    assert!(!signer.verify_raw(b"1234567890123455GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD8b7f3a2e-0000-11ee-8000-000000000000", &sig));
    // the receiver of that vector is the blake2b-256(b"server") key
    let server = Keypair::from_seed(
        &hex::decode("a30d9f4b8d309ce5cf7cedb6911e8a8be22656a0b19f9cfde5edccbdf08f046f").unwrap(),
    )
    .unwrap();
    assert_eq!(
        server.ss58(),
        "5C8TvckcgLSmWGAVdEhPgcvvQEZKvwac35a5Ajrr3Ekyvt6d"
    );
    // v1 format: plain concatenation; a fresh signature verifies
    let v1 = "1234567890123455GWHx1myvxwwtPf7VaVe24hQxU7YpDaeUYYwnAD3wtHA24FD8b7f3a2e-0000-11ee-8000-000000000000";
    assert!(
        kp.public()
            .verify_raw(v1.as_bytes(), &kp.sign(v1.as_bytes()))
    );
}

#[test]
fn signature_triples_verify_raw_in_context_substrate_only() {
    let cache = VerifierCache::new(8);
    for (public, msg, sig_hex) in TRIPLES {
        let public = pk(public);
        let sig = Signature::from_hex(sig_hex).unwrap();
        assert_eq!(sig.to_hex(), *sig_hex);
        assert!(public.verify_raw(msg.as_bytes(), &sig), "{msg}");
        assert!(public.verify(msg.as_bytes(), &sig), "{msg}");
        let wrapped = format!("<Bytes>{msg}</Bytes>");
        assert!(
            !public.verify_raw(wrapped.as_bytes(), &sig),
            "wrapped must not verify raw"
        );
        assert!(!raw_verify_other_context(&public, msg.as_bytes(), &sig));
        assert_eq!(
            cache.verify(&public.to_ss58(), msg.as_bytes(), sig_hex),
            Ok(())
        );
        // tampered message
        let mut tampered = msg.as_bytes().to_vec();
        tampered[0] ^= 1;
        assert!(!public.verify(&tampered, &sig));
        assert_eq!(
            cache.verify(&public.to_ss58(), &tampered, sig_hex),
            Err(VerifyError::Mismatch)
        );
        // tampered signature (each of a few positions)
        for pos in [0usize, 17, 31, 32, 50, 62] {
            let mut bad = sig;
            bad.0[pos] ^= 0x04;
            assert!(!public.verify(msg.as_bytes(), &bad), "byte {pos}");
            assert_eq!(
                cache.verify(&public.to_ss58(), msg.as_bytes(), &bad.to_hex()),
                Err(VerifyError::Mismatch)
            );
        }
        // wrong signer
        let other = Keypair::from_uri("//Charlie").unwrap().public();
        assert!(!other.verify(msg.as_bytes(), &sig));
    }
}

#[test]
fn btauth_v1_vector() {
    let alice = Keypair::from_uri("//Alice").unwrap();
    let bob = Keypair::from_uri("//Bob").unwrap();
    let body = br#"{"prompt": "hello"}"#;
    // SHA-256 of the body, computed independently of any crate: the spec's value
    let body_sha256 = "341c57448e531310fbbe83f44cea2a5e838bd9e8a6b82b269f01d0dbbc23c3cc";
    assert_eq!(body.len(), 19);
    let payload = [
        "btauth/1",
        "sr25519",
        "POST",
        "/generate",
        body_sha256,
        "1700000000000000000",
        alice.ss58(),
        bob.ss58(),
    ]
    .join("\n");
    let sig = Signature::from_hex(
        "0xfabacd1cb43914847b993aba70e75c218d3c148cbfc7c0a9f03ed5ff2b50e7061ca95d7b9af62f22d056b274a0118334d432f46f8db8c56a13494383ce5e8a8c",
    )
    .unwrap();
    assert!(alice.public().verify_raw(payload.as_bytes(), &sig));
    assert!(!bob.public().verify_raw(payload.as_bytes(), &sig));
    let with_newline = format!("{payload}\n");
    assert!(!alice.public().verify(with_newline.as_bytes(), &sig));
}

#[test]
fn bytes_wrapped_signatures_are_accepted_by_verify_not_verify_raw() {
    let kp = Keypair::from_uri("//Bob").unwrap();
    let msg = b"1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.x";
    let mut wrapped = b"<Bytes>".to_vec();
    wrapped.extend_from_slice(msg);
    wrapped.extend_from_slice(b"</Bytes>");
    let sig = kp.sign(&wrapped);
    assert!(kp.public().verify(msg, &sig));
    assert!(!kp.public().verify_raw(msg, &sig));
    assert_eq!(
        VerifierCache::new(2).verify(kp.ss58(), msg, &sig.to_hex()),
        Ok(())
    );
}

#[test]
fn sign_then_verify_and_randomized() {
    let kp = Keypair::from_uri("//Alice//hotkey").unwrap();
    let msg = b"hello";
    let a = kp.sign(msg);
    let b = kp.sign(msg);
    assert_ne!(a, b, "sr25519 signatures are randomized");
    assert!(kp.public().verify_raw(msg, &a));
    assert!(kp.public().verify_raw(msg, &b));
    let hex = a.to_hex();
    assert_eq!(hex.len(), 130);
    assert!(hex.starts_with("0x"));
    assert!(
        hex[2..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert_eq!(Signature::from_hex(&hex).unwrap(), a);
    assert_eq!(
        Signature::from_hex(&format!("0x{}", hex[2..].to_uppercase())).unwrap(),
        a
    );
}

#[test]
fn generated_keys() {
    let (kp, phrase) = Keypair::generate();
    assert_eq!(phrase.split_whitespace().count(), 12);
    assert_eq!(kp.mnemonic(), Some(phrase.as_str()));
    let again = Keypair::from_mnemonic(&phrase, None).unwrap();
    assert_eq!(again.public(), kp.public());
    assert_eq!(again.seed(), kp.seed());
    let (other, _) = Keypair::generate();
    assert_ne!(other.public(), kp.public());
}

#[test]
fn debug_does_not_leak_secrets() {
    let (kp, phrase) = Keypair::generate();
    let dbg = format!("{kp:?} {:#?}", kp.clone());
    assert!(dbg.contains(kp.ss58()));
    let seed = hex::encode(kp.seed().unwrap());
    assert!(!dbg.contains(&seed));
    for word in phrase.split_whitespace() {
        assert!(!dbg.contains(&format!(" {word} ")), "{dbg}");
    }
    assert!(!dbg.to_lowercase().contains("secret"));
    let alice = Keypair::from_uri("//Alice").unwrap();
    let dbg = format!("{alice:?}");
    assert!(!dbg.contains("e5be9a5092b81bca"));
    assert!(!dbg.contains("33a6f3093f158a71"));
}

#[test]
fn keypair_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Keypair>();
    check::<PublicKey>();
    check::<Signature>();
    fn check_sync<T: Send + Sync>() {}
    check_sync::<VerifierCache>();
}

#[test]
fn bad_ss58_is_rejected() {
    let good = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // last character changed: checksum fails
    let bad_checksum = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ";
    assert!(matches!(
        PublicKey::from_ss58(bad_checksum),
        Err(Error::InvalidSs58("Invalid checksum"))
    ));
    // every single-character substitution is caught
    let alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    for i in 0..good.len() {
        for c in alphabet.chars().step_by(7) {
            let mut s: Vec<char> = good.chars().collect();
            if s[i] == c {
                continue;
            }
            s[i] = c;
            let s: String = s.into_iter().collect();
            assert!(PublicKey::from_ss58(&s).is_err(), "{s}");
        }
    }
    for bad in [
        "",
        "abc",
        "0OIl",
        &good[1..],
        &format!("{good}1"),
        "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d",
    ] {
        assert!(PublicKey::from_ss58(bad).is_err(), "{bad}");
    }
    let cache = VerifierCache::new(4);
    let sig = Keypair::from_uri("//Alice").unwrap().sign(b"m").to_hex();
    assert!(matches!(
        cache.verify(bad_checksum, b"m", &sig),
        Err(VerifyError::BadAddress(_))
    ));
    assert_eq!(
        cache
            .verify(bad_checksum, b"m", &sig)
            .unwrap_err()
            .to_string(),
        "Invalid SS58 address: Invalid checksum"
    );
    assert_eq!(cache.verify(good, b"m", &sig), Ok(()));
}

#[test]
fn ss58_prefixes() {
    let alice = Keypair::from_uri("//Alice").unwrap().public();
    // Polkadot (0) and Kusama (2) forms of Alice, well known
    assert_eq!(
        alice.to_ss58_with_prefix(0),
        "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"
    );
    assert_eq!(
        alice.to_ss58_with_prefix(2),
        "HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F"
    );
    for prefix in [0u16, 2, 42, 63, 64, 255, 1284, 16_383] {
        let s = alice.to_ss58_with_prefix(prefix);
        assert_eq!(
            PublicKey::from_ss58_with_prefix(&s).unwrap(),
            (prefix, alice)
        );
        assert_eq!(PublicKey::from_ss58(&s).unwrap(), alice);
    }
    assert!(alice.try_to_ss58_with_prefix(16_384).is_err());
    assert_eq!(alice.to_string(), alice.to_ss58());
    assert_eq!(
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
            .parse::<PublicKey>()
            .unwrap(),
        alice
    );
}

#[test]
fn signature_hex_parsing_matches_sdk_messages() {
    let sig = Keypair::from_uri("//Alice").unwrap().sign(b"x");
    let hex = sig.to_hex();
    let no_prefix = &hex[2..];
    let err = Signature::from_hex(no_prefix).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid signature format. Expected hex string."
    );
    assert!(Signature::from_hex(&format!("0X{no_prefix}")).is_err());
    assert!(Signature::from_hex("").is_err());
    assert!(Signature::from_hex("0x").is_err());
    assert!(Signature::from_hex("0x1234").is_err());
    assert!(Signature::from_hex(&format!("{hex}00")).is_err());
    assert!(Signature::from_hex(&hex[..129]).is_err());
    assert!(Signature::from_hex(&format!("0x{}", "zz".repeat(64))).is_err());
    assert!(Signature::from_hex(&format!("0x{}é", &no_prefix[..126])).is_err());

    let cache = VerifierCache::new(4);
    let ss58 = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let e = cache.verify(ss58, b"x", no_prefix).unwrap_err();
    assert!(e.is_missing_hex_prefix());
    assert_eq!(
        e.to_string(),
        "Invalid signature format. Expected hex string."
    );
    assert!(matches!(
        cache.verify(ss58, b"x", "0x1234"),
        Err(VerifyError::BadSignatureFormat(_))
    ));
    // well-formed but not a schnorrkel signature (marker bit unset): a mismatch, like the SDK
    assert_eq!(
        cache.verify(ss58, b"x", &format!("0x{}", "00".repeat(64))),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(cache.verify(ss58, b"x", &hex), Ok(()));
}

#[test]
fn verifier_cache_is_bounded_and_shared_across_threads() {
    let cache = VerifierCache::new(3);
    let keys: Vec<Keypair> = (0..6)
        .map(|i| Keypair::from_uri(&format!("//user{i}")).unwrap())
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = &cache;
            let keys = &keys;
            s.spawn(move || {
                for round in 0..20 {
                    let kp = &keys[(t + round) % keys.len()];
                    let msg = format!("{t}.{round}");
                    let sig = kp.sign(msg.as_bytes()).to_hex();
                    assert_eq!(cache.verify(kp.ss58(), msg.as_bytes(), &sig), Ok(()));
                    let other = &keys[(t + round + 1) % keys.len()];
                    assert_eq!(
                        cache.verify(other.ss58(), msg.as_bytes(), &sig),
                        Err(VerifyError::Mismatch)
                    );
                }
            });
        }
    });
    assert!(cache.len() <= 3);
    assert_eq!(cache.capacity(), 3);
    assert_eq!(VerifierCache::new(0).capacity(), 1);
}

/// Re-reads the shared vector files when the checkout has them beside it (the CI layout), so
/// a vector added there without being copied here is still checked.
#[test]
fn shared_vector_files_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors");
    let modern = root.join("modern-http.json");
    let text = std::fs::read_to_string(&modern)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", modern.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = v["keys"].as_object().unwrap();
    assert!(keys.len() >= 3);
    for (uri, k) in keys {
        let kp = Keypair::from_uri(uri).unwrap();
        assert_eq!(
            hex::encode(kp.public().0),
            k["public_key"].as_str().unwrap(),
            "{uri}"
        );
        assert_eq!(kp.ss58(), k["ss58"].as_str().unwrap(), "{uri}");
    }
    for t in v["signature_triples"].as_array().unwrap() {
        assert_eq!(t["context"], "substrate");
        let public = pk(t["public_key"].as_str().unwrap());
        let sig = Signature::from_hex(t["signature"].as_str().unwrap()).unwrap();
        assert!(public.verify_raw(t["message"].as_str().unwrap().as_bytes(), &sig));
        let signer = Keypair::from_uri(t["signer"].as_str().unwrap()).unwrap();
        assert_eq!(signer.public(), public);
    }
    let b = &v["btauth_v1"];
    let alice = Keypair::from_uri(b["signer"].as_str().unwrap()).unwrap();
    let bob = Keypair::from_uri(b["receiver"].as_str().unwrap()).unwrap();
    let payload = [
        "btauth/1",
        "sr25519",
        b["method"].as_str().unwrap(),
        b["target"].as_str().unwrap(),
        b["body_sha256"].as_str().unwrap(),
        b["nonce"].as_str().unwrap(),
        alice.ss58(),
        bob.ss58(),
    ]
    .join("\n");
    let sig = Signature::from_hex(b["signature"].as_str().unwrap()).unwrap();
    assert!(alice.public().verify_raw(payload.as_bytes(), &sig));

    let legacy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("legacy-grpc.json")).unwrap())
            .unwrap();
    let seed = legacy["ss58.seed_client.blake2b32(seed)"].as_str().unwrap();
    let kp = Keypair::from_seed(&hex::decode(seed).unwrap()).unwrap();
    assert_eq!(
        hex::encode(kp.public().0),
        legacy["ss58.seed_client.pubkey"].as_str().unwrap()
    );
    assert_eq!(
        kp.ss58(),
        legacy["ss58.seed_client.address"].as_str().unwrap()
    );
    assert_eq!(
        PublicKey([0; 32]).to_ss58(),
        legacy["ss58.zero_pubkey.address"].as_str().unwrap()
    );
    let header = legacy["signature.v2.metadata_value"].as_str().unwrap();
    let parts: Vec<&str> = header.split('.').collect();
    let sig = Signature::from_hex(parts[2]).unwrap();
    let signed = legacy["signature.v2.signed_message"].as_str().unwrap();
    assert!(
        PublicKey::from_ss58(parts[1])
            .unwrap()
            .verify_raw(signed.as_bytes(), &sig)
    );
}
