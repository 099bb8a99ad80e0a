//! Reading rows on PostgreSQL: a reader for each table's rows, in the column order of
//! [`crate::sql`] (the SQLite backend's), from any column on so that a joined row can hold
//! several. Nothing here runs a statement.

use openbsp_domain::MessageStatus;
use serde_json::Value;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{Decode, Row, Type};

use crate::error::{StoreError, StoreResult};
use crate::model::*;

/// An event's columns, its cursor last: (`xid` as a `bigint`, `seq`). The converted `xid` has
/// a name of its own: unnamed, it would be called `xid` too, and an `ORDER BY xid` would sort
/// the converted values (every row, no index) instead of walking the index on `events.xid`.
pub(super) const EVENT_COLS: &str =
    "id, tenant_id, type, format, created_at, data, xid::text::bigint AS xid_n, seq";

/// Number of columns in [`EVENT_COLS`].
pub(super) const EVENT_N: usize = 8;

/// Column `i` of `r`, a decoding failure being a corrupt row.
pub(super) fn get<'r, T>(r: &'r PgRow, i: usize) -> StoreResult<T>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    r.try_get(i)
        .map_err(|e| StoreError::corrupt_by(format_args!("column {i}"), e))
}

/// A stored `INTEGER` that must fit a `u32`.
pub(super) fn get_u32(r: &PgRow, i: usize) -> StoreResult<u32> {
    let v: i32 = get(r, i)?;
    u32::try_from(v).map_err(|_| StoreError::corrupt(format!("column {i}: {v} is negative")))
}

/// A JSON document stored as text.
fn json_col(r: &PgRow, i: usize) -> StoreResult<Option<Value>> {
    let s: Option<String> = get(r, i)?;
    s.map(|s| serde_json::from_str(&s).map_err(StoreError::from))
        .transpose()
}

/// A status name.
pub(super) fn status_col(r: &PgRow, i: usize) -> StoreResult<MessageStatus> {
    let s: String = get(r, i)?;
    MessageStatus::parse(&s).ok_or_else(|| StoreError::corrupt(format!("status {s}")))
}

pub(super) fn tenant(r: &PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: get(r, 0)?,
        name: get(r, 1)?,
        created_at: get(r, 2)?,
    })
}

pub(super) fn api_key(r: &PgRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        name: get(r, 2)?,
        key_hash: get(r, 3)?,
        key_prefix: get(r, 4)?,
        is_admin: get(r, 5)?,
        created_at: get(r, 6)?,
        revoked_at: get(r, 7)?,
    })
}

pub(super) fn app(r: &PgRow) -> StoreResult<App> {
    Ok(App {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        name: get(r, 2)?,
        meta_app_id: get(r, 3)?,
        app_secret_enc: get(r, 4)?,
        verify_token_enc: get(r, 5)?,
        verify_token_hash: get(r, 6)?,
        created_at: get(r, 7)?,
        previous_secret_enc: get(r, 8)?,
        previous_secret_expires_at: get(r, 9)?,
    })
}

