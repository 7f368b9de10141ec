//! HTTP status codes and the SDK's status messages (wire-modern §7 and §9).
//!
//! The message builders reproduce the exact texts of bittensor 10.5 so that a Python
//! peer, a log scraper or a test comparing `status_message` sees the same strings. The
//! legacy gRPC return codes live in [`crate::legacy::ReturnCode`].

use crate::pystr::float_repr;

/// 200: success.
pub const OK: u16 = 200;
/// 400: malformed request (SDK: unparsable path or headers; dendrite: payload error).
pub const BAD_REQUEST: u16 = 400;
/// 401: verification failed (nonce, signature, wrong axon, missing signature).
pub const UNAUTHORIZED: u16 = 401;
/// 403: blacklisted caller.
pub const FORBIDDEN: u16 = 403;
/// 404: unknown synapse name.
pub const NOT_FOUND: u16 = 404;
/// 405: method other than GET or POST.
pub const METHOD_NOT_ALLOWED: u16 = 405;
/// 408: request timeout (dendrite deadline, or axon priority queue timeout).
pub const REQUEST_TIMEOUT: u16 = 408;
/// 413: body or headers over the configured limit.
pub const PAYLOAD_TOO_LARGE: u16 = 413;
/// 422: body is not valid JSON (axon), or the response did not parse (dendrite).
pub const UNPROCESSABLE_ENTITY: u16 = 422;
/// 429: rate limited.
pub const TOO_MANY_REQUESTS: u16 = 429;
/// 500: internal error (hash mismatch, handler failure, header parse failure).
pub const INTERNAL_SERVER_ERROR: u16 = 500;
/// 503: overloaded or unreachable.
pub const SERVICE_UNAVAILABLE: u16 = 503;
/// 504: upstream timeout (dendrite: aiohttp `ServerTimeoutError`).
pub const GATEWAY_TIMEOUT: u16 = 504;

/// The canonical reason phrase of `code` (the ones the `http` crate and hyper emit), for
/// the codes this project produces; `None` for others.
pub fn reason(code: u16) -> Option<&'static str> {
    Some(match code {
        OK => "OK",
        BAD_REQUEST => "Bad Request",
        UNAUTHORIZED => "Unauthorized",
        FORBIDDEN => "Forbidden",
        NOT_FOUND => "Not Found",
        METHOD_NOT_ALLOWED => "Method Not Allowed",
        REQUEST_TIMEOUT => "Request Timeout",
        PAYLOAD_TOO_LARGE => "Payload Too Large",
        UNPROCESSABLE_ENTITY => "Unprocessable Entity",
        TOO_MANY_REQUESTS => "Too Many Requests",
        INTERNAL_SERVER_ERROR => "Internal Server Error",
        SERVICE_UNAVAILABLE => "Service Unavailable",
        GATEWAY_TIMEOUT => "Gateway Timeout",
        _ => return None,
    })
}

/// `status_message` of a successful response.
pub const SUCCESS: &str = "Success";

/// 401 message: `Not Verified with error: {reason}` (`reason` is e.g. a
/// [`NonceError`](crate::nonce::NonceError) text or `Missing Signature`).
pub fn not_verified(reason: &str) -> String {
    format!("Not Verified with error: {reason}")
}

/// 403 message: `Forbidden. Key is blacklisted: {reason}.`
pub fn blacklisted(reason: &str) -> String {
    format!("Forbidden. Key is blacklisted: {reason}.")
}

/// 404 message: `Synapse name '{name}' not found. Available synapses ['A', 'B']`.
///
/// The list is Python's `repr` of a list of names; names are quoted with `'` (they are
/// route names, i.e. identifiers, which need no escaping).
pub fn not_found(name: &str, available: &[&str]) -> String {
    let list: Vec<String> = available.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "Synapse name '{name}' not found. Available synapses [{}]",
        list.join(", ")
    )
}

/// 400 message for a path the SDK cannot take a synapse name from.
pub fn improper_request_name(path: &str) -> String {
    format!("Improperly formatted request. Could not parser request {path}.")
}

