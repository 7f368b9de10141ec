//! `Hashed`: every JSON type in the body hash.

use neuron_protocol::pystr::float_repr as py_float_repr;
use neuron_protocol::synapse::{Synapse, empty};
use serde::{Deserialize, Serialize};

/// All five inputs are required and listed in `required_hash_fields`, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hashed {
    /// A string (hashed without quotes).
    pub text: String,
    /// Integers.
    pub numbers: Vec<i64>,
    /// A float (hashed as Python `repr`).
    pub ratio: f64,
    /// A bool (hashed as `True`/`False`).
    pub flag: bool,
    /// A JSON object (hashed as a Python dict repr, insertion order).
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// The output, `None` in requests.
    #[serde(default)]
    pub output: Option<String>,
}

impl Synapse for Hashed {
    const NAME: &'static str = "Hashed";
    const REQUIRED_HASH_FIELDS: &'static [&'static str] =
        &["text", "numbers", "ratio", "flag", "meta"];
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[
        ("text", empty::STR),
        ("numbers", empty::LIST),
        ("ratio", empty::FLOAT),
        ("flag", empty::BOOL),
        ("meta", empty::DICT),
    ];
}

/// The handler: `output = f"{text}|{sum(numbers)}|{ratio!r}|{flag}|{len(meta)}"`, with
/// Python's formatting (float `repr`, `True`/`False`, arbitrary-precision sum).
pub fn hashed(mut synapse: Hashed) -> Hashed {
    let sum: i128 = synapse.numbers.iter().map(|&n| i128::from(n)).sum();
    let flag = if synapse.flag { "True" } else { "False" };
    synapse.output = Some(format!(
        "{}|{}|{}|{}|{}",
        synapse.text,
        sum,
        py_float_repr(synapse.ratio),
        flag,
        synapse.meta.len()
    ));
    synapse
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_like_python() {
        let meta = serde_json::json!({"k": "v", "n": 1});
        let out = hashed(Hashed {
            text: "héllo".into(),
            numbers: vec![1, 2, 3, i64::MAX, i64::MAX],
            ratio: 1e-5,
            flag: true,
            meta: meta.as_object().unwrap().clone(),
            output: None,
        });
        let want = format!("héllo|{}|1e-05|True|2", 6 + 2 * i128::from(i64::MAX));
        assert_eq!(out.output.as_deref(), Some(want.as_str()));
    }
}
