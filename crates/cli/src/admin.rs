//! What the admin commands (`tenant`, `apikey`, `app`, `channel`) share. They open the
//! database directly and call the same provisioning functions as the admin API; `--json`
//! prints the created object as JSON.

use serde_json::Value;

/// Now, for the objects the admin commands create (Unix ms).
pub fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Prints `v` as JSON with `--json`, else the human text.
pub fn print(json: bool, v: &Value, human: impl FnOnce() -> String) {
    if json {
        println!("{v}");
    } else {
        println!("{}", human());
    }
}
