//! Meta's Graph API shapes for templates, answered by every surface that speaks Graph: the
//! Cloud API surface, and ChakraHQ's, which passes Graph's template calls through (inside its
//! own `_data` wrapper). One builder, so that the two answer alike: a template, a page of them
//! with Meta's cursors and `fields`, and the list's `summary` (reference §2.3).

use std::collections::HashMap;

use axum::http::HeaderMap;
use openbsp_store::Template;
use openbsp_wire::MetaError;
use serde_json::{Value, json};

use crate::core::templates::{TemplatePage, TemplateSummary};
use crate::http::paging;

/// The query parameters a page's `previous`/`next` links carry on (the filters, `fields` and
/// `summary`; `limit` and the cursor are the link's own).
const KEPT: [&str; 6] = [
    "name", "status", "category", "language", "fields", "summary",
];

/// The fields of the list's `summary`.
const SUMMARY_FIELDS: [&str; 4] = [
    "total_count",
    "message_template_count",
    "message_template_limit",
    "are_translations_complete",
];

/// A template as the Graph API shows it (its id is Meta's once Meta has one).
pub fn template(t: &Template) -> Value {
    let mut v = json!({
        "id": t.meta_template_id.clone().unwrap_or_else(|| t.id.clone()),
        "name": t.name,
        "language": t.language,
        "status": t.status,
        "category": t.category,
        "components": t.components,
        "parameter_format": t.parameter_format,
    });
    if let Some(q) = &t.quality_score {
        v["quality_score"] = json!({"score": q});
    }
    if let Some(r) = &t.reason {
        v["rejected_reason"] = json!(r);
    }
    if let Some(p) = &t.previous_category {
        v["previous_category"] = json!(p);
    }
    if let Some(ttl) = t.message_send_ttl_seconds {
        v["message_send_ttl_seconds"] = json!(ttl);
    }
    v
}

/// A page of `GET …/message_templates` at `path`: `data` (each template cut to the `fields`
/// asked for, with its `id`), and `paging` when the page holds any.
pub fn template_page(
    page: &TemplatePage,
    headers: &HeaderMap,
    path: &str,
    q: &HashMap<String, String>,
) -> Value {
    let fields: Option<Vec<&str>> = q.get("fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect()
    });
    let data: Vec<Value> = page
        .rows
        .iter()
        .map(|t| {
            let full = template(t);
            match &fields {
                None => full,
                Some(fields) => {
                    let mut v = json!({"id": full["id"]});
                    for f in fields {
                        if let Some(x) = full.get(*f) {
                            v[*f] = x.clone();
                        }
                    }
                    v
                }
            }
        })
        .collect();
    let mut out = json!({ "data": data });
    if let (Some(first), Some(last)) = (page.rows.first(), page.rows.last()) {
        out["paging"] = paging::graph_paging(
            headers,
            path,
            (&first.id, &last.id),
            page.limit,
            paging::Sides {
                previous: page.previous,
                next: page.more,
            },
            q,
            &KEPT,
        );
    }
    out
}

/// The list's `summary`: the fields `asked` names (comma-separated; `true` or `1` for all of
/// them), or Meta's 100 naming one that is no summary field.
pub fn template_summary(s: &TemplateSummary, asked: &str) -> Result<Value, MetaError> {
    let all = json!({
        "total_count": s.total_count,
        "message_template_count": s.message_template_count,
        "message_template_limit": s.message_template_limit,
        "are_translations_complete": s.are_translations_complete,
    });
    let wanted: Vec<&str> = match asked.trim() {
        "true" | "1" => SUMMARY_FIELDS.to_vec(),
        list => list
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .collect(),
    };
    let mut out = json!({});
    for f in wanted {
        if !SUMMARY_FIELDS.contains(&f) {
            return Err(MetaError::invalid_parameter(format!(
                "summary: {f} is not a summary field of message_templates ({})",
                SUMMARY_FIELDS.join(", ")
            )));
        }
        out[f] = all[f].clone();
    }
    Ok(out)
}
