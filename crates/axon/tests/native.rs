//! The native dialect's server side, driven by the raw generated client: handshake, calls,
//! replay and forgery refusals, session checks, blacklist on the session's hotkey.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use neuron_axon::native::proto::native_client::NativeClient;
use neuron_axon::native::proto::{CallRequest, HandshakeRequest, HandshakeResponse};
use neuron_axon::native::{self, hello_message, welcome_message};
use neuron_axon::{Axon, Config, Running};
use neuron_examples::Dummy;
use neuron_protocol::synapse::SynapseMessage;
use neuron_wallet::{Keypair, PublicKey, Signature};
use tonic::transport::Channel;

fn key(uri: &str) -> Keypair {
    Keypair::from_uri(uri).unwrap()
}

fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// An axon as //Alice serving Dummy (output = 2 × input) with //Eve blacklisted, on
/// 127.0.0.1:0, with the native service mounted next to the HTTP dialect.
async fn start() -> Running {
    let alice = key("//Alice");
    let eve = key("//Eve").ss58().to_owned();
    let config = Config::new()
        .with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_port(0);
    let mut axon = Axon::new(alice.clone(), config);
    let _ = axon
        .attach::<Dummy, _, _>(|_caller, mut d| async move {
            d.dummy_output = Some(d.dummy_input * 2);
            Ok(d)
        })
        .blacklist(move |caller| {
            if caller.hotkey == eve {
                Err("eve".to_owned())
            } else {
                Ok(())
            }
        });
    let svc = native::Service::new(&axon, alice, native::Config::default()).unwrap();
    let router = neuron_transport::grpc::add_service(axon.router(), svc.into_tonic());
    axon.serve_router(router).await.unwrap()
}

async fn client(running: &Running) -> NativeClient<Channel> {
    let url = format!("http://{}", running.local_addr());
    NativeClient::connect(url).await.unwrap()
}

