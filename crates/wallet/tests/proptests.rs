//! Property tests: SS58 round trips and panic-freedom of the parsers.
#![allow(clippy::unwrap_used)]

use neuron_wallet::{Keypair, PublicKey, Signature, VerifierCache, keyfile};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ss58_round_trip_small_prefixes(key in any::<[u8; 32]>(), prefix in (0u16..64).prop_filter("reserved", |p| *p != 46 && *p != 47)) {
        let pk = PublicKey(key);
        let s = pk.to_ss58_with_prefix(prefix);
        prop_assert_eq!(PublicKey::from_ss58_with_prefix(&s).unwrap(), (prefix, pk));
    }

    #[test]
    fn ss58_round_trip(key in any::<[u8; 32]>(), prefix in 0u16..=16_383) {
        let pk = PublicKey(key);
        if prefix == 46 || prefix == 47 {
            prop_assert!(pk.try_to_ss58_with_prefix(prefix).is_err());
            return Ok(());
        }
        let s = pk.to_ss58_with_prefix(prefix);
        prop_assert_eq!(PublicKey::from_ss58_with_prefix(&s).unwrap(), (prefix, pk));
        prop_assert_eq!(PublicKey::from_ss58(&pk.to_ss58()).unwrap(), pk);
        prop_assert_eq!(PublicKey::from_ss58_with_prefix(&pk.to_ss58()).unwrap().0, 42);
    }

    #[test]
    fn ss58_single_char_corruption_is_detected(key in any::<[u8; 32]>(), pos in 0usize..48, c in proptest::sample::select(
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".chars().collect::<Vec<_>>()
    )) {
        let s = PublicKey(key).to_ss58();
        let mut chars: Vec<char> = s.chars().collect();
        let pos = pos % chars.len();
        prop_assume!(chars[pos] != c);
        chars[pos] = c;
        let bad: String = chars.into_iter().collect();
        // a 16-bit checksum: a collision is possible in principle, but the decoded key must
        // then differ from the original
        match PublicKey::from_ss58(&bad) {
            Err(_) => {}
            Ok(other) => prop_assert_ne!(other, PublicKey(key)),
        }
    }

    #[test]
    fn from_ss58_never_panics_on_strings(s in ".{0,80}") {
        let _ = PublicKey::from_ss58(&s);
        let _ = PublicKey::from_ss58_with_prefix(&s);
    }

    #[test]
    fn from_ss58_never_panics_on_base58ish(s in "[1-9A-HJ-NP-Za-km-z]{0,70}") {
        if let Ok((prefix, pk)) = PublicKey::from_ss58_with_prefix(&s) {
            prop_assert_eq!(pk.to_ss58_with_prefix(prefix).len() <= 50, true);
        }
    }

    #[test]
    fn from_ss58_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = PublicKey::from_ss58(&s);
        // base58 of random bytes of plausible lengths
        let enc = bs58::encode(&bytes).into_string();
        let _ = PublicKey::from_ss58_with_prefix(&enc);
    }

    #[test]
    fn signature_from_hex_never_panics(s in ".{0,140}") {
        let _ = Signature::from_hex(&s);
        let _ = Signature::from_hex(&format!("0x{s}"));
    }

    #[test]
    fn signature_hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 64)) {
        let mut b = [0u8; 64];
        b.copy_from_slice(&bytes);
        let sig = Signature(b);
        prop_assert_eq!(Signature::from_hex(&sig.to_hex()).unwrap(), sig);
        let cache = VerifierCache::new(4);
        // random signature bytes never verify and never panic
        prop_assert!(cache.verify("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", b"m", &sig.to_hex()).is_err());
    }

    #[test]
    fn verifier_never_panics(addr in ".{0,60}", sig in ".{0,140}", msg in proptest::collection::vec(any::<u8>(), 0..64)) {
        let cache = VerifierCache::new(2);
        let _ = cache.verify(&addr, &msg, &sig);
    }

    #[test]
    fn keyfile_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = std::path::Path::new("fuzz");
        let _ = keyfile::keypair_from_data(p, &bytes);
        let _ = keyfile::public_from_data(p, &bytes);
    }

    #[test]
    fn keyfile_parser_never_panics_on_json_like(s in r#"\{("[a-zA-Z]{1,12}":("[0-9a-fx]{0,140}"|null|[0-9]{1,3}),?){0,7}\}"#) {
        let p = std::path::Path::new("fuzz");
        let _ = keyfile::keypair_from_data(p, s.as_bytes());
        let _ = keyfile::public_from_data(p, s.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sign_verify_round_trip(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..512)) {
        let kp = Keypair::from_seed(&seed).unwrap();
        let sig = kp.sign(&msg);
        prop_assert!(kp.public().verify_raw(&msg, &sig));
        prop_assert!(kp.public().verify(&msg, &sig));
        let cache = VerifierCache::new(4);
        prop_assert_eq!(cache.verify(kp.ss58(), &msg, &sig.to_hex()), Ok(()));
        let mut other = msg.clone();
        other.push(0);
        prop_assert!(!kp.public().verify(&other, &sig));
    }

    #[test]
    fn keyfile_round_trip(seed in any::<[u8; 32]>()) {
        let kp = Keypair::from_seed(&seed).unwrap();
        let p = std::path::Path::new("mem");
        let data = keyfile::keypair_to_data(&kp);
        let back = keyfile::keypair_from_data(p, &data).unwrap();
        prop_assert_eq!(back.public(), kp.public());
        prop_assert_eq!(back.seed(), Some(seed));
        prop_assert_eq!(keyfile::public_from_data(p, &keyfile::public_to_data(&kp.public())).unwrap(), kp.public());
    }
}
