//! Building signed requests (wire-modern §3, §5.2, §9 steps 1–5).
//!
//! Work that depends only on the synapse (body hash, JSON of the subclass fields, the
//! `bt_header_input_obj_*` headers) is done once per call or fan-out in [`Prepared::new`];
//! each axon then costs one nonce, one signature, one header map and one body concatenation.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use neuron_protocol::pystr::Unicode;
use neuron_protocol::pystr::float_repr as py_float_repr;
use neuron_protocol::synapse::{Synapse, SynapseMessage, to_python_json};
use neuron_protocol::terminal::TerminalInfo;

use crate::axon::AxonInfo;
use crate::dendrite::Dendrite;
use crate::error::Failure;

/// The synapse-dependent part of a request, shared by every axon of a fan-out.
pub(crate) struct Prepared<T> {
    fields: Arc<T>,
    /// The subclass fields as JSON object members, without the braces (may be empty).
    fields_json: Vec<u8>,
    body_hash: String,
    body_hash_header: HeaderValue,
    input_obj: Vec<(HeaderName, HeaderValue)>,
    path: http::uri::PathAndQuery,
}

/// What the dendrite sent to one axon: the base of its final synapse.
pub(crate) struct Local<T> {
    pub(crate) fields: Arc<T>,
    pub(crate) timeout: f64,
    pub(crate) dendrite: TerminalInfo,
    pub(crate) axon: TerminalInfo,
}

impl<T: Synapse> Local<T> {
    /// The synapse as sent (the fields are cloned here unless this was the last user).
    pub(crate) fn into_message(self) -> SynapseMessage<T> {
        let fields = Arc::try_unwrap(self.fields).unwrap_or_else(|shared| (*shared).clone());
        let mut message = SynapseMessage::new(fields);
        message.timeout = Some(self.timeout);
        message.dendrite = self.dendrite;
        message.axon = self.axon;
        message
    }

    /// The synapse as sent, leaving `self` intact.
    pub(crate) fn to_message(&self) -> SynapseMessage<T> {
        let mut message = SynapseMessage::new((*self.fields).clone());
        message.timeout = Some(self.timeout);
        message.dendrite = self.dendrite.clone();
        message.axon = self.axon.clone();
        message
    }
}

impl<T: Synapse> Prepared<T> {
    /// Hashes and serializes `synapse` once; strings in the hash render as a CPython with
    /// Unicode version `unicode` renders them.
    pub(crate) fn new(synapse: Arc<T>, unicode: Unicode) -> Result<Self, Failure> {
        let body_hash =
            neuron_protocol::hash::body_hash_in(&*synapse, T::REQUIRED_HASH_FIELDS, unicode)
                .map_err(|e| Failure::Request(e.to_string()))?;
        let body_hash_header =
            HeaderValue::from_str(&body_hash).map_err(|e| Failure::Request(e.to_string()))?;
        let fields_json = object_members(&*synapse)?;
        let mut input_obj = Vec::new();
        for (field, empty) in T::REQUIRED_FIELDS {
            let name = HeaderName::try_from(format!("bt_header_input_obj_{field}"))
                .map_err(|e| Failure::Request(format!("field {field}: {e}")))?;
            let value = HeaderValue::from_str(&BASE64.encode(empty))
                .map_err(|e| Failure::Request(format!("field {field}: {e}")))?;
            input_obj.push((name, value));
        }
        let path = http::uri::PathAndQuery::try_from(format!("/{}", T::NAME))
            .map_err(|e| Failure::Request(format!("synapse name {}: {e}", T::NAME)))?;
        Ok(Self {
            fields: synapse,
            fields_json,
            body_hash,
            body_hash_header,
            input_obj,
            path,
        })
    }

