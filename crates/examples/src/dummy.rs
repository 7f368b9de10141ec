//! `Dummy`: the SDK's canonical example synapse.

use neuron_protocol::synapse::{Synapse, empty};
use serde::{Deserialize, Serialize};

/// `class Dummy(bt.Synapse): dummy_input: int; dummy_output: Optional[int] = None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dummy {
    /// The input (required).
    pub dummy_input: i64,
    /// The output, `None` in requests.
    #[serde(default)]
    pub dummy_output: Option<i64>,
}

impl Dummy {
    /// A request for `input`.
    pub fn new(input: i64) -> Self {
        Self {
            dummy_input: input,
            dummy_output: None,
        }
    }
}

impl Synapse for Dummy {
    const NAME: &'static str = "Dummy";
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("dummy_input", empty::INT)];
}

/// The handler: `dummy_output = dummy_input * 2` (wrapping, as no Python int overflows).
pub fn dummy(mut synapse: Dummy) -> Dummy {
    synapse.dummy_output = Some(synapse.dummy_input.wrapping_mul(2));
    synapse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles() {
        assert_eq!(dummy(Dummy::new(21)).dummy_output, Some(42));
        assert_eq!(dummy(Dummy::new(-4)).dummy_output, Some(-8));
    }
}
