//! Signed endpoint records: what a neuron advertises about itself on the gossip network.
//!
//! A record says "hotkey `H` serves at `ip:port`, speaks these protocols, version `v`",
//! and is signed by `H` (sr25519, signing context `substrate`, through
//! [`neuron_wallet::Keypair::sign`]; verified over the raw bytes only, without the
//! `<Bytes>` wrapping the SDK also accepts). Receivers verify every record before it can enter
//! their table, so nobody can advertise an endpoint for a hotkey they do not hold, and
//! nobody on the path can change a record without the change being noticed.
//!
//! # Canonical encoding (what is signed)
//!
//! The signature covers these bytes, in this order, with no padding:
//!
//! | field | encoding |
//! | --- | --- |
//! | domain | the 28 ASCII bytes `neuron-metagraph/endpoint/v1` |
//! | version | `u64`, big-endian |
//! | hotkey | `u16` big-endian byte length, then the SS58 text (UTF-8) |
//! | coldkey | `u16` big-endian byte length, then the SS58 text (may be empty) |
//! | ip | `u16` big-endian byte length, then the address in canonical text form (Rust's `IpAddr` display: `127.0.0.1`, `::1`) |
//! | port | `u16`, big-endian |
//! | protocols | `u8` count, then per protocol a `u8` byte length and its ASCII bytes, in record order |
//!
//! The domain prefix keeps these signatures from ever being valid for another message
//! signed by the same hotkey (a synapse request, a chain extrinsic).
//!
//! # Limits
//!
//! Checked on every record that arrives ([`EndpointRecord::from_wire`]) and on every record
//! signed here: hotkey 1 to [`MAX_KEY_LEN`] bytes, coldkey at most [`MAX_KEY_LEN`], ip a
//! literal address in canonical form of at most [`MAX_IP_LEN`] bytes, port not 0, version
//! at least 1, at most [`MAX_PROTOCOLS`] protocols of 1 to [`MAX_PROTOCOL_LEN`] printable
//! ASCII bytes each, signature exactly 64 bytes.

use std::net::{IpAddr, SocketAddr};

use neuron_wallet::{Keypair, PublicKey, Signature};

use crate::proto;

/// Longest accepted hotkey or coldkey text, in bytes (an SS58 address with prefix 42 has 48).
pub const MAX_KEY_LEN: usize = 64;
/// Longest accepted ip text, in bytes.
pub const MAX_IP_LEN: usize = 64;
/// Most protocols one record may list.
pub const MAX_PROTOCOLS: usize = 8;
/// Longest accepted protocol name, in bytes.
pub const MAX_PROTOCOL_LEN: usize = 16;
/// The protocol name that marks a record's address as a gossip peer.
pub const PROTOCOL_GOSSIP: &str = "gossip";

/// The domain-separation prefix of the canonical encoding.
const DOMAIN: &[u8] = b"neuron-metagraph/endpoint/v1";

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A text field is empty where it must not be, or longer than its limit.
    #[error("record field `{field}` must be {min} to {max} bytes")]
    FieldLength {
        /// The field name.
        field: &'static str,
        /// The shortest accepted length.
        min: usize,
        /// The longest accepted length.
        max: usize,
    },
    /// The ip is not a literal address in canonical form.
    #[error("record ip is not a canonical ip address")]
    Ip,
    /// The port is 0 or above 65535.
    #[error("record port must be 1 to 65535")]
    Port,
    /// The version is 0.
    #[error("record version must be at least 1")]
    Version,
    /// More protocols than [`MAX_PROTOCOLS`], or a name that is not printable ASCII.
    #[error(
        "record protocols: at most {MAX_PROTOCOLS}, each 1 to {MAX_PROTOCOL_LEN} printable ascii bytes"
    )]
    Protocols,
    /// The signature is not 64 bytes.
    #[error("record signature must be 64 bytes")]
    SignatureLength,
    /// The hotkey is not a valid SS58 address.
    #[error("record hotkey is not a valid ss58 address")]
    Hotkey,
    /// The signature does not verify against the hotkey: forged or tampered with.
    #[error("record signature does not verify for its hotkey")]
    Forged,
}

/// What a neuron advertises about itself, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where the axon (and its gossip service) listens.
    pub addr: SocketAddr,
    /// The coldkey that owns the hotkey (SS58), or empty when unknown.
    pub coldkey: String,
    /// Dialects the axon speaks: `"http"`, `"grpc"`, `"native"`, and [`PROTOCOL_GOSSIP`].
    pub protocols: Vec<String>,
}

impl Endpoint {
    /// An endpoint at `addr` with no coldkey and no protocols.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            coldkey: String::new(),
            protocols: Vec::new(),
        }
    }

    /// Sets the coldkey.
    pub fn with_coldkey(mut self, coldkey: impl Into<String>) -> Self {
        self.coldkey = coldkey.into();
        self
    }

    /// Adds a protocol name (ignored if already listed).
    pub fn with_protocol(mut self, protocol: impl Into<String>) -> Self {
        let protocol = protocol.into();
        if !self.protocols.contains(&protocol) {
            self.protocols.push(protocol);
        }
        self
    }
}

