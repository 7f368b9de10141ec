//! Wallet layout and keyfile format (compared with files written by bittensor-wallet 4.1.1).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use neuron_wallet::{Error, Keypair, PublicKey, Wallet, keyfile};

/// A hotkey file written by the Python wallet (`create_new_hotkey(use_password=False)`).
const PY_HOTKEY: &str = r#"{"ss58Address":"5EWdF9RrhwhFZVEvZ7MTqDXqpzgdSXEoap4qskqz7PcNNUZx","cryptoType":1,"secretSeed":"0xdea581841f1f4bdb343505efd1b9db2d93ec5a4b347c68dec73df197d80511c3","publicKey":"0x6c3d520c33e1db6f181672e104b86424b8b4acda680757c4ea089720be769d1c","accountId":"0x6c3d520c33e1db6f181672e104b86424b8b4acda680757c4ea089720be769d1c","privateKey":"0x591c7d7c60b97044a619b9c83a37cae225c4d81ba0990f9dfa9ea3a63f7fb1080070589771839a9dc20ed8574f355cfff5e48850eac4934806d31bde77f8144a","secretPhrase":"vicious act security panther smile poverty lonely find repeat bright charge orchard"}"#;
/// `create_hotkey_from_uri("//Alice")`: only the expanded private key, no seed or phrase.
const PY_URI_HOTKEY: &str = r#"{"ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY","cryptoType":1,"privateKey":"0x33a6f3093f158a7109f679410bef1a0c54168145e0cecb4df006c1c2fffb1f09925a225d97aa00682d6a59b95b18780c10d7032336e88f3442b42361f4a66011","publicKey":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d","accountId":"0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"}"#;
const PY_COLDKEYPUB: &str = r#"{"accountId":"0x185c80eeb38829eb3e4e1f1cf6266d208dbbdd7c3b1a0d384759343e8a472839","ss58Address":"5CceV8CTVAfQPawBVCVWJL5RBaetbVzMWnhM8jrJ1dovmM48","publicKey":"0x185c80eeb38829eb3e4e1f1cf6266d208dbbdd7c3b1a0d384759343e8a472839","cryptoType":1}"#;
/// An ed25519 hotkey (`crypto_type=0`).
const PY_ED25519_HOTKEY: &str = r#"{"accountId":"0xbafebe2b8489e986a0b069a4aa70a34e4d1bbf467586ef7145141dcdefcbb5c0","publicKey":"0xbafebe2b8489e986a0b069a4aa70a34e4d1bbf467586ef7145141dcdefcbb5c0","privateKey":"0xbd8381a2c1fe46d1da69904a124d3052833666efe89e9e5134799d0ab3fb61e7","cryptoType":0,"secretSeed":"0xbd8381a2c1fe46d1da69904a124d3052833666efe89e9e5134799d0ab3fb61e7","ss58Address":"5GHtSNBnwYiJsuW944BM6dWHvX9W3TAm2n9sfmNuhpv7MB1K","secretPhrase":"distance letter frequent style release forget paper pretty visit grace impulse symptom"}"#;

fn put(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn layout() {
    let w = Wallet::new("/r", "cold", "hot");
    assert_eq!(w.hotkey_path(), Path::new("/r/cold/hotkeys/hot"));
    assert_eq!(w.hotkeypub_path(), Path::new("/r/cold/hotkeys/hotpub.txt"));
    assert_eq!(w.coldkeypub_path(), Path::new("/r/cold/coldkeypub.txt"));
    assert_eq!(w.coldkey_path(), Path::new("/r/cold/coldkey"));
    assert!(Wallet::default_path().ends_with(".bittensor/wallets"));
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(
            Wallet::default_path(),
            Path::new(&home).join(".bittensor/wallets")
        );
        assert_eq!(
            Wallet::new("~/w", "a", "b").root(),
            Path::new(&home).join("w")
        );
    }
}

