//! `/v1/contacts`: the tenant's WhatsApp users, with their windows on each channel.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use openbsp_domain::clock::rfc3339;
use openbsp_domain::windows;
use openbsp_store::{Contact, ContactFilter, ContactKey, ContactPatch, ContactWindow, Page};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::TenantAuth;
use crate::error::ApiError;
use crate::messages::native::json_body;
use crate::state::AppState;

/// The contact routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", get(list))
        .route("/v1/contacts/{id}", get(get_one).patch(update))
}

fn time(t: Option<i64>) -> Value {
    t.map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
}

/// One window as JSON, as it stands at `now`.
pub fn window_json(w: &ContactWindow, phone_number_id: Option<&str>, now: i64) -> Value {
    let csw_expires = w.last_inbound_at.map(windows::csw_expires_at);
    json!({
        "channel_id": w.channel_id,
        "phone_number_id": phone_number_id,
        "customer_service": {
            "open": windows::csw_open(w.last_inbound_at, now),
            "expires_at": time(csw_expires),
            "last_inbound_at": time(w.last_inbound_at),
        },
        "free_entry_point": {
            "open": windows::fep_open(w.fep_expires_at, now),
            "opened_at": time(w.fep_opened_at),
            "expires_at": time(w.fep_expires_at),
            "entry_point_at": time(w.entry_point_at),
        },
    })
}

/// A contact as JSON; `windows` adds its windows.
pub fn contact_json(c: &Contact, windows: Option<Vec<Value>>) -> Value {
    let mut v = openbsp_store::views::contact_json(c);
    if let Some(w) = windows {
        v["windows"] = Value::Array(w);
    }
    v
}

/// A contact by `con_…` id, `wa_id` (digits, `+` allowed) or BSUID, within the tenant.
pub async fn find(state: &AppState, tenant_id: &str, id: &str) -> Result<Contact, ApiError> {
    let found = if id.starts_with("con_") {
        state.store.get_contact(tenant_id, id).await?
    } else if let Ok(u) = openbsp_wire::send::parse_bsuid(id) {
        state
            .store
            .find_contact(tenant_id, &ContactKey::UserId(u))
            .await?
    } else if let Ok(w) = openbsp_wire::send::normalize_phone(id) {
        state
            .store
            .find_contact(tenant_id, &ContactKey::WaId(w))
            .await?
    } else {
        None
    };
    found.ok_or_else(|| ApiError::not_found(&format!("contact {id}")))
}

/// The contact with its windows, as JSON.
pub async fn with_windows(state: &AppState, c: &Contact) -> Result<Value, ApiError> {
    let now = state.now();
    let mut out = Vec::new();
    for w in state.store.contact_windows(&c.tenant_id, &c.id).await? {
        let pnid = state
            .channel(&w.channel_id)
            .await?
            .map(|ch| ch.phone_number_id);
        out.push(window_json(&w, pnid.as_deref(), now));
    }
    Ok(contact_json(c, Some(out)))
}

/// `GET /v1/contacts/{id}`.
async fn get_one(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = find(&state, &auth.tenant_id, &id).await?;
    Ok(Json(with_windows(&state, &c).await?))
}

/// Query of `GET /v1/contacts`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
    wa_id: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    opted_out: Option<bool>,
}

/// `GET /v1/contacts`: newest first; search by `wa_id`, `user_id` (BSUID), `name`.
async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let wa_id = q
        .wa_id
        .as_deref()
        .map(|w| {
            openbsp_wire::send::normalize_phone(w)
                .map_err(|_| ApiError::bad_request("wa_id must be a phone number"))
        })
        .transpose()?;
    let filter = ContactFilter {
        wa_id,
        user_id: q.user_id,
        name: q.name,
        opted_out: q.opted_out,
    };
    let rows = state
        .store
        .list_contacts(
            &auth.tenant_id,
            &filter,
            &Page {
                limit: limit + 1,
                after: q.after,
            },
        )
        .await?;
    Ok(Json(crate::paging::list_json(
        rows,
        limit,
        |c| c.id.clone(),
        |c| contact_json(c, None),
    )))
}

/// `PATCH /v1/contacts/{id}`: `{"name"?, "attributes"?: {…, "key": null removes}, "marketing_opt_out"?: bool}`.
async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let v = json_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let mut patch = ContactPatch::default();
    for (k, val) in obj {
        match (k.as_str(), val) {
            ("name", Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= 256 => {
                patch.profile_name = Some(n.trim().to_string());
            }
            ("name", _) => {
                return Err(ApiError::bad_request(
                    "name must be a non-empty string of at most 256 characters",
                ));
            }
            ("attributes", Value::Object(_)) => {
                if val.to_string().len() > 16 * 1024 {
                    return Err(ApiError::bad_request(
                        "attributes must be at most 16 KiB of JSON",
                    ));
                }
                patch.attributes = Some(val.clone());
            }
            ("attributes", _) => {
                return Err(ApiError::bad_request("attributes must be a JSON object"));
            }
            ("marketing_opt_out", Value::Bool(b)) => patch.marketing_opt_out = Some(*b),
            ("marketing_opt_out", _) => {
                return Err(ApiError::bad_request(
                    "marketing_opt_out must be true or false",
                ));
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown field {other}: a contact's name, attributes and marketing_opt_out can be changed"
                )));
            }
        }
    }
    let c = find(&state, &auth.tenant_id, &id).await?;
    let updated = state
        .store
        .update_contact(&auth.tenant_id, &c.id, &patch, state.now())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("contact {id}")))?;
    Ok(Json(with_windows(&state, &updated).await?))
}
