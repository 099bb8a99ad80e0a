//! The control API (`/_simulator/...`, listed in the crate's documentation): what tests,
//! scripts and people use to drive the simulator — inject user messages and marketing
//! preferences, see what it accepted and what it knows of a user, manage phone numbers,
//! template categories and templates (seed them, change their status and quality, set how
//! reviews end), business portfolios and their messaging limits, set faults, timing and
//! policies, move its clock, read the webhook log. Errors are `{"error": {"message": "...",
//! "field": "..."}}` with 400 (bad input) or 404.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use openbsp_wire::send::normalize_phone;

use crate::config::{Enforcement, Faults, PhoneNumberConfig, StatusDelays};
use crate::inbound::{InboundError, InboundRequest};
use crate::messaging_limit::MessagingLimit;
use crate::preferences::UserPreferenceRequest;
use crate::records::TemplateCategory;
use crate::state::SimState;
use crate::templates::{
    QualityScore, TemplateControlError, TemplateReview, TemplateSeed, TemplateStatus,
    TemplateStatusChange,
};

type Filters = Query<HashMap<String, String>>;

/// A control API error.
pub(crate) struct ControlError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl ControlError {
    pub(crate) fn bad(field: Option<&str>, message: impl Into<String>) -> ControlError {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: field.map(str::to_string),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ControlError {
        ControlError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            field: None,
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let mut err = json!({ "message": self.message });
        if let Some(f) = self.field {
            err["field"] = json!(f);
        }
        (self.status, Json(json!({ "error": err }))).into_response()
    }
}

impl From<TemplateControlError> for ControlError {
    fn from(e: TemplateControlError) -> Self {
        match e {
            TemplateControlError::NotFound(m) => ControlError::not_found(m),
            TemplateControlError::Invalid { field, message } => {
                ControlError::bad(Some(&field), format!("{field}: {message}"))
            }
        }
    }
}

impl From<InboundError> for ControlError {
    fn from(e: InboundError) -> Self {
        match e {
            InboundError::UnknownPhoneNumber(_) => ControlError::not_found(e.to_string()),
            InboundError::Invalid { field, message } => {
                ControlError::bad(Some(&field), format!("{field}: {message}"))
            }
        }
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|e| ControlError::bad(None, format!("invalid JSON: {e}")))
}

fn rfc3339(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| json!(d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

/// `GET /_simulator/healthz`.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `POST /_simulator/inbound`.
pub(crate) async fn post_inbound(
    State(state): State<Arc<SimState>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let v: Value = parse_json(&body)?;
    // Inbound media URLs point where the caller reached the simulator.
    if let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        state.set_public_url(&format!("http://{host}"));
    }
    let req = InboundRequest::from_json(&v)?;
    let wamid = state.inject_inbound(req)?;
    Ok(Json(json!({ "wamid": wamid })))
}

/// `POST /_simulator/user-preferences`: a user stops or resumes marketing messages.
pub(crate) async fn post_user_preferences(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let v: Value = parse_json(&body)?;
    let req = UserPreferenceRequest::from_json(&v)?;
    let timestamp = state.deliver_user_preference(req)?;
    Ok(Json(json!({ "timestamp": timestamp })))
}

/// `GET /_simulator/users?phone_number_id=&user=`: what the simulator knows of a user (a
/// `wa_id` or a BSUID): the customer service window, the free entry point window, the
/// marketing preference, a number change.
pub(crate) async fn get_user(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Result<Json<Value>, ControlError> {
    let pnid = q
        .get("phone_number_id")
        .ok_or_else(|| ControlError::bad(Some("phone_number_id"), "phone_number_id is required"))?;
    let user = q
        .get("user")
        .ok_or_else(|| ControlError::bad(Some("user"), "user is required"))?;
    let user = normalize_phone(user).unwrap_or_else(|_| user.clone());
    let now = state.now_ms();
    let last = state.last_inbound(pnid, &user);
    let fep = state.entry_point_window(pnid, &user);
    Ok(Json(json!({
        "phone_number_id": pnid,
        "user": user,
        "last_inbound_at": last.map_or(Value::Null, rfc3339),
        "service_window_open": state.in_service_window(pnid, &user, now),
        "entry_point": fep.as_ref().map(|w| json!({
            "conversation_id": w.conversation_id,
            "opened_at": rfc3339(w.opened_at_ms),
            "expires_at": rfc3339(w.expires_at_ms),
            "open": now < w.expires_at_ms,
        })),
        "marketing_stopped": state.marketing_stopped(pnid, &user),
        "changed_number_to": state.changed_number(pnid, &user),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateCategoryUpdate {
    name: String,
    category: TemplateCategory,
}

fn template_categories_json(state: &SimState) -> Value {
    let data: Vec<Value> = state
        .template_categories()
        .into_iter()
        .map(|(name, category)| json!({"name": name, "category": category}))
        .collect();
    json!({ "data": data })
}

/// `GET /_simulator/template-categories`: the categories set, by template name.
pub(crate) async fn get_template_categories(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(template_categories_json(&state))
}

/// `POST /_simulator/template-categories` `{"name", "category"}`: how a template's messages
/// are priced (templates not set are marketing).
pub(crate) async fn post_template_categories(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let u: TemplateCategoryUpdate = parse_json(&body)?;
    if u.name.trim().is_empty() {
        return Err(ControlError::bad(Some("name"), "name must not be empty"));
    }
    state.set_template_category(&u.name, u.category);
    Ok(Json(template_categories_json(&state)))
}

/// `GET /_simulator/inbound?phone_number_id=`: injected user messages, oldest first.
pub(crate) async fn get_inbound(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Json<Value> {
    let data = state.inbound_messages(q.get("phone_number_id").map(String::as_str));
    Json(json!({ "data": data }))
}

/// `GET /_simulator/messages?phone_number_id=&to=`: accepted messages, oldest first.
pub(crate) async fn get_messages(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Json<Value> {
    let msgs = match q.get("phone_number_id") {
        Some(p) => state.received(p),
        None => state.all_received(),
    };
    let to = q
        .get("to")
        .map(|t| normalize_phone(t).unwrap_or_else(|_| t.clone()));
    let data: Vec<Value> = msgs
        .into_iter()
        .filter(|m| to.as_ref().is_none_or(|t| *t == m.to))
        .map(|m| {
            json!({
                "wamid": m.wamid,
                "phone_number_id": m.phone_number_id,
                "to": m.to,
                "body": m.body,
                "received_at": rfc3339(m.received_at_ms),
                "received_at_ms": m.received_at_ms,
            })
        })
        .collect();
    Json(json!({ "data": data }))
}

/// The `phone_number_id` a count is of (required).
fn counted_number(q: &HashMap<String, String>) -> Result<&String, ControlError> {
    q.get("phone_number_id")
        .ok_or_else(|| ControlError::bad(Some("phone_number_id"), "phone_number_id is required"))
}

/// `GET /_simulator/messages/count?phone_number_id=`: how many messages the number had
/// accepted (every one, past the list's cap), without copying the list: what a load test polls.
pub(crate) async fn get_messages_count(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Result<Json<Value>, ControlError> {
    let p = counted_number(&q)?;
    Ok(Json(json!({ "count": state.received_count(p) })))
}

/// `GET /_simulator/messages/per-second?phone_number_id=&since=`: how many messages the number
/// had accepted in each second (Unix seconds, by when they arrived; seconds with none left out)
/// since `since` (Unix seconds, default all of the last day), and the most in one second: what
/// a pacing check reads.
pub(crate) async fn get_messages_per_second(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Result<Json<Value>, ControlError> {
    let p = counted_number(&q)?;
    let since = match q.get("since") {
        None => i64::MIN,
        Some(s) => s
            .parse()
            .map_err(|_| ControlError::bad(Some("since"), "since must be Unix seconds"))?,
    };
    let seconds = state.received_per_second(p, since);
    let max = seconds.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let data: Vec<Value> = seconds
        .iter()
        .map(|(s, n)| json!({"second": s, "count": n}))
        .collect();
    Ok(Json(json!({ "data": data, "max": max })))
}

/// `GET /_simulator/phone-numbers`: without secrets.
pub(crate) async fn get_phone_numbers(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(json!({ "data": state.phone_numbers() }))
}

/// `POST /_simulator/phone-numbers`: upsert by `phone_number_id`.
pub(crate) async fn post_phone_number(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let p: PhoneNumberConfig = parse_json(&body)?;
    for (field, value) in [
        ("phone_number_id", &p.phone_number_id),
        ("waba_id", &p.waba_id),
        ("access_token", &p.access_token),
        ("app_secret", &p.app_secret),
    ] {
        if value.trim().is_empty() {
            return Err(ControlError::bad(
                Some(field),
                format!("{field} must not be empty"),
            ));
        }
    }
    let digits = &p.display_phone_number;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ControlError::bad(
            Some("display_phone_number"),
            "display_phone_number must be digits only, as in Meta's webhook metadata",
        ));
    }
    if let Some(url) = &p.webhook_url
        && !matches!(reqwest::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https"))
    {
        return Err(ControlError::bad(
            Some("webhook_url"),
            "webhook_url must be an http(s) URL",
        ));
    }
    if p.throughput_mps == Some(0) {
        return Err(ControlError::bad(
            Some("throughput_mps"),
            "throughput_mps must be at least 1",
        ));
    }
    let id = p.phone_number_id.clone();
    state.add_phone_number(p);
    let view = state
        .phone_numbers()
        .into_iter()
        .find(|v| v.phone_number_id == id);
    Ok(Json(json!(view)))
}

/// `POST /_simulator/phone-numbers/{id}/throughput-upgrade` with `{"maintenance_ms"?}`
/// (default 2,000): Meta's upgrade to 1,000 msg/s — 131057 meanwhile, then the
/// `THROUGHPUT_UPGRADE` webhook.
pub(crate) async fn post_throughput_upgrade(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Upgrade {
        maintenance_ms: Option<u64>,
    }
    let u: Upgrade = if body.is_empty() {
        Upgrade::default()
    } else {
        parse_json(&body)?
    };
    let ms = u.maintenance_ms.unwrap_or(2_000);
    if !state.upgrade_throughput(&id, ms) {
        return Err(ControlError::not_found(format!("no phone number {id}")));
    }
    Ok(Json(json!({"phone_number_id": id, "maintenance_ms": ms})))
}

/// `PUT /_simulator/phone-numbers/{id}/business` with `{"business_id"}`: puts the number in
/// that business portfolio (whose messaging limit it then shares); a number's portfolio is
/// its WABA id until this sets another.
pub(crate) async fn put_business(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Business {
        business_id: String,
    }
    let b: Business = parse_json(&body)?;
    let business_id = b.business_id.trim();
    if business_id.is_empty() {
        return Err(ControlError::bad(
            Some("business_id"),
            "business_id must not be empty",
        ));
    }
    if !state.set_business(&id, business_id) {
        return Err(ControlError::not_found(format!("no phone number {id}")));
    }
    Ok(Json(
        json!({"phone_number_id": id, "business_id": business_id}),
    ))
}

/// What `/_simulator/businesses/{business_id}/messaging-limit` answers.
fn messaging_limit_view(state: &SimState, business_id: &str) -> Value {
    let tier = state.messaging_limit(business_id);
    json!({
        "business_id": business_id,
        "tier": tier,
        "max_users": tier.max_users(),
        "reach": state.messaging_reach(business_id),
        "phone_number_ids": state
            .business_numbers(business_id)
            .into_iter()
            .map(|p| p.phone_number_id)
            .collect::<Vec<_>>(),
    })
}

/// `GET /_simulator/businesses/{business_id}/messaging-limit`: the portfolio's tier, the
/// unique users it reached outside their customer service window in the last 24 hours, and
/// its numbers.
pub(crate) async fn get_messaging_limit(
    State(state): State<Arc<SimState>>,
    Path(business_id): Path<String>,
) -> Json<Value> {
    Json(messaging_limit_view(&state, &business_id))
}

/// `POST /_simulator/businesses/{business_id}/messaging-limit` with `{"tier"}` (`TIER_250`,
/// `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`): sets the portfolio's messaging
/// limit; a change sends `business_capability_update` to each of its WABAs.
pub(crate) async fn post_messaging_limit(
    State(state): State<Arc<SimState>>,
    Path(business_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Limit {
        tier: String,
    }
    let l: Limit = parse_json(&body)?;
    let tier = MessagingLimit::parse(&l.tier).map_err(|e| ControlError::bad(Some("tier"), e))?;
    let changed = state.set_messaging_limit(&business_id, tier);
    let mut view = messaging_limit_view(&state, &business_id);
    view["changed"] = json!(changed);
    Ok(Json(view))
}

/// `GET /_simulator/faults`.
pub(crate) async fn get_faults(State(state): State<Arc<SimState>>) -> Json<Faults> {
    Json(state.faults())
}

/// `POST /_simulator/faults`: replaces the faults (omitted fields take their defaults).
pub(crate) async fn post_faults(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Faults>, ControlError> {
    let f: Faults = parse_json(&body)?;
    f.validate().map_err(|e| ControlError::bad(None, e))?;
    state.set_faults(f);
    Ok(Json(state.faults()))
}

/// The body of `POST /_simulator/config`; omitted fields are left as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigUpdate {
    #[serde(default)]
    status_delays: Option<StatusDelays>,
    #[serde(default)]
    default_throughput_mps: Option<u32>,
    #[serde(default)]
    enforcement: Option<Enforcement>,
    #[serde(default)]
    template_review_delay_ms: Option<u64>,
    #[serde(default)]
    media_id_ttl_seconds: Option<u64>,
    #[serde(default)]
    inbound_media_ttl_seconds: Option<u64>,
}

fn config_json(state: &SimState) -> Value {
    json!({
        "status_delays": state.status_delays(),
        "default_throughput_mps": state.default_throughput(),
        "enforcement": state.enforcement(),
        "template_review_delay_ms": state.template_review().delay_ms,
        "media_id_ttl_seconds": state.media_id_ttl_seconds(),
        "inbound_media_ttl_seconds": state.inbound_media_ttl_seconds(),
        "webhook_retry_base_ms": state.config.webhook_retry_base_ms,
        "webhook_retry_max_ms": state.config.webhook_retry_max_ms,
        "webhook_retry_for_ms": state.config.webhook_retry_for_ms,
    })
}

/// `GET /_simulator/config`.
pub(crate) async fn get_config(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(config_json(&state))
}

/// `POST /_simulator/config`: status delays, default throughput, enforced policies.
pub(crate) async fn post_config(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let u: ConfigUpdate = parse_json(&body)?;
    if u.default_throughput_mps == Some(0) {
        return Err(ControlError::bad(
            Some("default_throughput_mps"),
            "default_throughput_mps must be at least 1",
        ));
    }
    if let Some(d) = u.status_delays {
        state.set_status_delays(d);
    }
    if let Some(mps) = u.default_throughput_mps {
        state.set_default_throughput(mps);
    }
    if let Some(e) = u.enforcement {
        state.set_enforcement(e);
    }
    if let Some(d) = u.template_review_delay_ms {
        state.set_template_review_delay(d);
    }
    if let Some(s) = u.media_id_ttl_seconds {
        state.set_media_id_ttl_seconds(s);
    }
    if let Some(s) = u.inbound_media_ttl_seconds {
        state.set_inbound_media_ttl_seconds(s);
    }
    Ok(Json(config_json(&state)))
}

fn clock_json(state: &SimState) -> Value {
    let now = state.now_ms();
    json!({
        "now": now.div_euclid(1000),
        "now_ms": now,
        "now_rfc3339": rfc3339(now),
        "offset_seconds": state.clock.offset_ms() / 1000,
    })
}

/// `GET /_simulator/clock`.
pub(crate) async fn get_clock(State(state): State<Arc<SimState>>) -> Json<Value> {
    Json(clock_json(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockAdvance {
    advance_seconds: i64,
}

/// `POST /_simulator/clock` `{"advance_seconds": N}`: moves the clock forward.
pub(crate) async fn post_clock(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let a: ClockAdvance = parse_json(&body)?;
    if a.advance_seconds < 0 {
        return Err(ControlError::bad(
            Some("advance_seconds"),
            "the clock only moves forward: advance_seconds must be >= 0",
        ));
    }
    state.advance_clock(a.advance_seconds);
    Ok(Json(clock_json(&state)))
}

/// `GET /_simulator/webhooks?phone_number_id=`: every delivery attempt, oldest first.
pub(crate) async fn get_webhooks(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Json<Value> {
    let pnid = q.get("phone_number_id");
    let data: Vec<_> = state
        .webhook_log()
        .into_iter()
        .filter(|a| pnid.is_none_or(|p| *p == a.phone_number_id))
        .collect();
    Json(json!({ "data": data }))
}

/// The WABA of `?waba_id=` or `?phone_number_id=` (or of the same fields of a body).
fn waba_of(
    state: &SimState,
    waba_id: Option<&str>,
    phone_number_id: Option<&str>,
) -> Result<String, ControlError> {
    match (waba_id, phone_number_id) {
        (Some(w), _) => Ok(w.to_string()),
        (None, Some(p)) => state
            .phone_number(p)
            .map(|p| p.waba_id)
            .ok_or_else(|| ControlError::not_found(format!("unknown phone number {p}"))),
        (None, None) => Err(ControlError::bad(
            Some("waba_id"),
            "waba_id (or phone_number_id) is required",
        )),
    }
}

/// `GET /_simulator/templates?waba_id=` (or `phone_number_id=`): the WABA's templates,
/// deleted ones included, oldest first, as the simulator holds them.
pub(crate) async fn get_templates(
    State(state): State<Arc<SimState>>,
    Query(q): Filters,
) -> Result<Json<Value>, ControlError> {
    let waba = waba_of(
        &state,
        q.get("waba_id").map(String::as_str),
        q.get("phone_number_id").map(String::as_str),
    )?;
    Ok(Json(json!({ "data": state.templates(&waba) })))
}

/// `POST /_simulator/templates`: a create request plus `waba_id` (or `phone_number_id`),
/// `status` (default APPROVED) and `notify` (send the status webhook; default false). The
/// template is stored as it is, without review.
pub(crate) async fn post_templates(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let v: Value = parse_json(&body)?;
    let Value::Object(mut o) = v else {
        return Err(ControlError::bad(None, "the body must be a JSON object"));
    };
    let mut take_str = |key: &str| -> Result<Option<String>, ControlError> {
        match o.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ControlError::bad(
                Some(key),
                format!("{key} must be a string"),
            )),
        }
    };
    let waba_id = take_str("waba_id")?;
    let phone_number_id = take_str("phone_number_id")?;
    let status = match take_str("status")? {
        None => TemplateStatus::Approved,
        Some(s) => TemplateStatus::parse(&s).ok_or_else(|| {
            ControlError::bad(
                Some("status"),
                format!("status {s} is not a template status"),
            )
        })?,
    };
    let notify = match o.remove("notify") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ControlError::bad(
                Some("notify"),
                "notify must be a boolean",
            ));
        }
    };
    let waba_id = waba_of(&state, waba_id.as_deref(), phone_number_id.as_deref())?;
    let t = state.seed_template(TemplateSeed {
        waba_id,
        request: Value::Object(o),
        status,
        notify,
    })?;
    Ok(Json(json!(t)))
}

/// `POST /_simulator/templates/{id}/status` `{"status", "reason"?, "other_info"?}`.
pub(crate) async fn post_template_status(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let change: TemplateStatusChange = parse_json(&body)?;
    let t = state.set_template_status(&id, change)?;
    Ok(Json(json!(t)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityChange {
    score: QualityScore,
}

/// `POST /_simulator/templates/{id}/quality` `{"score": "GREEN" | "YELLOW" | "RED" | "UNKNOWN"}`.
pub(crate) async fn post_template_quality(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let change: QualityChange = parse_json(&body)?;
    let t = state.set_template_quality(&id, change.score)?;
    Ok(Json(json!(t)))
}

/// `GET /_simulator/template-review`: the review delay and rules.
pub(crate) async fn get_template_review(
    State(state): State<Arc<SimState>>,
) -> Json<TemplateReview> {
    Json(state.template_review())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewUpdate {
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    rules: Option<Vec<crate::templates::ReviewRule>>,
}

/// `POST /_simulator/template-review` `{"delay_ms"?, "rules"?}`: omitted fields are left as
/// they are; `rules` replaces the rules.
pub(crate) async fn post_template_review(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<TemplateReview>, ControlError> {
    let u: ReviewUpdate = parse_json(&body)?;
    let mut review = state.template_review();
    if let Some(d) = u.delay_ms {
        review.delay_ms = d;
    }
    if let Some(r) = u.rules {
        review.rules = r;
    }
    state
        .set_template_review(review)
        .map_err(|e| ControlError::bad(Some("rules"), e))?;
    Ok(Json(state.template_review()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PacingRequest {
    template_id: String,
    outcome: Option<crate::PacingOutcome>,
}

/// `POST /_simulator/template-pacing` `{"template_id", "outcome"?}`: Meta starts pacing the
/// template, or ends its pacing (`release` or `pause`); answers `{"template_id", "paced",
/// "decided"}`.
pub(crate) async fn post_template_pacing(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, ControlError> {
    let r: PacingRequest = parse_json(&body)?;
    match r.outcome {
        None => {
            state.pace_template(&r.template_id)?;
            Ok(Json(
                json!({"template_id": r.template_id, "paced": true, "decided": 0}),
            ))
        }
        Some(outcome) => {
            let n = state.end_pacing(&r.template_id, outcome)?;
            Ok(Json(
                json!({"template_id": r.template_id, "paced": false, "decided": n}),
            ))
        }
    }
}
