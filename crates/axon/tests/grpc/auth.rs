//! Metadata authentication: signature formats, version, nonces, blacklist (§8).

use neuron_axon::grpc::{ReturnCode, SynapseSpec};
use tonic::Code;

use crate::common::*;

fn md(signature: Option<String>, version: Option<&str>) -> Vec<(&'static str, String)> {
    let mut md = vec![("rpc-auth-header", "Bittensor".to_owned())];
    if let Some(s) = signature {
        md.push(("bittensor-signature", s));
    }
    if let Some(v) = version {
        md.push(("bittensor-version", v.to_owned()));
    }
    md.push(("request_type", "1".to_owned()));
    md
}

async fn call(
    node: &Node,
    signer: &Signer,
    metadata: Vec<(&'static str, String)>,
) -> Result<i32, tonic::Status> {
    let inputs = tokens(&[&[1, 2]]);
    let message = forward_message(signer, &inputs, &[SynapseSpec::causal_lm(2)]);
    let reply = client(node.addr)
        .await
        .forward(request(message, metadata))
        .await?;
    Ok(reply.into_inner().return_code)
}

fn refused(result: Result<i32, tonic::Status>, details: &str) {
    let status = result.expect_err("should be refused");
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, details)
    );
}

#[tokio::test]
async fn v1_and_v2_signatures_are_accepted() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    for format in [Format::V2, Format::V1] {
        let md = signer.metadata(format, &node.hotkey, "1");
        assert_eq!(
            call(&node, &signer, md).await.unwrap(),
            ReturnCode::Success as i32,
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn nonces_must_strictly_increase_per_receptor() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let nonce = signer.next_nonce();
    let header = signer.header(Format::V2, nonce, &node.hotkey);
    assert!(
        call(&node, &signer, md(Some(header.clone()), Some("370")))
            .await
            .is_ok()
    );
    refused(
        call(&node, &signer, md(Some(header), Some("370"))).await,
        "Nonce is too small",
    );
    let older = signer.header(Format::V2, nonce - 1, &node.hotkey);
    refused(
        call(&node, &signer, md(Some(older), Some("370"))).await,
        "Nonce is too small",
    );
    // Another receptor of the same hotkey has its own sequence.
    let other = Signer::new(bob());
    let header = other.header(Format::V1, nonce - 5, &node.hotkey);
    assert!(
        call(&node, &other, md(Some(header), Some("370")))
            .await
            .is_ok()
    );
    assert_eq!(node.stats.snapshot().unauthenticated, 2);
}

#[tokio::test]
async fn signatures_must_verify() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    // Signed for another axon (v2 binds the receiver).
    let header = signer.header(Format::V2, signer.next_nonce(), charlie_ss58());
    refused(
        call(&node, &signer, md(Some(header), Some("370"))).await,
        "Signature mismatch",
    );
    // Signed by another key.
    let impostor = Signer::new(eve());
    let header = impostor
        .header(Format::V2, signer.next_nonce(), &node.hotkey)
        .replace(eve().ss58(), bob().ss58());
    refused(
        call(&node, &signer, md(Some(header), Some("370"))).await,
        "Signature mismatch",
    );
    // A failed signature does not burn the nonce.
    let nonce = signer.next_nonce();
    let bad = signer.header(Format::V2, nonce, charlie_ss58());
    refused(
        call(&node, &signer, md(Some(bad), Some("370"))).await,
        "Signature mismatch",
    );
    let good = signer.header(Format::V2, nonce, &node.hotkey);
    assert!(
        call(&node, &signer, md(Some(good), Some("370")))
            .await
            .is_ok()
    );
}

fn charlie_ss58() -> &'static str {
    "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y"
}

#[tokio::test]
async fn version_and_format_rules() {
    let (node, _rx) = start_models().await;
    let signer = Signer::new(bob());
    let header = || Some(signer.header(Format::V2, signer.next_nonce(), &node.hotkey));
    refused(
        call(&node, &signer, md(header(), Some("369"))).await,
        "Incorrect Version",
    );
    refused(
        call(&node, &signer, md(header(), Some("abc"))).await,
        "Incorrect Version",
    );
    refused(
        call(&node, &signer, md(header(), None)).await,
        "Incorrect Version",
    );
    refused(
        call(&node, &signer, md(None, Some("370"))).await,
        "Request signature missing",
    );
    refused(
        call(&node, &signer, md(Some("no.signature".into()), Some("370"))).await,
        "Unknown signature format",
    );
    assert!(
        call(&node, &signer, md(header(), Some("400")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn blacklist_sees_the_verified_hotkey_and_request_type() {
    let (node, _rx) = start_models().await;
    let eve = Signer::new(eve());
    let md_eve = eve.metadata(Format::V2, &node.hotkey, "1");
    refused(
        call(&node, &eve, md_eve).await,
        "Request type is blacklisted",
    );
    // Dave may Forward but not Backward.
    let dave = Signer::new(dave());
    let md_dave = dave.metadata(Format::V2, &node.hotkey, "1");
    assert!(call(&node, &dave, md_dave).await.is_ok());
    let inputs = tokens(&[&[1, 2]]);
    let message = forward_message(&dave, &inputs, &[SynapseSpec::causal_lm(2)]);
    let status = backward(&node, &dave, message).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "Request type is blacklisted")
    );
}
