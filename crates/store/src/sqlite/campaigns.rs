//! [`CampaignStore`] on SQLite: campaigns and their recipients, written as jobs on the writer
//! (so two feeds of one campaign are never interleaved: a recipient is queued once), read on a
//! reader in one statement each (a campaign's counts are one snapshot).

use async_trait::async_trait;
use openbsp_domain::MessageStatus;
use openbsp_domain::windows::Refusal;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::filtered::Filtered;
use super::rows::{collect, json_col};
use super::{SqliteStore, emit};
use crate::campaign::*;
use crate::error::{StoreError, StoreResult};
use crate::model::{EnqueueOutcome, NewOutbound, Page};
use crate::policy::SendCheck;
use crate::sql::{CAMPAIGN_COLS, CAMPAIGN_READ, RECIPIENT_SELECT, recipient_status_filter};
use crate::store::CampaignStore;

/// A page of a campaign's recipients (`?1`) after `?2`, at most `?4`, with the status `?3`
/// when `status` ([`recipient_status_filter`]).
pub(super) fn recipients_sql(status: bool) -> String {
    format!(
        "{RECIPIENT_SELECT} WHERE r.campaign_id = ?1 AND r.id > ?2{} ORDER BY r.id LIMIT ?4",
        if status {
            recipient_status_filter('?', 3)
        } else {
            " AND ?3 IS NULL".to_string()
        }
    )
}

/// Rows of an upload inserted per statement batch (one prepared statement, many executions).
const INSERT_RECIPIENT: &str = "INSERT INTO campaign_recipients (campaign_id, recipient, line,
    variables, state, reason, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?6, ?7, ?5, ?5)
    ON CONFLICT (campaign_id, recipient) DO NOTHING";

