//! The exact messages that get signed, per dialect, and the parsers of signed headers.
//!
//! This module builds and parses text; it never signs or verifies (that is sr25519 in the
//! wallet crate). Where a rule needs the signature checked, it takes a closure
//! `verify(ss58, message, signature_hex) -> bool`, with `signature_hex` the `0x`-prefixed
//! hex text as it travels.
//!
//! * Synapse/HTTP (wire-modern §5): [`http_request_message`], [`http_axon_message`].
//! * TensorMessage/gRPC (wire-legacy §8): the v2 (`.`-separated) and v1 (`bitxx`)
//!   builders and [`parse_legacy_signature_header`].
//! * btauth/1 (wire-modern appendix B, bittensor ≥ 11): [`btauth`].

use std::borrow::Cow;

pub mod btauth;

pub use btauth::{BtAuthError, BtAuthRequest, BtAuthVerifier};

/// The message a dendrite signs for one request (wire-modern §5.2):
/// `"{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}"`.
///
/// An axon verifies it with **its own** hotkey as `axon_hotkey` and the
/// `computed_body_hash` header as `body_hash`; a missing uuid is the text `None`.
pub fn http_request_message(
    nonce: u64,
    dendrite_hotkey: &str,
    axon_hotkey: &str,
    uuid: &str,
    body_hash: &str,
) -> String {
    format!("{nonce}.{dendrite_hotkey}.{axon_hotkey}.{uuid}.{body_hash}")
}

/// The message an axon signs on error responses (wire-modern §5.4):
/// `"{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}"`, where `axon_hotkey` is
/// the value the request *claimed*. Nobody verifies it; it is informational.
pub fn http_axon_message(
    axon_nonce: u64,
    dendrite_hotkey: &str,
    axon_hotkey: &str,
    axon_uuid: &str,
) -> String {
    format!("{axon_nonce}.{dendrite_hotkey}.{axon_hotkey}.{axon_uuid}")
}

/// A signature as it travels in every dialect: `0x` + lowercase hex.
pub fn signature_hex(signature: &[u8]) -> String {
    format!("0x{}", hex::encode(signature))
}

/// `<Bytes>` + `message` + `</Bytes>`: the polkadot.js wrapping that the Python
/// verifiers (`Keypair.verify`) also accept.
pub fn bytes_wrapped(message: &[u8]) -> Vec<u8> {
    [b"<Bytes>".as_slice(), message, b"</Bytes>"].concat()
}

/// Verifies like the SDK's `Keypair.verify`: the raw message first, then the
/// `<Bytes>`-wrapped one.
pub fn verify_sdk_style(
    verify: impl Fn(&str, &[u8], &str) -> bool,
    ss58: &str,
    message: &[u8],
    signature_hex: &str,
) -> bool {
    verify(ss58, message, signature_hex) || verify(ss58, &bytes_wrapped(message), signature_hex)
}

/// The legacy signature formats (wire-legacy §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// v3.5 and older, and v3.6+ towards endpoints older than 360:
    /// `"{nonce}{sender}{uid}"`, header parts joined by `bitxx`.
    V1,
    /// v3.6+: `"{nonce}.{sender}.{receiver}.{uid}"`, header parts joined by `.`.
    V2,
}

/// The v2 signed message: `"{nonce}.{sender}.{receiver}.{uid}"`.
pub fn legacy_v2_message(nonce: u64, sender: &str, receiver: &str, uid: &str) -> String {
    format!("{nonce}.{sender}.{receiver}.{uid}")
}

/// The v2 `bittensor-signature` value: `"{nonce}.{sender}.0x{sighex}.{uid}"`.
pub fn legacy_v2_header(nonce: u64, sender: &str, signature: &[u8], uid: &str) -> String {
    format!("{nonce}.{sender}.{}.{uid}", signature_hex(signature))
}

/// The v1 signed message: `"{nonce}{sender}{uid}"`.
pub fn legacy_v1_message(nonce: u64, sender: &str, uid: &str) -> String {
    format!("{nonce}{sender}{uid}")
}

/// The v1 `bittensor-signature` value: `"{nonce}bitxx{sender}bitxx0x{sighex}bitxx{uid}"`.
pub fn legacy_v1_header(nonce: u64, sender: &str, signature: &[u8], uid: &str) -> String {
    format!(
        "{nonce}bitxx{sender}bitxx{}bitxx{uid}",
        signature_hex(signature)
    )
}

