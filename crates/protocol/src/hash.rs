//! `computed_body_hash`: SHA3-256 over Python `str()` of the hashed fields (wire-modern §4).
//!
//! ```text
//! field_hash(v) = hex(SHA3-256(utf8(python_str(v))))
//! body_hash     = hex(SHA3-256(field_hash(v1) ‖ field_hash(v2) ‖ …))   // required_hash_fields order
//! ```
//!
//! The field values are rendered straight into the hasher, so hashing a large tensor field
//! never materialises its Python text. [`whole_body_hash`] is an opt-in alternative for
//! Rust-to-Rust peers that hashes the exact body bytes instead.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};
use sha3::{Digest, Sha3_256};

use crate::pystr::{self, PyStrError, Sink, Unicode, Versioned};
use crate::synapse::Synapse;

/// SHA3-256 of the empty string: the body hash of a synapse without hash fields.
pub const EMPTY_BODY_HASH: &str =
    "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

/// Why a body hash could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// A name in `required_hash_fields` is not a field of the synapse.
    #[error("hash field `{0}` is not a field of the synapse")]
    MissingField(String),
    /// The synapse fields did not serialize as a struct or map.
    #[error("body hash needs the synapse fields as a struct or map, got {0}")]
    NotAStruct(&'static str),
    /// A field value could not be rendered as Python text.
    #[error(transparent)]
    PyStr(#[from] PyStrError),
}

/// SHA3-256 of `python_str` (the text of one field, already rendered with Python `str()`).
pub fn field_hash(python_str: &str) -> [u8; 32] {
    Sha3_256::digest(python_str.as_bytes()).into()
}

/// [`field_hash`] as 64 lowercase hex characters.
pub fn field_hash_hex(python_str: &str) -> String {
    hex::encode(field_hash(python_str))
}

/// Combine per-field hashes (in `required_hash_fields` order) into the body hash.
pub fn combine_field_hashes<'a>(hashes: impl IntoIterator<Item = &'a [u8; 32]>) -> String {
    let mut outer = Sha3_256::new();
    let mut hex_buf = [0u8; 64];
    for h in hashes {
        // 32 bytes always fit 64 hex characters.
        if hex::encode_to_slice(h, &mut hex_buf).is_ok() {
            outer.update(hex_buf);
        }
    }
    hex::encode(outer.finalize())
}

/// The SDK body hash of `fields` (the synapse's own fields, serialized as a struct or map)
/// over `required_hash_fields`, in that order. No hash fields → [`EMPTY_BODY_HASH`].
///
/// # Errors
/// [`HashError::MissingField`] if a name is not a field of `fields`; a `Serialize` failure.
///
/// Strings are rendered as CPython 3.11 does ([`Unicode::DEFAULT`]); see [`body_hash_in`].
pub fn body_hash<T: Serialize + ?Sized>(
    fields: &T,
    required_hash_fields: &[&str],
) -> Result<String, HashError> {
    body_hash_in(fields, required_hash_fields, Unicode::DEFAULT)
}

/// [`body_hash`] as computed by a CPython whose Unicode version is `unicode`: the releases
/// disagree on which characters `repr()` escapes (see [`crate::pystr`]), so a text with a
/// recently assigned character hashes differently on CPython 3.11 and 3.12.
///
/// # Errors
/// As [`body_hash`].
pub fn body_hash_in<T: Serialize + ?Sized>(
    fields: &T,
    required_hash_fields: &[&str],
    unicode: Unicode,
) -> Result<String, HashError> {
    Ok(body_hash_and_dependence(fields, required_hash_fields, unicode)?.0)
}

/// The body hash, and whether the hashed text held a character that CPython releases
/// render differently (so that another [`Unicode`] could give another hash).
fn body_hash_and_dependence<T: Serialize + ?Sized>(
    fields: &T,
    required_hash_fields: &[&str],
    unicode: Unicode,
) -> Result<(String, bool), HashError> {
    if required_hash_fields.is_empty() {
        return Ok((EMPTY_BODY_HASH.to_owned(), false));
    }
    let mut hashes = Collect {
        names: required_hash_fields,
        found: vec![None; required_hash_fields.len()],
        unicode,
        dependent: false,
    };
    fields.serialize(Capture { on: &mut hashes })?;
    let dependent = hashes.dependent;
    let hashes = collect_all(hashes.found, required_hash_fields)?;
    Ok((combine_field_hashes(hashes.iter()), dependent))
}

