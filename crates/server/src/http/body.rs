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

/// Parses a JSON body, with a clear error. A string holding NUL (`\u0000`) is refused: no
/// text the API takes has one, and PostgreSQL can store none (its `text` and `jsonb` refuse
/// it), so it is refused here, alike on both backends, rather than failing in the store.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    if has_nul(&v) {
        return Err(ApiError::bad_request(
            "the body's strings must not contain NUL (\\u0000)",
        ));
    }
    Ok(v)
}

/// Whether a string of `v` (a key or a value, at any depth) holds NUL. The parser bounds
/// the depth, so the recursion is bounded too.
pub fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, x)| k.contains('\0') || has_nul(x)),
        _ => false,
    }
}