/// A parsed `bittensor-signature` metadata value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySignature<'a> {
    /// The nonce (`time.monotonic_ns()` of the sender since v3.6).
    pub nonce: u64,
    /// The sender's SS58 hotkey.
    pub sender: Cow<'a, str>,
    /// The signature text as sent (normally `0x` + 128 hex chars).
    pub signature: &'a str,
    /// The sender's receptor uuid.
    pub uid: &'a str,
    /// Which format the value was in.
    pub format: LegacyFormat,
}

impl LegacySignature<'_> {
    /// The message the sender must have signed, with `receiver` = the verifying axon's
    /// own hotkey (used by v2 only).
    pub fn message(&self, receiver: &str) -> String {
        match self.format {
            LegacyFormat::V2 => legacy_v2_message(self.nonce, &self.sender, receiver, self.uid),
            LegacyFormat::V1 => legacy_v1_message(self.nonce, &self.sender, self.uid),
        }
    }

    /// The nonce table key: `"{sender}:{uid}"`.
    pub fn nonce_key(&self) -> String {
        format!("{}:{}", self.sender, self.uid)
    }

    /// Checks the signature like the v3.7 axon (raw message, then `<Bytes>`-wrapped).
    pub fn verify(&self, receiver: &str, verify: impl Fn(&str, &[u8], &str) -> bool) -> bool {
        verify_sdk_style(
            verify,
            &self.sender,
            self.message(receiver).as_bytes(),
            self.signature,
        )
    }
}

/// Why legacy authentication metadata was refused. The texts are the v3.7 axon's, which
/// it sends as the details of the `UNAUTHENTICATED` status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No `bittensor-signature` entry.
    #[error("Request signature missing")]
    SignatureMissing,
    /// `bittensor-version` absent, not an integer, or below 370. (Python reports a
    /// `TypeError`/`ValueError` text for the first two; we use one text.)
    #[error("Incorrect Version")]
    IncorrectVersion,
    /// Neither the v2 nor the v1 layout.
    #[error("Unknown signature format")]
    UnknownFormat,
    /// The nonce parsed as an integer but is negative or above `u64::MAX`. Python accepts
    /// any integer; real senders use `monotonic_ns`, which never leaves `u64`.
    #[error("Nonce out of range")]
    NonceOutOfRange,
}

/// The lowest `bittensor-version` a v3.7 axon accepts.
pub const LEGACY_MIN_VERSION: i64 = 370;

/// Checks the `bittensor-version` metadata like the v3.7 axon: `int(value) >= 370`.
pub fn check_legacy_version(value: Option<&str>) -> Result<i64, ParseError> {
    let version = value.and_then(py_int).ok_or(ParseError::IncorrectVersion)?;
    if version < i128::from(LEGACY_MIN_VERSION) {
        return Err(ParseError::IncorrectVersion);
    }
    Ok(i64::try_from(version).unwrap_or(i64::MAX))
}

/// Parses a `bittensor-signature` value by the v3.7 axon's rules (wire-legacy §8 step 3):
///
/// 1. split on `.`; exactly 4 parts whose first is an integer → v2
///    (nonce, sender, signature, uid);
/// 2. otherwise split on `bitxx`; at least 4 parts whose first is an integer → v1: the
///    last part is the uid, the one before it the signature, and the parts in between
///    are concatenated (with no separator, as upstream's `"".join`) into the sender;
/// 3. otherwise "Unknown signature format".
///
/// "Integer" is Python's `int()`: surrounding whitespace, a sign, `_` between digits and
/// non-ASCII decimal digits are accepted.
pub fn parse_legacy_signature_header(value: &str) -> Result<LegacySignature<'_>, ParseError> {
    let in_range = |nonce: i128| u64::try_from(nonce).map_err(|_| ParseError::NonceOutOfRange);
    let dots: Vec<&str> = value.splitn(5, '.').collect();
    if let [n, sender, signature, uid] = dots.as_slice()
        && let Some(nonce) = py_int(n)
    {
        return Ok(LegacySignature {
            nonce: in_range(nonce)?,
            sender: Cow::Borrowed(sender),
            signature,
            uid,
            format: LegacyFormat::V2,
        });
    }
    let parts: Vec<&str> = value.split("bitxx").collect();
    if let [n, middle @ .., signature, uid] = parts.as_slice()
        && !middle.is_empty()
        && let Some(nonce) = py_int(n)
    {
        let sender = match middle {
            [one] => Cow::Borrowed(*one),
            many => Cow::Owned(many.concat()),
        };
        return Ok(LegacySignature {
            nonce: in_range(nonce)?,
            sender,
            signature,
            uid,
            format: LegacyFormat::V1,
        });
    }
    Err(ParseError::UnknownFormat)
}