/// Which CPython release's rendering gives the `claimed` body hash: `preferred` first,
/// then, only when the hashed text holds a character that the releases render differently,
/// the other versions of [`Unicode`] (at most five renderings, one in the common case).
/// `None` when none matches.
///
/// A verifier uses this so that a caller on any supported CPython release is accepted: the
/// hash protects the body's integrity under the signature, and every candidate is a
/// rendering of the very body received.
///
/// # Errors
/// As [`body_hash`].
pub fn match_body_hash<T: Serialize + ?Sized>(
    fields: &T,
    required_hash_fields: &[&str],
    claimed: &str,
    preferred: Unicode,
) -> Result<Option<Unicode>, HashError> {
    let (hash, dependent) = body_hash_and_dependence(fields, required_hash_fields, preferred)?;
    if hash == claimed {
        return Ok(Some(preferred));
    }
    if !dependent {
        return Ok(None);
    }
    for unicode in Unicode::ALL.into_iter().filter(|&u| u != preferred) {
        if body_hash_in(fields, required_hash_fields, unicode)? == claimed {
            return Ok(Some(unicode));
        }
    }
    Ok(None)
}

/// [`body_hash`] of a synapse's own fields over its `T::REQUIRED_HASH_FIELDS`.
///
/// # Errors
/// If `T::REQUIRED_HASH_FIELDS` names a field that `T` does not serialize.
pub fn synapse_body_hash<T: Synapse>(fields: &T) -> Result<String, HashError> {
    body_hash(fields, T::REQUIRED_HASH_FIELDS)
}

/// [`body_hash_in`] of a synapse's own fields over its `T::REQUIRED_HASH_FIELDS`.
///
/// # Errors
/// As [`synapse_body_hash`].
pub fn synapse_body_hash_in<T: Synapse>(fields: &T, unicode: Unicode) -> Result<String, HashError> {
    body_hash_in(fields, T::REQUIRED_HASH_FIELDS, unicode)
}

/// [`match_body_hash`] of a synapse's own fields over its `T::REQUIRED_HASH_FIELDS`.
///
/// # Errors
/// As [`synapse_body_hash`].
pub fn match_synapse_body_hash<T: Synapse>(
    fields: &T,
    claimed: &str,
    preferred: Unicode,
) -> Result<Option<Unicode>, HashError> {
    match_body_hash(fields, T::REQUIRED_HASH_FIELDS, claimed, preferred)
}

/// The Python `str()` of each hashed field, in `required_hash_fields` order: what
/// [`body_hash`] feeds to SHA3 (for diagnosing a hash mismatch with a Python peer).
///
/// # Errors
/// As [`body_hash`].
pub fn hashed_field_strs<T: Serialize + ?Sized>(
    fields: &T,
    required_hash_fields: &[&str],
) -> Result<Vec<(String, String)>, HashError> {
    let mut strs = Collect {
        names: required_hash_fields,
        found: vec![None; required_hash_fields.len()],
        unicode: Unicode::DEFAULT,
        dependent: false,
    };
    fields.serialize(Capture { on: &mut strs })?;
    let strs = collect_all(strs.found, required_hash_fields)?;
    Ok(required_hash_fields
        .iter()
        .map(|n| (*n).to_owned())
        .zip(strs)
        .collect())
}

/// SHA3-256 hex of the exact body bytes: the opt-in whole-body mode for Rust-to-Rust peers,
/// which covers every field rather than only `required_hash_fields`.
pub fn whole_body_hash(body_bytes: &[u8]) -> String {
    hex::encode(Sha3_256::digest(body_bytes))
}

fn collect_all<V>(found: Vec<Option<V>>, names: &[&str]) -> Result<Vec<V>, HashError> {
    found
        .into_iter()
        .zip(names)
        .map(|(v, name)| v.ok_or_else(|| HashError::MissingField((*name).to_owned())))
        .collect()
}

/// What to do with one top-level field.
trait OnField {
    fn on_field<V: Serialize + ?Sized>(&mut self, key: &str, v: &V) -> Result<(), PyStrError>;
}

/// Renders every field named in `names` once and stores the result at each of its positions
/// (a name may repeat in `required_hash_fields`; the SDK then hashes it twice).
struct Collect<'n, R> {
    names: &'n [&'n str],
    found: Vec<Option<R>>,
    /// Whose `repr()` rules the text follows.
    unicode: Unicode,
    /// Some field held a character that CPython releases render differently.
    dependent: bool,
}

/// A per-field result: the field's hash, or its Python text; and whether the text held a
/// character that CPython releases render differently.
trait Render: Sized + Clone {
    fn render<V: Serialize + ?Sized>(v: &V, unicode: Unicode) -> Result<(Self, bool), PyStrError>;
}