    /// The signed request for `axon`, and what was sent.
    pub(crate) fn request(
        &self,
        dendrite: &Dendrite,
        axon: &AxonInfo,
        timeout: Duration,
    ) -> Result<(Request<Bytes>, Local<T>), Failure> {
        let timeout_s = timeout.as_secs_f64();
        let nonce = dendrite.clock().now_ns();
        let me = dendrite.keypair();
        let message = neuron_protocol::signing::http_request_message(
            nonce,
            me.ss58(),
            &axon.hotkey,
            dendrite.uuid(),
            &self.body_hash,
        );
        let signature = me.sign(message.as_bytes()).to_hex();
        let config = dendrite.config();

        let local_dendrite = TerminalInfo {
            ip: config.external_ip.clone(),
            version: Some(i64::from(config.version)),
            nonce: Some(nonce),
            uuid: Some(dendrite.uuid().to_owned()),
            hotkey: Some(me.ss58().to_owned()),
            signature: Some(signature),
            ..TerminalInfo::default()
        };
        let local_axon = TerminalInfo {
            ip: Some(axon.ip.to_string()),
            port: Some(i64::from(axon.port)),
            hotkey: Some(axon.hotkey.clone()),
            ..TerminalInfo::default()
        };

        let headers = self.headers(axon, timeout_s, &local_dendrite, &local_axon)?;
        let body = self.body(timeout_s, &local_dendrite, &local_axon)?;
        let uri = http::Uri::builder()
            .path_and_query(self.path.clone())
            .build()
            .map_err(|e| Failure::Request(e.to_string()))?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let local = Local {
            fields: self.fields.clone(),
            timeout: timeout_s,
            dendrite: local_dendrite,
            axon: local_axon,
        };
        Ok((request, local))
    }

    /// A base synapse for a call that never got a request built (quorum cancellation).
    pub(crate) fn unsent(&self, axon: &AxonInfo, timeout: Duration) -> Local<T> {
        unsent_local(self.fields.clone(), axon, timeout)
    }

