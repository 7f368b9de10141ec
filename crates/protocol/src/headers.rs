//! The SDK's header encoding of a synapse (wire-modern §3.1, §3.2, §8.1), both ways.
//!
//! [`to_headers`] emits the SDK's order: `name`, `timeout`, `bt_header_axon_<field>` and
//! `bt_header_dendrite_<field>` for each non-null terminal field, `bt_header_input_obj_<field>`
//! per required field, `header_size`, `total_size`, `computed_body_hash`. Values are Python
//! `str()` of the field. All names are lowercase (the SDK client matches them
//! case-sensitively).
//!
//! [`from_headers`] is the SDK's `from_headers`, strict and bounded: names match
//! case-insensitively, values must be UTF-8 and parse with Python `int()`/`float()` rules,
//! a repeated known header is an error, unknown headers are ignored.
//!
//! Differences from the SDK, on purpose: a `None` timeout is left out (the SDK would send
//! the text `None`, which its own axon then fails to parse); prefixes are matched at the
//! start of the name (the SDK looks for them anywhere in it); `header_size`/`total_size`
//! carry the message's values (the SDK measures CPython memory); a required field whose
//! value is `None` still gets its `bt_header_input_obj_<field>` header (the SDK leaves it
//! out, and its own axon then fails to parse its own request with a 500).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::HashError;
use crate::pystr;
use crate::synapse::{DynamicSynapse, Synapse, SynapseMessage};
use crate::terminal::{self, CastError, TerminalInfo};

/// One header: a static name for the fixed ones, an owned name for `bt_header_input_obj_*`.
pub type Header = (Cow<'static, str>, String);

/// Most headers [`from_headers`] looks at; a request with more is rejected.
pub const MAX_HEADERS: usize = 256;
/// Longest header value [`from_headers`] accepts, in bytes.
pub const MAX_VALUE_LEN: usize = 16 * 1024;
/// Most `bt_header_input_obj_*` headers [`from_headers`] keeps.
pub const MAX_INPUT_OBJ: usize = 64;

const AXON_PREFIX: &str = "bt_header_axon_";
const DENDRITE_PREFIX: &str = "bt_header_dendrite_";
const INPUT_OBJ_PREFIX: &str = "bt_header_input_obj_";

const AXON_NAMES: [&str; 10] = [
    "bt_header_axon_status_code",
    "bt_header_axon_status_message",
    "bt_header_axon_process_time",
    "bt_header_axon_ip",
    "bt_header_axon_port",
    "bt_header_axon_version",
    "bt_header_axon_nonce",
    "bt_header_axon_uuid",
    "bt_header_axon_hotkey",
    "bt_header_axon_signature",
];
const DENDRITE_NAMES: [&str; 10] = [
    "bt_header_dendrite_status_code",
    "bt_header_dendrite_status_message",
    "bt_header_dendrite_process_time",
    "bt_header_dendrite_ip",
    "bt_header_dendrite_port",
    "bt_header_dendrite_version",
    "bt_header_dendrite_nonce",
    "bt_header_dendrite_uuid",
    "bt_header_dendrite_hotkey",
    "bt_header_dendrite_signature",
];

/// Why headers could not be read as a synapse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A header value is not UTF-8.
    #[error("header `{0}` is not valid utf-8")]
    NotUtf8(String),
    /// A numeric header does not parse with Python `int()`/`float()` rules.
    #[error("header `{name}`: {source}")]
    Cast {
        /// The header name (lowercase).
        name: String,
        /// What was wrong with the value.
        source: CastError,
    },
    /// A `bt_header_input_obj_*` value is not base64 of UTF-8 JSON.
    #[error("header `{0}` is not base64 of a json value")]
    InputObj(String),
    /// The same known header appears twice.
    #[error("header `{0}` appears more than once")]
    Duplicate(String),
    /// More than [`MAX_HEADERS`] headers, or more than [`MAX_INPUT_OBJ`] input objects.
    #[error("too many headers")]
    TooMany,
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("header `{0}` is too long")]
    TooLong(String),
}