#[test]
fn loads_python_hotkey_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "w1", "h1");
    put(&w.hotkey_path(), PY_HOTKEY.as_bytes());
    let kp = w.load_hotkey().unwrap();
    assert_eq!(
        kp.ss58(),
        "5EWdF9RrhwhFZVEvZ7MTqDXqpzgdSXEoap4qskqz7PcNNUZx"
    );
    assert_eq!(
        hex::encode(kp.seed().unwrap()),
        "dea581841f1f4bdb343505efd1b9db2d93ec5a4b347c68dec73df197d80511c3"
    );
    assert_eq!(
        kp.mnemonic(),
        Some("vicious act security panther smile poverty lonely find repeat bright charge orchard")
    );
    // Rust writes the same fields, same values
    let ours: serde_json::Value = serde_json::from_slice(&keyfile::keypair_to_data(&kp)).unwrap();
    let theirs: serde_json::Value = serde_json::from_str(PY_HOTKEY).unwrap();
    assert_eq!(ours, theirs);

    let uri = Wallet::new(dir.path(), "w1", "huri");
    put(&uri.hotkey_path(), PY_URI_HOTKEY.as_bytes());
    let kp = uri.load_hotkey().unwrap();
    assert_eq!(
        kp.ss58(),
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
    );
    assert_eq!(kp.seed(), None);

    put(&w.coldkeypub_path(), PY_COLDKEYPUB.as_bytes());
    assert_eq!(
        w.coldkeypub().unwrap().to_ss58(),
        "5CceV8CTVAfQPawBVCVWJL5RBaetbVzMWnhM8jrJ1dovmM48"
    );
    let ours: serde_json::Value =
        serde_json::from_slice(&keyfile::public_to_data(&w.coldkeypub().unwrap())).unwrap();
    assert_eq!(
        ours,
        serde_json::from_str::<serde_json::Value>(PY_COLDKEYPUB).unwrap()
    );
}

#[test]
fn older_keyfile_shapes_load() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "old", "h");
    // bittensor ≤ 6 style: spaces, nulls, no cryptoType, no privateKey
    let alice = Keypair::from_uri("//Alice").unwrap();
    let seed = hex::encode(alice.seed().unwrap());
    let old = format!(
        "{{\"accountId\": \"{pk}\", \"publicKey\": \"{pk}\", \"secretPhrase\": null, \"secretSeed\": \"0x{seed}\", \"ss58Address\": \"{ss}\"}}\n",
        pk = alice.public().to_hex(),
        ss = alice.ss58()
    );
    put(&w.hotkey_path(), old.as_bytes());
    assert_eq!(w.load_hotkey().unwrap().public(), alice.public());
    // phrase only
    let phrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    put(
        &w.hotkey_path(),
        format!("{{\"secretPhrase\": \"{phrase}\"}}").as_bytes(),
    );
    assert_eq!(
        hex::encode(w.load_hotkey().unwrap().public().0),
        "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"
    );
    // coldkeypub with nulls and only an ss58Address
    put(
        &w.coldkeypub_path(),
        format!(
            "{{\"ss58Address\": \"{}\", \"secretSeed\": null}}",
            alice.ss58()
        )
        .as_bytes(),
    );
    assert_eq!(w.coldkeypub().unwrap(), alice.public());
}