/// A campaign's counts, read in one statement: recipients by state, messages by status,
/// failures by code (Meta's on messages, the gateway's on recipients), and replies.
const COUNTS_SQL: &str = "
    SELECT 's', state, COUNT(*) FROM campaign_recipients WHERE campaign_id = ?1 GROUP BY state
    UNION ALL
    SELECT 'm', status, COUNT(*) FROM messages WHERE campaign_id = ?1 GROUP BY status
    UNION ALL
    SELECT 'f', CAST(COALESCE(json_extract(error, '$.code'), json_extract(error, '$[0].code')) AS TEXT), COUNT(*) FROM messages
        WHERE campaign_id = ?1 AND status = 'failed' GROUP BY 2
    UNION ALL
    SELECT 'r', reason, COUNT(*) FROM campaign_recipients
        WHERE campaign_id = ?1 AND state = 'failed' GROUP BY reason
    UNION ALL
    SELECT 'y', NULL, COUNT(*) FROM campaign_recipients
        WHERE campaign_id = ?1 AND replied_at IS NOT NULL
    UNION ALL
    SELECT 'h', NULL, COUNT(*) FROM messages WHERE campaign_id = ?1 AND status = 'accepted'
        AND meta_message_status = 'held_for_quality_assessment'
    UNION ALL
    SELECT 'w', NULL, COUNT(*) FROM messages m JOIN outbox o ON o.message_id = m.id
        WHERE m.campaign_id = ?1 AND m.status = 'queued' AND o.awaits_reach";

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn create_campaign(
        &self,
        c: &Campaign,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<CampaignCreated> {
        let (c, key) = (c.clone(), key.cloned());
        self.write(move |conn| {
            if let Some(k) = &key
                && let Some((first, hash)) = by_key(conn, &c.tenant_id, &k.key)?
            {
                return Ok(if hash.as_deref() == Some(k.request_hash.as_str()) {
                    CampaignCreated::Existing(first)
                } else {
                    CampaignCreated::KeyReused(first)
                });
            }
            let spec = c.spec.to_string();
            let columns = serde_json::to_string(&c.columns).unwrap_or_else(|_| "[]".into());
            conn.prepare_cached(&format!(
                "INSERT INTO campaigns ({CAMPAIGN_COLS}, idempotency_key, request_hash) VALUES
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
            ))?
            .execute(params![
                c.id,
                c.tenant_id,
                c.channel_id,
                c.name,
                c.template_id,
                c.template_name,
                c.language,
                c.category,
                spec,
                columns,
                c.status,
                c.pause_reason.as_ref().map(|r| r.to_string()),
                c.start_at,
                c.rate_limit,
                c.created_at,
                c.updated_at,
                c.started_at,
                c.completed_at,
                key.as_ref().map(|k| k.key.as_str()),
                key.as_ref().map(|k| k.request_hash.as_str()),
            ])?;
            Ok(CampaignCreated::Created(c.clone()))
        })
        .await
    }

    async fn find_campaign_by_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<(Campaign, Option<String>)>> {
        let (t, k) = (tenant_id.to_string(), key.to_string());
        self.read(move |c| by_key(c, &t, &k)).await
    }

    async fn get_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Campaign>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| get(c, &t, &id)).await
    }

    async fn list_campaigns(&self, f: &CampaignFilter) -> StoreResult<Vec<Campaign>> {
        let f = f.clone();
        self.read(move |c| {
            // A tenant's campaigns are few: the filters are checked on its rows, newest first.
            let mut q = Filtered::new(
                format!("SELECT {CAMPAIGN_READ} FROM campaigns WHERE tenant_id = ?1"),
                &f.tenant_id,
            );
            q.text_with(f.status.as_deref(), "+status = ?{n}");
            q.text_with(f.channel_id.as_deref(), "+channel_id = ?{n}");
            let page = Page {
                limit: f.limit,
                after: f.after,
            };
            q.fetch(c, &f.tenant_id, &page, campaign)
        })
        .await
    }

    async fn delete_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| {
            let Some(found) = get(c, &t, &id)? else {
                return Ok(false);
            };
            if found.status != campaign_status::DRAFT {
                return Err(StoreError::Conflict(format!(
                    "campaign.status: only a draft campaign is deleted, not a {} one (cancel it)",
                    found.status
                )));
            }
            c.prepare_cached("DELETE FROM campaign_recipients WHERE campaign_id = ?1")?
                .execute([&id])?;
            c.prepare_cached("DELETE FROM campaigns WHERE id = ?1")?
                .execute([&id])?;
            Ok(true)
        })
        .await
    }

    async fn begin_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<()> {
        let (t, id, upload) = (
            tenant_id.to_string(),
            campaign_id.to_string(),
            upload.to_string(),
        );
        self.write(move |c| {
            let (status, under_way) = upload_of(c, &t, &id)?;
            if let Some(lapsed) = may_begin_upload(&status, under_way.as_ref(), now)? {
                c.prepare_cached(&drop_upload_sql('?'))?
                    .execute(params![id, lapsed])?;
            }
            // AUTOINCREMENT never hands an id out twice: every row stored from now on, of any
            // campaign, has an id above the largest ever given.
            let from: i64 = c
                .prepare_cached(
                    "SELECT COALESCE((SELECT seq FROM sqlite_sequence
                     WHERE name = 'campaign_recipients'), 0) + 1",
                )?
                .query_row([], |r| r.get(0))?;
            c.prepare_cached(
                "UPDATE campaigns SET upload_id = ?2, upload_from = ?3, upload_until = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, upload, from, until])?;
            Ok(())
        })
        .await
    }

    async fn add_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        rows: Vec<NewRecipient>,
        now: i64,
    ) -> StoreResult<RecipientsAdded> {
        let (t, id, upload) = (
            tenant_id.to_string(),
            campaign_id.to_string(),
            upload.to_string(),
        );
        // Serialised here, not on the writer.
        let rows: Vec<(NewRecipient, String, Option<String>)> = rows
            .into_iter()
            .map(|r| {
                let v = r.variables.to_string();
                let reason = r.skipped.as_ref().map(|v| v.to_string());
                (r, v, reason)
            })
            .collect();
        self.write(move |c| {
            let (status, under_way) = upload_of(c, &t, &id)?;
            if !accepts_recipients(&status) {
                return Err(closed_to_recipients(&status));
            }
            own_upload(under_way.as_ref(), &upload)?;
            let mut stmt = c.prepare_cached(INSERT_RECIPIENT)?;
            let mut added = RecipientsAdded::default();
            for (r, vars, reason) in &rows {
                let state = match reason {
                    Some(_) => recipient_state::SKIPPED,
                    None => recipient_state::PENDING,
                };
                let n = stmt.execute(params![
                    id,
                    r.recipient,
                    r.line as i64,
                    vars,
                    now,
                    state,
                    reason
                ])?;
                if n == 1 {
                    added.accepted += 1;
                    added.skipped += u64::from(reason.is_some());
                } else {
                    added.duplicates += 1;
                }
            }
            Ok(added)
        })
        .await
    }

    async fn renew_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        until: i64,
    ) -> StoreResult<bool> {
        let (t, id, upload) = (
            tenant_id.to_string(),
            campaign_id.to_string(),
            upload.to_string(),
        );
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE campaigns SET upload_until = ?4
                     WHERE id = ?1 AND tenant_id = ?2 AND upload_id = ?3",
                )?
                .execute(params![id, t, upload, until])?;
            Ok(n == 1)
        })
        .await
    }

    async fn end_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        keep: bool,
    ) -> StoreResult<u64> {
        let (t, id, upload) = (
            tenant_id.to_string(),
            campaign_id.to_string(),
            upload.to_string(),
        );
        self.write(move |c| {
            let (_, under_way) = upload_of(c, &t, &id)?;
            // Kept only if still its own. Removed only if still its own: a lapsed upload's
            // rows were removed by whoever found it lapsed, and the ids from its first row on
            // may be another upload's now.
            let from = match (keep, own_upload(under_way.as_ref(), &upload)) {
                (true, Err(e)) => return Err(e),
                (_, Err(_)) => return Ok(0),
                (_, Ok(from)) => from,
            };
            let removed = if keep {
                0
            } else {
                c.prepare_cached(&drop_upload_sql('?'))?
                    .execute(params![id, from])? as u64
            };
            c.prepare_cached(
                "UPDATE campaigns SET upload_id = NULL, upload_from = NULL, upload_until = NULL
                 WHERE id = ?1",
            )?
            .execute([&id])?;
            Ok(removed)
        })
        .await
    }

    async fn remove_lapsed_uploads(&self, now: i64) -> StoreResult<Vec<(String, String, u64)>> {
        // One job of the writer: nothing renews between the look and the removal.
        self.write(move |c| {
            let lapsed: Vec<(String, String, i64)> = collect(
                c,
                "SELECT id, upload_id, upload_from FROM campaigns
                 WHERE upload_from IS NOT NULL AND upload_until <= ?1",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut removed = Vec::with_capacity(lapsed.len());
            for (id, upload, from) in lapsed {
                let n = c
                    .prepare_cached(&drop_upload_sql('?'))?
                    .execute(params![id, from])? as u64;
                c.prepare_cached(
                    "UPDATE campaigns SET upload_id = NULL, upload_from = NULL,
                     upload_until = NULL WHERE id = ?1",
                )?
                .execute([&id])?;
                removed.push((id, upload, n));
            }
            Ok(removed)
        })
        .await
    }

    async fn transition_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        action: CampaignAction,
        now: i64,
    ) -> StoreResult<Transitioned> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| {
            let found = get(c, &t, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            // Completed only with nothing left, judged here: a grouped send may have joined
            // since the runner looked.
            if action == CampaignAction::Complete && has_work(c, &id)? {
                return Ok(Transitioned {
                    campaign: found,
                    held: Vec::new(),
                });
            }
            let (next, hold, event) = transition(&found, &action, now)?;
            save(c, &next, event)?;
            let held = match hold {
                Hold::Keep => Vec::new(),
                Hold::Hold => collect(
                    c,
                    "UPDATE outbox SET state = 'held' WHERE state = 'pending' AND message_id IN
                     (SELECT id FROM messages WHERE campaign_id = ?1 AND status = 'queued')
                     RETURNING message_id",
                    [&id],
                    |r| r.get(0),
                )?,
                Hold::Release => {
                    c.prepare_cached(
                        "UPDATE outbox SET state = 'pending' WHERE state = 'held' AND message_id IN
                         (SELECT id FROM messages WHERE campaign_id = ?1 AND status = 'queued')",
                    )?
                    .execute([&id])?;
                    Vec::new()
                }
            };
            if action == CampaignAction::Cancel {
                c.prepare_cached(
                    "UPDATE campaign_recipients SET state = 'skipped', reason = ?2, updated_at = ?3
                     WHERE campaign_id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, CANCELLED_REASON, now])?;
            }
            Ok(Transitioned {
                campaign: next,
                held,
            })
        })
        .await
    }

    async fn retry_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<(Campaign, u64)> {
        let (t, id) = (tenant_id.to_string(), campaign_id.to_string());
        let codes = serde_json::to_string(codes)?;
        self.write(move |c| {
            let found = get(c, &t, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            // Refused here if its status allows no retry.
            transition(&found, &CampaignAction::Retry, now)?;
            let again: Vec<(i64, Option<String>)> = collect(
                c,
                "SELECT r.id, r.message_id FROM campaign_recipients r
                 LEFT JOIN messages m ON m.id = r.message_id
                 WHERE r.campaign_id = ?1 AND (
                    (r.state = 'queued' AND m.status = 'failed'
                     AND CAST(COALESCE(json_extract(m.error, '$.code'), json_extract(m.error, '$[0].code')) AS TEXT) IN (SELECT value FROM json_each(?2)))
                    OR (r.state = 'failed' AND CAST(COALESCE(json_extract(r.reason, '$.meta_code'),
                        json_extract(r.reason, '$.code')) AS TEXT) IN (SELECT value FROM json_each(?2))))",
                params![id, codes],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (seq, message) in &again {
                if let Some(m) = message {
                    c.prepare_cached("UPDATE messages SET campaign_id = NULL WHERE id = ?1")?
                        .execute([m])?;
                }
                c.prepare_cached(
                    "UPDATE campaign_recipients SET state = 'pending', message_id = NULL,
                     reason = NULL, updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![seq, now])?;
            }
            if again.is_empty() {
                return Ok((found, 0));
            }
            let (next, _, event) = transition(&found, &CampaignAction::Retry, now)?;
            save(c, &next, event)?;
            Ok((next, again.len() as u64))
        })
        .await
    }

    async fn campaign_counts(&self, campaign_id: &str) -> StoreResult<CampaignCounts> {
        let id = campaign_id.to_string();
        self.read(move |c| {
            let rows = collect(c, COUNTS_SQL, [&id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            Ok(counts_from(rows))
        })
        .await
    }

    async fn list_recipients(
        &self,
        campaign_id: &str,
        f: &RecipientFilter,
    ) -> StoreResult<Vec<CampaignRecipient>> {
        let (id, f) = (campaign_id.to_string(), f.clone());
        self.read(move |c| {
            collect(
                c,
                &recipients_sql(f.status.is_some()),
                params![id, f.after.unwrap_or(0), f.status, f.limit],
                recipient,
            )
        })
        .await
    }

    async fn active_campaigns(&self, now: i64) -> StoreResult<Vec<Campaign>> {
        self.read(move |c| {
            collect(
                c,
                &format!(
                    "SELECT {CAMPAIGN_READ} FROM campaigns WHERE status = 'running'
                     OR (status = 'scheduled' AND start_at <= ?1) ORDER BY id"
                ),
                [now],
                campaign,
            )
        })
        .await
    }

    async fn pending_recipients(
        &self,
        campaign_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<CampaignRecipient>> {
        let id = campaign_id.to_string();
        self.read(move |c| {
            collect(
                c,
                &format!(
                    "{RECIPIENT_SELECT} WHERE r.campaign_id = ?1 AND r.state = 'pending'
                     ORDER BY r.id LIMIT ?2"
                ),
                params![id, limit],
                recipient,
            )
        })
        .await
    }

    async fn feed_campaign(
        &self,
        campaign_id: &str,
        items: Vec<FeedItem>,
        now: i64,
    ) -> StoreResult<Fed> {
        let id = campaign_id.to_string();
        // Serialised here, not on the writer.
        let items: Vec<(FeedItem, String, String)> = items
            .into_iter()
            .map(|i| {
                let (content, payload) = match &i {
                    FeedItem::Send { new, .. } => {
                        (new.message.content.to_string(), new.payload.to_string())
                    }
                    FeedItem::Fail { .. } => (String::new(), String::new()),
                };
                (i, content, payload)
            })
            .collect();
        self.write(move |c| feed(c, &id, &items, now)).await
    }

    async fn campaign_queued(&self, campaign_id: &str) -> StoreResult<u64> {
        let id = campaign_id.to_string();
        self.read(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM messages WHERE campaign_id = ?1
                     AND status = 'queued'",
                )?
                .query_row([&id], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn enqueue_grouped(
        &self,
        group: &Campaign,
        new: NewOutbound,
        check: &SendCheck,
        now: i64,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
        let content = new.message.content.to_string();
        let payload = new.payload.to_string();
        let (group, check) = (group.clone(), check.clone());
        self.write(move |c| enqueue_grouped(c, &group, &new, &content, &payload, &check, now))
            .await
    }
}

/// A grouped direct send (see [`CampaignStore::enqueue_grouped`]), in the writer's job: the
/// campaign is read and judged first, the send stored behind the policy, and only a send
/// stored creates, reopens or joins the campaign (a refusal writes nothing).
fn enqueue_grouped(
    c: &Connection,
    group: &Campaign,
    new: &NewOutbound,
    content: &str,
    payload: &str,
    check: &SendCheck,
    now: i64,
) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
    let key = group.group_key.as_deref().unwrap_or_default();
    let found = c
        .prepare_cached(&format!(
            "SELECT {CAMPAIGN_READ} FROM campaigns
             WHERE tenant_id = ?1 AND channel_id = ?2 AND group_key = ?3"
        ))?
        .query_row(params![group.tenant_id, group.channel_id, key], campaign)
        .optional()?;
    let step = join_group(found.as_ref(), group, now)?;
    let id = step.campaign().id.clone();
    let m = &new.message;
    let already: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM campaign_recipients
             WHERE campaign_id = ?1 AND recipient = ?2)",
        )?
        .query_row(params![id, m.recipient], |r| r.get(0))?;
    let mut new = new.clone();
    new.message.campaign_id = (!already).then(|| id.clone());
    let outcome = super::messages::enqueue_checked_in(c, &new, content, payload, check)?;
    let Ok(EnqueueOutcome::Created { message, .. }) = &outcome else {
        return Ok(outcome);
    };
    match step {
        GroupStep::Create(campaign, event) => {
            insert_group(c, &campaign)?;
            emit::insert(c, &event)?;
        }
        GroupStep::Reopen(next, event) if !already => save(c, &next, Some(event))?,
        GroupStep::Reopen(..) | GroupStep::Join(_) => {}
    }
    if !already {
        c.prepare_cached(
            "INSERT INTO campaign_recipients (campaign_id, recipient, line, variables, state,
             message_id, created_at, updated_at)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(line), 0) + 1 FROM campaign_recipients
             WHERE campaign_id = ?1), '{}', 'queued', ?3, ?4, ?4)",
        )?
        .execute(params![id, message.recipient, message.id, now])?;
    }
    Ok(outcome)
}

