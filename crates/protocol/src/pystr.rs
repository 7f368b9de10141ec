//! CPython `str()` and `repr()` of any [`Serialize`] value (wire-modern §4.1).
//!
//! The SDK hashes `str(value)` of each `required_hash_fields` entry of `model_dump()`, so a
//! Rust peer must reproduce CPython's text byte for byte. This module is a
//! [`serde::Serializer`] that writes that text directly, without going through
//! `serde_json::Value` (which cannot hold `inf`/`nan`, both legal in Python floats).
//!
//! Mapping from the serde data model to Python values (what pydantic's `model_dump()` gives
//! for the JSON the peer received):
//!
//! | serde | Python | text |
//! |---|---|---|
//! | `bool` | `bool` | `True` / `False` |
//! | integers | `int` | decimal |
//! | `f64` | `float` | [`float_repr`] |
//! | `f32` | `float` | the `f64` that its shortest JSON text parses to, then [`float_repr`] |
//! | `str`, `char` | `str` | the text itself at top level, [`str_repr`] when nested |
//! | bytes | `bytes` | [`bytes_repr`] (`b'..'`) |
//! | `None`, `()`, unit struct | `None` | `None` |
//! | `Some(v)`, newtype struct | `v` | transparent |
//! | sequence, tuple | `list` | `[a, b]` |
//! | map, struct | `dict` | `{'k': v}` in serialization order |
//! | unit variant | `str` | the variant name, as serde_json writes it |
//! | other variants | `dict` | `{'Variant': value}`, as serde_json writes them |
//!
//! Which characters `repr()` escapes depends on the Unicode version compiled into the
//! CPython that renders the text: a character assigned in Unicode 15 is printed literally by
//! CPython 3.12 and escaped as `\U0001fae8` by 3.11, so the SDK's body hash of the same
//! text differs between Python releases. [`Unicode`] names the versions of the CPython
//! releases bittensor 10.5 supports (3.10 to 3.14); the `*_in` functions render for one of
//! them and the others use [`Unicode::DEFAULT`] (CPython 3.11). The differences between the
//! versions come from a generated table (`cargo xtask unicode`, from the real interpreters);
//! everything else from the `unicode-general-category` crate (Unicode 16.0).

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};
use unicode_general_category::{GeneralCategory, get_general_category};

#[path = "generated/unicode_versions.rs"]
mod unicode_versions;

/// The Unicode version of a CPython release, which decides what `str.isprintable()` (and
/// so `repr()`) says of characters assigned in later versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unicode {
    /// Unicode 13.0: CPython 3.10.
    V13_0,
    /// Unicode 14.0: CPython 3.11, the default.
    #[default]
    V14_0,
    /// Unicode 15.0: CPython 3.12.
    V15_0,
    /// Unicode 15.1: CPython 3.13.
    V15_1,
    /// Unicode 16.0: CPython 3.14.
    V16_0,
}

impl Unicode {
    /// Every version, oldest first (the bit order of the generated table).
    pub const ALL: [Unicode; 5] = [
        Unicode::V13_0,
        Unicode::V14_0,
        Unicode::V15_0,
        Unicode::V15_1,
        Unicode::V16_0,
    ];

    /// What the renderer uses unless told otherwise: CPython 3.11's Unicode 14.0.
    pub const DEFAULT: Unicode = Unicode::V14_0;

    /// The version of CPython `3.minor` (3.10 to 3.14), `None` for others.
    pub const fn of_python(minor: u32) -> Option<Unicode> {
        Some(match minor {
            10 => Unicode::V13_0,
            11 => Unicode::V14_0,
            12 => Unicode::V15_0,
            13 => Unicode::V15_1,
            14 => Unicode::V16_0,
            _ => return None,
        })
    }

    /// Parses `unicodedata.unidata_version` (`"14.0.0"`) or a short form (`"14.0"`).
    pub fn from_version(v: &str) -> Option<Unicode> {
        let v = v
            .strip_suffix(".0")
            .filter(|s| s.contains('.'))
            .unwrap_or(v);
        Unicode::ALL.into_iter().find(|u| u.as_str() == v)
    }

