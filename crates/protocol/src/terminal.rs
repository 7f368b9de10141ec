//! `TerminalInfo` (wire-modern §2.2) and the SDK's `int()`/`float()` header casts.
//!
//! Header values reach the SDK as text and pass through Python's `int()`/`float()`;
//! [`cast_int`], [`cast_u64`] and [`cast_float`] accept exactly the ASCII subset of what
//! those accept (surrounding whitespace, a sign, `_` between digits, `inf`/`nan`/exponents
//! for floats) and return a [`CastError`] for anything else. Python also accepts non-ASCII
//! decimal digits; these casts do not (a header value carrying them never reaches the SDK as
//! digits either, since it decodes header bytes as Latin-1).

use serde::{Deserialize, Serialize};

/// One end of a query: the SDK's `TerminalInfo`. JSON key order is the field order, and
/// every key is always serialized (`null` for `None`), as pydantic does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TerminalInfo {
    /// HTTP-style status: 100 while processing, the final code on return.
    pub status_code: Option<i64>,
    /// `"Success"` or an error text.
    pub status_message: Option<String>,
    /// Seconds spent (handler time on the axon, round trip on the dendrite).
    pub process_time: Option<f64>,
    /// IP address of this terminal.
    pub ip: Option<String>,
    /// Port of this terminal.
    pub port: Option<i64>,
    /// `version_as_int` of the software (major·10⁶ + minor·10³ + patch).
    pub version: Option<i64>,
    /// `time.time_ns()` at signing.
    pub nonce: Option<u64>,
    /// Per-process uuid1 string.
    pub uuid: Option<String>,
    /// SS58 hotkey.
    pub hotkey: Option<String>,
    /// `0x` + 128 lowercase hex characters (sr25519).
    pub signature: Option<String>,
}

impl TerminalInfo {
    /// The field names in wire order (the suffixes of `bt_header_axon_*` and friends).
    pub const FIELDS: [&'static str; 10] = [
        "status_code",
        "status_message",
        "process_time",
        "ip",
        "port",
        "version",
        "nonce",
        "uuid",
        "hotkey",
        "signature",
    ];
}

/// A header text that Python's `int()`/`float()` would not accept, or that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CastError {
    /// Not a decimal integer in Python `int()` syntax.
    #[error("invalid literal for int(): {0:?}")]
    Int(String),
    /// A valid integer that does not fit the field's Rust type.
    #[error("integer out of range: {0:?}")]
    Range(String),
    /// Not a number in Python `float()` syntax.
    #[error("could not convert string to float: {0:?}")]
    Float(String),
}

/// Longest text echoed back in a [`CastError`].
const ECHO_MAX: usize = 64;

fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Python `int(s)` for an `i64`.
///
/// # Errors
/// [`CastError::Int`] on bad syntax, [`CastError::Range`] outside `i64`.
pub fn cast_int(s: &str) -> Result<i64, CastError> {
    let (negative, digits) = int_parts(s)?;
    let magnitude = accumulate(digits).ok_or_else(|| CastError::Range(echo(s)))?;
    let value = if negative {
        0i128 - i128::from(magnitude)
    } else {
        i128::from(magnitude)
    };
    i64::try_from(value).map_err(|_| CastError::Range(echo(s)))
}

/// Python `int(s)` for a `u64` (nonces): `-0` is 0, any other negative is out of range.
///
/// # Errors
/// [`CastError::Int`] on bad syntax, [`CastError::Range`] outside `u64`.
pub fn cast_u64(s: &str) -> Result<u64, CastError> {
    let (negative, digits) = int_parts(s)?;
    let magnitude = accumulate(digits).ok_or_else(|| CastError::Range(echo(s)))?;
    if negative && magnitude != 0 {
        return Err(CastError::Range(echo(s)));
    }
    Ok(magnitude)
}

