//! Rust twins of the Python synapse classes used by the captured vectors
//! (`core_modern-http.json`, a copy of `shared/vectors/modern-http.json`).
#![allow(dead_code)]

use neuron_protocol::synapse::{Synapse, empty};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `class Dummy(bt.Synapse): dummy_input: int; dummy_output: Optional[int] = None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dummy {
    pub dummy_input: i64,
    #[serde(default)]
    pub dummy_output: Option<i64>,
}

impl Synapse for Dummy {
    const NAME: &'static str = "Dummy";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("dummy_input", empty::INT)];
}

/// `class Hashed(bt.Synapse)`: every field has a default; all five are hashed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hashed {
    pub text: String,
    pub numbers: Vec<i64>,
    pub ratio: f64,
    pub flag: bool,
    pub meta: Map<String, Value>,
}

impl Synapse for Hashed {
    const NAME: &'static str = "Hashed";
    const REQUIRED_HASH_FIELDS: &'static [&'static str] =
        &["text", "numbers", "ratio", "flag", "meta"];
}

/// `class Floats(bt.Synapse): values: List[float] = []`, hashed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Floats {
    pub values: Vec<f64>,
}

impl Synapse for Floats {
    const NAME: &'static str = "Floats";
    const REQUIRED_HASH_FIELDS: &'static [&'static str] = &["values"];
}

/// `bittensor.Tensor` as JSON (wire-modern §10), fields in model order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub buffer: String,
    pub dtype: String,
    pub shape: Vec<i64>,
}

/// `class TensorEcho(bt.Synapse): tensor: Optional[bt.Tensor] = None; scale: float = 2.0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEcho {
    #[serde(default)]
    pub tensor: Option<Tensor>,
    #[serde(default = "two")]
    pub scale: f64,
}

fn two() -> f64 {
    2.0
}

impl Synapse for TensorEcho {
    const NAME: &'static str = "TensorEcho";
    const REQUIRED_HASH_FIELDS: &'static [&'static str] = &["tensor"];
}

/// The captured float32 `[0, 0.5, 1, 1.5]` tensor.
pub fn example_tensor() -> Tensor {
    Tensor {
        buffer: "hcQCbmTDxAR0eXBlozxmNMQEa2luZMQAxAVzaGFwZZEExARkYXRhxBAAAAAAAAAAPwAAgD8AAMA/"
            .into(),
        dtype: "float32".into(),
        shape: vec![4],
    }
}

/// The Hashed example of wire-modern §4.2.
pub fn example_hashed() -> Hashed {
    let meta = serde_json::json!({"k": "v", "n": 1, "f": 1.5, "l": [1, "a"], "none": null});
    Hashed {
        text: "héllo wörld".into(),
        numbers: vec![1, 2, 3],
        ratio: 0.1,
        flag: true,
        meta: meta.as_object().cloned().unwrap_or_default(),
    }
}

/// Both terminals as in the captured `Dummy` request (wire-modern §15.1).
pub fn example_dummy_message() -> neuron_protocol::synapse::SynapseMessage<Dummy> {
    use neuron_protocol::terminal::TerminalInfo;
    let mut msg = neuron_protocol::synapse::SynapseMessage::new(Dummy {
        dummy_input: 21,
        dummy_output: None,
    });
    msg.dendrite = TerminalInfo {
        ip: Some("127.0.0.1".into()),
        version: Some(10_005_000),
        nonce: Some(1_795_310_834_565_781_717),
        uuid: Some("d90fcadc-e613-11f1-b657-02fc00000001".into()),
        hotkey: Some("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty".into()),
        signature: Some("0xee6a7d7d5f2de3b15ea21cd1833bf9489412df31d2a619615717ed450f2a516fbd81fd8b8519cc49ce564ced66c2a405ad2b99e89a278dfae9e5083ea3416686".into()),
        ..TerminalInfo::default()
    };
    msg.axon = TerminalInfo {
        ip: Some("127.0.0.1".into()),
        port: Some(18092),
        hotkey: Some("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into()),
        ..TerminalInfo::default()
    };
    msg
}

/// The captured vectors.
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../core_modern-http.json")).expect("vectors are valid json")
}