pub(super) fn channel(r: &PgRow) -> StoreResult<Channel> {
    Ok(Channel {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        app_id: get(r, 2)?,
        phone_number_id: get(r, 3)?,
        waba_id: get(r, 4)?,
        display_phone_number: get(r, 5)?,
        access_token_enc: get(r, 6)?,
        graph_base_url: get(r, 7)?,
        graph_version: get(r, 8)?,
        throughput_mps: get_u32(r, 9)?,
        messaging_tier: get(r, 10)?,
        created_at: get(r, 11)?,
        updated_at: get(r, 12)?,
        business_id: get(r, 13)?,
        paused_at: get(r, 14)?,
        pause_reason: get::<Option<String>>(r, 15)?.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub(super) fn contact(r: &PgRow) -> StoreResult<Contact> {
    contact_at(r, 0)
}

/// A contact from `CONTACT_COLS` starting at column `at`.
pub(super) fn contact_at(r: &PgRow, at: usize) -> StoreResult<Contact> {
    let previous: Option<String> = get(r, at + 11)?;
    Ok(Contact {
        id: get(r, at)?,
        tenant_id: get(r, at + 1)?,
        wa_id: get(r, at + 2)?,
        user_id: get(r, at + 3)?,
        profile_name: get(r, at + 4)?,
        created_at: get(r, at + 5)?,
        updated_at: get(r, at + 6)?,
        username: get(r, at + 7)?,
        attributes: json_col(r, at + 8)?.unwrap_or_else(|| serde_json::json!({})),
        marketing_opt_out_at: get(r, at + 9)?,
        marketing_opt_out_source: get(r, at + 10)?,
        previous_wa_ids: match previous {
            Some(s) => serde_json::from_str(&s)?,
            None => Vec::new(),
        },
    })
}

/// A session from `SESSION_COLS`.
pub(super) fn session(r: &PgRow) -> StoreResult<Session> {
    session_at(r, 0)
}

/// A session from `SESSION_COLS` starting at column `at`.
pub(super) fn session_at(r: &PgRow, at: usize) -> StoreResult<Session> {
    Ok(Session {
        id: get(r, at)?,
        tenant_id: get(r, at + 1)?,
        channel_id: get(r, at + 2)?,
        contact_id: get(r, at + 3)?,
        kind: get(r, at + 4)?,
        opened_by: get(r, at + 5)?,
        opened_at: get(r, at + 6)?,
        expires_at: get(r, at + 7)?,
        closed_at: get(r, at + 8)?,
        close_reason: get(r, at + 9)?,
        last_inbound_at: get(r, at + 10)?,
        updated_at: get(r, at + 11)?,
    })
}

/// A window from `WINDOW_COLS`.
pub(super) fn window(r: &PgRow) -> StoreResult<ContactWindow> {
    window_at(r, 0)
}

/// A window from `WINDOW_COLS` starting at column `at`.
pub(super) fn window_at(r: &PgRow, at: usize) -> StoreResult<ContactWindow> {
    Ok(ContactWindow {
        channel_id: get(r, at)?,
        contact_id: get(r, at + 1)?,
        tenant_id: get(r, at + 2)?,
        last_inbound_at: get(r, at + 3)?,
        entry_point_at: get(r, at + 4)?,
        fep_opened_at: get(r, at + 5)?,
        fep_expires_at: get(r, at + 6)?,
    })
}

/// A message from `MESSAGE_COLS` (extra columns after them are ignored).
pub(super) fn message(r: &PgRow) -> StoreResult<Message> {
    message_at(r, 0, None)
}

/// A message from `MESSAGE_COLS` starting at column `at`; a status this version does not
/// know reads as `unknown` if given (else the row is corrupt).
pub(super) fn message_at(
    r: &PgRow,
    at: usize,
    unknown: Option<MessageStatus>,
) -> StoreResult<Message> {
    let direction: String = get(r, at + 4)?;
    let status = match unknown {
        None => status_col(r, at + 9)?,
        Some(fallback) => {
            let s: String = get(r, at + 9)?;
            MessageStatus::parse(&s).unwrap_or(fallback)
        }
    };
    Ok(Message {
        id: get(r, at)?,
        tenant_id: get(r, at + 1)?,
        channel_id: get(r, at + 2)?,
        contact_id: get(r, at + 3)?,
        direction: Direction::parse(&direction)
            .ok_or_else(|| StoreError::corrupt(format!("direction {direction}")))?,
        recipient: get(r, at + 5)?,
        msg_type: get(r, at + 6)?,
        content: json_col(r, at + 7)?.unwrap_or_default(),
        wamid: get(r, at + 8)?,
        status,
        error: json_col(r, at + 10)?,
        biz_opaque_callback_data: get(r, at + 11)?,
        context_message_id: get(r, at + 12)?,
        idempotency_key: get(r, at + 13)?,
        created_at: get(r, at + 14)?,
        updated_at: get(r, at + 15)?,
        session_id: get(r, at + 16)?,
        template_id: get(r, at + 17)?,
        rendered_text: get(r, at + 18)?,
        campaign_id: get(r, at + 19)?,
    })
}

/// `status, at, error` of the history.
pub(super) fn status_entry(r: &PgRow) -> StoreResult<StatusEntry> {
    Ok(StatusEntry {
        status: status_col(r, 0)?,
        at: get(r, 1)?,
        error: json_col(r, 2)?,
    })
}

/// `message_id, tenant_id, channel_id, attempts, payload` of the outbox; a payload that does
/// not parse reads as JSON `null`, as in the SQLite backend.
pub(super) fn outbox_item(r: &PgRow) -> StoreResult<OutboxItem> {
    let payload: String = get(r, 4)?;
    Ok(OutboxItem {
        message_id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        channel_id: get(r, 2)?,
        attempts: get_u32(r, 3)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
        term: get::<Option<i64>>(r, 7)?.unwrap_or_default(),
    })
}

/// `id, app_id, received_at, body` of the webhook inbox.
pub(super) fn inbox_item(r: &PgRow) -> StoreResult<InboxItem> {
    Ok(InboxItem {
        id: get(r, 0)?,
        app_id: get(r, 1)?,
        received_at: get(r, 2)?,
        body: get(r, 3)?,
    })
}

/// Maps every row with `f`.
pub(super) fn all<T>(
    rows: Vec<PgRow>,
    f: impl Fn(&PgRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

/// An event from [`EVENT_COLS`]; data that does not parse reads as `null`, as on SQLite.
pub(super) fn event(r: &PgRow) -> StoreResult<Event> {
    let data: String = get(r, 5)?;
    Ok(Event {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        kind: get(r, 2)?,
        format: get(r, 3)?,
        created_at: get(r, 4)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        cursor: EventCursor {
            xid: get(r, 6)?,
            seq: get(r, 7)?,
        },
    })
}
