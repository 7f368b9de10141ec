//! Synapses: the typed messages of the HTTP dialect (wire-modern §2).
//!
//! A synapse is a user struct implementing [`Synapse`]; [`SynapseMessage`] wraps it with the
//! SDK's base fields (name, timeout, sizes, both [`TerminalInfo`]s, `computed_body_hash`).
//! The JSON of a `SynapseMessage<T>` is byte-for-byte the SDK's `model_dump()` layout: base
//! fields first, then `T`'s fields in declaration order.
//!
//! ```
//! use neuron_protocol::synapse::{Synapse, SynapseMessage, empty};
//! use serde::{Deserialize, Serialize};
//!
//! /// The SDK's `Dummy` test synapse.
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct Dummy {
//!     dummy_input: i64,
//!     #[serde(default)]
//!     dummy_output: Option<i64>,
//! }
//!
//! impl Synapse for Dummy {
//!     const NAME: &'static str = "Dummy";
//!     const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[("dummy_input", empty::INT)];
//! }
//!
//! let msg = SynapseMessage::new(Dummy { dummy_input: 21, dummy_output: None });
//! let json = msg.to_json_vec().unwrap();
//! let back = SynapseMessage::<Dummy>::from_json_slice(&json).unwrap();
//! assert_eq!(back.fields.dummy_input, 21);
//! ```
//!
//! Fields that the Python class declares with a default must carry `#[serde(default)]` (or
//! be `Option`), so that a body without them parses as it does in the SDK; fields without a
//! default are required, and must be listed in [`Synapse::REQUIRED_FIELDS`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::hash::{self, HashError};
use crate::pystr::{self, PyStrError};
use crate::terminal::TerminalInfo;

/// JSON of the empty value of a Python type: what `bt_header_input_obj_<field>` carries
/// (base64-encoded) for a required field (wire-modern §3.2).
pub mod empty {
    /// `int()` → `0`.
    pub const INT: &str = "0";
    /// `float()` → `0.0`.
    pub const FLOAT: &str = "0.0";
    /// `str()` → `""`.
    pub const STR: &str = "\"\"";
    /// `bool()` → `false`.
    pub const BOOL: &str = "false";
    /// `list()` → `[]`.
    pub const LIST: &str = "[]";
    /// `dict()` or a nested model → `{}`.
    pub const DICT: &str = "{}";
}

/// A user-defined synapse: the fields of a Python `bt.Synapse` subclass.
pub trait Synapse: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Route name = Python class name, e.g. `"Dummy"`.
    const NAME: &'static str;
    /// The Python class attribute `required_hash_fields`, in its order.
    const REQUIRED_HASH_FIELDS: &'static [&'static str] = &[];
    /// Fields declared without a default in the Python class, in declaration order, with
    /// the JSON of their empty value (see [`empty`]).
    const REQUIRED_FIELDS: &'static [(&'static str, &'static str)] = &[];

    /// Deserialize hook (the SDK's `synapse.deserialize()`); the default returns the JSON of
    /// the synapse's own fields.
    fn deserialize_output(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Why a synapse message could not be encoded, decoded or changed.
#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    /// The JSON body is malformed or does not match the synapse (missing required field,
    /// wrong type).
    #[error("invalid synapse json: {0}")]
    Json(#[from] serde_json::Error),
    /// A float is NaN or infinite; JSON cannot carry it (the SDK answers 500).
    #[error("synapse cannot be sent as json: {0}")]
    NonFinite(#[from] PyStrError),
    /// [`DynamicSynapse::set`] with a name that was not declared.
    #[error("synapse `{synapse}` has no field `{field}`")]
    UnknownField {
        /// The synapse name.
        synapse: String,
        /// The rejected field name.
        field: String,
    },
    /// A required field of a [`DynamicSynapse`] has no value.
    #[error("synapse `{synapse}` is missing required field `{field}`")]
    MissingField {
        /// The synapse name.
        synapse: String,
        /// The field without a value.
        field: String,
    },
    /// A [`DynamicSynapse`] body hash failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The SDK's default `timeout`, in seconds.
pub const DEFAULT_TIMEOUT: f64 = 12.0;

/// The whole message: the SDK base fields, then the user's fields (JSON key order: `name`,
/// `timeout`, `total_size`, `header_size`, `dendrite`, `axon`, `computed_body_hash`, then the
/// user's fields flattened).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynapseMessage<T> {
    /// Route name; forced to `T::NAME` on construction and parsing.
    #[serde(default)]
    pub name: Option<String>,
    /// Call timeout in seconds (default 12.0).
    #[serde(default = "default_timeout")]
    pub timeout: Option<f64>,
    /// CPython memory estimate; meaningless outside CPython (default 0).
    #[serde(default = "default_size")]
    pub total_size: Option<i64>,
    /// CPython memory estimate; meaningless outside CPython (default 0).
    #[serde(default = "default_size")]
    pub header_size: Option<i64>,
    /// The client terminal (`null` in JSON reads as all-null).
    #[serde(default, deserialize_with = "null_as_default")]
    pub dendrite: TerminalInfo,
    /// The server terminal (`null` in JSON reads as all-null).
    #[serde(default, deserialize_with = "null_as_default")]
    pub axon: TerminalInfo,
    /// Always `""` in SDK bodies: the real hash travels in the `computed_body_hash` header.
    #[serde(default = "default_hash")]
    pub computed_body_hash: Option<String>,
    /// The user's fields.
    #[serde(flatten)]
    pub fields: T,
}

fn default_timeout() -> Option<f64> {
    Some(DEFAULT_TIMEOUT)
}

fn default_size() -> Option<i64> {
    Some(0)
}

fn default_hash() -> Option<String> {
    Some(String::new())
}

fn null_as_default<'de, D: Deserializer<'de>, V: Deserialize<'de> + Default>(
    d: D,
) -> Result<V, D::Error> {
    Ok(Option::<V>::deserialize(d)?.unwrap_or_default())
}

impl<T> SynapseMessage<T> {
    /// A message named `name` with the SDK defaults: timeout 12.0, sizes 0, empty terminals,
    /// `computed_body_hash` `""`.
    pub fn with_name(name: impl Into<String>, fields: T) -> Self {
        SynapseMessage {
            name: Some(name.into()),
            timeout: default_timeout(),
            total_size: default_size(),
            header_size: default_size(),
            dendrite: TerminalInfo::default(),
            axon: TerminalInfo::default(),
            computed_body_hash: default_hash(),
            fields,
        }
    }

    /// The status code the SDK reads for a finished call (`dendrite.status_code`).
    pub fn status_code(&self) -> Option<i64> {
        self.dendrite.status_code
    }

    /// 200: the call succeeded.
    pub fn is_success(&self) -> bool {
        self.status_code() == Some(200)
    }

    /// Anything but 200, including no status at all.
    pub fn is_failure(&self) -> bool {
        !self.is_success()
    }

    /// 408: the call timed out.
    pub fn is_timeout(&self) -> bool {
        self.status_code() == Some(408)
    }

    /// 403: the axon blacklisted the caller.
    pub fn is_blacklist(&self) -> bool {
        self.status_code() == Some(403)
    }

    /// 401: the axon could not verify the caller.
    pub fn failed_verification(&self) -> bool {
        self.status_code() == Some(401)
    }
}

impl<T: Serialize> SynapseMessage<T> {
    /// Compact JSON (`","`/`":"`, UTF-8 unescaped, floats in Python `repr`), byte for byte
    /// what an SDK axon replies.
    ///
    /// # Errors
    /// [`SynapseError::NonFinite`] if a float is NaN or infinite (serde_json would write
    /// `null`, which the peer would misread).
    pub fn to_json_vec(&self) -> Result<Vec<u8>, SynapseError> {
        to_python_json(self)
    }
}

impl<T: Synapse> SynapseMessage<T> {
    /// A message for `fields` named `T::NAME` with the SDK defaults (see [`Self::with_name`]).
    pub fn new(fields: T) -> Self {
        Self::with_name(T::NAME, fields)
    }

    /// The SDK body hash over `T::REQUIRED_HASH_FIELDS` (lowercase hex).
    ///
    /// # Errors
    /// If `T::REQUIRED_HASH_FIELDS` names a field that `T` does not serialize.
    pub fn body_hash(&self) -> Result<String, HashError> {
        hash::synapse_body_hash(&self.fields)
    }

    /// Parse a JSON body as the SDK does: unknown keys are ignored, missing required fields
    /// are an error, and `name` is forced to `T::NAME`.
    ///
    /// # Errors
    /// [`SynapseError::Json`] on invalid JSON or a body that does not match `T`.
    pub fn from_json_slice(body: &[u8]) -> Result<Self, SynapseError> {
        let mut msg: Self = serde_json::from_slice(body)?;
        msg.name = Some(T::NAME.to_owned());
        Ok(msg)
    }

    /// The SDK's `deserialize()` of the user's fields.
    pub fn deserialize_output(&self) -> Value {
        self.fields.deserialize_output()
    }
}

/// Compact JSON exactly as FastAPI writes it (`json.dumps(v, ensure_ascii=False,
/// allow_nan=False, separators=(",", ":"))`): floats in Python `repr` (`1e-05`, `1e+16`).
///
/// # Errors
/// [`SynapseError::NonFinite`] for NaN or infinite floats; a `Serialize` failure.
pub fn to_python_json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, SynapseError> {
    pystr::ensure_finite(v)?;
    let mut out = Vec::with_capacity(512);
    v.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        PythonFormatter,
    ))?;
    Ok(out)
}

