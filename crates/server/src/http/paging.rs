//! Cursor pagination of the native API: `?limit=&after=`, newest first, answered as
//! `{"object": "list", "data": […], "has_more": …, "next_cursor": …}` ([`ListPage`]).

use std::collections::HashMap;

use axum::http::HeaderMap;
use openbsp_store::Page;
pub use openbsp_store::views::ListPage;

use serde_json::{Value, json};

use super::error::ApiError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Checks `?limit=`; the store is asked for one more row, to know whether there are more.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    let limit = requested.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// What the store is asked for: one more row than the page holds, to know whether there
/// are more.
pub fn page(limit: u32, after: Option<String>) -> Page {
    Page {
        limit: limit + 1,
        after,
    }
}

/// The list answer for `rows` (fetched with `limit + 1`): the first `limit` rows as `view`
/// shows them, and the cursor of the next page when there is one.
pub fn list_page<T, V>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
    view: impl Fn(&T) -> V,
) -> ListPage<V> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if has_more { rows.last().map(id) } else { None };
    ListPage::new(rows.iter().map(view).collect(), has_more, next)
}

/// Which pages lie on either side of a Graph page.
#[derive(Debug, Clone, Copy)]
pub struct Sides {
    /// A page precedes (`previous`, by the `before` cursor).
    pub previous: bool,
    /// A page follows (`next`, by the `after` cursor).
    pub next: bool,
}

/// Meta's Graph `paging` of a page whose first and last rows are `first` and `last`: the
/// cursors, and the absolute `previous` / `next` URLs on `path` (with `limit`, the `before` /
/// `after` cursor and the `kept` query parameters the client gave) for the pages that exist.
pub fn graph_paging(
    headers: &HeaderMap,
    path: &str,
    (first, last): (&str, &str),
    limit: u32,
    sides: Sides,
    query: &HashMap<String, String>,
    kept: &[&str],
) -> Value {
    let mut paging = json!({"cursors": {"before": first, "after": last}});
    let link = |cursor: &str, at: &str| {
        let mut url = format!(
            "{}{path}?limit={limit}&{cursor}={at}",
            super::base_url(headers)
        );
        for k in kept {
            if let Some(v) = query.get(*k) {
                url.push_str(&format!("&{k}={}", percent_encode(v)));
            }
        }
        url
    };
    if sides.previous {
        paging["previous"] = json!(link("before", first));
    }
    if sides.next {
        paging["next"] = json!(link("after", last));
    }
    paging
}

/// A query value, percent-encoded.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
