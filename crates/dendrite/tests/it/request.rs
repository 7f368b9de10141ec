//! What goes on the wire (wire-modern §3.1, §5.2).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use neuron_dendrite::{Clock, Config, Dendrite};
use neuron_wallet::{Keypair, PublicKey, Signature};

use crate::axon_at;
use crate::server::{AXON_HOTKEY, Mode, TestAxon};
use crate::synapses::Dummy;

#[tokio::test]
async fn headers_body_and_signature_follow_the_sdk() {
    let server = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let next = Arc::new(AtomicU64::new(1_795_310_834_565_781_717));
    let clock = {
        let next = next.clone();
        Clock::from_fn(move || next.fetch_add(1, Ordering::SeqCst))
    };
    let config = Config::new().with_external_ip("127.0.0.1");
    let dendrite = Dendrite::with_clock(Keypair::from_uri("//Bob").unwrap(), config, clock);
    let synapse = Dummy {
        dummy_input: 21,
        dummy_output: None,
    };
    let r = dendrite
        .call(&axon_at(server.addr), synapse, Duration::from_secs(12))
        .await;
    assert!(r.is_success(), "{:?}", r.status_message());

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/Dummy");
    let names: Vec<&str> = req.headers.iter().map(|(k, _)| k.as_str()).collect();
    let bt: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !matches!(*n, "host" | "accept" | "content-length" | "content-type"))
        .collect();
    assert_eq!(
        bt,
        [
            "name",
            "timeout",
            "bt_header_axon_ip",
            "bt_header_axon_port",
            "bt_header_axon_hotkey",
            "bt_header_dendrite_ip",
            "bt_header_dendrite_version",
            "bt_header_dendrite_nonce",
            "bt_header_dendrite_uuid",
            "bt_header_dendrite_hotkey",
            "bt_header_dendrite_signature",
            "bt_header_input_obj_dummy_input",
            "header_size",
            "total_size",
            "computed_body_hash",
        ]
    );
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("name"), "Dummy");
    assert_eq!(header("timeout"), "12.0");
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("bt_header_axon_ip"), "127.0.0.1");
    assert_eq!(
        header("bt_header_axon_port"),
        server.addr.port().to_string()
    );
    assert_eq!(header("bt_header_axon_hotkey"), AXON_HOTKEY);
    assert_eq!(header("bt_header_dendrite_ip"), "127.0.0.1");
    assert_eq!(header("bt_header_dendrite_version"), "10005000");
    assert_eq!(header("bt_header_dendrite_nonce"), "1795310834565781717");
    assert_eq!(header("bt_header_dendrite_uuid"), dendrite.uuid());
    assert_eq!(
        header("bt_header_dendrite_hotkey"),
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    );
    assert_eq!(header("bt_header_input_obj_dummy_input"), "MA==");
    let hash = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";
    assert_eq!(header("computed_body_hash"), hash);

    // Signed for the target axon (§5.2).
    let message = format!(
        "1795310834565781717.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.{AXON_HOTKEY}.{}.{hash}",
        dendrite.uuid()
    );
    let sig_text = header("bt_header_dendrite_signature");
    assert!(
        sig_text.starts_with("0x") && sig_text.len() == 130,
        "{sig_text}"
    );
    let signature = Signature::from_hex(&sig_text).unwrap();
    let bob = PublicKey::from_ss58("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty").unwrap();
    assert!(bob.verify(message.as_bytes(), &signature));
    assert!(!bob.verify(b"something else", &signature));

    // Body: the whole synapse, base fields first, terminals mirroring the headers.
    let body = &req.body;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "timeout",
            "total_size",
            "header_size",
            "dendrite",
            "axon",
            "computed_body_hash",
            "dummy_input",
            "dummy_output"
        ]
    );
    assert_eq!(body["name"], "Dummy");
    assert_eq!(body["timeout"], 12.0);
    assert_eq!(body["dummy_input"], 21);
    assert_eq!(body["dendrite"]["nonce"], 1_795_310_834_565_781_717u64);
    assert_eq!(body["dendrite"]["signature"], sig_text.as_str());
    assert_eq!(body["axon"]["hotkey"], AXON_HOTKEY);
    assert_eq!(body["axon"]["port"], server.addr.port());
}

#[tokio::test]
async fn each_axon_of_a_fan_out_gets_its_own_nonce_and_signature() {
    let a = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let b = TestAxon::start(Mode::Echo, Duration::ZERO).await;
    let dendrite = crate::bob();
    let mut other = axon_at(b.addr);
    other.hotkey = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty".into();
    let axons = [axon_at(a.addr), other];
    let synapse = Dummy {
        dummy_input: 3,
        dummy_output: None,
    };
    let results = dendrite
        .forward(&axons, synapse, Duration::from_secs(5))
        .await;
    assert!(results.iter().all(|r| r.is_success()));
    let sig = |s: &TestAxon| {
        let req = &s.requests()[0];
        let get = |n: &str| req.headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        (
            get("bt_header_dendrite_nonce"),
            get("bt_header_dendrite_signature"),
            get("bt_header_axon_hotkey"),
        )
    };
    let (na, sa, ha) = sig(&a);
    let (nb, sb, hb) = sig(&b);
    assert_ne!(na, nb);
    assert_ne!(sa, sb);
    assert_eq!(ha, AXON_HOTKEY);
    assert_eq!(hb, "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty");
}
