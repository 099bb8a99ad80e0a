//! The Graph API's routes on `/{version}/{id}`, where `{id}` is a template, a phone
//! number, a media or a resumable upload session (`upload:…`): each request goes to the
//! routes of what `{id}` names —
//!
//! - `GET`: a media or an upload session ([`crate::graph_media`]), else a phone number (here),
//!   else a template ([`crate::graph_templates`]);
//! - `POST`: an upload session's chunk ([`crate::graph_media`]), else a template edit
//!   ([`crate::graph_templates`]);
//! - `DELETE`: a media ([`crate::graph_media`]).
//!
//! A `/_simulator/{x}` with no such control route lands here too, and is answered as the
//! control API answers an unknown route.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use openbsp_wire::MetaError;

use crate::config::PhoneNumberConfig;
use crate::control::ControlError;
use crate::graph::{
    GraphError, RawQuery, answer, bearer, field_names, graph_json, is_version, query_of,
    unknown_path,
};
use crate::graph_media;
use crate::graph_templates;
use crate::state::SimState;

/// `/_simulator/{x}` with no such control route lands on `/{version}/{id}`.
fn control_route(version: &str, id: &str) -> Option<Response> {
    (version == "_simulator").then(|| {
        ControlError::not_found(format!("no control route /_simulator/{id}")).into_response()
    })
}

/// `GET /{version}/{id}`: a media, an upload session, a phone number or a template.
pub(crate) async fn get_object(
    State(state): State<Arc<SimState>>,
    Path((version, id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = control_route(&version, &id) {
        return r;
    }
    let query = query_of(query);
    if let Some(result) = graph_media::get_object(&state, &version, &id, &query, &headers) {
        return answer(&state, result).await;
    }
    if let Some(phone) = state.phone_number(&id) {
        let result = phone_object(&state, &version, &phone, &query, &headers);
        return answer(&state, result).await;
    }
    let result = graph_templates::get_template(&state, &version, &id, &query, &headers);
    answer(&state, result).await
}

/// `POST /{version}/{id}`: an upload session's chunk, or a template edit.
pub(crate) async fn post_object(
    State(state): State<Arc<SimState>>,
    Path((version, id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = control_route(&version, &id) {
        return r;
    }
    let query = query_of(query);
    if let Some(result) = graph_media::post_object(&state, &version, &id, &query, &headers, &body) {
        return answer(&state, result).await;
    }
    let result = graph_templates::edit_template(&state, &version, &id, &query, &headers, &body);
    answer(&state, result).await
}

/// `DELETE /{version}/{id}[?phone_number_id=]`: a media.
pub(crate) async fn delete_object(
    State(state): State<Arc<SimState>>,
    Path((version, id)): Path<(String, String)>,
    query: RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = control_route(&version, &id) {
        return r;
    }
    let query = query_of(query);
    let result = graph_media::delete_object(&state, &version, &id, &query, &headers);
    answer(&state, result).await
}

fn ok(body: &Value) -> Result<Response, GraphError> {
    Ok(graph_json(StatusCode::OK, body))
}

/// `GET /{version}/{phone_number_id}`: the number as Meta shows it — `fields` among `id`,
/// `display_phone_number`, `verified_name`, `quality_rating`, `throughput` (`{"level":
/// "STANDARD"}` at 80 msg/s, `"HIGH"` at 1,000 and more),
/// `whatsapp_business_manager_messaging_limit` (its portfolio's tier, `TIER_250` ...
/// `TIER_UNLIMITED`); by default the first four.
fn phone_object(
    state: &SimState,
    version: &str,
    phone: &PhoneNumberConfig,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!(
            "/{version}/{}",
            phone.phone_number_id
        )));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    if token != phone.access_token {
        return Err(MetaError::access_token().into());
    }
    let mps = state.throughput_of(phone);
    let all = json!({
        "id": phone.phone_number_id,
        "display_phone_number": phone.display_phone_number,
        "verified_name": "OpenBSP Simulator",
        "quality_rating": "GREEN",
        "throughput": {"level": if mps >= 1_000 { "HIGH" } else { "STANDARD" }},
        "whatsapp_business_manager_messaging_limit": state
            .messaging_limit_of(&phone.phone_number_id)
            .unwrap_or_default()
            .as_str(),
    });
    let fields = field_names(query).unwrap_or_else(|| {
        [
            "id",
            "display_phone_number",
            "verified_name",
            "quality_rating",
        ]
        .map(String::from)
        .to_vec()
    });
    let mut out = serde_json::Map::new();
    for f in fields {
        match all.get(&f) {
            Some(v) => {
                out.insert(f, v.clone());
            }
            None => {
                return Err(MetaError::invalid_parameter(format!(
                    "(#100) Tried accessing nonexisting field ({f}) on node type (WhatsAppBusinessPhoneNumber)"
                ))
                .into());
            }
        }
    }
    out.insert("id".into(), json!(phone.phone_number_id));
    ok(&Value::Object(out))
}
