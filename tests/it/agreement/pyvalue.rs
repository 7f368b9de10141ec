//! Python values rebuilt in Rust from `sdkpeer.to_typed` trees, floats bit-exact.

use anyhow::{Context, bail};
use neuron_protocol::pystr::{float_repr, str_repr};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A Python value with exact floats (serde_json cannot hold NaN or infinities).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

impl Serialize for PyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PyValue::None => s.serialize_none(),
            PyValue::Bool(b) => s.serialize_bool(*b),
            PyValue::Int(i) => s.serialize_i64(*i),
            PyValue::Float(f) => s.serialize_f64(*f),
            PyValue::Str(t) => s.serialize_str(t),
            PyValue::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            PyValue::Dict(entries) => serialize_entries(s, entries),
        }
    }
}

fn serialize_entries<S: Serializer>(
    s: S,
    entries: &[(String, PyValue)],
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// A synapse's own fields in declaration order, serialized as a map (what `body_hash` reads).
pub(super) struct PyFields(pub(super) Vec<(String, PyValue)>);

impl Serialize for PyFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_entries(s, &self.0)
    }
}

/// Checks made on the leaves while decoding a typed tree.
#[derive(Default)]
pub(super) struct Leaves {
    /// Floats checked with `float_repr`.
    pub(super) floats: usize,
    /// Strings checked with `str_repr`.
    pub(super) strings: usize,
    /// What differed from Python's `repr`.
    pub(super) mismatches: Vec<String>,
}

impl PyValue {
    /// Decodes `sdkpeer.to_typed`'s tree, checking `float_repr`/`str_repr` of every leaf
    /// against Python's `repr`.
    pub(super) fn from_typed(t: &Value, leaves: &mut Leaves) -> anyhow::Result<PyValue> {
        let kind = t
            .get("t")
            .and_then(Value::as_str)
            .context("typed node without `t`")?;
        let v = t.get("v");
        Ok(match kind {
            "none" => PyValue::None,
            "bool" => PyValue::Bool(v.and_then(Value::as_bool).context("bool node")?),
            "int" => PyValue::Int(
                v.and_then(Value::as_i64)
                    .context("int node (beyond i64?)")?,
            ),
            "float" => {
                let bits = t
                    .get("bits")
                    .and_then(Value::as_str)
                    .context("float node without bits")?;
                let x = f64::from_bits(u64::from_str_radix(bits, 16).context("float bits")?);
                let want = t.get("repr").and_then(Value::as_str).unwrap_or_default();
                leaves.floats += 1;
                let got = float_repr(x);
                if got != want {
                    leaves.mismatches.push(format!(
                        "float_repr(bits {bits}): python {want:?}, rust {got:?}"
                    ));
                }
                PyValue::Float(x)
            }
            "str" => {
                let s = v.and_then(Value::as_str).context("str node")?.to_owned();
                let want = t.get("repr").and_then(Value::as_str).unwrap_or_default();
                leaves.strings += 1;
                let got = str_repr(&s);
                if got != want {
                    leaves
                        .mismatches
                        .push(format!("str_repr({s:?}): python {want}, rust {got}"));
                }
                PyValue::Str(s)
            }
            "list" => PyValue::List(
                v.and_then(Value::as_array)
                    .context("list node")?
                    .iter()
                    .map(|x| PyValue::from_typed(x, leaves))
                    .collect::<anyhow::Result<_>>()?,
            ),
            "dict" => {
                let mut entries = Vec::new();
                for pair in v.and_then(Value::as_array).context("dict node")? {
                    let key = pair.get(0).and_then(Value::as_str).context("dict key")?;
                    let val = pair.get(1).context("dict value")?;
                    entries.push((key.to_owned(), PyValue::from_typed(val, leaves)?));
                }
                PyValue::Dict(entries)
            }
            other => bail!("unknown typed node {other:?}"),
        })
    }

    /// The JSON value, for values JSON can carry.
    pub(super) fn to_json(&self) -> anyhow::Result<Value> {
        Ok(match self {
            PyValue::None => Value::Null,
            PyValue::Bool(b) => Value::Bool(*b),
            PyValue::Int(i) => Value::from(*i),
            PyValue::Float(f) => Value::Number(
                serde_json::Number::from_f64(*f).context("non-finite float in a finite case")?,
            ),
            PyValue::Str(s) => Value::String(s.clone()),
            PyValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(PyValue::to_json)
                    .collect::<anyhow::Result<_>>()?,
            ),
            PyValue::Dict(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.clone(), v.to_json()?);
                }
                Value::Object(map)
            }
        })
    }
}
