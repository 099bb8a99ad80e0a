//! The Graph API routes a Cloud API client calls, answering in Meta's wire format:
//! `POST /{version}/{phone_number_id}/messages` for sends and mark-as-read, with Meta's
//! checks in Meta's order (version, token, phone number, JSON, body, template, media ids,
//! throughput, pair rate limit, then the portfolio's messaging limit:
//! [`crate::messaging_limit`]), its error bodies (`{"error": {message, type, code,
//! error_data, error_subcode?, fbtrace_id}}`) and its success bodies. A template send is
//! checked against the WABA's templates ([`crate::templates`]) while the `templates`
//! enforcement is on; the media ids a send names must be live media of its WABA (131053).
//!
//! Also what every Graph route shares: [`GraphError`], the bearer token, the query, the
//! WABA token check, the answer after the injected latency. The template management routes
//! are in [`crate::graph_templates`], the media routes in [`crate::graph_media`], and the
//! routes on `/{version}/{id}` (templates, phone numbers, media, upload sessions) in
//! [`crate::graph_objects`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Map, Value, json};

use openbsp_wire::error::codes;
use openbsp_wire::send::{Outgoing, ParseContext, Surface, parse_outgoing_in};
use openbsp_wire::template::{check_send, status_error};
use openbsp_wire::{MessageBody, MetaError, ReadReceipt, Recipient};

use crate::config::PhoneNumberConfig;
use crate::ids::{self, Direction};
use crate::meta_json;
use crate::records::{ReceivedMessage, TemplateCategory};
use crate::state::SimState;
use crate::statuses::{self, Accepted};

/// An error answered the way the Graph API does.
pub(crate) struct GraphError {
    err: MetaError,
    subcode: Option<i32>,
    /// `error_user_title`, where Meta's differs from the wire crate's title of the subcode.
    user_title: Option<UserTitle>,
}

/// An `error_user_title` of Meta's that the wire crate does not know (kept small: every
/// Graph handler returns `GraphError`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserTitle {
    /// Subcode 2494102: a template sample handle Meta did not issue.
    InvalidMediaHandle,
}

impl UserTitle {
    fn as_str(self) -> &'static str {
        match self {
            UserTitle::InvalidMediaHandle => "Uploaded Media Handle Is Invalid",
        }
    }
}

impl From<MetaError> for GraphError {
    fn from(err: MetaError) -> Self {
        GraphError {
            err,
            subcode: None,
            user_title: None,
        }
    }
}

