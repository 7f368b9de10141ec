//! The README's tour, compiled and run: a user-defined synapse served by a `Neuron` and
//! queried from another one in both the native and the HTTP dialect.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use neuron::protocol::synapse::{Synapse, empty};
use neuron::wallet::Keypair;
use neuron::{Neuron, NeuronConfig};
use serde::{Deserialize, Serialize};

/// Python: class Double(bt.Synapse): value: int; doubled: Optional[int] = None
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Double {
    pub value: i64,
    #[serde(default)]
    pub doubled: Option<i64>,
}

impl Synapse for Double {
    const NAME: &'static str = "Double"; // the route: POST /Double
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("value", empty::INT)];
}

#[tokio::test]
async fn tour() {
    let mut config = NeuronConfig::new();
    config.set("axon.port", "0").unwrap();
    let mut builder = Neuron::builder(Keypair::from_uri("//Alice").unwrap(), config.clone());
    let _ = builder
        .axon()
        .attach::<Double, _, _>(|caller, mut s| async move {
            // `caller.hotkey` is the verified signer, never a value from the body.
            assert_eq!(caller.hotkey, Keypair::from_uri("//Bob").unwrap().ss58());
            s.doubled = Some(s.value * 2);
            Ok(s)
        })
        .blacklist(|caller| {
            if caller.hotkey.is_empty() {
                Err("no hotkey".into())
            } else {
                Ok(())
            }
        });
    let alice = builder.start().await.unwrap();

    let bob = Neuron::builder(Keypair::from_uri("//Bob").unwrap(), config)
        .without_gossip()
        .start()
        .await
        .unwrap();
    let native = bob
        .call(
            &alice.axon_info(),
            Double {
                value: 21,
                doubled: None,
            },
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(native.fields().doubled, Some(42), "{:?}", native.failure);
    let http = bob
        .call_http(
            &alice.axon_info(),
            Double {
                value: 4,
                doubled: None,
            },
            None,
        )
        .await;
    assert_eq!(http.status_code(), Some(200));
    assert_eq!(http.fields().doubled, Some(8));
    bob.shutdown(Duration::from_secs(1)).await;
    alice.shutdown(Duration::from_secs(1)).await;
}