    /// The version as `"14.0"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unicode::V13_0 => "13.0",
            Unicode::V14_0 => "14.0",
            Unicode::V15_0 => "15.0",
            Unicode::V15_1 => "15.1",
            Unicode::V16_0 => "16.0",
        }
    }

    /// The CPython release that ships this version, as `"3.11"`.
    pub const fn python(self) -> &'static str {
        match self {
            Unicode::V13_0 => "3.10",
            Unicode::V14_0 => "3.11",
            Unicode::V15_0 => "3.12",
            Unicode::V15_1 => "3.13",
            Unicode::V16_0 => "3.14",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Unicode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unicode {} (CPython {})", self.as_str(), self.python())
    }
}

impl std::str::FromStr for Unicode {
    type Err = String;
    /// Accepts a Unicode version (`"15.1"`, `"15.1.0"`) or a CPython release (`"3.13"`).
    fn from_str(s: &str) -> Result<Self, String> {
        let python = s
            .strip_prefix("3.")
            .and_then(|m| m.parse().ok())
            .and_then(Unicode::of_python);
        python.or_else(|| Unicode::from_version(s)).ok_or_else(|| {
            format!("unknown Unicode version or CPython release {s:?} (13.0 to 16.0, 3.10 to 3.14)")
        })
    }
}

/// The versions in which `c` is printable, when that differs between the versions of
/// [`Unicode`]; `None` when every version agrees with [`is_printable`].
fn versioned_printable(c: char) -> Option<u8> {
    let table = unicode_versions::VERSIONED_PRINTABLE;
    let cp = c as u32;
    let i = table.partition_point(|&(_, last, _)| last < cp);
    table
        .get(i)
        .filter(|&&(first, _, _)| first <= cp)
        .map(|&(_, _, mask)| mask)
}

/// Whether CPython's answer for `c` depends on its Unicode version.
pub fn is_version_dependent(c: char) -> bool {
    !c.is_ascii() && versioned_printable(c).is_some()
}

/// Python `str.isprintable()` for one character in a CPython with Unicode version `u`.
pub fn is_printable_in(c: char, u: Unicode) -> bool {
    printable_and_dependence(c, u).0
}

/// [`is_printable_in`], and whether the answer depends on the Unicode version.
fn printable_and_dependence(c: char, u: Unicode) -> (bool, bool) {
    if c.is_ascii() {
        return ((' '..='~').contains(&c), false);
    }
    match versioned_printable(c) {
        Some(mask) => (mask & u.bit() != 0, true),
        None => (is_printable(c), false),
    }
}

/// Why a value could not be rendered as Python text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyStrError {
    /// The value's `Serialize` implementation reported an error.
    #[error("cannot render value as python text: {0}")]
    Custom(String),
    /// A float was NaN or infinite where only finite numbers are allowed (JSON output).
    #[error("non-finite float {0} cannot be represented in JSON")]
    NonFinite(String),
}

impl ser::Error for PyStrError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PyStrError::Custom(msg.to_string())
    }
}

/// CPython `str(v)`: a top-level string is written as is, everything else as [`python_repr`].
///
/// # Errors
/// Only if `v`'s `Serialize` implementation fails.
pub fn python_str<T: Serialize + ?Sized>(v: &T) -> Result<String, PyStrError> {
    let mut out = String::new();
    write_python_str(&mut out, v)?;
    Ok(out)
}

/// CPython `repr(v)`: strings are quoted and escaped.
///
/// # Errors
/// Only if `v`'s `Serialize` implementation fails.
pub fn python_repr<T: Serialize + ?Sized>(v: &T) -> Result<String, PyStrError> {
    python_repr_in(v, Unicode::DEFAULT)
}

/// [`python_str`] as a CPython with Unicode version `unicode` writes it.
///
/// # Errors
/// Only if `v`'s `Serialize` implementation fails.
pub fn python_str_in<T: Serialize + ?Sized>(v: &T, unicode: Unicode) -> Result<String, PyStrError> {
    let mut out = String::new();
    write_python_str(&mut Versioned::new(&mut out, unicode), v)?;
    Ok(out)
}

/// [`python_repr`] as a CPython with Unicode version `unicode` writes it.
///
/// # Errors
/// Only if `v`'s `Serialize` implementation fails.
pub fn python_repr_in<T: Serialize + ?Sized>(
    v: &T,
    unicode: Unicode,
) -> Result<String, PyStrError> {
    let mut out = String::new();
    v.serialize(PyStrSerializer {
        out: &mut Versioned::new(&mut out, unicode),
        top: false,
    })?;
    Ok(out)
}