impl GraphError {
    /// The same error with Meta's `error_user_title`.
    pub(crate) fn with_user_title(mut self, title: UserTitle) -> GraphError {
        self.user_title = Some(title);
        self
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let trace = ids::fbtrace_id();
        let mut body = self.err.to_graph_json(&trace);
        if let Some(sub) = self.subcode {
            body["error"]["error_subcode"] = json!(sub);
        }
        if let Some(title) = self.user_title {
            body["error"]["error_user_title"] = json!(title.as_str());
        }
        let status = StatusCode::from_u16(self.err.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = graph_json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            let challenge = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.err.message.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(&trace) {
            resp.headers_mut().insert("x-fb-trace-id", v);
        }
        resp
    }
}

/// A JSON answer serialised like Meta's (non-ASCII escaped).
pub(crate) fn graph_json(status: StatusCode, body: &Value) -> Response {
    // Serialising a `Value` to memory cannot fail.
    let bytes = meta_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

/// Whether `v` is a Graph API version segment (`v{major}.{minor}`).
pub(crate) fn is_version(v: &str) -> bool {
    let Some((major, minor)) = v.strip_prefix('v').and_then(|r| r.split_once('.')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// Meta's answer to a path it does not know (code 2500).
pub(crate) fn unknown_path(path: &str) -> GraphError {
    GraphError::from(MetaError {
        code: 2500,
        message: format!("Unknown path components: {path}"),
        details: None,
        kind: "OAuthException".to_string(),
        http_status: 400,
        subcode: None,
    })
}

/// Meta's answer for an object id it does not know: 100 with subcode 33.
pub(crate) fn unknown_object(id: &str) -> GraphError {
    unknown_object_on(id, "post")
}

/// [`unknown_object`] for a request of another method (`get`, `delete`).
pub(crate) fn unknown_object_on(id: &str, method: &str) -> GraphError {
    let mut err = MetaError::new(codes::INVALID_PARAMETER, None);
    err.message = format!(
        "(#100) Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
    );
    GraphError {
        err,
        subcode: Some(33),
        user_title: None,
    }
}

pub(crate) fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    from_header
        .or_else(|| query.get("access_token").cloned())
        .filter(|t| !t.is_empty())
}

/// A route's query string, as axum extracts it (an unreadable one is read as empty).
pub(crate) type RawQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The parameters of a [`RawQuery`] (none when it could not be read).
pub(crate) fn query_of(q: RawQuery) -> HashMap<String, String> {
    q.map(|Query(q)| q).unwrap_or_default()
}

/// Answers after the injected latency, like the send route.
pub(crate) async fn answer(state: &SimState, result: Result<Response, GraphError>) -> Response {
    let latency = state.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `token` must be that of one of `waba_id`'s numbers (190 otherwise); a WABA without
/// numbers is `unknown()`.
pub(crate) fn authorize(
    state: &SimState,
    waba_id: &str,
    token: &str,
    unknown: impl FnOnce() -> GraphError,
) -> Result<(), GraphError> {
    let numbers = state.waba_numbers(waba_id);
    if numbers.is_empty() {
        return Err(unknown());
    }
    if numbers.iter().any(|p| p.access_token == token) {
        Ok(())
    } else {
        Err(MetaError::access_token().into())
    }
}

/// The request's `Host` header.
pub(crate) fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// `?fields=a,b{sub},c`: the names asked for, whatever the node.
pub(crate) fn field_names(query: &HashMap<String, String>) -> Option<Vec<String>> {
    let raw = query.get("fields")?;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    // Sub-field selections (`quality_score{score}`) are accepted and ignored.
    for ch in raw.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => out.push(std::mem::take(&mut current)),
            c if depth == 0 => current.push(c),
            _ => {}
        }
    }
    out.push(current);
    Some(
        out.into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
    )
}

/// 131053 "Media upload error" with `details`, HTTP 400.
pub(crate) fn media_error(details: impl Into<String>) -> GraphError {
    MetaError::new(codes::MEDIA_UPLOAD, Some(details.into())).into()
}

/// `POST /{version}/{phone_number_id}/messages`.
pub(crate) async fn post_messages(
    State(state): State<Arc<SimState>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Meta's receipt time is when the request arrived, read before anything waits for the
    // state's lock (a control call listing tens of thousands of messages holds it for a while,
    // and sends stamped after it would look bunched).
    let arrived_ms = state.now_ms();
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let latency = state.faults().latency_ms;
    // Meta finishes a request whose client went away (a crash, a timeout): the message is
    // accepted and its statuses follow, though nobody read the answer. Handling it in its own
    // task keeps that true here, where a dropped connection would otherwise cancel it.
    let handled = tokio::spawn(async move {
        let request = (version.as_str(), phone_number_id.as_str(), arrived_ms);
        match handle_post(&state, request, &query, &headers, &body).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    })
    .await;
    // Injected latency delays the answer, after the decision: a client that gives up waiting
    // does not know whether its message was accepted.
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    handled.unwrap_or_else(|e| {
        tracing::error!(error = %e, "send handler failed");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}

async fn handle_post(
    state: &Arc<SimState>,
    (version, phone_number_id, arrived_ms): (&str, &str, i64),
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    if !is_version(version) {
        return Err(unknown_path(&format!(
            "/{version}/{phone_number_id}/messages"
        )));
    }
    let token = bearer(headers, query).ok_or_else(MetaError::access_token)?;
    let phone = state
        .phone_number(phone_number_id)
        .ok_or_else(|| unknown_object(phone_number_id))?;
    if token != phone.access_token {
        return Err(MetaError::access_token().into());
    }
    let faults = state.faults();

    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            let mut err =
                MetaError::invalid_parameter("The request body could not be parsed as JSON");
            err.details = Some(format!("The request body could not be parsed as JSON: {e}"));
            err
        })?
    };
    // A `to` without `+` gets the business number's country code, as Meta does.
    let ctx = ParseContext::for_business(phone.display_phone_number.clone());
    let req = match parse_outgoing_in(&v, Surface::Graph, &ctx)? {
        Outgoing::Read(read) => return mark_as_read(state, &phone, &read),
        Outgoing::Message(req) => req,
    };
    if let Recipient::WaId(w) = &req.recipient
        && *w == phone.display_phone_number
    {
        return Err(MetaError::new(
            codes::RECIPIENT_IS_SENDER,
            Some("Recipient phone number is the same as the sender's.".to_string()),
        )
        .into());
    }
    if state.in_maintenance(&phone.phone_number_id) {
        return Err(MetaError::new(
            codes::MAINTENANCE_MODE,
            Some("The phone number is in maintenance mode (a throughput upgrade).".to_string()),
        )
        .into());
    }
    let enforcement = state.enforcement();
    // The template's stored category, when the WABA has it (it prices the message), and its
    // id (Meta may pace it).
    let (stored_category, template_id) = match &req.body {
        MessageBody::Template(t) => check_template(state, &phone, t, enforcement.templates)?,
        _ => (None, None),
    };
    // Media ids must name live media of the WABA (131053, nothing accepted).
    check_send_media(state, &phone, &req.body)?;
    if !state
        .throughput
        .check(&phone.phone_number_id, state.throughput_of(&phone))
    {
        return Err(MetaError::new(
            codes::RATE_LIMIT_HIT,
            Some("Message failed to send because there were too many messages sent from this phone number in a short period of time.".to_string()),
        )
        .into());
    }
    if enforcement.pair_rate_limit
        && !state.pair_limit.check(
            &phone.phone_number_id,
            req.recipient.as_str(),
            enforcement.pair_rule(),
            state.now_ms(),
        )
    {
        return Err(MetaError::new(
            codes::PAIR_RATE_LIMIT,
            Some("Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.".to_string()),
        )
        .into());
    }
    let (inject_error, inject_failure) = {
        let mut rng = rand::rng();
        (
            rng.random_bool(faults.error_rate),
            rng.random_bool(faults.fail_status_rate),
        )
    };
    if inject_error {
        return Err(MetaError::new(faults.error_code, None).into());
    }

    let now = arrived_ms;
    let pnid = phone.phone_number_id.as_str();
    let user = req.recipient.as_str();
    // How a template is priced: the category set through `/_simulator/template-categories`
    // (an override), else the stored template's, else marketing.
    let template = match &req.body {
        MessageBody::Template(t) => Some(
            t.get("name")
                .and_then(Value::as_str)
                .and_then(|name| state.template_category_set(name))
                .or(stored_category)
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let failure = if let Some(new) = state.changed_number(pnid, user) {
        Some(MetaError::new(
            codes::UNDELIVERABLE,
            Some(format!(
                "Message failed to send because the user of this number changed to another number ({new})."
            )),
        ))
    } else if enforcement.customer_service_window
        && template.is_none()
        && !state.in_service_window(pnid, user, now)
    {
        Some(MetaError::new(
            codes::REENGAGEMENT,
            Some("Message failed to send because more than 24 hours have passed since the customer last replied to this number.".to_string()),
        ))
    } else if template == Some(TemplateCategory::Marketing) && state.marketing_stopped(pnid, user) {
        Some(MetaError::new(
            codes::MARKETING_OPT_OUT,
            Some("Message failed to send because the user has stopped receiving marketing messages from this business.".to_string()),
        ))
    } else if template == Some(TemplateCategory::Marketing)
        && enforcement.marketing_cap > 0
        && state.marketing_capped(user, enforcement.marketing_cap, now)
    {
        Some(MetaError::new(
            codes::MARKETING_CAP,
            Some(
                "This message was not delivered to maintain healthy ecosystem engagement."
                    .to_string(),
            ),
        ))
    } else if inject_failure {
        Some(MetaError::new(faults.fail_status_code, None))
    } else {
        None
    };
    // The portfolio's messaging limit, last of the synchronous refusals so that a send
    // refused for another reason is not counted; a send that fails asynchronously reaches
    // nobody and is neither counted nor refused (see `crate::messaging_limit`).
    if failure.is_none() {
        state.reach_user(&phone, user, now)?;
    }
    let billing = failure
        .is_none()
        .then(|| statuses::billing(state, pnid, user, template, now));

    let wamid = ids::wamid(req.recipient.as_str(), Direction::Outbound);
    state.record_received(ReceivedMessage {
        wamid: wamid.clone(),
        phone_number_id: phone.phone_number_id.clone(),
        to: req.recipient.as_str().to_string(),
        body: v,
        received_at_ms: now,
    });
    let contact = match &req.recipient {
        Recipient::WaId(w) => json!({"input": req.input, "wa_id": w}),
        Recipient::UserId(u) => json!({"input": req.input, "user_id": u}),
    };
    let accepted = Accepted {
        phone,
        wamid: wamid.clone(),
        recipient: req.recipient,
        callback_data: req.biz_opaque_callback_data,
        failure,
        billing,
    };
    // A paced template (Meta's template pacing): the send is accepted, held, and its fate
    // decided later (released, or failed with 132015 when the template is paused).
    let held = match &template_id {
        Some(id) if accepted.failure.is_none() => state.hold_if_paced(id, accepted),
        _ => Some(accepted),
    };
    let message = match held {
        Some(accepted) => {
            statuses::schedule(state, accepted);
            json!({"id": wamid})
        }
        None => json!({"id": wamid, "message_status": "held_for_quality_assessment"}),
    };
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [message],
    });
    Ok(graph_json(StatusCode::OK, &answer))
}

/// Meta's checks of a template send against the WABA's templates (when `enforce`): the
/// template must exist in that language (132001, HTTP 404) and be approved (132001, or 132015
/// paused, 132016 disabled, by [`status_error`]), and the send's parameters must fit it
/// ([`check_send`]: 132000, 132005, 132012, 132018). Returns the stored template's category
/// and id, if there is one.
fn check_template(
    state: &SimState,
    phone: &PhoneNumberConfig,
    template: &Value,
    enforce: bool,
) -> Result<(Option<TemplateCategory>, Option<String>), GraphError> {
    let name = template.get("name").and_then(Value::as_str).unwrap_or("");
    let language = template
        .pointer("/language/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let stored = state.template_for_send(&phone.waba_id, name, language);
    if enforce {
        let Some(t) = &stored else {
            return Err(MetaError::new(
                codes::TEMPLATE_MISSING,
                Some(format!(
                    "template name ({name}) does not exist in {language}"
                )),
            )
            .into());
        };
        if let Some(e) = status_error(t.status.as_str(), name, language) {
            return Err(e.into());
        }
        check_send(&t.definition, template).map_err(|e| e.to_meta())?;
    }
    Ok(match stored {
        Some(t) => (Some(TemplateCategory::from(t.category)), Some(t.id)),
        None => (None, None),
    })
}

/// The media ids a send names: a media message's `id`, an interactive message's (header,
/// carousel cards), a template's media parameters' (carousel cards included).
fn send_media_ids(body: &MessageBody) -> Vec<String> {
    let named = match body {
        MessageBody::Media { kind, object } => json!({ kind.as_str(): object }),
        MessageBody::Interactive(v) | MessageBody::Template(v) => v.clone(),
        _ => return Vec::new(),
    };
    openbsp_wire::media::media_refs(&named)
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// Every media id a send names must be a live media of the sender's WABA (131053 otherwise).
fn check_send_media(
    state: &SimState,
    phone: &PhoneNumberConfig,
    body: &MessageBody,
) -> Result<(), GraphError> {
    for id in send_media_ids(body) {
        let known = state
            .live_media(&id)
            .is_some_and(|m| m.waba_id == phone.waba_id);
        if !known {
            return Err(media_error(format!(
                "Media id {id} is not known or has expired"
            )));
        }
    }
    Ok(())
}

/// `{"messaging_product":"whatsapp","status":"read","message_id":…,"typing_indicator"?}`,
/// parsed by the wire crate. Not a message: no window, pair rate limit or throughput applies.
fn mark_as_read(
    state: &SimState,
    phone: &PhoneNumberConfig,
    read: &ReadReceipt,
) -> Result<Response, GraphError> {
    if !state.mark_read(
        &phone.phone_number_id,
        &read.message_id,
        read.typing_indicator,
    ) {
        return Err(MetaError::new(
            codes::INVALID_PARAMETER,
            Some(format!(
                "Message with id {} was not received by phone number {}.",
                read.message_id, phone.phone_number_id
            )),
        )
        .into());
    }
    Ok(graph_json(StatusCode::OK, &json!({"success": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("v25.0"));
        assert!(is_version("v3.10"));
        for bad in ["25.0", "v25", "v.0", "v25.", "vx.0", "v25.0.1", "latest"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn sends_name_their_media_ids() {
        let tpl = MessageBody::Template(json!({"name": "t", "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "x"}]},
            {"type": "carousel", "cards": [{"card_index": 0, "components": [
                {"type": "header", "parameters": [{"type": "video", "video": {"id": "2"}}]}
            ]}]},
        ]}));
        assert_eq!(send_media_ids(&tpl), ["1", "2"]);
        let inter = MessageBody::Interactive(
            json!({"type": "button", "header": {"type": "document", "document": {"id": "3"}}}),
        );
        assert_eq!(send_media_ids(&inter), ["3"]);
        let cards = MessageBody::Interactive(json!({"type": "carousel", "action": {"cards": [
            {"card_index": 0, "header": {"type": "image", "image": {"link": "https://x/a.jpg"}}},
            {"card_index": 1, "header": {"type": "video", "video": {"id": "4"}}},
        ]}}));
        assert_eq!(send_media_ids(&cards), ["4"]);
        let link = MessageBody::Media {
            kind: openbsp_wire::send::MediaKind::Image,
            object: json!({"link": "https://x/y.jpg"}),
        };
        assert!(send_media_ids(&link).is_empty());
    }

    #[test]
    fn bearer_from_header_or_query() {
        let mut h = HeaderMap::new();
        let q = HashMap::new();
        assert_eq!(bearer(&h, &q), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  abc "),
        );
        assert_eq!(bearer(&h, &q).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h, &q), None);
        let q = HashMap::from([("access_token".to_string(), "xyz".to_string())]);
        assert_eq!(bearer(&h, &q).as_deref(), Some("xyz"));
    }
}
