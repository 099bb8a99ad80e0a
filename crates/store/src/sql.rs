//! The SQL both backends spell the same, spelled once: the column lists they read and write
//! rows by (a row reader of either backend takes the columns in this order), and the statements
//! that take no placeholder (SQLite writes `?1`, PostgreSQL `$1`). What differs stays with its
//! backend (PostgreSQL's transaction ids, for instance).

use std::sync::LazyLock;

use crate::model::ContactKey;

/// The columns of `messages` a [`crate::Message`] is read from, as a literal (for `concat!`).
macro_rules! message_cols {
    () => {
        "id, tenant_id, channel_id, contact_id, direction, recipient, msg_type, content, wamid, status, error, biz_opaque_callback_data, context_message_id, idempotency_key, created_at, updated_at, session_id, template_id, rendered_text, campaign_id"
    };
}
pub(crate) use message_cols;

/// The columns of `webhook_endpoints` the API writes, as a literal (for `concat!`).
macro_rules! webhook_endpoint_cols {
    () => {
        "id, tenant_id, url, description, events, format, enabled, disabled_reason, secret_enc, previous_secret_enc, previous_secret_expires_at, failing_since, created_at, updated_at, options"
    };
}
pub(crate) use webhook_endpoint_cols;

/// `tenants`.
pub(crate) const TENANT_COLS: &str = "id, name, created_at";
/// `api_keys`.
pub(crate) const API_KEY_COLS: &str =
    "id, tenant_id, name, key_hash, key_prefix, is_admin, created_at, revoked_at";
/// `apps`.
pub(crate) const APP_COLS: &str = "id, tenant_id, name, meta_app_id, app_secret_enc, verify_token_enc, verify_token_hash, created_at, previous_secret_enc, previous_secret_expires_at";
/// `channels`.
pub(crate) const CHANNEL_COLS: &str = "id, tenant_id, app_id, phone_number_id, waba_id, display_phone_number, access_token_enc, graph_base_url, graph_version, throughput_mps, messaging_tier, created_at, updated_at, business_id";
/// [`CHANNEL_COLS`] and the pause (set by the sender, not at creation), as `rows::channel`
/// reads them.
pub(crate) const CHANNEL_READ_COLS: &str = "id, tenant_id, app_id, phone_number_id, waba_id, display_phone_number, access_token_enc, graph_base_url, graph_version, throughput_mps, messaging_tier, created_at, updated_at, business_id, paused_at, pause_reason";
/// `contacts`.
pub(crate) const CONTACT_COLS: &str = "id, tenant_id, wa_id, user_id, profile_name, created_at, updated_at, username, attributes, marketing_opt_out_at, marketing_opt_out_source, previous_wa_ids";
/// `media`.
pub(crate) const MEDIA_COLS: &str =
    "id, tenant_id, sha256, mime_type, file_size, filename, origin, created_at, last_used_at";
/// `media_downloads` (a [`crate::media::Download`], in its field order).
pub(crate) const DOWNLOAD_COLS: &str = "message_id, tenant_id, channel_id, media_id, meta_media_id, mime_type, sha256, filename, state, attempts, next_at, error, created_at, updated_at";
/// `campaigns`.
pub(crate) const CAMPAIGN_COLS: &str = "id, tenant_id, channel_id, name, template_id, template_name, language, category, spec, columns, status, pause_reason, start_at, rate_limit, created_at, updated_at, started_at, completed_at";
/// `campaigns` as read: [`CAMPAIGN_COLS`], whether an upload is under way, and its group key.
pub(crate) const CAMPAIGN_READ: &str = "id, tenant_id, channel_id, name, template_id, template_name, language, category, spec, columns, status, pause_reason, start_at, rate_limit, created_at, updated_at, started_at, completed_at, upload_from IS NOT NULL, group_key";
/// A campaign's recipients with their messages (`r` and `m`), as a [`crate::CampaignRecipient`]
/// is read.
pub(crate) const RECIPIENT_SELECT: &str = "SELECT r.id, r.campaign_id, r.recipient, r.line, r.variables, r.state, r.reason, r.message_id, m.status, m.wamid, m.error, r.created_at, COALESCE(m.updated_at, r.updated_at), r.replied_at, m.meta_message_status
    FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id";
/// The condition of a page of a campaign's recipients with the API status `{mark}{n}`: the
/// status [`crate::CampaignRecipient::status`] computes from the recipient and its message, stored in `campaign_recipients.status` and kept
/// by triggers (migrations sqlite_0023 / postgres_0022), so that every status is a range of
/// `campaign_recipients_status` (campaign_id, status, id) in the page's order.
pub(crate) fn recipient_status_filter(mark: char, n: usize) -> String {
    format!(" AND r.status = {mark}{n}")
}
/// The user's latest campaign message on a channel between two times (`?1` channel, `?2`
/// recipient, `?3` since, `?4` at): what an answer then replies to. Meta's timestamps are
/// whole seconds: a campaign message sent in the second the user wrote (later than that
/// second's start) counts.
pub(crate) const REPLIED_MESSAGE_SQL: &str = "SELECT id FROM messages WHERE channel_id = ?1
    AND recipient = ?2 AND campaign_id IS NOT NULL AND created_at >= ?3 AND created_at < ?4 + 1000
    ORDER BY created_at DESC LIMIT 1";