/// Check that `v` holds no NaN or infinite float, i.e. that JSON can carry it.
///
/// `serde_json` silently writes such floats as `null`; the SDK answers 500 instead
/// (wire-modern §8.1). This walks `v` without producing text.
///
/// # Errors
/// [`PyStrError::NonFinite`] for the first non-finite float, or a `Serialize` failure.
pub fn ensure_finite<T: Serialize + ?Sized>(v: &T) -> Result<(), PyStrError> {
    v.serialize(PyStrSerializer {
        out: &mut FiniteCheck,
        top: false,
    })
}

/// Write CPython `str(v)` into `out` (crate-internal streaming form of [`python_str`]).
pub(crate) fn write_python_str<W: Sink, T: Serialize + ?Sized>(
    out: &mut W,
    v: &T,
) -> Result<(), PyStrError> {
    v.serialize(PyStrSerializer { out, top: true })
}

/// Where Python text goes: a `String`, or a hasher that never materialises the text.
pub(crate) trait Sink: fmt::Write {
    /// Skip producing text and only reject non-finite floats.
    const CHECK_ONLY: bool = false;
    /// The Unicode version whose printability rules the text follows.
    fn unicode(&self) -> Unicode {
        Unicode::DEFAULT
    }
    /// Called when a string held a character that CPython releases escape differently.
    fn saw_version_dependent(&mut self) {}
}

impl Sink for String {}

/// A [`Sink`] that renders for a chosen Unicode version and records whether the text held
/// a character whose rendering depends on it.
pub(crate) struct Versioned<'a, W> {
    inner: &'a mut W,
    unicode: Unicode,
    /// A character whose rendering depends on the Unicode version was seen.
    pub(crate) dependent: bool,
}

impl<'a, W> Versioned<'a, W> {
    pub(crate) fn new(inner: &'a mut W, unicode: Unicode) -> Self {
        Versioned {
            inner,
            unicode,
            dependent: false,
        }
    }
}

impl<W: fmt::Write> fmt::Write for Versioned<'_, W> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_str(s)
    }
}

impl<W: Sink> Sink for Versioned<'_, W> {
    const CHECK_ONLY: bool = W::CHECK_ONLY;
    fn unicode(&self) -> Unicode {
        self.unicode
    }
    fn saw_version_dependent(&mut self) {
        self.dependent = true;
    }
}

/// A [`Sink`] that discards text: used by [`ensure_finite`].
struct FiniteCheck;

impl fmt::Write for FiniteCheck {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

impl Sink for FiniteCheck {
    const CHECK_ONLY: bool = true;
}

// `fmt::Write` for `String` and for the hashing sink never fails, so results are ignored.
fn put<W: Sink>(out: &mut W, s: &str) {
    let _ = out.write_str(s);
}

fn put_char<W: Sink>(out: &mut W, c: char) {
    let _ = out.write_char(c);
}

/// Python `repr(float)`: shortest round-trip digits, scientific notation iff the decimal
/// exponent is < -4 or >= 16, `.0` on integral values, `inf`, `-inf`, `nan`, `-0.0`.
pub fn float_repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_float_repr(&mut out, x);
    out
}

pub(crate) fn write_float_repr<W: fmt::Write>(out: &mut W, x: f64) {
    // Writing to `String` or a hasher cannot fail.
    let _ = write_float_repr_inner(out, x);
}