/// A `serde_json` formatter that writes floats as Python `repr` does (compact otherwise).
#[derive(Clone, Copy, Debug, Default)]
pub struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        let mut buf = pystr::StackBuf::new();
        pystr::write_float_repr(&mut buf, v);
        w.write_all(buf.as_str().as_bytes())
    }

    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, pystr::widen_f32(v))
    }
}

/// The SDK's built-in `Synapse` (route `/Synapse`): no fields of its own, used as a ping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {}

impl Synapse for Ping {
    const NAME: &'static str = "Synapse";
}

/// One declared field of a [`DynamicSynapse`].
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicField {
    /// Field name.
    pub name: String,
    /// The default value; `None` means required (declared without default in Python).
    pub default: Option<Value>,
    /// JSON of the empty value of the field's type, sent in `bt_header_input_obj_<name>`
    /// when the field is required (see [`empty`]).
    pub empty_json: String,
}

impl DynamicField {
    /// A field with a default value (never sent as `bt_header_input_obj_*`).
    pub fn optional(name: impl Into<String>, default: Value) -> Self {
        DynamicField {
            name: name.into(),
            default: Some(default),
            empty_json: String::new(),
        }
    }

    /// A field without default; `empty_json` is one of [`empty`]'s constants.
    pub fn required(name: impl Into<String>, empty_json: &str) -> Self {
        DynamicField {
            name: name.into(),
            default: None,
            empty_json: empty_json.to_owned(),
        }
    }
}

