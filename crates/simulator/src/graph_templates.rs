//! The Graph API's template management routes, answering as Meta does:
//!
//! - `GET|POST|DELETE /{version}/{waba_id}/message_templates`: list (filters, `fields`,
//!   cursor paging), create (validated, `PENDING`, reviewed), delete (by name, or one
//!   `hsm_id`);
//! - `GET|POST /{version}/{template_id}`: one template; edit.
//!
//! The bearer token must be the access token of one of the WABA's phone numbers (190
//! otherwise); an unknown WABA or template id is 100 with subcode 33. The state's rules are
//! in [`crate::templates`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use openbsp_wire::MetaError;
use openbsp_wire::media::sample_types;
use openbsp_wire::template::Category;

use crate::graph::{
    GraphError, RawQuery, UserTitle, answer, authorize, bearer, field_names, graph_json,
    is_version, query_of, unknown_object_on, unknown_path,
};
use crate::state::SimState;
use crate::templates::{
    DEFAULT_PAGE_SIZE, GRAPH_FIELDS, OPTIONAL_GRAPH_FIELDS, QualityScore, Template, TemplateStatus,
    cursor, parse_cursor,
};

/// Meta's subcode for a template sample handle it did not issue (`error_user_title`
/// "Uploaded Media Handle Is Invalid").
pub const INVALID_MEDIA_HANDLE: i64 = 2494102;

fn ok(body: &Value) -> Result<Response, GraphError> {
    Ok(graph_json(StatusCode::OK, body))
}

/// The request's token, which must be that of one of `waba_id`'s numbers.
/// A call on `/{version}/{waba_id}/message_templates`: a known version, a token of one of
/// the WABA's numbers, a WABA the simulator serves.
fn check_waba_call(
    state: &SimState,
    version: &str,
    waba_id: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    method: &str,
) -> Result<(), GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!(
            "/{version}/{waba_id}/message_templates"
        )));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    authorize(state, waba_id, &token, || {
        unknown_object_on(waba_id, method)
    })
}

fn parse_body(body: &[u8]) -> Result<Value, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let mut err = MetaError::invalid_parameter("The request body could not be parsed as JSON");
        err.details = Some(format!("The request body could not be parsed as JSON: {e}"));
        err.into()
    })
}

/// `?fields=a,b{sub},c` of a template: the fields asked for (`None`: the default ones).
fn fields_param(query: &HashMap<String, String>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(out) = field_names(query) else {
        return Ok(None);
    };
    for f in &out {
        if !GRAPH_FIELDS.contains(&f.as_str()) && !OPTIONAL_GRAPH_FIELDS.contains(&f.as_str()) {
            return Err(MetaError::invalid_parameter(format!(
                "Tried accessing nonexisting field ({f}) on node type (WhatsAppBusinessHSM)"
            ))
            .into());
        }
    }
    Ok(Some(out))
}