fn write_float_repr_inner<W: fmt::Write>(out: &mut W, x: f64) -> fmt::Result {
    if x.is_nan() {
        return out.write_str("nan");
    }
    if x.is_infinite() {
        return out.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    // Fast path: integral values below 2^53 print as the integer plus ".0".
    if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
        if x == 0.0 && x.is_sign_negative() {
            return out.write_str("-0.0");
        }
        return write!(out, "{}.0", x as i64);
    }
    // `{:e}` yields the shortest round-trip digits as `d[.ddd]e[-]x`.
    let mut buf = StackBuf::new();
    write!(buf, "{x:e}")?;
    let text = buf.as_str();
    let (mantissa, exp) = text.split_once('e').ok_or(fmt::Error)?;
    let exp: i32 = exp.parse().map_err(|_| fmt::Error)?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let mut digits = StackBuf::new();
    for c in mantissa.chars().filter(|c| *c != '.') {
        digits.write_char(c)?;
    }
    let closest = closest_shortest(x.abs(), digits.as_str(), exp);
    let digits = closest.as_deref().unwrap_or(digits.as_str());
    out.write_str(sign)?;
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.write_str(first)?;
        if !rest.is_empty() {
            write!(out, ".{rest}")?;
        }
        let esign = if exp < 0 { '-' } else { '+' };
        write!(out, "e{esign}{:02}", exp.unsigned_abs())
    } else if exp < 0 {
        out.write_str("0.")?;
        for _ in 0..(-exp - 1) {
            out.write_char('0')?;
        }
        out.write_str(digits)
    } else {
        let int_len = exp as usize + 1;
        if digits.len() > int_len {
            let (int_part, frac) = digits.split_at(int_len);
            write!(out, "{int_part}.{frac}")
        } else {
            out.write_str(digits)?;
            for _ in digits.len()..int_len {
                out.write_char('0')?;
            }
            out.write_str(".0")
        }
    }
}

/// The `f64` a Python peer sees for an `f32`: the double nearest to the f32's shortest
/// decimal text (what JSON carries), not the f32's exact binary value.
pub(crate) fn widen_f32(v: f32) -> f64 {
    if !v.is_finite() {
        return f64::from(v);
    }
    let mut buf = StackBuf::new();
    match write!(buf, "{v:e}") {
        Ok(()) => buf.as_str().parse().unwrap_or(f64::from(v)),
        Err(_) => f64::from(v),
    }
}

/// A fixed buffer for float formatting (the longest `{:e}` of an f64 is 24 bytes).
pub(crate) struct StackBuf {
    buf: [u8; 32],
    len: usize,
}

impl StackBuf {
    pub(crate) fn new() -> Self {
        StackBuf {
            buf: [0; 32],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the prefix is valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Python `repr(str)`: quoted with `'`, or `"` when the text has `'` and no `"`.
pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut out, s);
    out
}

/// [`str_repr`] as a CPython with Unicode version `unicode` writes it.
pub fn str_repr_in(s: &str, unicode: Unicode) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut Versioned::new(&mut out, unicode), s);
    out
}

/// Python `repr(bytes)`: `b'..'` with `\xNN` for bytes outside printable ASCII.
pub fn bytes_repr(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 3);
    write_bytes_repr(&mut out, b);
    out
}

/// Python `str.isprintable()` for one character under Unicode 16.0 (CPython 3.14): false
/// for categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs, except the ASCII space. See
/// [`is_printable_in`] for the other CPython releases.
pub fn is_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

fn quote_for(has_single: bool, has_double: bool) -> u8 {
    if has_single && !has_double {
        b'"'
    } else {
        b'\''
    }
}

fn write_str_repr<W: Sink>(out: &mut W, s: &str) {
    let bytes = s.as_bytes();
    let quote = quote_for(bytes.contains(&b'\''), bytes.contains(&b'"'));
    put_char(out, quote as char);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip whole blocks that need no escaping (printable ASCII, no backslash, not the
        // quote): the common case for long texts such as base64 tensor buffers. The test
        // over a block has no early exit, so the compiler vectorizes it.
        while let Some(block) = bytes.get(i..i + 32) {
            let special = block.iter().fold(false, |acc, &b| {
                acc | !(0x20..0x7f).contains(&b) | (b == quote) | (b == b'\\')
            });
            if special {
                break;
            }
            i += 32;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if b < 0x80 {
            if b == quote || b == b'\\' || !(0x20..0x7f).contains(&b) {
                put(out, &s[start..i]);
                write_ascii_escape(out, b);
                start = i + 1;
            }
            i += 1;
            continue;
        }
        // `i` is at the start of a multi-byte character: `s` is valid UTF-8 and every
        // previous step advanced by whole characters.
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        let len = c.len_utf8();
        let (printable, dependent) = printable_and_dependence(c, out.unicode());
        if dependent {
            out.saw_version_dependent();
        }
        if !printable {
            put(out, &s[start..i]);
            let cp = c as u32;
            let _ = match cp {
                0..=0xff => write!(out, "\\x{cp:02x}"),
                0x100..=0xffff => write!(out, "\\u{cp:04x}"),
                _ => write!(out, "\\U{cp:08x}"),
            };
            start = i + len;
        }
        i += len;
    }
    put(out, &s[start..]);
    put_char(out, quote as char);
}

fn write_ascii_escape<W: Sink>(out: &mut W, b: u8) {
    let _ = match b {
        b'\\' => out.write_str("\\\\"),
        b'\n' => out.write_str("\\n"),
        b'\r' => out.write_str("\\r"),
        b'\t' => out.write_str("\\t"),
        b'\'' | b'"' if (0x20..0x7f).contains(&b) => write!(out, "\\{}", b as char),
        _ => write!(out, "\\x{b:02x}"),
    };
}

fn write_bytes_repr<W: Sink>(out: &mut W, b: &[u8]) {
    let quote = quote_for(b.contains(&b'\''), b.contains(&b'"'));
    put(out, "b");
    put_char(out, quote as char);
    for &byte in b {
        if byte == quote || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            write_ascii_escape(out, byte);
        } else {
            put_char(out, byte as char);
        }
    }
    put_char(out, quote as char);
}