/// `messages`.
pub(crate) const MESSAGE_COLS: &str = message_cols!();
/// `sessions`.
pub(crate) const SESSION_COLS: &str = "id, tenant_id, channel_id, contact_id, kind, opened_by, opened_at, expires_at, closed_at, close_reason, last_inbound_at, updated_at";
/// `contact_windows`.
pub(crate) const WINDOW_COLS: &str = "channel_id, contact_id, tenant_id, last_inbound_at, entry_point_at, fep_opened_at, fep_expires_at";
/// `templates`.
pub(crate) const TEMPLATE_COLS: &str = "id, tenant_id, waba_id, name, language, category, status, meta_template_id, components, quality_score, reason, created_at, updated_at, parameter_format, previous_category, message_send_ttl_seconds, deleted_at";
/// `webhook_endpoints`, as the API writes them (the delivery cursor is the store's).
pub(crate) const WEBHOOK_ENDPOINT_COLS: &str = webhook_endpoint_cols!();
/// `webhook_attempts`.
pub(crate) const ATTEMPT_COLS: &str = "seq, endpoint_id, tenant_id, event_id, event_type, attempt, at, succeeded, status_code, latency_ms, error, response, next_attempt_at";

/// Every tenant, oldest first.
pub(crate) static LIST_TENANTS_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"));
/// When the closer must next run: the earliest expiry of an open session.
pub(crate) const NEXT_SESSION_EXPIRY_SQL: &str =
    "SELECT MIN(expires_at) FROM sessions WHERE closed_at IS NULL";
/// Messages per status, installation-wide.
pub(crate) const COUNT_BY_STATUS_SQL: &str =
    "SELECT status, COUNT(*) FROM messages GROUP BY status ORDER BY status";
/// Sends waiting in the outbox.
pub(crate) const OUTBOX_DEPTH_SQL: &str = "SELECT COUNT(*) FROM outbox";

/// Saves a template: every column of a new row, or, for the row with its id, every column
/// but the key (id, tenant, WABA, name, language) replaced. `mark` is the backend's placeholder
/// (`?` or `$`).
pub(crate) fn save_template_sql(mark: char) -> String {
    let cols: Vec<&str> = TEMPLATE_COLS.split(", ").collect();
    let values = (1..=cols.len())
        .map(|i| format!("{mark}{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let replaced = cols[5..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO templates ({TEMPLATE_COLS}) VALUES ({values})
         ON CONFLICT (id) DO UPDATE SET {replaced}"
    )
}

/// Number of columns in [`CONTACT_COLS`].
pub(crate) const CONTACT_N: usize = count(CONTACT_COLS);
/// Number of columns in [`MESSAGE_COLS`].
pub(crate) const MESSAGE_N: usize = count(MESSAGE_COLS);
/// Number of columns in [`SESSION_COLS`].
pub(crate) const SESSION_N: usize = count(SESSION_COLS);
/// Number of columns in [`WINDOW_COLS`].
pub(crate) const WINDOW_N: usize = count(WINDOW_COLS);

/// Number of columns in a column list.
const fn count(cols: &str) -> usize {
    let bytes = cols.as_bytes();
    let (mut i, mut n) = (0, 1);
    while i < bytes.len() {
        if bytes[i] == b',' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// `cols` (a column list) with each column qualified by `alias`.
pub(crate) fn prefixed(alias: &str, cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column and value a contact key looks a contact up by.
pub(crate) fn contact_key(key: &ContactKey) -> (&'static str, &str) {
    match key {
        ContactKey::WaId(w) => ("wa_id", w),
        ContactKey::UserId(u) => ("user_id", u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_lists() {
        assert_eq!(CONTACT_N, 12);
        assert_eq!(MESSAGE_N, 20);
        assert_eq!(SESSION_N, 12);
        assert_eq!(WINDOW_N, 7);
    }

    #[test]
    fn a_template_is_saved_by_its_id_keeping_its_key() {
        let sql = save_template_sql('$');
        assert!(sql.contains("$17)") && !sql.contains("$18"), "{sql}");
        assert!(sql.contains("SET category = excluded.category, status = excluded.status"));
        assert!(sql.ends_with("deleted_at = excluded.deleted_at"), "{sql}");
        for key in ["tenant_id", "waba_id", "name", "language"] {
            assert!(!sql.contains(&format!(" {key} = excluded")), "{key}: {sql}");
        }
    }

    #[test]
    fn prefixed_qualifies_every_column() {
        assert_eq!(prefixed("s", "id, kind"), "s.id, s.kind");
        assert_eq!(
            prefixed("e", "id, xid::text::bigint AS xid_n"),
            "e.id, e.xid::text::bigint AS xid_n"
        );
    }
}