#[test]
fn encrypted_and_foreign_keyfiles_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "enc", "h");
    for (magic, method) in [
        (&b"$NACL\x01\x02\x03\xff"[..], "NaCl"),
        (&b"$ANSIBLE_VAULT;1.1;AES256\n3132"[..], "Ansible Vault"),
        (&b"gAAAAABk-legacy-fernet"[..], "legacy"),
    ] {
        put(&w.hotkey_path(), magic);
        let err = w.load_hotkey().unwrap_err();
        assert!(
            matches!(err, Error::KeyfileEncrypted { method: m, .. } if m == method),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("encrypted") && msg.contains("cannot decrypt"),
            "{msg}"
        );
        put(&w.coldkey_path(), magic);
        assert!(matches!(
            w.load_coldkey(),
            Err(Error::KeyfileEncrypted { .. })
        ));
    }
    put(&w.hotkey_path(), PY_ED25519_HOTKEY.as_bytes());
    assert!(matches!(
        w.load_hotkey(),
        Err(Error::UnsupportedCryptoType { crypto_type: 0, .. })
    ));
    put(&w.hotkey_path(), b"not json");
    let err = w.load_hotkey().unwrap_err();
    assert!(matches!(err, Error::InvalidKeyfile { .. }));
    assert!(
        !err.to_string().contains("not json"),
        "content must not be echoed"
    );
    put(&w.hotkey_path(), PY_COLDKEYPUB.as_bytes());
    assert!(matches!(w.load_hotkey(), Err(Error::InvalidKeyfile { .. })));
    fs::remove_file(w.hotkey_path()).unwrap();
    assert!(matches!(w.load_hotkey(), Err(Error::KeyfileNotFound(_))));
}

#[test]
fn mismatched_keyfiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "m", "h");
    let bob = Keypair::from_uri("//Bob").unwrap();
    let bob_pk = bob.public().to_hex();
    // secret of Alice, public parts of Bob
    let mut v: serde_json::Value = serde_json::from_str(PY_URI_HOTKEY).unwrap();
    v["publicKey"] = bob_pk.clone().into();
    v["accountId"] = bob_pk.clone().into();
    v["ss58Address"] = bob.ss58().into();
    put(&w.hotkey_path(), v.to_string().as_bytes());
    assert!(matches!(w.load_hotkey(), Err(Error::KeyMismatch { .. })));
    // inconsistent public fields
    let mut v: serde_json::Value = serde_json::from_str(PY_URI_HOTKEY).unwrap();
    v["ss58Address"] = bob.ss58().into();
    put(&w.hotkey_path(), v.to_string().as_bytes());
    assert!(matches!(w.load_hotkey(), Err(Error::KeyMismatch { .. })));
    // seed and phrase that disagree (Python would load the phrase, we the seed)
    let mut v: serde_json::Value = serde_json::from_str(PY_HOTKEY).unwrap();
    v["secretPhrase"] =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk".into();
    put(&w.hotkey_path(), v.to_string().as_bytes());
    assert!(matches!(
        w.load_hotkey(),
        Err(Error::KeyMismatch {
            field: "secretPhrase",
            ..
        })
    ));
    // seed and privateKey that disagree
    let mut v: serde_json::Value = serde_json::from_str(PY_HOTKEY).unwrap();
    v["privateKey"] =
        serde_json::from_str::<serde_json::Value>(PY_URI_HOTKEY).unwrap()["privateKey"].clone();
    put(&w.hotkey_path(), v.to_string().as_bytes());
    assert!(matches!(
        w.load_hotkey(),
        Err(Error::KeyMismatch {
            field: "privateKey",
            ..
        })
    ));
}