/// The serializer: `top` is true while no container has been entered yet.
pub(crate) struct PyStrSerializer<'a, W> {
    pub(crate) out: &'a mut W,
    pub(crate) top: bool,
}

impl<'a, W: Sink> PyStrSerializer<'a, W> {
    fn nested(out: &'a mut W) -> Self {
        PyStrSerializer { out, top: false }
    }

    fn text(self, s: &str) -> Result<(), PyStrError> {
        if !W::CHECK_ONLY {
            put(self.out, s);
        }
        Ok(())
    }

    fn display(self, v: impl fmt::Display) -> Result<(), PyStrError> {
        if !W::CHECK_ONLY {
            let _ = write!(self.out, "{v}");
        }
        Ok(())
    }

    fn compound(self, open: &str, close: &'static str) -> Compound<'a, W> {
        put(self.out, open);
        Compound {
            out: self.out,
            first: true,
            close,
        }
    }

    /// `{'variant': ` opening shared by the non-unit enum variants.
    fn variant_key(self, variant: &str) -> &'a mut W {
        put(self.out, "{");
        if !W::CHECK_ONLY {
            write_str_repr(self.out, variant);
        }
        put(self.out, ": ");
        self.out
    }
}

/// Sequence and mapping state: comma placement and the closing bracket(s).
pub(crate) struct Compound<'a, W> {
    out: &'a mut W,
    first: bool,
    close: &'static str,
}

impl<W: Sink> Compound<'_, W> {
    fn sep(&mut self) {
        if !self.first {
            put(self.out, ", ");
        }
        self.first = false;
    }

    fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        self.sep();
        v.serialize(PyStrSerializer::nested(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), PyStrError> {
        self.sep();
        if !W::CHECK_ONLY {
            write_str_repr(self.out, key);
        }
        put(self.out, ": ");
        v.serialize(PyStrSerializer::nested(self.out))
    }

    fn finish(self) -> Result<(), PyStrError> {
        put(self.out, self.close);
        Ok(())
    }
}

