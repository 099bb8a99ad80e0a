//! Time filters in query strings and bodies: RFC 3339 or Unix seconds.

use super::error::ApiError;

/// Parses a time filter named `field`: RFC 3339 or Unix seconds; Unix ms out.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs * 1000);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("{field} must be RFC 3339 or Unix seconds")))
}

/// [`parse_time`] of an optional value.
pub fn parse_opt(field: &str, s: Option<&str>) -> Result<Option<i64>, ApiError> {
    s.map(|s| parse_time(field, s)).transpose()
}