impl Render for [u8; 32] {
    fn render<V: Serialize + ?Sized>(v: &V, unicode: Unicode) -> Result<(Self, bool), PyStrError> {
        let mut hasher = HashSink(Sha3_256::new());
        let mut sink = Versioned::new(&mut hasher, unicode);
        pystr::write_python_str(&mut sink, v)?;
        let dependent = sink.dependent;
        Ok((hasher.0.finalize().into(), dependent))
    }
}

impl Render for String {
    fn render<V: Serialize + ?Sized>(v: &V, unicode: Unicode) -> Result<(Self, bool), PyStrError> {
        let mut out = String::new();
        let mut sink = Versioned::new(&mut out, unicode);
        pystr::write_python_str(&mut sink, v)?;
        let dependent = sink.dependent;
        Ok((out, dependent))
    }
}

impl<R: Render> OnField for Collect<'_, R> {
    fn on_field<V: Serialize + ?Sized>(&mut self, key: &str, v: &V) -> Result<(), PyStrError> {
        let mut rendered: Option<R> = None;
        for (i, name) in self.names.iter().enumerate() {
            if *name != key {
                continue;
            }
            let r = match &rendered {
                Some(r) => r.clone(),
                None => {
                    let (r, dependent) = R::render(v, self.unicode)?;
                    self.dependent |= dependent;
                    rendered.insert(r).clone()
                }
            };
            self.found[i] = Some(r);
        }
        Ok(())
    }
}

/// Top-level serializer: accepts a struct or a map and hands each field to `on`.
struct Capture<'o, O> {
    on: &'o mut O,
}

/// Field-by-field state of [`Capture`]; `key` holds a map key until its value arrives.
struct CaptureFields<'o, O> {
    on: &'o mut O,
    key: String,
}

impl ser::Error for HashError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        HashError::PyStr(PyStrError::Custom(msg.to_string()))
    }
}

macro_rules! reject {
    ($($method:ident($($arg:ty),*) $kind:literal;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), HashError> {
            Err(HashError::NotAStruct($kind))
        }
    )*};
}

impl<'o, O: OnField> ser::Serializer for Capture<'o, O> {
    type Ok = ();
    type Error = HashError;
    type SerializeSeq = Impossible<(), HashError>;
    type SerializeTuple = Impossible<(), HashError>;
    type SerializeTupleStruct = Impossible<(), HashError>;
    type SerializeTupleVariant = Impossible<(), HashError>;
    type SerializeMap = CaptureFields<'o, O>;
    type SerializeStruct = CaptureFields<'o, O>;
    type SerializeStructVariant = Impossible<(), HashError>;

    reject! {
        serialize_bool(bool) "a bool";
        serialize_i8(i8) "an integer";
        serialize_i16(i16) "an integer";
        serialize_i32(i32) "an integer";
        serialize_i64(i64) "an integer";
        serialize_u8(u8) "an integer";
        serialize_u16(u16) "an integer";
        serialize_u32(u32) "an integer";
        serialize_u64(u64) "an integer";
        serialize_f32(f32) "a float";
        serialize_f64(f64) "a float";
        serialize_char(char) "a string";
        serialize_str(&str) "a string";
        serialize_bytes(&[u8]) "bytes";
        serialize_none() "None";
        serialize_unit() "None";
        serialize_unit_struct(&'static str) "None";
        serialize_unit_variant(&'static str, u32, &'static str) "an enum";
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), HashError> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), HashError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), HashError> {
        Err(HashError::NotAStruct("an enum"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, HashError> {
        Err(HashError::NotAStruct("a list"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, HashError> {
        Err(HashError::NotAStruct("a list"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, HashError> {
        Err(HashError::NotAStruct("a list"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, HashError> {
        Err(HashError::NotAStruct("an enum"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, HashError> {
        Ok(CaptureFields {
            on: self.on,
            key: String::new(),
        })
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, HashError> {
        Ok(CaptureFields {
            on: self.on,
            key: String::new(),
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, HashError> {
        Err(HashError::NotAStruct("an enum"))
    }
}

impl<O: OnField> ser::SerializeStruct for CaptureFields<'_, O> {
    type Ok = ();
    type Error = HashError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), HashError> {
        Ok(self.on.on_field(key, v)?)
    }
    fn end(self) -> Result<(), HashError> {
        Ok(())
    }
}

impl<O: OnField> ser::SerializeMap for CaptureFields<'_, O> {
    type Ok = ();
    type Error = HashError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), HashError> {
        self.key.clear();
        pystr::write_python_str(&mut self.key, k)?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), HashError> {
        Ok(self.on.on_field(&self.key, v)?)
    }
    fn end(self) -> Result<(), HashError> {
        Ok(())
    }
}

/// Streams Python text into SHA3-256.
pub(crate) struct HashSink(Sha3_256);

impl fmt::Write for HashSink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

impl Sink for HashSink {}
