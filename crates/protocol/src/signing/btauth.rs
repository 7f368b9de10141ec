//! btauth/1: hotkey-signed HTTP requests (bittensor ≥ 11, `bittensor.http_auth`).
//!
//! The sender signs eight lines joined by `\n` ([`BtAuthRequest::signed_payload`]) and
//! sends the result in `X-Bittensor-*` headers. The receiver checks, in this order
//! (matching `http_auth.verify` of bittensor 11.3): header shape → receiver is itself →
//! freshness (`now − nonce ≤ 10 s`, `nonce − now ≤ 2 s`) → signature → replay cache of
//! (hotkey, nonce). The error texts are upstream's.
//!
//! Sans-IO: [`BtAuthVerifier`] takes `now_ns` and a signature closure. Its replay cache
//! is bounded ([`BtAuthConfig::with_max_entries`]); when it is full of entries that could
//! still be replayed it refuses new requests ([`BtAuthError::Overloaded`]) rather than
//! forget one.
//!
//! Only the default scheme, sr25519, is supported; a request declaring another
//! `X-Bittensor-Crypto` (upstream also knows ed25519) is refused as malformed.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{py_int, py_isspace, signature_hex};
use crate::nonce::KeyHasher;

/// First line of the signed payload.
pub const PROTOCOL: &str = "btauth/1";
/// Value of [`HEADER_VERSION`].
pub const VERSION: &str = "1";
/// The default (and only supported) signature scheme.
pub const SCHEME: &str = "sr25519";
/// Receiver line for a request not bound to a receiver.
pub const NO_RECEIVER: &str = "-";

/// Protocol version header (`1`).
pub const HEADER_VERSION: &str = "X-Bittensor-Version";
/// Sender SS58 header.
pub const HEADER_HOTKEY: &str = "X-Bittensor-Hotkey";
/// Receiver SS58 header (servers require it by default).
pub const HEADER_RECEIVER: &str = "X-Bittensor-Receiver";
/// Nonce header: decimal `time_ns()`.
pub const HEADER_NONCE: &str = "X-Bittensor-Nonce";
/// Signature scheme header, only sent for non-default schemes.
pub const HEADER_CRYPTO: &str = "X-Bittensor-Crypto";
/// Signature header: `0x` + hex.
pub const HEADER_SIGNATURE: &str = "X-Bittensor-Signature";

/// One request as the sender signs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtAuthRequest<'a> {
    /// HTTP method (uppercased in the payload).
    pub method: &'a str,
    /// Request target exactly as sent: path plus `?query`.
    pub target: &'a str,
    /// The raw body bytes.
    pub body: &'a [u8],
    /// Nanoseconds since the Unix epoch.
    pub nonce: u64,
    /// Sender SS58.
    pub sender: &'a str,
    /// Receiver SS58, or `None` for an unbound request.
    pub receiver: Option<&'a str>,
}

impl BtAuthRequest<'_> {
    /// The exact signed text: `btauth/1`, `sr25519`, the uppercase method, the target,
    /// the lowercase-hex SHA-256 of the body, the nonce, the sender and the receiver (or
    /// `-`), joined by `\n` with no trailing newline.
    pub fn signed_payload(&self) -> String {
        payload(
            self.method,
            self.target,
            self.body,
            i128::from(self.nonce),
            self.sender,
            self.receiver,
        )
    }

    /// The headers to send with `signature` (the sr25519 signature of
    /// [`signed_payload`](Self::signed_payload)), in upstream's order.
    pub fn headers(&self, signature: &[u8]) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            (HEADER_VERSION, VERSION.to_owned()),
            (HEADER_HOTKEY, self.sender.to_owned()),
            (HEADER_NONCE, self.nonce.to_string()),
            (HEADER_SIGNATURE, signature_hex(signature)),
        ];
        if let Some(receiver) = self.receiver {
            headers.push((HEADER_RECEIVER, receiver.to_owned()));
        }
        headers
    }
}