/// Stores the campaign of a group's first send (running, with its key).
fn insert_group(c: &Connection, g: &Campaign) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "INSERT INTO campaigns ({CAMPAIGN_COLS}, group_key) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
    ))?
    .execute(params![
        g.id,
        g.tenant_id,
        g.channel_id,
        g.name,
        g.template_id,
        g.template_name,
        g.language,
        g.category,
        g.spec.to_string(),
        serde_json::to_string(&g.columns).unwrap_or_else(|_| "[]".into()),
        g.status,
        g.pause_reason.as_ref().map(|r| r.to_string()),
        g.start_at,
        g.rate_limit,
        g.created_at,
        g.updated_at,
        g.started_at,
        g.completed_at,
        g.group_key,
    ])?;
    Ok(())
}

/// Hands recipients to the sender (see [`CampaignStore::feed_campaign`]).
fn feed(
    c: &Connection,
    id: &str,
    items: &[(FeedItem, String, String)],
    now: i64,
) -> StoreResult<Fed> {
    let status: Option<String> = c
        .prepare_cached("SELECT status FROM campaigns WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    let mut fed = Fed::default();
    if status.as_deref() != Some(campaign_status::RUNNING) {
        return Ok(fed);
    }
    fed.running = true;
    for (item, content, payload) in items {
        let state: Option<String> = c
            .prepare_cached(
                "SELECT state FROM campaign_recipients WHERE id = ?1 AND campaign_id = ?2",
            )?
            .query_row(params![item.seq(), id], |r| r.get(0))
            .optional()?;
        if state.as_deref() != Some(recipient_state::PENDING) {
            fed.taken += 1;
            continue;
        }
        let (state, message_id, reason) = match item {
            FeedItem::Fail { reason, .. } => {
                fed.failed += 1;
                (recipient_state::FAILED, None, Some(reason.clone()))
            }
            FeedItem::Send { new, check, .. } => {
                match super::messages::enqueue_checked_in(c, new, content, payload, check)? {
                    Ok(
                        EnqueueOutcome::Created { message, .. }
                        | EnqueueOutcome::Existing(message)
                        | EnqueueOutcome::KeyReused(message),
                    ) => {
                        fed.queued += 1;
                        (recipient_state::QUEUED, Some(message.id), None)
                    }
                    Err(refusal) => {
                        let (state, reason) = refusal_reason(&refusal);
                        if state == recipient_state::SKIPPED {
                            fed.skipped += 1;
                        } else {
                            fed.failed += 1;
                        }
                        (state, None, Some(reason))
                    }
                }
            }
        };
        c.prepare_cached(
            "UPDATE campaign_recipients SET state = ?2, message_id = ?3, reason = ?4,
             updated_at = ?5 WHERE id = ?1",
        )?
        .execute(params![
            item.seq(),
            state,
            message_id,
            reason.map(|r| r.to_string()),
            now
        ])?;
    }
    Ok(fed)
}

/// Whether a campaign has recipients not handed to the sender or messages queued at it.
fn has_work(c: &Connection, id: &str) -> StoreResult<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = ?1
             AND state = 'pending') OR EXISTS (SELECT 1 FROM messages WHERE campaign_id = ?1
             AND status = 'queued')",
    )?
    .query_row([id], |r| r.get(0))?)
}