#[test]
fn create_write_list_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wallets");
    let w = Wallet::new(&root, "miner", "default");
    assert_eq!(Wallet::list_wallets(&root).unwrap(), Vec::<String>::new());
    assert_eq!(w.list_hotkeys().unwrap(), Vec::<String>::new());

    let (kp, phrase) = w.create_hotkey(false).unwrap();
    assert_eq!(phrase.split_whitespace().count(), 12);
    let loaded = w.load_hotkey().unwrap();
    assert_eq!(loaded.public(), kp.public());
    assert_eq!(loaded.seed(), kp.seed());
    assert_eq!(loaded.mnemonic(), Some(phrase.as_str()));
    assert_eq!(w.hotkeypub().unwrap(), kp.public());

    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(w.hotkey_path()).unwrap()).unwrap();
    let obj = json.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accountId",
            "cryptoType",
            "privateKey",
            "publicKey",
            "secretPhrase",
            "secretSeed",
            "ss58Address"
        ]
    );
    assert_eq!(obj["cryptoType"], 1);
    assert_eq!(obj["secretPhrase"], phrase.as_str());
    assert_eq!(obj["ss58Address"], kp.ss58());
    assert_eq!(obj["publicKey"], kp.public().to_hex());
    assert_eq!(
        obj["secretSeed"],
        format!("0x{}", hex::encode(kp.seed().unwrap()))
    );
    assert_eq!(obj["privateKey"].as_str().unwrap().len(), 2 + 128);
    let pubjson: serde_json::Value =
        serde_json::from_slice(&fs::read(w.hotkeypub_path()).unwrap()).unwrap();
    let mut pkeys: Vec<&str> = pubjson
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    pkeys.sort_unstable();
    assert_eq!(
        pkeys,
        ["accountId", "cryptoType", "publicKey", "ss58Address"]
    );

    // no clobbering
    assert!(matches!(
        w.create_hotkey(false),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        w.write_hotkey(&Keypair::from_uri("//Bob").unwrap(), false),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(w.load_hotkey().unwrap().public(), kp.public());
    // overwrite
    let bob = Keypair::from_uri("//Bob").unwrap();
    w.write_hotkey(&bob, true).unwrap();
    let loaded = w.load_hotkey().unwrap();
    assert_eq!(loaded.ss58(), bob.ss58());
    assert_eq!(loaded.seed(), bob.seed());
    assert_eq!(w.hotkeypub().unwrap(), bob.public());

    let alice = Keypair::from_uri("//Alice").unwrap().public();
    w.write_coldkeypub(&alice, false).unwrap();
    assert!(matches!(
        w.write_coldkeypub(&alice, false),
        Err(Error::AlreadyExists(_))
    ));
    w.write_coldkeypub(&alice, true).unwrap();
    assert_eq!(w.coldkeypub().unwrap(), alice);

    Wallet::new(&root, "miner", "second")
        .create_hotkey(false)
        .unwrap();
    Wallet::new(&root, "validator", "default")
        .create_hotkey(false)
        .unwrap();
    assert_eq!(w.list_hotkeys().unwrap(), ["default", "second"]);
    assert_eq!(Wallet::list_wallets(&root).unwrap(), ["miner", "validator"]);

    // no temp files left behind
    for entry in fs::read_dir(w.wallet_dir().join("hotkeys")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with('.'), "leftover {name}");
    }

    #[cfg(unix)]
    {
        assert_eq!(mode(&w.hotkey_path()), 0o600);
        assert_eq!(mode(&w.hotkeypub_path()), 0o600);
        assert_eq!(mode(&w.coldkeypub_path()), 0o600);
    }
}

#[test]
fn public_key_only_wallet_has_no_secret_leak_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "x", "h");
    let (kp, phrase) = w.create_hotkey(false).unwrap();
    // corrupt the public part: the error must not print the phrase
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(w.hotkey_path()).unwrap()).unwrap();
    v["publicKey"] = PublicKey([9; 32]).to_hex().into();
    put(&w.hotkey_path(), v.to_string().as_bytes());
    let err = w.load_hotkey().unwrap_err().to_string();
    assert!(!err.contains(&phrase), "{err}");
    assert!(!err.contains(&hex::encode(kp.seed().unwrap())));
}

#[test]
fn names_that_escape_the_wallet_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, hotkey) in [
        ("..", "h"),
        ("w", "../../x"),
        ("", "h"),
        ("w", ""),
        ("a/b", "h"),
    ] {
        let w = Wallet::new(dir.path(), name, hotkey);
        assert!(w.create_hotkey(false).is_err(), "{name:?}/{hotkey:?}");
    }
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn concurrent_no_clobber_writes_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "race", "h");
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let w = &w;
                s.spawn(move || {
                    let kp = Keypair::from_uri(&format!("//racer{i}")).unwrap();
                    w.write_hotkey(&kp, false).is_ok() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(winners, 1);
    w.load_hotkey().unwrap();
}