/// A comma-separated filter, each value read by `parse` (an unknown value is an error).
fn list_filter<T>(
    query: &HashMap<String, String>,
    name: &str,
    allowed: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<Vec<T>>, GraphError> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            parse(v).ok_or_else(|| {
                GraphError::from(MetaError::invalid_parameter(format!(
                    "Param {name} must be one of {{{allowed}}}, got \"{v}\""
                )))
            })
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

fn quality_of(s: &str) -> Option<QualityScore> {
    serde_json::from_value(Value::String(s.to_ascii_uppercase())).ok()
}

/// `GET /{version}/{waba_id}/message_templates`.
pub(crate) async fn list_templates(
    State(state): State<Arc<SimState>>,
    Path((version, waba_id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_of(query);
    let result = list(&state, &version, &waba_id, &query, &headers);
    answer(&state, result).await
}

fn list(
    state: &SimState,
    version: &str,
    waba_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    check_waba_call(state, version, waba_id, headers, query, "get")?;
    let fields = fields_param(query)?;
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(l) => l.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            MetaError::invalid_parameter("Param limit must be a positive integer.")
        })?,
    };
    let statuses = list_filter(
        query,
        "status",
        "APPROVED, PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL, PENDING_DELETION, DELETED, LIMIT_EXCEEDED, ARCHIVED",
        TemplateStatus::parse,
    )?;
    let categories = list_filter(
        query,
        "category",
        "MARKETING, UTILITY, AUTHENTICATION",
        Category::parse,
    )?;
    let qualities = list_filter(
        query,
        "quality_score",
        "GREEN, YELLOW, RED, UNKNOWN",
        quality_of,
    )?;
    let languages = list_filter(query, "language", "language codes", |s| Some(s.to_string()))?;
    let name = query.get("name");
    let content = query.get("content");
    let name_or_content = query.get("name_or_content");
    let matching: Vec<Template> = state
        .live_templates(waba_id)
        .into_iter()
        .filter(|t| name.is_none_or(|n| t.name.contains(n.as_str())))
        .filter(|t| content.is_none_or(|c| t.body_text().contains(c.as_str())))
        .filter(|t| {
            name_or_content
                .is_none_or(|c| t.name.contains(c.as_str()) || t.body_text().contains(c.as_str()))
        })
        .filter(|t| statuses.as_ref().is_none_or(|s| s.contains(&t.status)))
        .filter(|t| categories.as_ref().is_none_or(|c| c.contains(&t.category)))
        .filter(|t| {
            qualities
                .as_ref()
                .is_none_or(|q| q.contains(&t.quality_score))
        })
        .filter(|t| languages.as_ref().is_none_or(|l| l.contains(&t.language)))
        .collect();

    let bad_cursor = || {
        GraphError::from(MetaError::invalid_parameter(
            "The paging cursor is not valid.",
        ))
    };
    let start = if let Some(a) = query.get("after") {
        parse_cursor(a).ok_or_else(bad_cursor)? + 1
    } else if let Some(b) = query.get("before") {
        parse_cursor(b)
            .ok_or_else(bad_cursor)?
            .saturating_sub(limit)
    } else {
        0
    };
    let end = match query.get("before").filter(|_| !query.contains_key("after")) {
        Some(b) => parse_cursor(b)
            .ok_or_else(bad_cursor)?
            .min(start + limit)
            .min(matching.len()),
        None => (start + limit).min(matching.len()),
    };
    let page: Vec<Value> = matching
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .map(|t| t.graph_json(fields.as_deref()))
        .collect();
    let mut out = Map::new();
    let empty = page.is_empty();
    out.insert("data".into(), Value::Array(page));
    if !empty {
        let link = |key: &str, value: String| -> Option<String> {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            let mut url = reqwest::Url::parse(&format!(
                "http://{host}/{version}/{waba_id}/message_templates"
            ))
            .ok()?;
            let kept: BTreeMap<&String, &String> = query
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "after" | "before" | "limit"))
                .collect();
            {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in kept {
                    pairs.append_pair(k, v);
                }
                pairs.append_pair("limit", &limit.to_string());
                pairs.append_pair(key, &value);
            }
            Some(url.to_string())
        };
        let mut paging = Map::new();
        paging.insert(
            "cursors".into(),
            json!({"before": cursor(start), "after": cursor(end - 1)}),
        );
        if end < matching.len()
            && let Some(next) = link("after", cursor(end - 1))
        {
            paging.insert("next".into(), json!(next));
        }
        if start > 0
            && let Some(previous) = link("before", cursor(start))
        {
            paging.insert("previous".into(), json!(previous));
        }
        out.insert("paging".into(), Value::Object(paging));
    }
    ok(&Value::Object(out))
}