/// Lowercase-hex SHA-256 of `body`.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn payload(
    method: &str,
    target: &str,
    body: &[u8],
    nonce: i128,
    sender: &str,
    receiver: Option<&str>,
) -> String {
    // `receiver_ss58 or "-"`: an empty receiver is unbound too.
    let receiver = receiver.filter(|r| !r.is_empty()).unwrap_or(NO_RECEIVER);
    [
        PROTOCOL,
        SCHEME,
        &method.to_uppercase(),
        target,
        &body_sha256(body),
        &nonce.to_string(),
        sender,
        receiver,
    ]
    .join("\n")
}

/// The btauth headers of a received request, looked up by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BtAuthHeaders<'a> {
    /// `X-Bittensor-Version`.
    pub version: Option<&'a str>,
    /// `X-Bittensor-Hotkey`.
    pub hotkey: Option<&'a str>,
    /// `X-Bittensor-Nonce`.
    pub nonce: Option<&'a str>,
    /// `X-Bittensor-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Bittensor-Receiver`.
    pub receiver: Option<&'a str>,
    /// `X-Bittensor-Crypto`.
    pub crypto: Option<&'a str>,
}

impl<'a> BtAuthHeaders<'a> {
    /// Reads the headers through `get`, which must look names up case-insensitively
    /// (as `http::HeaderMap` does).
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<&'a str>) -> Self {
        Self {
            version: get(HEADER_VERSION),
            hotkey: get(HEADER_HOTKEY),
            nonce: get(HEADER_NONCE),
            signature: get(HEADER_SIGNATURE),
            receiver: get(HEADER_RECEIVER),
            crypto: get(HEADER_CRYPTO),
        }
    }
}

/// Why a btauth request was refused. Displays upstream's texts, which are safe to send
/// back (they never echo the signature or payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtAuthError {
    /// A required header is missing or unparsable (upstream `MalformedAuth`).
    #[error("{0}")]
    Malformed(String),
    /// Signed for another receiver, or for none when one is required (`WrongReceiver`).
    #[error("{0}")]
    WrongReceiver(&'static str),
    /// The nonce is outside the freshness window (`StaleRequest`).
    #[error("{0}")]
    Stale(String),
    /// The signature does not verify (`BadSignature`).
    #[error("signature does not verify against the claimed hotkey")]
    BadSignature,
    /// This (hotkey, nonce) was already accepted (`ReplayedRequest`).
    #[error("this nonce was already accepted from this hotkey")]
    Replayed,
    /// The replay cache is full of live entries (ours; upstream's cache is unbounded).
    #[error("replay cache is full, retry later")]
    Overloaded,
}

impl BtAuthError {
    /// The HTTP status to answer with: 503 for [`Self::Overloaded`], 401 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::Overloaded => crate::status::SERVICE_UNAVAILABLE,
            _ => crate::status::UNAUTHORIZED,
        }
    }
}

/// Settings of a [`BtAuthVerifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtAuthConfig {
    max_age: Duration,
    allowed_skew: Duration,
    retention: Duration,
    require_receiver: bool,
    max_entries: usize,
}

impl BtAuthConfig {
    /// Upstream's defaults: `max_age` **10 s**, `allowed_skew` **2 s**, replay
    /// `retention` **60 s**, `require_receiver` **true**; plus our bound, `max_entries`
    /// **1 048 576** remembered (hotkey, nonce) pairs (about 60 MiB when full).
    pub fn new() -> Self {
        Self {
            max_age: Duration::from_secs(10),
            allowed_skew: Duration::from_secs(2),
            retention: Duration::from_secs(60),
            require_receiver: true,
            max_entries: 1 << 20,
        }
    }

    /// How old a nonce may be.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How far ahead of our clock a nonce may be.
    pub fn with_allowed_skew(mut self, skew: Duration) -> Self {
        self.allowed_skew = skew;
        self
    }

    /// How long accepted pairs are remembered; raised to at least
    /// `max_age + allowed_skew` (upstream refuses a shorter one, which would let replays
    /// through).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Whether requests must name a receiver.
    pub fn with_require_receiver(mut self, require: bool) -> Self {
        self.require_receiver = require;
        self
    }