fn hello(client: &Keypair, axon: &str, signer: &Keypair) -> HandshakeRequest {
    let nonce: [u8; 32] = rand_bytes();
    let ts = now_ns();
    let msg = hello_message(client.ss58(), axon, ts, &nonce, "uuid-1");
    HandshakeRequest {
        client_hotkey: client.ss58().to_owned(),
        axon_hotkey: axon.to_owned(),
        client_nonce: Bytes::copy_from_slice(&nonce),
        timestamp_ns: ts,
        client_uuid: "uuid-1".to_owned(),
        signature: Bytes::copy_from_slice(&signer.sign(msg.as_bytes()).0),
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    let id = uuid::Uuid::new_v4();
    out[..16].copy_from_slice(id.as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

fn dummy_call(session: &Bytes, input: i64) -> CallRequest {
    let body = SynapseMessage::new(Dummy::new(input))
        .to_json_vec()
        .unwrap();
    CallRequest {
        session_id: session.clone(),
        synapse: "Dummy".to_owned(),
        timeout: 5.0,
        body: Bytes::from(body),
        tensors: Vec::new(),
    }
}

fn check_welcome(req: &HandshakeRequest, reply: &HandshakeResponse) {
    let msg = welcome_message(
        &reply.axon_hotkey,
        &req.client_hotkey,
        &req.client_nonce,
        &reply.axon_nonce,
        &reply.session_id,
    );
    let public = PublicKey::from_ss58(&reply.axon_hotkey).unwrap();
    let sig = Signature(reply.signature.as_ref().try_into().unwrap());
    assert!(public.verify(msg.as_bytes(), &sig));
}

#[tokio::test]
async fn handshake_then_dummy_call() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let req = hello(&bob, running.hotkey(), &bob);
    let reply = c.handshake(req.clone()).await.unwrap().into_inner();
    assert_eq!(reply.axon_hotkey, running.hotkey());
    assert_eq!(reply.session_id.len(), 32);
    check_welcome(&req, &reply);

    let out = c
        .call(dummy_call(&reply.session_id, 21))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 200, "{}", out.status_message);
    let msg: SynapseMessage<Dummy> = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(msg.fields.dummy_output, Some(42));
    assert_eq!(msg.dendrite.hotkey.as_deref(), Some(bob.ss58()));
    assert_eq!(msg.axon.hotkey.as_deref(), Some(running.hotkey()));
    assert!(out.process_time >= 0.0);

    // The session id may also travel as hex metadata.
    let mut call = tonic::Request::new(dummy_call(&Bytes::new(), 5));
    let hexid: String = reply
        .session_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    call.metadata_mut()
        .insert(native::SESSION_METADATA, hexid.parse().unwrap());
    let out = c.call(call).await.unwrap().into_inner();
    assert_eq!(out.status_code, 200);

    // Unknown synapse → 404 in the reply; a malformed frame → 400.
    let mut unknown = dummy_call(&reply.session_id, 1);
    unknown.synapse = "Nope".to_owned();
    assert_eq!(c.call(unknown).await.unwrap().into_inner().status_code, 404);
    let mut bad = dummy_call(&reply.session_id, 1);
    bad.tensors = vec![Bytes::from_static(b"NTSRjunk")];
    assert_eq!(c.call(bad).await.unwrap().into_inner().status_code, 400);
    running.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn handshake_replay_is_rejected() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let req = hello(&bob, running.hotkey(), &bob);
    c.handshake(req.clone()).await.unwrap();
    let err = c.handshake(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("replayed"), "{}", err.message());
}

#[tokio::test]
async fn forged_or_misaddressed_handshakes_are_rejected() {
    let running = start().await;
    let mut c = client(&running).await;
    let bob = key("//Bob");
    let mallory = key("//Mallory");

    // Claims //Bob, signed by //Mallory.
    let forged = hello(&bob, running.hotkey(), &mallory);
    let err = c.handshake(forged).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("signature"), "{}", err.message());

    // A valid signature with one byte flipped.
    let mut flipped = hello(&bob, running.hotkey(), &bob);
    let mut sig = flipped.signature.to_vec();
    sig[10] ^= 1;
    flipped.signature = Bytes::from(sig);
    let err = c.handshake(flipped).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Addressed to another axon.
    let other = key("//Charlie");
    let wrong = hello(&bob, other.ss58(), &bob);
    let err = c.handshake(wrong).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("another axon"));

    // Too old (signed correctly).
    let mut stale = hello(&bob, running.hotkey(), &bob);
    stale.timestamp_ns -= 120 * 1_000_000_000;
    let msg = hello_message(
        bob.ss58(),
        running.hotkey(),
        stale.timestamp_ns,
        &stale.client_nonce,
        "uuid-1",
    );
    stale.signature = Bytes::copy_from_slice(&bob.sign(msg.as_bytes()).0);
    let err = c.handshake(stale).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("window"));

    // Malformed nonce.
    let mut short = hello(&bob, running.hotkey(), &bob);
    short.client_nonce = Bytes::from_static(b"short");
    let err = c.handshake(short).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().ok, 0);
}

#[tokio::test]
async fn calls_without_a_valid_session_are_refused() {
    let running = start().await;
    let mut c = client(&running).await;
    let err = c.call(dummy_call(&Bytes::new(), 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let unknown = Bytes::copy_from_slice(&rand_bytes());
    let err = c.call(dummy_call(&unknown, 1)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = c
        .call(dummy_call(&Bytes::from_static(b"xyz"), 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(running.counters().requests, 0);
}

#[tokio::test]
async fn blacklist_applies_to_the_session_hotkey() {
    let running = start().await;
    let mut c = client(&running).await;
    let eve = key("//Eve");
    let reply = c
        .handshake(hello(&eve, running.hotkey(), &eve))
        .await
        .unwrap()
        .into_inner();
    let out = c
        .call(dummy_call(&reply.session_id, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(out.status_code, 403);
    assert!(
        out.status_message.contains("blacklisted"),
        "{}",
        out.status_message
    );
    assert!(out.body.is_empty());
    assert_eq!(running.counters().blacklisted, 1);
}