/// A synapse whose schema is only known at run time (CLI tools, tests).
///
/// It serializes as a JSON object of its field values in declaration order, so
/// `SynapseMessage<DynamicSynapse>` has the same JSON layout as a static synapse. Parse a
/// body with [`DynamicSynapse::parse_message`], which applies the schema.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DynamicSynapse {
    name: String,
    fields: Vec<DynamicField>,
    required_hash_fields: Vec<String>,
    values: Map<String, Value>,
}

impl DynamicSynapse {
    /// An empty schema for the route `name`.
    pub fn new(name: impl Into<String>) -> Self {
        DynamicSynapse {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Declare a field (in Python declaration order); an optional field takes its default.
    pub fn with_field(mut self, field: DynamicField) -> Self {
        if let Some(default) = &field.default {
            self.values.insert(field.name.clone(), default.clone());
        }
        self.fields.push(field);
        self
    }

    /// Set the class attribute `required_hash_fields`.
    pub fn with_hash_fields<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.required_hash_fields = names.into_iter().map(Into::into).collect();
        self
    }

    /// The route name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared fields.
    pub fn fields(&self) -> &[DynamicField] {
        &self.fields
    }

    /// The `required_hash_fields`.
    pub fn required_hash_fields(&self) -> &[String] {
        &self.required_hash_fields
    }

    /// Required fields with the JSON of their empty value, as [`Synapse::REQUIRED_FIELDS`].
    pub fn required_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter(|f| f.default.is_none())
            .map(|f| (f.name.as_str(), f.empty_json.as_str()))
    }