    /// Bound of the replay cache (at least 1).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    fn window_ns(&self) -> u64 {
        ns(self.max_age).saturating_add(ns(self.allowed_skew))
    }

    fn retention_ns(&self) -> u64 {
        ns(self.retention).max(self.window_ns())
    }
}

impl Default for BtAuthConfig {
    fn default() -> Self {
        Self::new()
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A request that passed every check but the signature and replay ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<'a> {
    /// The claimed sender.
    pub sender: &'a str,
    /// The nonce.
    pub nonce: u64,
    /// What the sender must have signed.
    pub payload: String,
    /// The signature, normalised to `0x` + lowercase hex.
    pub signature_hex: String,
}

/// An authenticated sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The verified SS58 hotkey.
    pub hotkey: &'a str,
    /// The request nonce.
    pub nonce: u64,
}

/// The receiving side of btauth/1: checks and a bounded replay cache.
#[derive(Debug)]
pub struct BtAuthVerifier {
    config: BtAuthConfig,
    hasher: KeyHasher,
    seen: HashSet<(u128, u64)>,
    /// (inserted at, key), oldest first.
    order: VecDeque<(u64, (u128, u64))>,
}

impl BtAuthVerifier {
    /// A verifier with an empty replay cache.
    pub fn new(config: BtAuthConfig) -> Self {
        Self {
            config,
            hasher: KeyHasher::new(),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Number of remembered (hotkey, nonce) pairs.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when no pair is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// All checks before the signature: header shape, receiver, freshness. Cheap and
    /// read-only, so it can run before taking any lock.
    pub fn prepare<'h>(
        &self,
        headers: &BtAuthHeaders<'h>,
        method: &str,
        target: &str,
        body: &[u8],
        self_hotkey: &str,
        now_ns: u64,
    ) -> Result<Pending<'h>, BtAuthError> {
        let malformed = |m: String| BtAuthError::Malformed(m);
        if headers.version != Some(VERSION) {
            return Err(malformed(format!(
                "missing or unsupported {HEADER_VERSION} (expected '{VERSION}')"
            )));
        }
        let sender = headers.hotkey.filter(|s| !s.is_empty());
        let sender = sender.ok_or_else(|| malformed(format!("missing {HEADER_HOTKEY}")))?;
        let raw_nonce = headers
            .nonce
            .ok_or_else(|| malformed(format!("missing {HEADER_NONCE}")))?;
        let nonce = py_int(raw_nonce)
            .ok_or_else(|| malformed(format!("{HEADER_NONCE} is not a decimal integer")))?;
        if let Some(crypto) = headers.crypto
            && crypto.trim_matches(py_isspace).to_lowercase() != SCHEME
        {
            return Err(malformed(format!("unsupported {HEADER_CRYPTO}")));
        }
        let raw_signature = headers
            .signature
            .ok_or_else(|| malformed(format!("missing {HEADER_SIGNATURE}")))?;
        let signature = py_fromhex(raw_signature.strip_prefix("0x").unwrap_or(raw_signature))
            .ok_or_else(|| malformed(format!("{HEADER_SIGNATURE} is not hex")))?;
        match headers.receiver {
            None if self.config.require_receiver => {
                return Err(BtAuthError::WrongReceiver(
                    "missing X-Bittensor-Receiver: this server requires receiver-bound requests",
                ));
            }
            Some(r) if r != self_hotkey => {
                return Err(BtAuthError::WrongReceiver(
                    "request was signed for a different receiving hotkey",
                ));
            }
            _ => {}
        }
        let nonce = self.fresh(nonce, now_ns)?;
        if signature.len() != 64 {
            // Upstream's verifier raises on a wrong-length signature.
            return Err(malformed(
                "invalid hotkey address or signature encoding".to_owned(),
            ));
        }
        Ok(Pending {
            sender,
            nonce,
            payload: payload(
                method,
                target,
                body,
                i128::from(nonce),
                sender,
                headers.receiver,
            ),
            signature_hex: signature_hex(&signature),
        })
    }

