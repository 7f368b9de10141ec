//! Remote axon endpoints and their `[250]` int64 tensor form (wire-legacy §14).

use std::fmt::Write as _;

use candle_core::{Device, Tensor};

use super::error::{Error, Result};

/// The hotkey (and coldkey) of the dummy endpoint: 48 × `X`.
pub const DUMMY_HOTKEY: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

/// Entries of an endpoint tensor (`ENDPOINT_BUFFER_SIZE`).
pub const ENDPOINT_BUFFER_SIZE: usize = 250;

/// One remote axon as the chain advertises it (upstream `bittensor.Endpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The serving neuron's bittensor version int; `>= 360` selects v2 signatures.
    pub version: u32,
    /// The neuron's uid.
    pub uid: u64,
    /// The axon's hotkey, SS58.
    pub hotkey: String,
    /// IP address text (v4 or v6, without brackets).
    pub ip: String,
    /// 4 or 6.
    pub ip_type: u8,
    /// TCP port.
    pub port: u16,
    /// Always 0.
    pub protocol: u8,
    /// The coldkey, SS58.
    pub coldkey: String,
    /// Always 0 (TEXT).
    pub modality: u8,
}

impl Endpoint {
    /// An endpoint of a v3.7 axon: `version` 370, IPv4 unless `ip` contains `:`, coldkey
    /// equal to the hotkey (it is informational only).
    pub fn new(uid: u64, hotkey: impl Into<String>, ip: impl Into<String>, port: u16) -> Self {
        let hotkey = hotkey.into();
        let ip = ip.into();
        Self {
            version: neuron_protocol::legacy::VERSION as u32,
            uid,
            coldkey: hotkey.clone(),
            hotkey,
            ip_type: if ip.contains(':') { 6 } else { 4 },
            ip,
            port,
            protocol: 0,
            modality: 0,
        }
    }

    /// This endpoint with another advertised `version`.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The dummy endpoint (`"X"*48` keys, `0.0.0.0:0`): calls to it fail with
    /// `BadEndpoint` without any RPC.
    pub fn dummy() -> Self {
        Self {
            version: 0,
            uid: 0,
            hotkey: DUMMY_HOTKEY.into(),
            ip: "0.0.0.0".into(),
            ip_type: 4,
            port: 0,
            protocol: 0,
            coldkey: DUMMY_HOTKEY.into(),
            modality: 0,
        }
    }

    /// Whether this is the dummy endpoint (by its hotkey, as upstream).
    pub fn is_dummy(&self) -> bool {
        self.hotkey == DUMMY_HOTKEY
    }

    /// Whether the axon advertises an address (`ip != 0.0.0.0`).
    pub fn is_serving(&self) -> bool {
        self.ip != "0.0.0.0"
    }

    /// The gRPC target URI, `http://ip:port` (IPv6 bracketed, unlike upstream).
    pub fn uri(&self) -> String {
        if self.ip.contains(':') {
            format!("http://[{}]:{}", self.ip, self.port)
        } else {
            format!("http://{}:{}", self.ip, self.port)
        }
    }

    /// Python's `json.dumps` of the endpoint dict, keys in upstream order.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(200);
        let q = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        let _ = write!(
            s,
            "{{\"version\": {}, \"uid\": {}, \"hotkey\": {}, \"ip\": {}, \"ip_type\": {}, \"port\": {}, \"coldkey\": {}, \"protocol\": {}, \"modality\": {}}}",
            self.version,
            self.uid,
            q(&self.hotkey),
            q(&self.ip),
            self.ip_type,
            self.port,
            q(&self.coldkey),
            self.protocol,
            self.modality
        );
        s
    }

    /// Parses the JSON form (any key order).
    pub fn from_json(text: &str) -> Result<Self> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::Endpoint(format!("bad json: {e}")))?;
        let num = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| Error::Endpoint(format!("missing or bad {k}")))
        };
        let text = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::Endpoint(format!("missing or bad {k}")))
        };
        let small = |k: &str, max: u64| {
            num(k).and_then(|n| {
                if n <= max {
                    Ok(n)
                } else {
                    Err(Error::Endpoint(format!("{k} out of range")))
                }
            })
        };
        Ok(Self {
            version: small("version", 999)? as u32,
            uid: small("uid", u64::from(u32::MAX))?,
            hotkey: text("hotkey")?,
            ip: text("ip")?,
            ip_type: small("ip_type", 6)? as u8,
            port: small("port", 65534)? as u16,
            protocol: small("protocol", 0)? as u8,
            coldkey: text("coldkey")?,
            modality: small("modality", 2)? as u8,
        })
    }

    /// The `[250]` int64 tensor: the JSON's UTF-8 bytes, padded with −1.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let json = self.to_json();
        if json.len() > ENDPOINT_BUFFER_SIZE {
            return Err(Error::Endpoint(format!(
                "json is {} bytes, more than {ENDPOINT_BUFFER_SIZE}",
                json.len()
            )));
        }
        let mut data: Vec<i64> = json.bytes().map(i64::from).collect();
        data.resize(ENDPOINT_BUFFER_SIZE, -1);
        Ok(Tensor::from_vec(data, ENDPOINT_BUFFER_SIZE, &Device::Cpu)?)
    }

    /// Decodes a `[250]` endpoint tensor (any integer dtype); all −1 is the dummy.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        if t.dims() != [ENDPOINT_BUFFER_SIZE] {
            return Err(Error::Endpoint(format!(
                "endpoint tensor shape {:?}, expected [{ENDPOINT_BUFFER_SIZE}]",
                t.dims()
            )));
        }
        let values = t.to_dtype(candle_core::DType::I64)?.to_vec1::<i64>()?;
        let bytes: Vec<u8> = values
            .iter()
            .take_while(|&&b| b != -1)
            .map(|&b| {
                u8::try_from(b).map_err(|_| Error::Endpoint(format!("byte {b} out of range")))
            })
            .collect::<Result<_>>()?;
        if bytes.is_empty() {
            return Ok(Self::dummy());
        }
        let text =
            std::str::from_utf8(&bytes).map_err(|_| Error::Endpoint("json is not utf-8".into()))?;
        Self::from_json(text)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/ipv{}/{}:{}", self.ip_type, self.ip, self.port)
    }
}