/// The synapse as its headers describe it (the SDK's "header synapse", §2.4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderSynapse {
    /// `name`.
    pub name: Option<String>,
    /// `timeout`, seconds.
    pub timeout: Option<f64>,
    /// `header_size`.
    pub header_size: Option<i64>,
    /// `total_size`.
    pub total_size: Option<i64>,
    /// `computed_body_hash`, as sent (the signature covers this value).
    pub computed_body_hash: Option<String>,
    /// `bt_header_dendrite_*`.
    pub dendrite: TerminalInfo,
    /// `bt_header_axon_*`.
    pub axon: TerminalInfo,
    /// `bt_header_input_obj_<field>`: (field name in lowercase, decoded JSON text), in
    /// arrival order.
    pub input_obj: Vec<(String, String)>,
}

impl HeaderSynapse {
    /// Encode back into headers, in the SDK order (input objects as stored).
    pub fn to_headers(&self) -> Vec<Header> {
        let inputs = self.input_obj.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let hash = self.computed_body_hash.as_deref().unwrap_or_default();
        encode(
            &Parts {
                name: self.name.as_deref(),
                timeout: self.timeout,
                dendrite: &self.dendrite,
                axon: &self.axon,
                header_size: self.header_size,
                total_size: self.total_size,
                body_hash: hash,
            },
            inputs,
        )
    }
}

/// The headers an SDK peer sends for `msg`, with the body hash computed from its fields.
///
/// If the body hash cannot be computed (`T::REQUIRED_HASH_FIELDS` names a field `T` does not
/// have: a bug in the `Synapse` impl), `computed_body_hash` is empty so that the peer rejects
/// the request; [`try_to_headers`] reports the error instead.
pub fn to_headers<T: Synapse>(msg: &SynapseMessage<T>) -> Vec<Header> {
    let hash = msg.body_hash().unwrap_or_default();
    to_headers_with_hash(msg, &hash)
}

/// [`to_headers`], failing if the body hash cannot be computed.
///
/// # Errors
/// As [`SynapseMessage::body_hash`].
pub fn try_to_headers<T: Synapse>(msg: &SynapseMessage<T>) -> Result<Vec<Header>, HashError> {
    Ok(to_headers_with_hash(msg, &msg.body_hash()?))
}

/// [`to_headers`] with a body hash the caller already computed (to sign it).
pub fn to_headers_with_hash<T: Synapse>(msg: &SynapseMessage<T>, body_hash: &str) -> Vec<Header> {
    encode(
        &Parts::of(msg, body_hash),
        T::REQUIRED_FIELDS.iter().copied(),
    )
}

/// [`to_headers`] for a [`DynamicSynapse`].
///
/// # Errors
/// As [`DynamicSynapse::body_hash`].
pub fn dynamic_to_headers(msg: &SynapseMessage<DynamicSynapse>) -> Result<Vec<Header>, HashError> {
    let hash = msg.fields.body_hash()?;
    Ok(encode(&Parts::of(msg, &hash), msg.fields.required_fields()))
}

/// Everything but the input objects, borrowed from a message or a [`HeaderSynapse`].
struct Parts<'a> {
    name: Option<&'a str>,
    timeout: Option<f64>,
    dendrite: &'a TerminalInfo,
    axon: &'a TerminalInfo,
    header_size: Option<i64>,
    total_size: Option<i64>,
    body_hash: &'a str,
}

impl<'a> Parts<'a> {
    fn of<T>(msg: &'a SynapseMessage<T>, body_hash: &'a str) -> Self {
        Parts {
            name: msg.name.as_deref(),
            timeout: msg.timeout,
            dendrite: &msg.dendrite,
            axon: &msg.axon,
            header_size: msg.header_size,
            total_size: msg.total_size,
            body_hash,
        }
    }
}