/// Writes a campaign's new state and its event (in the caller's job on the writer).
fn save(c: &Connection, next: &Campaign, event: Option<crate::model::NewEvent>) -> StoreResult<()> {
    c.prepare_cached(
        "UPDATE campaigns SET status = ?2, pause_reason = ?3, updated_at = ?4,
         started_at = ?5, completed_at = ?6 WHERE id = ?1",
    )?
    .execute(params![
        next.id,
        next.status,
        next.pause_reason.as_ref().map(|r| r.to_string()),
        next.updated_at,
        next.started_at,
        next.completed_at,
    ])?;
    if let Some(e) = event {
        emit::insert(c, &e)?;
    }
    Ok(())
}

/// A tenant's campaign, on any connection.
fn get(c: &Connection, tenant_id: &str, id: &str) -> StoreResult<Option<Campaign>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = ?1 AND tenant_id = ?2"
    ))?
    .query_row([id, tenant_id], campaign)
    .optional()?)
}

/// The campaign a tenant's idempotency key created, and its request's hash.
fn by_key(
    c: &Connection,
    tenant_id: &str,
    key: &str,
) -> StoreResult<Option<(Campaign, Option<String>)>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CAMPAIGN_READ}, request_hash FROM campaigns
             WHERE tenant_id = ?1 AND idempotency_key = ?2"
    ))?
    .query_row([tenant_id, key], |r| Ok((campaign(r)?, r.get(20)?)))
    .optional()?)
}

