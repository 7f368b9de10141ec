//! Building responses: the success echo (spec §8), streaming heads (§12) and the short
//! constant-shape error bodies (§7).

use axum::body::Body;
use axum::response::Response;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, StatusCode};

/// `content-type` of every JSON response (the SDK client refuses others, spec §8.2).
const JSON: &str = "application/json";

/// Starts a response with `status`.
fn builder(status: u16) -> http::response::Builder {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Response::builder().status(status)
}

/// A header value from arbitrary text: characters that cannot appear in a header value
/// (controls, non-ASCII) are replaced with `?`, so a hostile name or a hook's reason can
/// neither break the response nor inject headers.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    // Common case: already clean, one copy straight into the value.
    if text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && let Ok(v) = HeaderValue::from_str(text)
    {
        return v;
    }
    let clean: String = text
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

/// Appends `(name, value)` pairs (from `to_headers`) to a response; pairs whose name is
/// not a valid header name are skipped.
pub(crate) fn append_headers<N: AsRef<str>>(response: &mut Response, pairs: &[(N, String)]) {
    let headers = response.headers_mut();
    headers.reserve(pairs.len());
    for (name, value) in pairs {
        if let Ok(name) = HeaderName::from_bytes(name.as_ref().as_bytes()) {
            headers.insert(name, header_value(value));
        }
    }
}

/// [`append_headers`] for the synapse headers of `to_headers`, whose names are mostly
/// static: those are used without allocating.
pub(crate) fn append_synapse_headers(
    response: &mut Response,
    pairs: &[neuron_protocol::headers::Header],
) {
    let headers = response.headers_mut();
    headers.reserve(pairs.len());
    for (name, value) in pairs {
        let name = match name {
            std::borrow::Cow::Borrowed(s) if is_lower_token(s) => HeaderName::from_static(s),
            other => match HeaderName::from_bytes(other.as_bytes()) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        headers.insert(name, header_value(value));
    }
}

/// A non-empty lowercase header-name token (what `HeaderName::from_static` accepts).
fn is_lower_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// `retry-after` in whole seconds, rounded up (at least 1).
pub(crate) fn set_retry_after(response: &mut Response, wait: std::time::Duration) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// The status headers the SDK client reads (lowercase, spec §8.2).
pub(crate) fn set_status_headers(response: &mut Response, status: u16, message: &str) {
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("bt_header_axon_status_code"),
        HeaderValue::from(status),
    );
    headers.insert(
        HeaderName::from_static("bt_header_axon_status_message"),
        header_value(message),
    );
}

/// A JSON response with `body` and `status`.
pub(crate) fn json(status: u16, body: Vec<u8>) -> Response {
    let mut response = builder(status)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// An error response: `{"message": ...}` with the status headers. `extra` are the
/// synapse headers of the request context, written before the status headers.
pub(crate) fn error<N: AsRef<str>>(status: u16, message: &str, extra: &[(N, String)]) -> Response {
    let body = serde_json::json!({ "message": message });
    let mut response = json(status, serde_json::to_vec(&body).unwrap_or_default());
    append_headers(&mut response, extra);
    set_status_headers(&mut response, status, message);
    response
}

/// 405 as FastAPI sends it: `{"detail":"Method Not Allowed"}`, `allow: POST, GET`, no
/// synapse headers.
pub(crate) fn method_not_allowed() -> Response {
    let mut response = json(405, br#"{"detail":"Method Not Allowed"}"#.to_vec());
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("POST, GET"));
    response
}

/// 422 as FastAPI sends it for a body that is not JSON; constant, no synapse headers.
pub(crate) fn invalid_json() -> Response {
    json(
        422,
        br#"{"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]}"#
            .to_vec(),
    )
}

/// The head of a streaming response: 200, `text/event-stream`, chunked.
pub(crate) fn stream(body: Body) -> Response {
    let mut response = builder(200)
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}