fn encode<'i>(p: &Parts<'_>, inputs: impl Iterator<Item = (&'i str, &'i str)>) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(28);
    if let Some(name) = p.name {
        out.push((Cow::Borrowed("name"), name.to_owned()));
    }
    if let Some(t) = p.timeout {
        out.push((Cow::Borrowed("timeout"), pystr::float_repr(t)));
    }
    push_terminal(&mut out, &AXON_NAMES, p.axon);
    push_terminal(&mut out, &DENDRITE_NAMES, p.dendrite);
    for (field, json) in inputs {
        out.push((
            Cow::Owned(format!("{INPUT_OBJ_PREFIX}{field}")),
            base64_json(json),
        ));
    }
    out.push((
        Cow::Borrowed("header_size"),
        p.header_size.unwrap_or(0).to_string(),
    ));
    out.push((
        Cow::Borrowed("total_size"),
        p.total_size.unwrap_or(0).to_string(),
    ));
    out.push((Cow::Borrowed("computed_body_hash"), p.body_hash.to_owned()));
    out
}

fn push_terminal(out: &mut Vec<Header>, names: &'static [&'static str; 10], t: &TerminalInfo) {
    let values: [Option<String>; 10] = [
        t.status_code.map(|v| v.to_string()),
        t.status_message.clone(),
        t.process_time.map(pystr::float_repr),
        t.ip.clone(),
        t.port.map(|v| v.to_string()),
        t.version.map(|v| v.to_string()),
        t.nonce.map(|v| v.to_string()),
        t.uuid.clone(),
        t.hotkey.clone(),
        t.signature.clone(),
    ];
    for (name, value) in names.iter().zip(values) {
        if let Some(value) = value {
            out.push((Cow::Borrowed(*name), value));
        }
    }
}

/// Standard base64 of `json`, with the values of §3.2 precomputed.
fn base64_json(json: &str) -> String {
    match json {
        "0" => "MA==".to_owned(),
        "0.0" => "MC4w".to_owned(),
        "\"\"" => "IiI=".to_owned(),
        "false" => "ZmFsc2U=".to_owned(),
        "[]" => "W10=".to_owned(),
        "{}" => "e30=".to_owned(),
        other => BASE64.encode(other),
    }
}

/// Read the SDK headers of a request or response (names case-insensitive).
///
/// # Errors
/// See [`HeaderError`]: non-UTF-8 or oversized values, malformed numbers (the error names
/// the header), a repeated known header, too many headers, bad input objects.
pub fn from_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<HeaderSynapse, HeaderError> {
    let mut syn = HeaderSynapse::default();
    let mut seen = Seen::default();
    for (count, (name, value)) in headers.into_iter().enumerate() {
        if count >= MAX_HEADERS {
            return Err(HeaderError::TooMany);
        }
        let Some(target) = classify(name) else {
            continue;
        };
        if value.len() > MAX_VALUE_LEN {
            return Err(HeaderError::TooLong(name.to_ascii_lowercase()));
        }
        let text = std::str::from_utf8(value)
            .map_err(|_| HeaderError::NotUtf8(name.to_ascii_lowercase()))?;
        if !seen.insert(target) {
            return Err(HeaderError::Duplicate(name.to_ascii_lowercase()));
        }
        apply(&mut syn, target, name, text)?;
    }
    Ok(syn)
}

/// Which field a header name sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Name,
    Timeout,
    HeaderSize,
    TotalSize,
    BodyHash,
    Axon(usize),
    Dendrite(usize),
    InputObj,
}

/// Headers seen so far: one bit per fixed target.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn insert(&mut self, t: Target) -> bool {
        let bit = match t {
            Target::Name => 0,
            Target::Timeout => 1,
            Target::HeaderSize => 2,
            Target::TotalSize => 3,
            Target::BodyHash => 4,
            Target::Axon(i) => 5 + i,
            Target::Dendrite(i) => 15 + i,
            // Input objects are checked against the collected list.
            Target::InputObj => return true,
        };
        let fresh = self.0 & (1 << bit) == 0;
        self.0 |= 1 << bit;
        fresh
    }
}

