//! The control API's media routes (listed in the crate's documentation): the media the
//! simulator holds (`GET /_simulator/media`), their bytes without authentication
//! (`GET /_simulator/media/{id}/content`, for tests checking what a gateway uploaded), and
//! media put in directly (`POST /_simulator/media`, like an upload without Meta's checks).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::control::{ControlError, parse_json};
use crate::graph_media::content_response;
use crate::inbound::InboundError;
use crate::media::{MediaOrigin, NewMedia};
use crate::media_ops::FileSpec;
use crate::state::SimState;

/// `GET /_simulator/media?phone_number_id=`: the number's media (every number's without
/// it), deleted and expired ones included, oldest first.
pub(crate) async fn get_media(
    State(state): State<Arc<SimState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let data: Vec<Value> = state
        .media_of(q.get("phone_number_id").map(String::as_str))
        .iter()
        .map(crate::media::Media::control_json)
        .collect();
    Json(json!({ "data": data }))
}

/// `GET /_simulator/media/{id}/content`: the bytes, whatever the media's state (a single
/// `Range` is honoured).
pub(crate) async fn get_media_content(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match state.media_by_id(&id) {
        Some(m) => content_response(&m, &headers),
        None => ControlError::not_found(format!("no media {id}")).into_response(),
    }
}

/// `POST /_simulator/media` `{"phone_number_id", "mime_type", "data_base64" | "generate":
/// {"size", "seed"?}, "filename"?, "origin"?}`: stores a media without the type, size and
/// content checks of an upload; answers it as `GET /_simulator/media` lists it.
pub(crate) async fn post_media(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let v: Value = parse_json(&body)?;
    let o = v
        .as_object()
        .ok_or_else(|| ControlError::bad(None, "the body must be a JSON object"))?;
    let str_field = |key: &str| -> Result<Option<String>, ControlError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ControlError::bad(
                Some(key),
                format!("{key} must be a non-empty string"),
            )),
        }
    };
    let phone_number_id = str_field("phone_number_id")?
        .ok_or_else(|| ControlError::bad(Some("phone_number_id"), "phone_number_id is required"))?;
    let mime_type = str_field("mime_type")?
        .ok_or_else(|| ControlError::bad(Some("mime_type"), "mime_type is required"))?;
    let filename = str_field("filename")?;
    let origin = match str_field("origin")?.as_deref() {
        None | Some("upload") => MediaOrigin::Upload,
        Some("inbound") => MediaOrigin::Inbound,
        Some(other) => {
            return Err(ControlError::bad(
                Some("origin"),
                format!("origin must be upload or inbound, got {other}"),
            ));
        }
    };
    for key in o.keys() {
        if !matches!(
            key.as_str(),
            "phone_number_id" | "mime_type" | "data_base64" | "generate" | "filename" | "origin"
        ) {
            return Err(ControlError::bad(Some(key), format!("unknown field {key}")));
        }
    }
    if state.phone_number(&phone_number_id).is_none() {
        return Err(ControlError::not_found(format!(
            "unknown phone_number_id '{phone_number_id}'"
        )));
    }
    let content = FileSpec::content(o, "body", &mime_type).map_err(|e| match e {
        InboundError::Invalid { field, message } => ControlError::bad(
            Some(field.trim_start_matches("body.")),
            format!("{field}: {message}"),
        ),
        other => ControlError::bad(None, other.to_string()),
    })?;
    let media = state
        .add_media(NewMedia {
            phone_number_id,
            mime_type,
            content,
            filename,
            origin,
        })
        .map_err(ControlError::not_found)?;
    Ok(Json(media.control_json()))
}
