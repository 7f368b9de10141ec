//! Test synapses (twins of those in tests/python/http_dendrite_server.py).

use neuron_protocol::synapse::{Synapse, empty};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `dummy_input: int` (required), `dummy_output = 2 * dummy_input`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dummy {
    pub dummy_input: i64,
    #[serde(default)]
    pub dummy_output: Option<i64>,
}

impl Synapse for Dummy {
    const NAME: &'static str = "Dummy";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("dummy_input", empty::INT)];
}

/// Every JSON type, all hashed.
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

/// `bittensor.Tensor` as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BtTensor {
    pub buffer: String,
    pub dtype: String,
    pub shape: Vec<i64>,
}

/// An optional tensor, multiplied by `scale` on the axon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEcho {
    #[serde(default)]
    pub tensor: Option<BtTensor>,
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

/// Sleeps `delay` seconds on the axon.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Slow {
    pub delay: f64,
    pub done: bool,
}

impl Synapse for Slow {
    const NAME: &'static str = "Slow";
}

/// A streaming synapse: the axon writes `tok0\n` … `tok{n-1}\n`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamCount {
    pub n: i64,
    #[serde(default)]
    pub tokens: Vec<String>,
}

impl Synapse for StreamCount {
    const NAME: &'static str = "StreamCount";
}