fn classify(name: &str) -> Option<Target> {
    let eq = |s: &str| name.eq_ignore_ascii_case(s);
    if eq("name") {
        Some(Target::Name)
    } else if eq("timeout") {
        Some(Target::Timeout)
    } else if eq("header_size") {
        Some(Target::HeaderSize)
    } else if eq("total_size") {
        Some(Target::TotalSize)
    } else if eq("computed_body_hash") {
        Some(Target::BodyHash)
    } else if let Some(field) = strip_prefix_ci(name, AXON_PREFIX) {
        terminal_index(field).map(Target::Axon)
    } else if let Some(field) = strip_prefix_ci(name, DENDRITE_PREFIX) {
        terminal_index(field).map(Target::Dendrite)
    } else if strip_prefix_ci(name, INPUT_OBJ_PREFIX).is_some_and(|f| !f.is_empty()) {
        Some(Target::InputObj)
    } else {
        None
    }
}

fn strip_prefix_ci<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

/// Index of a `TerminalInfo` field; unknown fields are ignored, as pydantic ignores extras.
fn terminal_index(field: &str) -> Option<usize> {
    TerminalInfo::FIELDS
        .iter()
        .position(|f| f.eq_ignore_ascii_case(field))
}

fn apply(
    syn: &mut HeaderSynapse,
    target: Target,
    name: &str,
    text: &str,
) -> Result<(), HeaderError> {
    let cast_err = |source| HeaderError::Cast {
        name: name.to_ascii_lowercase(),
        source,
    };
    match target {
        Target::Name => syn.name = Some(text.to_owned()),
        Target::Timeout => syn.timeout = Some(terminal::cast_float(text).map_err(cast_err)?),
        Target::HeaderSize => syn.header_size = Some(terminal::cast_int(text).map_err(cast_err)?),
        Target::TotalSize => syn.total_size = Some(terminal::cast_int(text).map_err(cast_err)?),
        Target::BodyHash => syn.computed_body_hash = Some(text.to_owned()),
        Target::Axon(i) => set_terminal(&mut syn.axon, i, text).map_err(cast_err)?,
        Target::Dendrite(i) => set_terminal(&mut syn.dendrite, i, text).map_err(cast_err)?,
        Target::InputObj => add_input_obj(syn, name, text)?,
    }
    Ok(())
}

fn set_terminal(t: &mut TerminalInfo, index: usize, text: &str) -> Result<(), CastError> {
    match index {
        0 => t.status_code = Some(terminal::cast_int(text)?),
        1 => t.status_message = Some(text.to_owned()),
        2 => t.process_time = Some(terminal::cast_float(text)?),
        3 => t.ip = Some(text.to_owned()),
        4 => t.port = Some(terminal::cast_int(text)?),
        5 => t.version = Some(terminal::cast_int(text)?),
        6 => t.nonce = Some(terminal::cast_u64(text)?),
        7 => t.uuid = Some(text.to_owned()),
        8 => t.hotkey = Some(text.to_owned()),
        _ => t.signature = Some(text.to_owned()),
    }
    Ok(())
}

fn add_input_obj(syn: &mut HeaderSynapse, name: &str, text: &str) -> Result<(), HeaderError> {
    let field = name[INPUT_OBJ_PREFIX.len()..].to_ascii_lowercase();
    if syn.input_obj.iter().any(|(f, _)| *f == field) {
        return Err(HeaderError::Duplicate(name.to_ascii_lowercase()));
    }
    if syn.input_obj.len() >= MAX_INPUT_OBJ {
        return Err(HeaderError::TooMany);
    }
    let bad = || HeaderError::InputObj(name.to_ascii_lowercase());
    let json = decode_base64_json(text).ok_or_else(bad)?;
    syn.input_obj.push((field, json));
    Ok(())
}

fn decode_base64_json(text: &str) -> Option<String> {
    let known = match text {
        "MA==" => Some("0"),
        "MC4w" => Some("0.0"),
        "IiI=" => Some("\"\""),
        "ZmFsc2U=" => Some("false"),
        "W10=" => Some("[]"),
        "e30=" => Some("{}"),
        _ => None,
    };
    if let Some(json) = known {
        return Some(json.to_owned());
    }
    let bytes = BASE64.decode(text.trim()).ok()?;
    let json = String::from_utf8(bytes).ok()?;
    serde_json::from_str::<serde::de::IgnoredAny>(&json).ok()?;
    Some(json)
}
