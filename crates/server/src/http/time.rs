//! Time filters in query strings and bodies: RFC 3339 or Unix seconds.

use super::error::ApiError;

/// Parses a time filter named `field`: RFC 3339 or Unix seconds; Unix ms out. Seconds that
/// are no date (a year past 262142) are refused, never multiplied into an overflow.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(secs) = s.parse::<i64>() {
        return openbsp_domain::clock::seconds_to_ms(secs).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field} is out of range: Unix seconds must be a date (years -262143 to 262142)"
            ))
        });
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("{field} must be RFC 3339 or Unix seconds")))
}

/// [`parse_time`] of an optional value.
pub fn parse_opt(field: &str, s: Option<&str>) -> Result<Option<i64>, ApiError> {
    s.map(|s| parse_time(field, s)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_that_overflow_are_refused() {
        assert_eq!(
            parse_time("since", "1700000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("since", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        for huge in [
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854776",
        ] {
            let e = parse_time("since", huge).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.code, "invalid_request");
            assert!(e.message.starts_with("since "), "{}", e.message);
        }
    }
}