/// A validated endpoint record with its hotkey's signature.
///
/// Built only by [`EndpointRecord::sign`] (always genuine) or
/// [`EndpointRecord::from_wire`] (limits checked; call [`EndpointRecord::verify`] before
/// trusting it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    hotkey: String,
    endpoint: Endpoint,
    version: u64,
    signature: [u8; 64],
}

impl EndpointRecord {
    /// Signs `endpoint` as version `version` of `keypair`'s record.
    pub fn sign(keypair: &Keypair, endpoint: Endpoint, version: u64) -> Result<Self, RecordError> {
        let mut record = Self {
            hotkey: keypair.ss58().to_owned(),
            endpoint,
            version,
            signature: [0; 64],
        };
        record.check_limits()?;
        record.signature = keypair.sign(&record.canonical_bytes()).0;
        Ok(record)
    }

    /// Parses a record received from a peer, checking every limit (not the signature).
    pub fn from_wire(wire: &proto::EndpointRecord) -> Result<Self, RecordError> {
        if wire.ip.len() > MAX_IP_LEN {
            return Err(RecordError::Ip);
        }
        let ip: IpAddr = wire.ip.parse().map_err(|_| RecordError::Ip)?;
        if ip.to_string() != wire.ip {
            return Err(RecordError::Ip);
        }
        let port = u16::try_from(wire.port).map_err(|_| RecordError::Port)?;
        let signature: [u8; 64] = wire
            .signature
            .as_ref()
            .try_into()
            .map_err(|_| RecordError::SignatureLength)?;
        if wire.protocols.len() > MAX_PROTOCOLS {
            return Err(RecordError::Protocols);
        }
        let record = Self {
            hotkey: wire.hotkey.clone(),
            endpoint: Endpoint {
                addr: SocketAddr::new(ip, port),
                coldkey: wire.coldkey.clone(),
                protocols: wire.protocols.clone(),
            },
            version: wire.version,
            signature,
        };
        record.check_limits()?;
        Ok(record)
    }

    /// The record as a protobuf message.
    pub fn to_wire(&self) -> proto::EndpointRecord {
        proto::EndpointRecord {
            hotkey: self.hotkey.clone(),
            coldkey: self.endpoint.coldkey.clone(),
            ip: self.endpoint.addr.ip().to_string(),
            port: u32::from(self.endpoint.addr.port()),
            version: self.version,
            protocols: self.endpoint.protocols.clone(),
            signature: self.signature.to_vec().into(),
        }
    }

    /// Checks the signature against the hotkey.
    pub fn verify(&self) -> Result<(), RecordError> {
        let key = PublicKey::from_ss58(&self.hotkey).map_err(|_| RecordError::Hotkey)?;
        if key.verify_raw(&self.canonical_bytes(), &Signature(self.signature)) {
            Ok(())
        } else {
            Err(RecordError::Forged)
        }
    }

