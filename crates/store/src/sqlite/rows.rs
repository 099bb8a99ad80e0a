//! Reading rows on SQLite: a reader for each table's rows (columns in the order of
//! [`crate::sql`]), and the plain look-ups that the areas and the writers below them share.
//! Nothing here writes.

use openbsp_domain::MessageStatus;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::sql::{CONTACT_COLS, MESSAGE_COLS, SESSION_COLS, contact_key, webhook_endpoint_cols};

/// The columns a [`WebhookEndpoint`] is read from: those the API writes, and the delivery
/// cursor.
pub(super) const WEBHOOK_ENDPOINT_READ_COLS: &str =
    concat!(webhook_endpoint_cols!(), ", cursor_seq");

/// Every row `sql` selects, read by `f`.
pub(super) fn collect<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    f: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, f)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A tenant's message whose column `col` (`id`, `wamid`, `idempotency_key`) is `value`.
pub(super) fn message_where(
    c: &Connection,
    tenant: &str,
    col: &str,
    value: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = ?1 AND {col} = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, value], message)
        .optional()?)
}

/// The message `id`, which must exist (it was just written).
pub(super) fn message_by_id(c: &Connection, id: &str) -> StoreResult<Message> {
    let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1");
    c.prepare_cached(&sql)?
        .query_row([id], message)
        .optional()?
        .ok_or_else(|| StoreError::corrupt(format!("message {id} vanished")))
}

/// A contact by id, within a tenant.
pub(super) fn contact_by_id(
    c: &Connection,
    tenant: &str,
    id: &str,
) -> StoreResult<Option<Contact>> {
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1 AND id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, id], contact)
        .optional()?)
}

/// The contact with this key, within a tenant.
pub(super) fn contact_by_key(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
) -> StoreResult<Option<Contact>> {
    let (col, value) = contact_key(key);
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1 AND {col} = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, value], contact)
        .optional()?)
}

/// The id of the contact with this key, within a tenant.
pub(super) fn contact_id_by_key(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
) -> StoreResult<Option<String>> {
    let (col, value) = contact_key(key);
    let sql = format!("SELECT id FROM contacts WHERE tenant_id = ?1 AND {col} = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant, value], |r| r.get(0))
        .optional()?)
}

/// A session by id, within a tenant.
pub(super) fn session_by_id(
    c: &Connection,
    tenant: &str,
    id: &str,
) -> StoreResult<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ?1 AND tenant_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([id, tenant], session)
        .optional()?)
}

/// The open session of a channel and contact, lapsed or not.
pub(super) fn open_session(
    c: &Connection,
    channel: &str,
    contact: &str,
) -> StoreResult<Option<Session>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions WHERE channel_id = ?1 AND contact_id = ?2 AND closed_at IS NULL"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([channel, contact], session)
        .optional()?)
}

pub(super) fn tenant(r: &Row) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

