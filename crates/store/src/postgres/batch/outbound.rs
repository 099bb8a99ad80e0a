//! The rows a batch of outbound messages writes, set-based: the messages with their first
//! history entry and their outbox rows (joining the open sessions they find), the sessions
//! given to those that found none, and the free entry point windows they open.

use std::collections::{BTreeMap, HashMap};

use sqlx::PgConnection;

use crate::error::StoreResult;
use crate::model::*;
use crate::postgres::conn::{DbResult, chunks, text_bytes};
use crate::postgres::rows;

/// Messages, their first history entry and their outbox rows, in one statement. Each message
/// joins the open session of its channel and contact if it is live at the message's time: an
/// index probe (`LATERAL … LIMIT 1` on the partial unique index `sessions_open`; the `LIMIT`
/// keeps the planner from flattening it into a join that, before the table has statistics, may
/// scan the channel's whole index). Returns each message's session, `NULL` where there was none
/// to join (the caller opens those, see [`super::sessions::join_sessions`]).
const INSERT_OUTBOUND_SQL: &str = "WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::bigint[], $16::bigint[], $17::text[], $18::int[], $19::text[],
        $20::text[], $21::text[], $22::text[], $23::bigint[])
    AS u(id, tenant_id, channel_id, contact_id, direction, recipient, msg_type, content, wamid,
        status, error, biz_opaque_callback_data, context_message_id, idempotency_key, created_at,
        updated_at, request_hash, priority, payload, template_id, rendered_text, campaign_id,
        due_at)
), m AS (
    INSERT INTO messages (id, tenant_id, channel_id, contact_id, direction, recipient, msg_type,
        content, wamid, status, error, biz_opaque_callback_data, context_message_id,
        idempotency_key, created_at, updated_at, request_hash, session_id, template_id,
        rendered_text, campaign_id)
    SELECT i.id, i.tenant_id, i.channel_id, i.contact_id, i.direction, i.recipient, i.msg_type,
        i.content, i.wamid, i.status, i.error, i.biz_opaque_callback_data, i.context_message_id,
        i.idempotency_key, i.created_at, i.updated_at, i.request_hash, s.id, i.template_id,
        i.rendered_text, i.campaign_id
    FROM input i
    LEFT JOIN LATERAL (SELECT id FROM sessions
        WHERE sessions.channel_id = i.channel_id AND sessions.contact_id = i.contact_id
            AND sessions.closed_at IS NULL AND sessions.expires_at > i.created_at
            AND sessions.tenant_id = i.tenant_id LIMIT 1) s ON true
    RETURNING id, session_id
), h AS (
    INSERT INTO message_statuses (message_id, status, at)
    SELECT id, status, created_at FROM input
    ON CONFLICT (message_id, status) DO NOTHING
), o AS (
    INSERT INTO outbox (message_id, tenant_id, channel_id, state, priority, attempts,
        next_attempt_at, payload)
    SELECT id, tenant_id, channel_id, 'pending', priority, 0, GREATEST(created_at, due_at),
        payload FROM input
)
SELECT id, session_id FROM m";

/// Gives messages just inserted the sessions opened for them.
pub(super) const SET_SESSIONS_SQL: &str = "UPDATE messages AS m SET session_id = u.session_id
FROM UNNEST($1::text[], $2::text[]) AS u(id, session_id)
WHERE m.id = u.id";

/// Opens the free entry point windows the batch's messages ask for: the window row of the
/// pair gets `fep_opened_at` = the message's time and `fep_expires_at` = its end, unless an FEP
/// window was already opened for the pair's last entry point (the row is created if missing).
const OPEN_FEP_SQL: &str = "INSERT INTO contact_windows AS w (channel_id, contact_id, tenant_id,
    fep_opened_at, fep_expires_at)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
ON CONFLICT (channel_id, contact_id) DO UPDATE SET
    fep_opened_at = EXCLUDED.fep_opened_at, fep_expires_at = EXCLUDED.fep_expires_at
WHERE NOT COALESCE(w.fep_opened_at >= w.entry_point_at, false)";