/// Python `float(s)`: decimal or exponent notation, `inf`/`infinity`/`nan` in any case.
///
/// # Errors
/// [`CastError::Float`] on bad syntax. Overflow gives `±inf`, as in Python.
pub fn cast_float(s: &str) -> Result<f64, CastError> {
    let err = || CastError::Float(echo(s));
    let t = s.trim();
    let (negative, body) = split_sign(t);
    let special = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        Some(f64::INFINITY)
    } else if body.eq_ignore_ascii_case("nan") {
        Some(f64::NAN)
    } else {
        None
    };
    if let Some(v) = special {
        return Ok(if negative { -v } else { v });
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if int_part.is_empty() && frac_part.is_none_or(str::is_empty) {
        return Err(err());
    }
    let mut clean = String::with_capacity(t.len());
    clean.push(if negative { '-' } else { '+' });
    push_digits(&mut clean, int_part, true).ok_or_else(err)?;
    if let Some(frac) = frac_part {
        clean.push('.');
        push_digits(&mut clean, frac, true).ok_or_else(err)?;
    }
    if let Some(exp) = exponent {
        let (exp_negative, exp_digits) = split_sign(exp);
        clean.push('e');
        clean.push(if exp_negative { '-' } else { '+' });
        push_digits(&mut clean, exp_digits, false).ok_or_else(err)?;
    }
    clean.parse().map_err(|_| err())
}

/// Strip whitespace and the sign, check the digits; `(negative, digits with underscores)`.
fn int_parts(s: &str) -> Result<(bool, &str), CastError> {
    let (negative, digits) = split_sign(s.trim());
    if valid_digits(digits) {
        Ok((negative, digits))
    } else {
        Err(CastError::Int(echo(s)))
    }
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// ASCII digits with single underscores strictly between digits; non-empty.
fn valid_digits(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        && !b.windows(2).any(|w| w == b"__")
}

/// Append the digits of `s` without underscores; `None` if `s` is not [`valid_digits`]
/// (an empty `s` is allowed when `may_be_empty`, for `1.` and `.5`).
fn push_digits(out: &mut String, s: &str, may_be_empty: bool) -> Option<()> {
    if s.is_empty() && may_be_empty {
        return Some(());
    }
    if !valid_digits(s) {
        return None;
    }
    out.extend(s.chars().filter(|c| *c != '_'));
    Some(())
}

fn accumulate(digits: &str) -> Option<u64> {
    digits
        .bytes()
        .filter(|b| *b != b'_')
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_python() {
        assert_eq!(cast_int("42"), Ok(42));
        assert_eq!(cast_int("  -1_000\t"), Ok(-1000));
        assert_eq!(cast_int("+0012"), Ok(12));
        assert_eq!(cast_int("\u{3000}7\u{a0}"), Ok(7));
        assert_eq!(cast_int("-9223372036854775808"), Ok(i64::MIN));
        assert!(matches!(
            cast_int("9223372036854775808"),
            Err(CastError::Range(_))
        ));
        for bad in [
            "", " ", "1__0", "_1", "1_", "+_1", "0x10", "1.0", "1e3", "--1", "١٢", "\x1c5",
        ] {
            assert!(matches!(cast_int(bad), Err(CastError::Int(_))), "{bad:?}");
        }
        assert_eq!(
            cast_u64("1795310834565781717"),
            Ok(1_795_310_834_565_781_717)
        );
        assert_eq!(cast_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(cast_u64("-0"), Ok(0));
        assert!(cast_u64("-1").is_err());
        assert!(cast_u64("18446744073709551616").is_err());
    }

    #[test]
    fn floats_follow_python() {
        let ok: &[(&str, f64)] = &[
            ("12.0", 12.0),
            ("1_0e1_0", 1e11),
            ("1_0.5_5", 10.55),
            ("1.", 1.0),
            (".5", 0.5),
            ("+.5e-3", 0.0005),
            ("  12\t", 12.0),
            ("+Infinity", f64::INFINITY),
            ("-iNF", f64::NEG_INFINITY),
            ("1.5e-0_1", 0.15),
            ("1e400", f64::INFINITY),
            ("3.790855407714844e-05", 3.790855407714844e-05),
        ];
        for (s, want) in ok {
            assert_eq!(cast_float(s), Ok(*want), "{s:?}");
        }
        assert!(cast_float("-nan").is_ok_and(f64::is_nan));
        assert!(cast_float("-0").is_ok_and(|v| v == 0.0 && v.is_sign_negative()));
        for bad in [
            "", ".", "e5", "1e", "1__0", "1._5", "1_.5", "1e_5", "1e+_5", "None", "0x1p3", "in f",
            "1e5.0",
        ] {
            assert!(cast_float(bad).is_err(), "{bad:?}");
        }
    }
}