    /// The §3.1 header set, in the SDK's order.
    fn headers(
        &self,
        axon: &AxonInfo,
        timeout_s: f64,
        dendrite: &TerminalInfo,
        target: &TerminalInfo,
    ) -> Result<HeaderMap, Failure> {
        let mut h = HeaderMap::with_capacity(20 + self.input_obj.len());
        h.insert(HOST, value(&axon.addr().to_string())?);
        h.insert(NAME, HeaderValue::from_static(T::NAME));
        h.insert(TIMEOUT, value(&py_float_repr(timeout_s))?);
        terminal_headers(&mut h, "axon", target)?;
        terminal_headers(&mut h, "dendrite", dendrite)?;
        for (name, v) in &self.input_obj {
            h.insert(name.clone(), v.clone());
        }
        h.insert(HEADER_SIZE, HeaderValue::from_static("0"));
        h.insert(TOTAL_SIZE, HeaderValue::from_static("0"));
        h.insert(COMPUTED_BODY_HASH, self.body_hash_header.clone());
        h.insert(ACCEPT, HeaderValue::from_static("*/*"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(h)
    }

    /// The JSON body: base fields in the SDK's order, then the subclass fields.
    fn body(
        &self,
        timeout_s: f64,
        dendrite: &TerminalInfo,
        axon: &TerminalInfo,
    ) -> Result<Bytes, Failure> {
        let mut out = Vec::with_capacity(self.fields_json.len() + 768);
        out.extend_from_slice(b"{\"name\":");
        json_into(&mut out, T::NAME)?;
        out.extend_from_slice(b",\"timeout\":");
        json_into(&mut out, &timeout_s)?;
        out.extend_from_slice(b",\"total_size\":0,\"header_size\":0,\"dendrite\":");
        json_into(&mut out, dendrite)?;
        out.extend_from_slice(b",\"axon\":");
        json_into(&mut out, axon)?;
        out.extend_from_slice(b",\"computed_body_hash\":\"\"");
        if !self.fields_json.is_empty() {
            out.push(b',');
            out.extend_from_slice(&self.fields_json);
        }
        out.push(b'}');
        Ok(Bytes::from(out))
    }
}

/// A base synapse for a call that never got a request built.
pub(crate) fn unsent_local<T>(fields: Arc<T>, axon: &AxonInfo, timeout: Duration) -> Local<T> {
    Local {
        fields,
        timeout: timeout.as_secs_f64(),
        dendrite: TerminalInfo::default(),
        axon: TerminalInfo {
            ip: Some(axon.ip.to_string()),
            port: Some(i64::from(axon.port)),
            hotkey: Some(axon.hotkey.clone()),
            ..TerminalInfo::default()
        },
    }
}

const NAME: HeaderName = HeaderName::from_static("name");
const TIMEOUT: HeaderName = HeaderName::from_static("timeout");
const HEADER_SIZE: HeaderName = HeaderName::from_static("header_size");
const TOTAL_SIZE: HeaderName = HeaderName::from_static("total_size");
const COMPUTED_BODY_HASH: HeaderName = HeaderName::from_static("computed_body_hash");

fn value(text: &str) -> Result<HeaderValue, Failure> {
    HeaderValue::from_str(text)
        .map_err(|_| Failure::Request(format!("invalid header value {text:?}")))
}

/// The `bt_header_{side}_{field}` names, in TerminalInfo order (§3.1).
const fn terminal_names(side_axon: bool) -> [HeaderName; 10] {
    if side_axon {
        [
            HeaderName::from_static("bt_header_axon_status_code"),
            HeaderName::from_static("bt_header_axon_status_message"),
            HeaderName::from_static("bt_header_axon_process_time"),
            HeaderName::from_static("bt_header_axon_ip"),
            HeaderName::from_static("bt_header_axon_port"),
            HeaderName::from_static("bt_header_axon_version"),
            HeaderName::from_static("bt_header_axon_nonce"),
            HeaderName::from_static("bt_header_axon_uuid"),
            HeaderName::from_static("bt_header_axon_hotkey"),
            HeaderName::from_static("bt_header_axon_signature"),
        ]
    } else {
        [
            HeaderName::from_static("bt_header_dendrite_status_code"),
            HeaderName::from_static("bt_header_dendrite_status_message"),
            HeaderName::from_static("bt_header_dendrite_process_time"),
            HeaderName::from_static("bt_header_dendrite_ip"),
            HeaderName::from_static("bt_header_dendrite_port"),
            HeaderName::from_static("bt_header_dendrite_version"),
            HeaderName::from_static("bt_header_dendrite_nonce"),
            HeaderName::from_static("bt_header_dendrite_uuid"),
            HeaderName::from_static("bt_header_dendrite_hotkey"),
            HeaderName::from_static("bt_header_dendrite_signature"),
        ]
    }
}

const AXON_NAMES: [HeaderName; 10] = terminal_names(true);
const DENDRITE_NAMES: [HeaderName; 10] = terminal_names(false);

/// `bt_header_{side}_{field}` for every non-null field, in TerminalInfo order (§3.1).
fn terminal_headers(h: &mut HeaderMap, side: &str, t: &TerminalInfo) -> Result<(), Failure> {
    let names = if side == "axon" {
        &AXON_NAMES
    } else {
        &DENDRITE_NAMES
    };
    let fields: [Option<String>; 10] = [
        t.status_code.map(|v| v.to_string()),
        t.status_message.clone(),
        t.process_time.map(py_float_repr),
        t.ip.clone(),
        t.port.map(|v| v.to_string()),
        t.version.map(|v| v.to_string()),
        t.nonce.map(|v| v.to_string()),
        t.uuid.clone(),
        t.hotkey.clone(),
        t.signature.clone(),
    ];
    for (name, text) in names.iter().zip(fields) {
        if let Some(text) = text {
            // `try_from(String)` takes the string's buffer instead of copying it.
            let v = HeaderValue::try_from(text)
                .map_err(|e| Failure::Request(format!("invalid header value: {e}")))?;
            h.insert(name.clone(), v);
        }
    }
    Ok(())
}

/// Appends `v` as JSON, floats in Python `repr`, refusing NaN and infinities (the SDK axon
/// cannot take them).
fn json_into<V: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &V) -> Result<(), Failure> {
    let json = to_python_json(v).map_err(|e| Failure::Request(e.to_string()))?;
    out.extend_from_slice(&json);
    Ok(())
}

/// The members of `synapse`'s JSON object, without the surrounding braces.
fn object_members<T: serde::Serialize>(synapse: &T) -> Result<Vec<u8>, Failure> {
    let mut json = to_python_json(synapse).map_err(|e| Failure::Request(e.to_string()))?;
    if json.first() != Some(&b'{') || json.last() != Some(&b'}') {
        return Err(Failure::Request(
            "synapse fields must serialize to a JSON object".into(),
        ));
    }
    json.pop();
    json.remove(0);
    Ok(json)
}