/// Applies the `open_fep_until` of the messages `created` holds (rare: only replies to an ad or
/// page-button entry); the first message of the batch to a pair opens it.
pub(super) async fn open_fep_windows(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &[Option<Message>],
) -> StoreResult<()> {
    let mut pairs: BTreeMap<(&str, &str), (&str, i64, i64)> = BTreeMap::new();
    for (new, m) in items.iter().zip(created) {
        if let (Some(m), Some(until)) = (m, new.open_fep_until)
            && let Some(contact) = &m.contact_id
        {
            pairs
                .entry((m.channel_id.as_str(), contact.as_str()))
                .or_insert((m.tenant_id.as_str(), m.created_at, until));
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let all: Vec<_> = pairs.into_iter().collect();
    let sizes = all.iter().map(|((ch, co), (t, _, _))| {
        text_bytes(Some(ch)) + text_bytes(Some(co)) + text_bytes(Some(t)) + 24
    });
    for r in chunks(sizes) {
        let part = &all[r];
        sqlx::query(OPEN_FEP_SQL)
            .bind(part.iter().map(|((ch, _), _)| *ch).collect::<Vec<_>>())
            .bind(part.iter().map(|((_, co), _)| *co).collect::<Vec<_>>())
            .bind(part.iter().map(|(_, (t, _, _))| *t).collect::<Vec<_>>())
            .bind(part.iter().map(|(_, (_, at, _))| *at).collect::<Vec<_>>())
            .bind(
                part.iter()
                    .map(|(_, (_, _, until))| *until)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *c)
            .await
            .db()?;
    }
    Ok(())
}

/// Inserts the messages `created` holds (with their contacts filled in), in as few statements
/// as [`crate::postgres::conn::STATEMENT_BYTES`] allows, and fills in the sessions they joined.
pub(super) async fn insert_outbound(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &mut [Option<Message>],
) -> StoreResult<()> {
    let joined = insert_outbound_rows(c, items, created).await?;
    for m in created.iter_mut().flatten() {
        m.session_id = joined.get(&m.id).cloned().flatten();
    }
    Ok(())
}

/// [`insert_outbound`]'s statements; the session each message joined, by message id.
async fn insert_outbound_rows(
    c: &mut PgConnection,
    items: &[NewOutbound],
    created: &[Option<Message>],
) -> StoreResult<HashMap<String, Option<String>>> {
    struct Row<'a> {
        new: &'a NewOutbound,
        m: &'a Message,
        content: String,
        error: Option<String>,
        payload: String,
    }
    let mut rows: Vec<Row<'_>> = items
        .iter()
        .zip(created)
        .filter_map(|(new, m)| {
            m.as_ref().map(|m| Row {
                new,
                m,
                content: m.content.to_string(),
                error: m.error.as_ref().map(|e| e.to_string()),
                payload: new.payload.to_string(),
            })
        })
        .collect();
    // Keyed rows in key order: concurrent batches sharing new keys wait for each other in one
    // order instead of deadlocking.
    rows.sort_by(|a, b| {
        let (a, b) = (a.m, b.m);
        (
            a.idempotency_key.is_none(),
            &a.tenant_id,
            &a.idempotency_key,
        )
            .cmp(&(
                b.idempotency_key.is_none(),
                &b.tenant_id,
                &b.idempotency_key,
            ))
    });
    let sizes = rows.iter().map(|r| {
        let m = r.m;
        [
            Some(m.id.as_str()),
            Some(&m.tenant_id),
            Some(&m.channel_id),
            m.contact_id.as_deref(),
            Some(m.direction.as_str()),
            Some(&m.recipient),
            Some(&m.msg_type),
            Some(&r.content),
            m.wamid.as_deref(),
            Some(m.status.as_str()),
            r.error.as_deref(),
            m.biz_opaque_callback_data.as_deref(),
            m.context_message_id.as_deref(),
            m.idempotency_key.as_deref(),
            Some(&r.new.request_hash),
            Some(&r.payload),
            m.template_id.as_deref(),
            m.rendered_text.as_deref(),
            m.campaign_id.as_deref(),
        ]
        .into_iter()
        .map(text_bytes)
        .sum::<usize>()
            + 4 * 12
    });
    let mut joined = HashMap::with_capacity(rows.len());
    for range in chunks(sizes) {
        let part = &rows[range];
        let col =
            |f: for<'r> fn(&'r Row<'_>) -> Option<&'r str>| part.iter().map(f).collect::<Vec<_>>();
        let text = |f: for<'r> fn(&'r Row<'_>) -> &'r str| part.iter().map(f).collect::<Vec<_>>();
        let found = sqlx::query(INSERT_OUTBOUND_SQL)
            .bind(text(|r| &r.m.id))
            .bind(text(|r| &r.m.tenant_id))
            .bind(text(|r| &r.m.channel_id))
            .bind(col(|r| r.m.contact_id.as_deref()))
            .bind(text(|r| r.m.direction.as_str()))
            .bind(text(|r| &r.m.recipient))
            .bind(text(|r| &r.m.msg_type))
            .bind(text(|r| &r.content))
            .bind(col(|r| r.m.wamid.as_deref()))
            .bind(text(|r| r.m.status.as_str()))
            .bind(col(|r| r.error.as_deref()))
            .bind(col(|r| r.m.biz_opaque_callback_data.as_deref()))
            .bind(col(|r| r.m.context_message_id.as_deref()))
            .bind(col(|r| r.m.idempotency_key.as_deref()))
            .bind(part.iter().map(|r| r.m.created_at).collect::<Vec<_>>())
            .bind(part.iter().map(|r| r.m.updated_at).collect::<Vec<_>>())
            .bind(text(|r| &r.new.request_hash))
            .bind(part.iter().map(|r| r.new.priority).collect::<Vec<_>>())
            .bind(text(|r| &r.payload))
            .bind(col(|r| r.m.template_id.as_deref()))
            .bind(col(|r| r.m.rendered_text.as_deref()))
            .bind(col(|r| r.m.campaign_id.as_deref()))
            .bind(part.iter().map(|r| r.new.due_at).collect::<Vec<_>>())
            .fetch_all(&mut *c)
            .await
            .db()?;
        for row in &found {
            let (id, session): (String, Option<String>) = (rows::get(row, 0)?, rows::get(row, 1)?);
            joined.insert(id, session);
        }
    }
    Ok(joined)
}