    /// Set a declared field.
    ///
    /// # Errors
    /// [`SynapseError::UnknownField`] if `field` was not declared.
    pub fn set(&mut self, field: &str, value: Value) -> Result<(), SynapseError> {
        if !self.fields.iter().any(|f| f.name == field) {
            return Err(SynapseError::UnknownField {
                synapse: self.name.clone(),
                field: field.to_owned(),
            });
        }
        self.values.insert(field.to_owned(), value);
        self.reorder();
        Ok(())
    }

    /// The value of a field, if set (or defaulted).
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.values.get(field)
    }

    /// All values, in declaration order.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Check that every required field has a value.
    ///
    /// # Errors
    /// [`SynapseError::MissingField`] for the first required field without one.
    pub fn check_complete(&self) -> Result<(), SynapseError> {
        match self
            .fields
            .iter()
            .find(|f| f.default.is_none() && !self.values.contains_key(&f.name))
        {
            Some(f) => Err(SynapseError::MissingField {
                synapse: self.name.clone(),
                field: f.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The SDK body hash over the declared `required_hash_fields`.
    ///
    /// # Errors
    /// If a hash field is not declared or has no value.
    pub fn body_hash(&self) -> Result<String, HashError> {
        let names: Vec<&str> = self
            .required_hash_fields
            .iter()
            .map(String::as_str)
            .collect();
        hash::body_hash(&self.values, &names)
    }

    /// A message with the SDK defaults, named after this synapse.
    pub fn into_message(self) -> SynapseMessage<DynamicSynapse> {
        let name = self.name.clone();
        SynapseMessage::with_name(name, self)
    }

    /// Parse a JSON body against this schema: unknown keys ignored, defaults filled in,
    /// a missing required field is an error, `name` forced to this synapse's name.
    ///
    /// # Errors
    /// [`SynapseError::Json`] on invalid JSON, [`SynapseError::MissingField`].
    pub fn parse_message(
        &self,
        body: &[u8],
    ) -> Result<SynapseMessage<DynamicSynapse>, SynapseError> {
        let raw: SynapseMessage<Map<String, Value>> = serde_json::from_slice(body)?;
        let mut fields = self.clone();
        let mut values = raw.fields;
        for f in &self.fields {
            if let Some(v) = values.remove(&f.name) {
                fields.values.insert(f.name.clone(), v);
            }
        }
        fields.reorder();
        fields.check_complete()?;
        Ok(SynapseMessage {
            name: Some(self.name.clone()),
            timeout: raw.timeout,
            total_size: raw.total_size,
            header_size: raw.header_size,
            dendrite: raw.dendrite,
            axon: raw.axon,
            computed_body_hash: raw.computed_body_hash,
            fields,
        })
    }

    /// Keep `values` in declaration order (JSON and `str()` order follow it).
    fn reorder(&mut self) {
        let in_order = self
            .fields
            .iter()
            .zip(self.values.keys())
            .all(|(f, k)| &f.name == k);
        if in_order {
            return;
        }
        let mut old = std::mem::take(&mut self.values);
        for f in &self.fields {
            if let Some(v) = old.remove(&f.name) {
                self.values.insert(f.name.clone(), v);
            }
        }
    }
}

impl Serialize for DynamicSynapse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(s)
    }
}

impl SynapseMessage<DynamicSynapse> {
    /// The SDK body hash of a dynamic synapse (see [`DynamicSynapse::body_hash`]).
    ///
    /// # Errors
    /// If a hash field is not declared or has no value.
    pub fn dynamic_body_hash(&self) -> Result<String, HashError> {
        self.fields.body_hash()
    }
}