/// A tenant's campaign's status; not found when the tenant has no such campaign.
/// A tenant's campaign's status and the upload under way on it.
fn upload_of(
    c: &Connection,
    tenant_id: &str,
    id: &str,
) -> StoreResult<(String, Option<UploadUnderWay>)> {
    c.prepare_cached(
        "SELECT status, upload_id, upload_from, upload_until FROM campaigns
         WHERE id = ?1 AND tenant_id = ?2",
    )?
    .query_row([id, tenant_id], |r| {
        Ok((
            r.get(0)?,
            UploadUnderWay::from_columns(r.get(1)?, r.get(2)?, r.get(3)?),
        ))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(id.to_string()))
}

fn campaign(r: &Row) -> rusqlite::Result<Campaign> {
    let columns: String = r.get(9)?;
    Ok(Campaign {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        channel_id: r.get(2)?,
        name: r.get(3)?,
        template_id: r.get(4)?,
        template_name: r.get(5)?,
        language: r.get(6)?,
        category: r.get(7)?,
        spec: json_col(r, 8)?.unwrap_or_default(),
        columns: serde_json::from_str(&columns).unwrap_or_default(),
        status: r.get(10)?,
        pause_reason: json_col(r, 11)?,
        start_at: r.get(12)?,
        rate_limit: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        started_at: r.get(16)?,
        completed_at: r.get(17)?,
        uploading: r.get(18)?,
        group_key: r.get(19)?,
    })
}

fn recipient(r: &Row) -> rusqlite::Result<CampaignRecipient> {
    let status: Option<String> = r.get(8)?;
    Ok(CampaignRecipient {
        seq: r.get(0)?,
        campaign_id: r.get(1)?,
        recipient: r.get(2)?,
        line: r.get::<_, i64>(3)? as u64,
        variables: json_col(r, 4)?.unwrap_or_default(),
        state: r.get(5)?,
        reason: json_col(r, 6)?,
        message_id: r.get(7)?,
        message_status: status.as_deref().and_then(MessageStatus::parse),
        wamid: r.get(9)?,
        error: json_col(r, 10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        replied_at: r.get(13)?,
        meta_message_status: r.get(14)?,
    })
}