/// `POST /{version}/{waba_id}/message_templates`.
pub(crate) async fn create_template(
    State(state): State<Arc<SimState>>,
    Path((version, waba_id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query_of(query);
    let result = (|| -> Result<Response, GraphError> {
        check_waba_call(&state, &version, &waba_id, &headers, &query, "post")?;
        let v = parse_body(&body)?;
        check_header_handles(&state, &v)?;
        let t = state.create_template(&waba_id, &v)?;
        ok(&json!({"id": t.id, "status": t.status.as_str(), "category": t.category.as_str()}))
    })();
    answer(&state, result).await
}

/// `DELETE /{version}/{waba_id}/message_templates?name=[&hsm_id=]`.
pub(crate) async fn delete_templates(
    State(state): State<Arc<SimState>>,
    Path((version, waba_id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_of(query);
    let result = (|| -> Result<Response, GraphError> {
        check_waba_call(&state, &version, &waba_id, &headers, &query, "delete")?;
        let name = query
            .get("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| MetaError::invalid_parameter("The parameter name is required."))?;
        state.delete_templates(&waba_id, name, query.get("hsm_id").map(String::as_str))?;
        ok(&json!({"success": true}))
    })();
    answer(&state, result).await
}

/// The template of `/{version}/{id}` with the caller's token checked.
fn template_of(
    state: &SimState,
    version: &str,
    id: &str,
    method: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Template, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!("/{version}/{id}")));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    let t = state
        .live_template(id)
        .ok_or_else(|| unknown_object_on(id, method))?;
    authorize(state, &t.waba_id, &token, || unknown_object_on(id, method))?;
    Ok(t)
}

/// `GET /{version}/{template_id}`.
pub(crate) fn get_template(
    state: &SimState,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let t = template_of(state, version, id, "get", query, headers)?;
    let fields = fields_param(query)?;
    ok(&t.graph_json(fields.as_deref()))
}

/// `POST /{version}/{template_id}`: edit.
pub(crate) fn edit_template(
    state: &Arc<SimState>,
    version: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    let t = template_of(state, version, id, "post", query, headers)?;
    let v = parse_body(body)?;
    check_header_handles(state, &v)?;
    state.edit_template(&t.id, &v)?;
    ok(&json!({"success": true}))
}

fn check_headers(state: &SimState, components: &Value) -> Result<(), GraphError> {
    for c in components.as_array().into_iter().flatten() {
        let ty = c.get("type").and_then(Value::as_str).unwrap_or("");
        if ty.eq_ignore_ascii_case("header") {
            let format = c
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_uppercase();
            let handle = c
                .pointer("/example/header_handle/0")
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty());
            if let (Some(types), Some(handle)) = (sample_types(&format), handle) {
                let why = match state.handle_type(handle) {
                    None => Some("is not a handle of the Resumable Upload API".to_string()),
                    Some(t) if !types.contains(&t.as_str()) => Some(format!(
                        "is the handle of a {t} upload; a {format} header takes {}",
                        types.join(" or ")
                    )),
                    Some(_) => None,
                };
                if let Some(why) = why {
                    return Err(GraphError::from(MetaError::with_subcode(
                        openbsp_wire::error::codes::INVALID_PARAMETER,
                        INVALID_MEDIA_HANDLE,
                        format!(
                            "The sample of the {format} header (example.header_handle) {why}: upload the sample with POST /{{app-id}}/uploads and use the handle it returns."
                        ),
                    ))
                    .with_user_title(UserTitle::InvalidMediaHandle));
                }
            }
        }
        for card in c
            .get("cards")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(inner) = card.get("components") {
                check_headers(state, inner)?;
            }
        }
    }
    Ok(())
}

/// A template create or edit request's media header samples (`example.header_handle[0]`,
/// carousel cards' included) must be handles this simulator issued for a type the header
/// takes: 100 with subcode [`INVALID_MEDIA_HANDLE`] otherwise.
pub(crate) fn check_header_handles(state: &SimState, body: &Value) -> Result<(), GraphError> {
    match body.get("components") {
        Some(c) => check_headers(state, c),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_are_read_like_graph() {
        assert_eq!(fields_param(&q(&[])).ok().flatten(), None);
        assert_eq!(
            fields_param(&q(&[("fields", "name, quality_score{score,date},status")]))
                .ok()
                .flatten(),
            Some(vec![
                "name".to_string(),
                "quality_score".to_string(),
                "status".to_string()
            ])
        );
        assert!(fields_param(&q(&[("fields", "name,nope")])).is_err());
    }

    #[test]
    fn filters_refuse_unknown_values() {
        let got = list_filter(
            &q(&[("status", "approved,PAUSED")]),
            "status",
            "",
            TemplateStatus::parse,
        );
        assert_eq!(
            got.ok().flatten(),
            Some(vec![TemplateStatus::Approved, TemplateStatus::Paused])
        );
        assert!(
            list_filter(
                &q(&[("status", "GOOD")]),
                "status",
                "",
                TemplateStatus::parse
            )
            .is_err()
        );
        assert_eq!(quality_of("green"), Some(QualityScore::Green));
    }
}
