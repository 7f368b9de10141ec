//! Reading a request body within a size limit and a time limit.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Larger than the limit (413).
    #[error("body too large")]
    TooLarge,
    /// Not delivered in time (408).
    #[error("body read timed out")]
    TimedOut,
    /// The connection failed mid-body (400).
    #[error("body read failed")]
    Broken,
}

/// The declared `content-length`, if present and numeric.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Collects `body`, refusing more than `limit` bytes or taking longer than `within`.
pub(crate) async fn read(
    body: axum::body::Body,
    limit: usize,
    within: Duration,
) -> Result<Bytes, BodyError> {
    let limited = Limited::new(body, limit);
    match tokio::time::timeout(within, limited.collect()).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}