    /// Records the (sender, nonce) pair of a request whose signature verified; refuses a
    /// replay. Takes `&mut self`: the one step that needs the lock.
    pub fn commit(&mut self, sender: &str, nonce: u64, now_ns: u64) -> Result<(), BtAuthError> {
        let retention = self.config.retention_ns();
        while let Some(&(at, key)) = self.order.front() {
            if at.saturating_add(retention) > now_ns {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
        let key = (self.hasher.hash(&[sender.as_bytes()]), nonce);
        if self.seen.contains(&key) {
            return Err(BtAuthError::Replayed);
        }
        if self.seen.len() >= self.config.max_entries {
            // The oldest entry may go early only if its nonce can no longer pass the
            // freshness check (it was fresh when inserted, so that is `window` later).
            match self.order.front() {
                Some(&(at, old)) if at.saturating_add(self.config.window_ns()) < now_ns => {
                    self.order.pop_front();
                    self.seen.remove(&old);
                }
                _ => return Err(BtAuthError::Overloaded),
            }
        }
        self.seen.insert(key);
        self.order.push_back((now_ns, key));
        Ok(())
    }

    /// The whole check: [`prepare`](Self::prepare), the signature through `verify`
    /// (`verify(ss58, payload, signature_hex)`), then [`commit`](Self::commit).
    #[allow(clippy::too_many_arguments)]
    pub fn verify<'h>(
        &mut self,
        headers: &BtAuthHeaders<'h>,
        method: &str,
        target: &str,
        body: &[u8],
        self_hotkey: &str,
        now_ns: u64,
        verify: impl Fn(&str, &[u8], &str) -> bool,
    ) -> Result<Caller<'h>, BtAuthError> {
        let pending = self.prepare(headers, method, target, body, self_hotkey, now_ns)?;
        if !verify(
            pending.sender,
            pending.payload.as_bytes(),
            &pending.signature_hex,
        ) {
            return Err(BtAuthError::BadSignature);
        }
        self.commit(pending.sender, pending.nonce, now_ns)?;
        Ok(Caller {
            hotkey: pending.sender,
            nonce: pending.nonce,
        })
    }

    /// Upstream's freshness rule on the integer nonce: refuse `now − nonce > max_age` and
    /// `nonce − now > allowed_skew`.
    fn fresh(&self, nonce: i128, now_ns: u64) -> Result<u64, BtAuthError> {
        let now = i128::from(now_ns);
        if now - nonce > i128::from(ns(self.config.max_age)) {
            let age = py_g(self.config.max_age.as_secs_f64());
            return Err(BtAuthError::Stale(format!(
                "nonce is older than the {age}s freshness window"
            )));
        }
        if nonce - now > i128::from(ns(self.config.allowed_skew)) {
            let skew = py_g(self.config.allowed_skew.as_secs_f64());
            return Err(BtAuthError::Stale(format!(
                "nonce is more than {skew}s in the future"
            )));
        }
        // Inside [now − max_age, now + skew]; only a clock near u64::MAX could overflow.
        u64::try_from(nonce).map_err(|_| BtAuthError::Stale("nonce is out of range".to_owned()))
    }
}

/// Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs.
fn py_fromhex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            i += 1;
            continue;
        }
        let hi = (bytes[i] as char).to_digit(16)?;
        let lo = (*bytes.get(i + 1)? as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// Python's `format(x, 'g')` for the non-negative finite values used in messages.
fn py_g(x: f64) -> String {
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if (-4..6).contains(&exp) {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim(format!("{x:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim(mantissa.to_owned()),
            exp.unsigned_abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_g_format() {
        for (x, want) in [
            (10.0, "10"),
            (2.0, "2"),
            (0.5, "0.5"),
            (2.25, "2.25"),
            (1e6, "1e+06"),
            (123_456.0, "123456"),
        ] {
            assert_eq!(py_g(x), want);
        }
    }

    #[test]
    fn python_fromhex() {
        assert_eq!(py_fromhex("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(py_fromhex(" 0a ff\n"), Some(vec![0x0a, 0xff]));
        assert_eq!(py_fromhex("0 a"), None);
        assert_eq!(py_fromhex("abc"), None);
        assert_eq!(py_fromhex("zz"), None);
    }
}