impl<'a, W: Sink> ser::Serializer for PyStrSerializer<'a, W> {
    type Ok = ();
    type Error = PyStrError;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    fn serialize_bool(self, v: bool) -> Result<(), PyStrError> {
        self.text(if v { "True" } else { "False" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), PyStrError> {
        self.display(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), PyStrError> {
        self.serialize_f64(widen_f32(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), PyStrError> {
        if W::CHECK_ONLY {
            return if v.is_finite() {
                Ok(())
            } else {
                Err(PyStrError::NonFinite(float_repr(v)))
            };
        }
        write_float_repr(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), PyStrError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), PyStrError> {
        if W::CHECK_ONLY {
            return Ok(());
        }
        if self.top {
            put(self.out, v);
        } else {
            write_str_repr(self.out, v);
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), PyStrError> {
        if !W::CHECK_ONLY {
            write_bytes_repr(self.out, v);
        }
        Ok(())
    }
    fn serialize_none(self) -> Result<(), PyStrError> {
        self.text("None")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), PyStrError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), PyStrError> {
        self.text("None")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), PyStrError> {
        self.text("None")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), PyStrError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), PyStrError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), PyStrError> {
        let out = self.variant_key(variant);
        v.serialize(PyStrSerializer::nested(&mut *out))?;
        put(out, "}");
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, W>, PyStrError> {
        Ok(self.compound("[", "]"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a, W>, PyStrError> {
        Ok(self.compound("[", "]"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, W>, PyStrError> {
        Ok(self.compound("[", "]"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, W>, PyStrError> {
        let out = self.variant_key(variant);
        Ok(PyStrSerializer::nested(out).compound("[", "]}"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, W>, PyStrError> {
        Ok(self.compound("{", "}"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a, W>, PyStrError> {
        Ok(self.compound("{", "}"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, W>, PyStrError> {
        let out = self.variant_key(variant);
        Ok(PyStrSerializer::nested(out).compound("{", "}}"))
    }
}

impl<W: Sink> ser::SerializeSeq for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        self.item(v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeTuple for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        self.item(v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeTupleStruct for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        self.item(v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeTupleVariant for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        self.item(v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), PyStrError> {
        self.item(k)?;
        put(self.out, ": ");
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), PyStrError> {
        v.serialize(PyStrSerializer::nested(self.out))
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeStruct for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), PyStrError> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

impl<W: Sink> ser::SerializeStructVariant for Compound<'_, W> {
    type Ok = ();
    type Error = PyStrError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), PyStrError> {
        self.field(key, v)
    }
    fn end(self) -> Result<(), PyStrError> {
        self.finish()
    }
}

#[cfg(test)]
mod tie_tests {
    #[test]
    fn shortest_ties_pick_the_closest_like_cpython() {
        // Both ...0.2 and ...0.3 round-trip; CPython prints the closer one.
        assert_eq!(
            super::float_repr(f64::from_bits(0x430c_6bf5_2634_0002)),
            "1000000000000000.2"
        );
        assert_eq!(super::float_repr(0.1), "0.1");
        assert_eq!(super::float_repr(1e-5), "1e-05");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versioned_table_is_sorted_and_its_latest_bit_is_the_crate_tables() {
        let table = unicode_versions::VERSIONED_PRINTABLE;
        for w in table.windows(2) {
            assert!(w[0].1 < w[1].0, "overlap or disorder at U+{:04X}", w[1].0);
        }
        for &(first, last, mask) in table {
            assert!(first <= last && mask != 0 && mask != 0b11111);
            for c in (first..=last).filter_map(char::from_u32) {
                assert_eq!(mask & Unicode::V16_0.bit() != 0, is_printable(c), "{c:?}");
                assert!(is_version_dependent(c));
            }
        }
    }

    #[test]
    fn a_character_from_unicode_15_is_escaped_before_cpython_3_12() {
        // U+1FAE8 SHAKING FACE, assigned in Unicode 15.0
        let s = "hi \u{1fae8}";
        assert_eq!(str_repr_in(s, Unicode::V14_0), "'hi \\U0001fae8'");
        assert_eq!(str_repr_in(s, Unicode::V13_0), "'hi \\U0001fae8'");
        assert_eq!(str_repr_in(s, Unicode::V15_0), "'hi \u{1fae8}'");
        assert_eq!(str_repr_in(s, Unicode::V16_0), "'hi \u{1fae8}'");
        assert_eq!(str_repr(s), str_repr_in(s, Unicode::DEFAULT));
        // an emoji every version knows is not version dependent
        assert!(!is_version_dependent('\u{1f600}'));
        assert!(is_version_dependent('\u{1fae8}'));
    }

    #[test]
    fn unicode_versions_parse_from_versions_and_python_releases() {
        assert_eq!("3.12".parse(), Ok(Unicode::V15_0));
        assert_eq!("15.1.0".parse(), Ok(Unicode::V15_1));
        assert_eq!("16.0".parse(), Ok(Unicode::V16_0));
        assert_eq!(Unicode::from_version("13.0.0"), Some(Unicode::V13_0));
        assert!("3.9".parse::<Unicode>().is_err());
        assert!("12.1".parse::<Unicode>().is_err());
        for u in Unicode::ALL {
            assert_eq!(u.as_str().parse(), Ok(u));
            assert_eq!(u.python().parse(), Ok(u));
        }
    }

    #[test]
    fn floats_follow_python_repr() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (12.0, "12.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.0, "123456789012345.0"),
            (1e22, "1e+22"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (3.790855407714844e-05, "3.790855407714844e-05"),
            (-2.5e-7, "-2.5e-07"),
            (9007199254740993.0, "9007199254740992.0"),
            (1.2345678901234567e15, "1234567890123456.8"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(*x), *want, "{x:e}");
        }
    }

    #[test]
    fn strings_follow_python_repr() {
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("'\""), "'\\'\"'");
        assert_eq!(
            str_repr("a\\b\n\r\t\x00\x7f"),
            "'a\\\\b\\n\\r\\t\\x00\\x7f'"
        );
        assert_eq!(
            str_repr("héllo 😀 \u{a0}\u{200b}\u{2028}"),
            "'héllo 😀 \\xa0\\u200b\\u2028'"
        );
        assert_eq!(str_repr("\u{e000}\u{f0000}"), "'\\ue000\\U000f0000'");
        assert_eq!(bytes_repr(b"a'\x00\xff\\"), "b\"a'\\x00\\xff\\\\\"");
    }

    #[test]
    fn containers_nest_in_repr_form() {
        #[derive(serde::Serialize)]
        struct Inner<'a> {
            buffer: &'a str,
            shape: Vec<i64>,
            none: Option<i32>,
            flag: bool,
        }
        let v = Inner {
            buffer: "x",
            shape: vec![4, 2],
            none: None,
            flag: true,
        };
        assert_eq!(
            python_str(&v).unwrap_or_default(),
            "{'buffer': 'x', 'shape': [4, 2], 'none': None, 'flag': True}"
        );
        assert_eq!(python_str("top").unwrap_or_default(), "top");
        assert_eq!(python_repr("top").unwrap_or_default(), "'top'");
        assert_eq!(python_str(&Some("x")).unwrap_or_default(), "x");
        assert_eq!(python_str(&vec!["x"]).unwrap_or_default(), "['x']");
        assert_eq!(python_str(&(1, 2.5f32)).unwrap_or_default(), "[1, 2.5]");
        assert_eq!(python_str(&0.1f32).unwrap_or_default(), "0.1");
    }

    #[test]
    fn ensure_finite_rejects_nan_anywhere() {
        assert!(ensure_finite(&vec![1.0, 2.0]).is_ok());
        assert!(matches!(
            ensure_finite(&vec![1.0, f64::NAN]),
            Err(PyStrError::NonFinite(_))
        ));
        assert!(matches!(
            ensure_finite(&Some(f32::INFINITY)),
            Err(PyStrError::NonFinite(_))
        ));
    }
}

/// CPython's repr picks, among the shortest digit strings that round-trip, the one closest
/// to the exact binary value (ties to even). Rust's shortest formatting can return a
/// neighbour of equal length (e.g. `1000000000000000.3` where CPython prints `...0.2`), so
/// the neighbours one unit away in the last digit are compared against the exact value.
/// Returns `None` when Rust's digits are already CPython's.
fn closest_shortest(x: f64, digits: &str, exp: i32) -> Option<String> {
    const WIDTH: usize = 36; // 10^36 < 2^120: fits a u128
    if digits.len() < 2 || digits.len() > WIDTH {
        return None;
    }
    let exact = format!("{:.*e}", WIDTH - 1, x);
    let (exact_mantissa, exact_exp) = exact.split_once('e')?;
    if exact_exp.parse::<i32>().ok()? != exp {
        return None;
    }
    let exact_value: u128 = exact_mantissa.replace('.', "").parse().ok()?;
    let scale = 10u128.checked_pow(u32::try_from(WIDTH - digits.len()).ok()?)?;
    let base: u128 = digits.parse().ok()?;
    let mut best = (base, (base * scale).abs_diff(exact_value));
    for candidate in [base.checked_sub(1), base.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let text = candidate.to_string();
        if text.len() != digits.len() {
            continue;
        }
        let (head, tail) = text.split_at(1);
        let round_trips = format!("{head}.{tail}e{exp}").parse::<f64>().ok() == Some(x);
        if !round_trips {
            continue;
        }
        let distance = (candidate * scale).abs_diff(exact_value);
        if distance < best.1 || (distance == best.1 && candidate % 2 == 0) {
            best = (candidate, distance);
        }
    }
    (best.0 != base).then(|| best.0.to_string())
}