pub(super) fn api_key(r: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        key_hash: r.get(3)?,
        key_prefix: r.get(4)?,
        is_admin: r.get(5)?,
        created_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

pub(super) fn app(r: &Row) -> rusqlite::Result<App> {
    Ok(App {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        meta_app_id: r.get(3)?,
        app_secret_enc: r.get(4)?,
        verify_token_enc: r.get(5)?,
        verify_token_hash: r.get(6)?,
        created_at: r.get(7)?,
        previous_secret_enc: r.get(8)?,
        previous_secret_expires_at: r.get(9)?,
    })
}

pub(super) fn channel(r: &Row) -> rusqlite::Result<Channel> {
    Ok(Channel {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        app_id: r.get(2)?,
        phone_number_id: r.get(3)?,
        waba_id: r.get(4)?,
        display_phone_number: r.get(5)?,
        access_token_enc: r.get(6)?,
        graph_base_url: r.get(7)?,
        graph_version: r.get(8)?,
        throughput_mps: r.get(9)?,
        messaging_tier: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        business_id: r.get(13)?,
        paused_at: r.get(14)?,
        pause_reason: r
            .get::<_, Option<String>>(15)?
            .and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub(super) fn contact(r: &Row) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        wa_id: r.get(2)?,
        user_id: r.get(3)?,
        profile_name: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        username: r.get(7)?,
        attributes: json_col(r, 8)?.unwrap_or_else(|| serde_json::json!({})),
        marketing_opt_out_at: r.get(9)?,
        marketing_opt_out_source: r.get(10)?,
        previous_wa_ids: match json_col(r, 11)? {
            Some(v) => serde_json::from_value(v).map_err(|e| corrupt(11, e.into()))?,
            None => Vec::new(),
        },
    })
}

pub(super) fn session(r: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        channel_id: r.get(2)?,
        contact_id: r.get(3)?,
        kind: r.get(4)?,
        opened_by: r.get(5)?,
        opened_at: r.get(6)?,
        expires_at: r.get(7)?,
        closed_at: r.get(8)?,
        close_reason: r.get(9)?,
        last_inbound_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

pub(super) fn template(r: &Row) -> rusqlite::Result<Template> {
    Ok(Template {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        waba_id: r.get(2)?,
        name: r.get(3)?,
        language: r.get(4)?,
        category: r.get(5)?,
        status: r.get(6)?,
        meta_template_id: r.get(7)?,
        components: json_col(r, 8)?.unwrap_or_else(|| serde_json::json!([])),
        quality_score: r.get(9)?,
        reason: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        parameter_format: r.get(13)?,
        previous_category: r.get(14)?,
        message_send_ttl_seconds: r.get(15)?,
        deleted_at: r.get(16)?,
    })
}

pub(super) fn webhook_endpoint(r: &Row) -> rusqlite::Result<WebhookEndpoint> {
    let events: String = r.get(4)?;
    Ok(WebhookEndpoint {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        url: r.get(2)?,
        description: r.get(3)?,
        events: serde_json::from_str(&events).map_err(|e| corrupt(4, e.into()))?,
        format: r.get(5)?,
        enabled: r.get(6)?,
        disabled_reason: r.get(7)?,
        secret_enc: r.get(8)?,
        previous_secret_enc: r.get(9)?,
        previous_secret_expires_at: r.get(10)?,
        failing_since: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        options: r
            .get::<_, Option<String>>(14)?
            .map(|o| serde_json::from_str(&o))
            .transpose()
            .map_err(|e| corrupt(14, e.into()))?,
        cursor: r
            .get::<_, Option<i64>>(15)?
            .map(|seq| EventCursor { xid: 0, seq }),
    })
}

pub(super) fn window(r: &Row) -> rusqlite::Result<ContactWindow> {
    Ok(ContactWindow {
        channel_id: r.get(0)?,
        contact_id: r.get(1)?,
        tenant_id: r.get(2)?,
        last_inbound_at: r.get(3)?,
        entry_point_at: r.get(4)?,
        fep_opened_at: r.get(5)?,
        fep_expires_at: r.get(6)?,
    })
}

/// A value of column `col` that does not read, as the driver reports it (`e` is why).
fn corrupt(col: usize, e: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

pub(super) fn json_col(r: &Row, i: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(i, e.into())))
        .transpose()
}

pub(super) fn message(r: &Row) -> rusqlite::Result<Message> {
    let direction: String = r.get(4)?;
    let status: String = r.get(9)?;
    Ok(Message {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        channel_id: r.get(2)?,
        contact_id: r.get(3)?,
        direction: Direction::parse(&direction)
            .ok_or_else(|| corrupt(4, StoreError::corrupt(format!("direction {direction}"))))?,
        recipient: r.get(5)?,
        msg_type: r.get(6)?,
        content: json_col(r, 7)?.unwrap_or_default(),
        wamid: r.get(8)?,
        status: MessageStatus::parse(&status)
            .ok_or_else(|| corrupt(9, StoreError::corrupt(format!("status {status}"))))?,
        error: json_col(r, 10)?,
        biz_opaque_callback_data: r.get(11)?,
        context_message_id: r.get(12)?,
        idempotency_key: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        session_id: r.get(16)?,
        template_id: r.get(17)?,
        rendered_text: r.get(18)?,
        campaign_id: r.get(19)?,
    })
}

pub(super) fn status_entry(r: &Row) -> rusqlite::Result<StatusEntry> {
    let status: String = r.get(0)?;
    Ok(StatusEntry {
        status: MessageStatus::parse(&status)
            .ok_or_else(|| corrupt(0, StoreError::corrupt(format!("status {status}"))))?,
        at: r.get(1)?,
        error: json_col(r, 2)?,
    })
}