/// 500 message: `Internal Server Error #{error_id}` (the SDK uses a fresh uuid4 per
/// error and logs the details under it).
pub fn internal_error(error_id: &str) -> String {
    format!("Internal Server Error #{error_id}")
}

/// 408/503 message of the axon's priority stage: `Response timeout after: {timeout}s`
/// (`timeout` rendered as a Python float, e.g. `12.0`).
pub fn response_timeout(timeout_s: f64) -> String {
    format!("Response timeout after: {}s", float_repr(timeout_s))
}

/// 401 message part when the signature does not verify:
/// `Signature mismatch with {message} and {signature}`.
pub fn signature_mismatch(message: &str, signature: &str) -> String {
    format!("Signature mismatch with {message} and {signature}")
}

/// 401 message part when the request has no signature.
pub const MISSING_SIGNATURE: &str = "Missing Signature";

/// What went wrong on the client side of a call (the SDK dendrite's exception table,
/// wire-modern §9), with the status code and message the dendrite reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DendriteFailure {
    /// Connection refused or unreachable (aiohttp `ClientConnectorError`): 503.
    ServiceUnavailable,
    /// The call's total timeout elapsed (`asyncio.TimeoutError`): 408.
    RequestTimeout,
    /// The server closed the connection (`ServerDisconnectedError`): 503.
    ServiceDisconnected,
    /// Another connection error (`ServerConnectionError`): 503.
    ServiceConnectionError,
    /// Socket read timeout (`ServerTimeoutError`): 504.
    ServerTimeout,
    /// The body was cut or malformed (`ClientPayloadError`): 400.
    PayloadError,
    /// An HTTP-level error response (`ClientResponseError`): its own status.
    ClientResponseError,
    /// Any other client error (`ClientError`): 500.
    ClientError,
    /// The response could not be parsed (anything else): 422.
    ParseFailure,
}

impl DendriteFailure {
    /// The status the dendrite reports (`None` for [`Self::ClientResponseError`], which
    /// reports the HTTP status of the response).
    pub fn status(self) -> Option<u16> {
        match self {
            Self::ServiceUnavailable | Self::ServiceDisconnected | Self::ServiceConnectionError => {
                Some(SERVICE_UNAVAILABLE)
            }
            Self::RequestTimeout => Some(REQUEST_TIMEOUT),
            Self::ServerTimeout => Some(GATEWAY_TIMEOUT),
            Self::PayloadError => Some(BAD_REQUEST),
            Self::ClientResponseError => None,
            Self::ClientError => Some(INTERNAL_SERVER_ERROR),
            Self::ParseFailure => Some(UNPROCESSABLE_ENTITY),
        }
    }

    /// The SDK's message prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::ServiceUnavailable => "Service unavailable",
            Self::RequestTimeout => "Request timeout",
            Self::ServiceDisconnected => "Service disconnected",
            Self::ServiceConnectionError => "Service connection error",
            Self::ServerTimeout => "Server timeout error",
            Self::PayloadError => "Payload error",
            Self::ClientResponseError => "Client response error",
            Self::ClientError => "Client error",
            Self::ParseFailure => "Failed to parse response",
        }
    }

    /// The generic message: `{prefix}: {detail}` (every failure but the two below).
    pub fn message(self, detail: &str) -> String {
        format!("{}: {detail}", self.prefix())
    }
}

/// Dendrite 503 message on a refused connection:
/// `Service unavailable at {ip}:{port}/{name}`.
pub fn service_unavailable(ip: &str, port: u16, name: &str) -> String {
    format!(
        "{} at {ip}:{port}/{name}",
        DendriteFailure::ServiceUnavailable.prefix()
    )
}

/// Dendrite 408 message: `Request timeout after {timeout} seconds` (`timeout` rendered
/// as a Python float, e.g. `12.0`).
pub fn request_timeout(timeout_s: f64) -> String {
    format!(
        "{} after {} seconds",
        DendriteFailure::RequestTimeout.prefix(),
        float_repr(timeout_s)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        let cases = [
            (12.0, "12.0"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123_456_789_012_345.0, "123456789012345.0"),
            (-0.0, "-0.0"),
            (1.5e300, "1.5e+300"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }
}
