//! Row mapping for the SQLite backend.

use openbsp_domain::MessageStatus;
use rusqlite::Row;

use crate::error::StoreError;
use crate::model::*;

pub(super) const TENANT_COLS: &str = "id, name, created_at";
pub(super) const API_KEY_COLS: &str =
    "id, tenant_id, name, key_hash, key_prefix, is_admin, created_at, revoked_at";
pub(super) const APP_COLS: &str = "id, tenant_id, name, meta_app_id, app_secret_enc, verify_token_enc, verify_token_hash, created_at";
pub(super) const CHANNEL_COLS: &str = "id, tenant_id, app_id, phone_number_id, waba_id, display_phone_number, access_token_enc, graph_base_url, graph_version, throughput_mps, messaging_tier, created_at, updated_at";
pub(super) const CONTACT_COLS: &str = "id, tenant_id, wa_id, user_id, profile_name, created_at, updated_at, username, attributes, marketing_opt_out_at, marketing_opt_out_source, previous_wa_ids";
pub(super) const MESSAGE_COLS: &str = "id, tenant_id, channel_id, contact_id, direction, recipient, msg_type, content, wamid, status, error, biz_opaque_callback_data, context_message_id, idempotency_key, created_at, updated_at, session_id, template_id, rendered_text";
pub(super) const SESSION_COLS: &str = "id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at, closed_at, close_reason, last_inbound_at, updated_at";
pub(super) const TEMPLATE_COLS: &str = "id, tenant_id, waba_id, name, language, category, status, meta_template_id, components, quality_score, reason, created_at, updated_at, parameter_format, previous_category, message_send_ttl_seconds, deleted_at";
pub(super) const WEBHOOK_ENDPOINT_COLS: &str = "id, tenant_id, url, description, events, format, enabled, disabled_reason, secret_enc, previous_secret_enc, previous_secret_expires_at, failing_since, created_at, updated_at";
/// [`WEBHOOK_ENDPOINT_COLS`] and what only the store writes (the delivery cursor).
pub(super) const WEBHOOK_ENDPOINT_READ_COLS: &str = "id, tenant_id, url, description, events, format, enabled, disabled_reason, secret_enc, previous_secret_enc, previous_secret_expires_at, failing_since, created_at, updated_at, cursor_seq";
pub(super) const WINDOW_COLS: &str = "channel_id, contact_id, tenant_id, last_inbound_at, entry_point_at, fep_opened_at, fep_expires_at";

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
            Some(v) => serde_json::from_value(v).map_err(|e| corrupt(11, e.to_string()))?,
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
        events: serde_json::from_str(&events).map_err(|e| corrupt(4, e.to_string()))?,
        format: r.get(5)?,
        enabled: r.get(6)?,
        disabled_reason: r.get(7)?,
        secret_enc: r.get(8)?,
        previous_secret_enc: r.get(9)?,
        previous_secret_expires_at: r.get(10)?,
        failing_since: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
        cursor: r
            .get::<_, Option<i64>>(14)?
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

fn corrupt(col: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::new(StoreError::Corrupt(what)),
    )
}

fn json_col(r: &Row, i: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| corrupt(i, e.to_string())))
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
            .ok_or_else(|| corrupt(4, format!("direction {direction}")))?,
        recipient: r.get(5)?,
        msg_type: r.get(6)?,
        content: json_col(r, 7)?.unwrap_or_default(),
        wamid: r.get(8)?,
        status: MessageStatus::parse(&status)
            .ok_or_else(|| corrupt(9, format!("status {status}")))?,
        error: json_col(r, 10)?,
        biz_opaque_callback_data: r.get(11)?,
        context_message_id: r.get(12)?,
        idempotency_key: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        session_id: r.get(16)?,
        template_id: r.get(17)?,
        rendered_text: r.get(18)?,
    })
}

pub(super) fn status_entry(r: &Row) -> rusqlite::Result<StatusEntry> {
    let status: String = r.get(0)?;
    Ok(StatusEntry {
        status: MessageStatus::parse(&status)
            .ok_or_else(|| corrupt(0, format!("status {status}")))?,
        at: r.get(1)?,
        error: json_col(r, 2)?,
    })
}
