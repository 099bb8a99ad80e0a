//! Reading a request: its JSON body and its `Idempotency-Key`.

use axum::http::HeaderMap;
use serde_json::Value;

use super::error::ApiError;

/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Reads the `Idempotency-Key` header.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be printable ASCII"))?
        .trim();
    if s.is_empty() || s.len() > IDEMPOTENCY_KEY_MAX {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )));
    }
    Ok(Some(s.to_string()))
}

/// Parses a JSON body, with a clear error; NUL in a string is refused
/// ([`openbsp_wire::json`]).
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    openbsp_wire::json::read(body).map_err(|e| ApiError::bad_request(e.to_string()))
}