/// Python's `int(text)` in base 10, saturated to `i128` (values beyond it keep their
/// sign, which is all a range or freshness check needs). `None` when Python raises.
pub fn py_int(text: &str) -> Option<i128> {
    // `int()` strips ASCII whitespace and non-ASCII Unicode whitespace, which is exactly
    // Rust's `char::is_whitespace` (unlike `str.strip`, it keeps U+001C..U+001F).
    let s = text.trim_matches(char::is_whitespace);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut value: i128 = 0;
    let mut seen_digit = false;
    let mut after_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            // Only single underscores between digits.
            if !seen_digit || after_underscore {
                return None;
            }
            after_underscore = true;
            continue;
        }
        let d = decimal_value(c)?;
        value = value.saturating_mul(10).saturating_add(i128::from(d));
        seen_digit = true;
        after_underscore = false;
    }
    if !seen_digit || after_underscore {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// Python's `str.isspace` (used by `str.strip`) for one character: Unicode White_Space
/// plus the ASCII separators U+001C..U+001F.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The value of a Unicode decimal digit (general category Nd), as Python's `int()`
/// reads it. Nd characters come in runs of ten from 0 to 9, so the value is the
/// distance from the start of the run, modulo 10.
fn decimal_value(c: char) -> Option<u32> {
    use unicode_general_category::{GeneralCategory, get_general_category};
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    let is_nd = |c: char| get_general_category(c) == GeneralCategory::DecimalNumber;
    if c.is_ascii() || !is_nd(c) {
        return None;
    }
    let mut start = u32::from(c);
    while start > 0 && char::from_u32(start - 1).is_some_and(is_nd) {
        start -= 1;
    }
    Some((u32::from(c) - start) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_int_follows_python() {
        assert_eq!(py_int("123"), Some(123));
        assert_eq!(py_int(" \t-0012\n"), Some(-12));
        assert_eq!(py_int("+1_000"), Some(1000));
        assert_eq!(py_int("\u{a0}7\u{2003}"), Some(7));
        assert_eq!(py_int("\u{1c}7"), None);
        assert_eq!(py_int("\u{0664}\u{0662}"), Some(42)); // Arabic-Indic digits
        assert_eq!(py_int("\u{1D7D9}"), Some(1)); // MATHEMATICAL DOUBLE-STRUCK DIGIT ONE
        for bad in [
            "", " ", "-", "1_", "_1", "1__0", "1 2", "0x10", "1.0", "²", "--1", "+-1",
        ] {
            assert_eq!(py_int(bad), None, "{bad:?}");
        }
        assert_eq!(py_int(&"9".repeat(60)), Some(i128::MAX));
    }

    #[test]
    fn legacy_version_rule() {
        assert_eq!(check_legacy_version(Some("370")), Ok(370));
        assert_eq!(check_legacy_version(Some(" 400 ")), Ok(400));
        assert_eq!(
            check_legacy_version(Some("369")),
            Err(ParseError::IncorrectVersion)
        );
        assert_eq!(
            check_legacy_version(Some("abc")),
            Err(ParseError::IncorrectVersion)
        );
        assert_eq!(
            check_legacy_version(None),
            Err(ParseError::IncorrectVersion)
        );
    }

    #[test]
    fn v1_sender_parts_are_concatenated_without_separator() {
        let sig = parse_legacy_signature_header("5bitxxabitxxbbitxx0xffbitxxuid").expect("v1");
        assert_eq!(sig.sender, "ab");
        assert_eq!(sig.signature, "0xff");
        assert_eq!(sig.uid, "uid");
        assert_eq!(sig.format, LegacyFormat::V1);
    }

    #[test]
    fn v2_needs_an_integer_first_part_else_falls_back_to_v1() {
        // Four dot-parts but not an integer: not v2, and no bitxx either.
        assert_eq!(
            parse_legacy_signature_header("x.a.b.c"),
            Err(ParseError::UnknownFormat)
        );
        // Five dot-parts: not v2; v1 parse works on the whole value.
        let v = "7bitxxa.bbitxx0x00bitxxu.u";
        let sig = parse_legacy_signature_header(v).expect("v1");
        assert_eq!((sig.nonce, &*sig.sender, sig.uid), (7, "a.b", "u.u"));
        assert_eq!(
            parse_legacy_signature_header("-1.a.b.c"),
            Err(ParseError::NonceOutOfRange)
        );
        assert_eq!(
            parse_legacy_signature_header("1bitxx2bitxx3"),
            Err(ParseError::UnknownFormat)
        );
    }
}