    /// The bytes the signature covers (see the module docs).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let ip = self.endpoint.addr.ip().to_string();
        let mut out = Vec::with_capacity(DOMAIN.len() + 16 + self.hotkey.len() * 2 + ip.len() + 64);
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.version.to_be_bytes());
        for text in [
            self.hotkey.as_str(),
            self.endpoint.coldkey.as_str(),
            ip.as_str(),
        ] {
            // Lengths fit in u16: check_limits caps every text field at 64 bytes.
            out.extend_from_slice(&(text.len() as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out.extend_from_slice(&self.endpoint.addr.port().to_be_bytes());
        // At most MAX_PROTOCOLS names of at most MAX_PROTOCOL_LEN bytes: both fit in u8.
        out.push(self.endpoint.protocols.len() as u8);
        for protocol in &self.endpoint.protocols {
            out.push(protocol.len() as u8);
            out.extend_from_slice(protocol.as_bytes());
        }
        out
    }

    /// True when both records say the same thing (signatures aside: sr25519 signatures are
    /// randomised, so one owner signing the same content twice gives two signatures).
    pub fn same_content(&self, other: &Self) -> bool {
        self.hotkey == other.hotkey
            && self.version == other.version
            && self.endpoint == other.endpoint
    }

    /// The signer's SS58 hotkey.
    pub fn hotkey(&self) -> &str {
        &self.hotkey
    }

    /// The advertised endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Shorthand for `endpoint().addr`.
    pub fn addr(&self) -> SocketAddr {
        self.endpoint.addr
    }

    /// The owner-set version; a newer version replaces an older one.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The 64-byte sr25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// True if the record lists `protocol`.
    pub fn speaks(&self, protocol: &str) -> bool {
        self.endpoint.protocols.iter().any(|p| p == protocol)
    }

    fn check_limits(&self) -> Result<(), RecordError> {
        let length = |field, text: &str, min| {
            if (min..=MAX_KEY_LEN).contains(&text.len()) {
                Ok(())
            } else {
                Err(RecordError::FieldLength {
                    field,
                    min,
                    max: MAX_KEY_LEN,
                })
            }
        };
        length("hotkey", &self.hotkey, 1)?;
        length("coldkey", &self.endpoint.coldkey, 0)?;
        if self.endpoint.addr.port() == 0 {
            return Err(RecordError::Port);
        }
        if self.version == 0 {
            return Err(RecordError::Version);
        }
        let name_ok = |p: &String| {
            (1..=MAX_PROTOCOL_LEN).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_graphic())
        };
        if self.endpoint.protocols.len() > MAX_PROTOCOLS
            || !self.endpoint.protocols.iter().all(name_ok)
        {
            return Err(RecordError::Protocols);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Keypair {
        Keypair::from_uri("//Alice").expect("//Alice is a valid uri")
    }

    fn endpoint() -> Endpoint {
        Endpoint::new("127.0.0.1:8091".parse().expect("valid addr"))
            .with_protocol("grpc")
            .with_protocol(PROTOCOL_GOSSIP)
    }

    #[test]
    fn signed_record_round_trips_and_verifies() {
        let record = EndpointRecord::sign(&alice(), endpoint(), 7).expect("within limits");
        let back = EndpointRecord::from_wire(&record.to_wire()).expect("parses");
        assert_eq!(back, record);
        back.verify().expect("genuine");
    }

    #[test]
    fn canonical_encoding_is_the_documented_layout() {
        let record = EndpointRecord::sign(
            &alice(),
            Endpoint::new("10.0.0.1:9".parse().expect("addr")),
            1,
        )
        .expect("within limits");
        let bytes = record.canonical_bytes();
        let hotkey = alice().ss58().to_owned();
        let mut expected = b"neuron-metagraph/endpoint/v1".to_vec();
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(&(hotkey.len() as u16).to_be_bytes());
        expected.extend_from_slice(hotkey.as_bytes());
        expected.extend_from_slice(&[0, 0]);
        expected.extend_from_slice(&[0, 8]);
        expected.extend_from_slice(b"10.0.0.1");
        expected.extend_from_slice(&[0, 9]);
        expected.push(0);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_tampered_field_fails_verification() {
        let record = EndpointRecord::sign(&alice(), endpoint(), 7).expect("within limits");
        let tampers: [fn(&mut proto::EndpointRecord); 6] = [
            |w| w.port += 1,
            |w| w.version += 1,
            |w| w.ip = "127.0.0.2".into(),
            |w| w.coldkey = "x".into(),
            |w| w.protocols.push("http".into()),
            |w| w.protocols.reverse(),
        ];
        for tamper in tampers {
            let mut wire = record.to_wire();
            tamper(&mut wire);
            let parsed = EndpointRecord::from_wire(&wire).expect("still within limits");
            assert_eq!(parsed.verify(), Err(RecordError::Forged));
        }
        let bob = Keypair::from_uri("//Bob").expect("valid uri");
        let mut wire = record.to_wire();
        wire.hotkey = bob.ss58().to_owned();
        let parsed = EndpointRecord::from_wire(&wire).expect("within limits");
        assert_eq!(parsed.verify(), Err(RecordError::Forged));
    }

    #[test]
    fn limits_are_enforced_on_receipt() {
        let good = EndpointRecord::sign(&alice(), endpoint(), 7)
            .expect("within limits")
            .to_wire();
        type Mutation = fn(&mut proto::EndpointRecord);
        let cases: [(Mutation, RecordError); 9] = [
            (
                |w| w.hotkey.clear(),
                RecordError::FieldLength {
                    field: "hotkey",
                    min: 1,
                    max: 64,
                },
            ),
            (
                |w| w.hotkey = "5".repeat(65),
                RecordError::FieldLength {
                    field: "hotkey",
                    min: 1,
                    max: 64,
                },
            ),
            (
                |w| w.coldkey = "5".repeat(65),
                RecordError::FieldLength {
                    field: "coldkey",
                    min: 0,
                    max: 64,
                },
            ),
            (|w| w.ip = "localhost".into(), RecordError::Ip),
            (|w| w.ip = "0:0:0:0:0:0:0:1".into(), RecordError::Ip),
            (|w| w.port = 70_000, RecordError::Port),
            (|w| w.version = 0, RecordError::Version),
            (
                |w| w.protocols = vec!["a".into(); 9],
                RecordError::Protocols,
            ),
            (
                |w| w.signature = vec![0; 63].into(),
                RecordError::SignatureLength,
            ),
        ];
        for (mutate, expected) in cases {
            let mut wire = good.clone();
            mutate(&mut wire);
            assert_eq!(EndpointRecord::from_wire(&wire), Err(expected));
        }
        for bad in ["", "x".repeat(17).as_str(), "a b"] {
            let mut wire = good.clone();
            wire.protocols = vec![bad.to_owned()];
            assert_eq!(
                EndpointRecord::from_wire(&wire),
                Err(RecordError::Protocols)
            );
        }
    }

    #[test]
    fn bad_hotkey_is_not_a_forgery() {
        let mut wire = EndpointRecord::sign(&alice(), endpoint(), 7)
            .expect("within limits")
            .to_wire();
        wire.hotkey = "not-an-ss58-address".into();
        let parsed = EndpointRecord::from_wire(&wire).expect("within limits");
        assert_eq!(parsed.verify(), Err(RecordError::Hotkey));
    }
}
