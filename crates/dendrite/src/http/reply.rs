//! Reading an axon's reply into the final synapse (wire-modern §8.2, §9 step 6).

use http::{HeaderMap, StatusCode};
use neuron_protocol::headers::from_headers;
use neuron_protocol::synapse::{Synapse, SynapseMessage};
use neuron_protocol::terminal::TerminalInfo;
use serde_json::Value;

use super::request::Local;

/// Whether `headers` declare a JSON body (`application/json` or `application/*+json`, with
/// any parameters), as aiohttp's `response.json()` requires.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a complete reply like the SDK client: JSON body required; on 200 the body must be
/// the whole synapse, otherwise `message` becomes the status message; then the
/// `bt_header_axon_*`/`bt_header_dendrite_*` headers override, and the dendrite terminal
/// takes the axon's final status. `Err` is the parse failure text (reported as 422).
pub(crate) fn parse<T: Synapse>(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    local: &Local<T>,
) -> Result<SynapseMessage<T>, String> {
    if !is_json(headers) {
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        return Err(format!(
            "unexpected content type {ct:?}, expected application/json"
        ));
    }
    let mut message = if status == StatusCode::OK {
        // Straight into the synapse; through a `Value` only when that fails (to take what
        // Python's parser takes, such as repeated keys, and to tell bad JSON apart).
        let mut reply: SynapseMessage<T> = match serde_json::from_slice(body) {
            Ok(reply) => reply,
            Err(_) => {
                let json: Value =
                    serde_json::from_slice(body).map_err(|e| format!("invalid json: {e}"))?;
                serde_json::from_value(json).map_err(|e| format!("invalid synapse: {e}"))?
            }
        };
        // A reply that omits the terminals keeps ours (the SDK copies the server's defaults
        // over them; keeping the sent values is more useful and changes no status).
        if reply.dendrite == TerminalInfo::default() {
            reply.dendrite = local.dendrite.clone();
        }
        reply
    } else {
        let json: Value = serde_json::from_slice(body).map_err(|e| format!("invalid json: {e}"))?;
        let mut base = local.to_message();
        base.axon.status_code = Some(status.as_u16().into());
        base.axon.status_message = json
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        base
    };
    merge_headers(&mut message, headers)?;
    message.dendrite.status_code = message.axon.status_code;
    message.dendrite.status_message = message.axon.status_message.clone();
    Ok(message)
}

/// The final synapse of a streamed reply: what was sent, updated from the reply headers.
pub(crate) fn from_stream_headers<T: Synapse>(
    headers: &HeaderMap,
    local: &Local<T>,
) -> Result<SynapseMessage<T>, String> {
    let mut message = local.to_message();
    merge_headers(&mut message, headers)?;
    message.dendrite.status_code = message.axon.status_code;
    message.dendrite.status_message = message.axon.status_message.clone();
    Ok(message)
}

/// Overrides terminal fields with every `bt_header_axon_*` / `bt_header_dendrite_*`
/// header present, parsed with the SDK's `from_headers` rules (Python `int()`/`float()`).
fn merge_headers<T>(message: &mut SynapseMessage<T>, headers: &HeaderMap) -> Result<(), String> {
    let parsed = from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
        .map_err(|e| e.to_string())?;
    overlay(&mut message.axon, parsed.axon);
    overlay(&mut message.dendrite, parsed.dendrite);
    Ok(())
}

/// `base` updated with every non-null field of `top` (the SDK's `exclude_none` merge).
fn overlay(base: &mut TerminalInfo, top: TerminalInfo) {
    fn set<V>(slot: &mut Option<V>, value: Option<V>) {
        if value.is_some() {
            *slot = value;
        }
    }
    set(&mut base.status_code, top.status_code);
    set(&mut base.status_message, top.status_message);
    set(&mut base.process_time, top.process_time);
    set(&mut base.ip, top.ip);
    set(&mut base.port, top.port);
    set(&mut base.version, top.version);
    set(&mut base.nonce, top.nonce);
    set(&mut base.uuid, top.uuid);
    set(&mut base.hotkey, top.hotkey);
    set(&mut base.signature, top.signature);
}
