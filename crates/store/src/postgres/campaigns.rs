//! [`CampaignStore`] on PostgreSQL. A campaign's row is the lock its changes take: a feed and
//! a transition lock it `FOR UPDATE`, an upload `FOR SHARE`, so a feed never hands a recipient
//! to the sender after a pause or a cancel committed, and two feeds (two replicas that both
//! believe they lead) take turns and find the recipients the first one queued no longer
//! pending.

use std::collections::HashSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use openbsp_domain::MessageStatus;
use openbsp_domain::windows::Refusal;
use sqlx::postgres::PgRow;
use sqlx::{Acquire, PgConnection};

use super::PgStore;
use super::batch::IDEMPOTENCY_CONSTRAINT;
use super::batch::enqueue_set;
use super::conn::DbResult;
use super::emit;
use super::rows::get;
use super::tx::{Fail, Pg, retrying};
use crate::campaign::*;
use crate::error::{StoreError, StoreResult};
use crate::model::{EnqueueOutcome, NewOutbound};
use crate::policy::SendCheck;
use crate::sql::{CAMPAIGN_COLS, CAMPAIGN_READ, RECIPIENT_SELECT, recipient_status_filter};

use crate::store::CampaignStore;

/// Upload rows per statement.
const UPLOAD_CHUNK: usize = 10_000;

static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO campaigns ({CAMPAIGN_COLS}, idempotency_key, request_hash) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    )
});
static BY_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CAMPAIGN_READ}, request_hash FROM campaigns
         WHERE tenant_id = $1 AND idempotency_key = $2"
    )
});
static GET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = $1 AND tenant_id = $2")
});
static LOCK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CAMPAIGN_READ} FROM campaigns WHERE id = $1 AND tenant_id = $2 FOR UPDATE")
});
static GROUP_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CAMPAIGN_READ} FROM campaigns
         WHERE tenant_id = $1 AND channel_id = $2 AND group_key = $3 FOR UPDATE"
    )
});
static INSERT_GROUP_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO campaigns ({CAMPAIGN_COLS}, group_key) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    )
});
/// Whether a campaign has recipients not handed to the sender or messages queued at it.
const HAS_WORK_SQL: &str = "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = $1
    AND state = 'pending') OR EXISTS (SELECT 1 FROM messages WHERE campaign_id = $1
    AND status = 'queued')";
/// A grouped send's recipient, born queued with its message (see the SQLite backend).
const INSERT_GROUPED_RECIPIENT_SQL: &str =
    "INSERT INTO campaign_recipients (campaign_id, recipient,
    line, variables, state, message_id, created_at, updated_at)
    VALUES ($1, $2, (SELECT COALESCE(MAX(line), 0) + 1 FROM campaign_recipients
    WHERE campaign_id = $1), '{}', 'queued', $3, $4, $4)";
static LIST_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CAMPAIGN_READ} FROM campaigns WHERE tenant_id = $1
         AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR channel_id = $3)
         AND ($4::text IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    )
});
static ACTIVE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CAMPAIGN_READ} FROM campaigns WHERE status = 'running'
         OR (status = 'scheduled' AND start_at <= $1) ORDER BY id"
    )
});
/// A page of a campaign's recipients (`$1`) after `$2`, at most `$4`, with the status `$3`
/// when `status` ([`recipient_status_filter`]).
pub(super) fn recipients_sql(status: bool) -> String {
    format!(
        "{RECIPIENT_SELECT} WHERE r.campaign_id = $1 AND r.id > $2{} ORDER BY r.id LIMIT $4",
        if status {
            recipient_status_filter('$', 3)
        } else {
            " AND $3::text IS NULL".to_string()
        }
    )
}
static PENDING_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{RECIPIENT_SELECT} WHERE r.campaign_id = $1 AND r.state = 'pending' ORDER BY r.id LIMIT $2"
    )
});
/// Stores rows of an upload; how many were stored, and how many of them skipped.
const INSERT_RECIPIENTS_SQL: &str = "WITH ins AS (
    INSERT INTO campaign_recipients (campaign_id, recipient, line, variables, state, reason,
        created_at, updated_at)
    SELECT $1, u.recipient, u.line, u.variables, COALESCE(u.state, 'pending'), u.reason, $2, $2
    FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[])
        WITH ORDINALITY AS u(recipient, line, variables, state, reason, n)
    ORDER BY u.n
    ON CONFLICT (campaign_id, recipient) DO NOTHING
    RETURNING state)
    SELECT COUNT(*), COUNT(*) FILTER (WHERE state = 'skipped') FROM ins";
static DROP_UPLOAD_SQL: LazyLock<String> = LazyLock::new(|| drop_upload_sql('$'));
/// A tenant's campaign's status and the upload under way on it, locked for the change.
const UPLOAD_OF_SQL: &str = "SELECT status, upload_id, upload_from, upload_until FROM campaigns
    WHERE id = $1 AND tenant_id = $2 FOR UPDATE";
/// The same, locked against a change (an upload's rows stored under a shared lock).
const UPLOAD_OF_SHARED_SQL: &str = "SELECT status, upload_id, upload_from, upload_until
    FROM campaigns WHERE id = $1 AND tenant_id = $2 FOR SHARE";
const UPDATE_SQL: &str = "UPDATE campaigns SET status = $2, pause_reason = $3, updated_at = $4,
    started_at = $5, completed_at = $6 WHERE id = $1";
const HOLD_SQL: &str = "UPDATE outbox SET state = 'held' WHERE state = 'pending' AND message_id IN
    (SELECT id FROM messages WHERE campaign_id = $1 AND status = 'queued') RETURNING message_id";
const RELEASE_SQL: &str =
    "UPDATE outbox SET state = 'pending' WHERE state = 'held' AND message_id IN
    (SELECT id FROM messages WHERE campaign_id = $1 AND status = 'queued')";
const SET_RECIPIENTS_SQL: &str = "UPDATE campaign_recipients AS r SET state = u.state,
    message_id = u.message_id, reason = u.reason, updated_at = $1
    FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(id, state, message_id, reason)
    WHERE r.id = u.id";
/// See the SQLite backend's statement of the same name; one statement, so one snapshot.
const COUNTS_SQL: &str = "
    SELECT 's', state, COUNT(*) FROM campaign_recipients WHERE campaign_id = $1 GROUP BY state
    UNION ALL
    SELECT 'm', status, COUNT(*) FROM messages WHERE campaign_id = $1 GROUP BY status
    UNION ALL
    SELECT 'f', COALESCE(error::json->>'code', error::json->0->>'code'), COUNT(*) FROM messages
        WHERE campaign_id = $1 AND status = 'failed' GROUP BY 2
    UNION ALL
    SELECT 'r', reason, COUNT(*) FROM campaign_recipients
        WHERE campaign_id = $1 AND state = 'failed' GROUP BY reason
    UNION ALL
    SELECT 'y', NULL, COUNT(*) FROM campaign_recipients
        WHERE campaign_id = $1 AND replied_at IS NOT NULL
    UNION ALL
    SELECT 'h', NULL, COUNT(*) FROM messages WHERE campaign_id = $1 AND status = 'accepted'
        AND meta_message_status = 'held_for_quality_assessment'
    UNION ALL
    SELECT 'w', NULL, COUNT(*) FROM messages m JOIN outbox o ON o.message_id = m.id
        WHERE m.campaign_id = $1 AND m.status = 'queued' AND o.awaits_reach";

#[async_trait]
impl CampaignStore for PgStore {
    async fn create_campaign(
        &self,
        c: &Campaign,
        key: Option<&IdempotencyKey>,
    ) -> StoreResult<CampaignCreated> {
        let inserted = sqlx::query(CREATE_SQL.as_str())
            .bind(&c.id)
            .bind(&c.tenant_id)
            .bind(&c.channel_id)
            .bind(&c.name)
            .bind(&c.template_id)
            .bind(&c.template_name)
            .bind(&c.language)
            .bind(&c.category)
            .bind(c.spec.to_string())
            .bind(serde_json::to_string(&c.columns)?)
            .bind(&c.status)
            .bind(c.pause_reason.as_ref().map(|r| r.to_string()))
            .bind(c.start_at)
            .bind(c.rate_limit.map(i64::from))
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(c.started_at)
            .bind(c.completed_at)
            .bind(key.map(|k| k.key.as_str()))
            .bind(key.map(|k| k.request_hash.as_str()))
            .execute(self.pool())
            .await
            .db()?
            .rows_affected();
        let Some(key) = key.filter(|_| inserted == 0) else {
            return Ok(CampaignCreated::Created(c.clone()));
        };
        // The key was taken (by a committed creation: the insert waited for it).
        let (first, hash) = self
            .find_campaign_by_key(&c.tenant_id, &key.key)
            .await?
            .ok_or_else(|| {
                StoreError::database("a campaign's idempotency key was taken, then gone")
            })?;
        Ok(if hash.as_deref() == Some(key.request_hash.as_str()) {
            CampaignCreated::Existing(first)
        } else {
            CampaignCreated::KeyReused(first)
        })
    }

    async fn find_campaign_by_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<(Campaign, Option<String>)>> {
        let row = sqlx::query(BY_KEY_SQL.as_str())
            .bind(tenant_id)
            .bind(key)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.map(|r| Ok((campaign(&r)?, get(&r, 20)?))).transpose()
    }

    async fn get_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Campaign>> {
        let row = sqlx::query(GET_SQL.as_str())
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await
            .db()?;
        row.as_ref().map(campaign).transpose()
    }

    async fn list_campaigns(&self, f: &CampaignFilter) -> StoreResult<Vec<Campaign>> {
        let rows = sqlx::query(LIST_SQL.as_str())
            .bind(&f.tenant_id)
            .bind(&f.status)
            .bind(&f.channel_id)
            .bind(&f.after)
            .bind(i64::from(f.limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        rows.iter().map(campaign).collect()
    }

    async fn delete_campaign(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.db()?;
        let Some(found) = lock(&mut tx, tenant_id, id).await? else {
            return Ok(false);
        };
        if found.status != campaign_status::DRAFT {
            return Err(StoreError::Conflict(format!(
                "campaign.status: only a draft campaign is deleted, not a {} one (cancel it)",
                found.status
            )));
        }
        sqlx::query("DELETE FROM campaign_recipients WHERE campaign_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query("DELETE FROM campaigns WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn begin_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.db()?;
        let (status, under_way) = upload_of(&mut tx, tenant_id, campaign_id, true).await?;
        if let Some(lapsed) = may_begin_upload(&status, under_way.as_ref(), now)? {
            sqlx::query(DROP_UPLOAD_SQL.as_str())
                .bind(campaign_id)
                .bind(lapsed)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        // The identity's sequence only grows: every row stored from now on has a larger id.
        let from: i64 = sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('campaign_recipients', 'id'))",
        )
        .fetch_one(&mut *tx)
        .await
        .db()?;
        sqlx::query(
            "UPDATE campaigns SET upload_id = $2, upload_from = $3, upload_until = $4 WHERE id = $1",
        )
        .bind(campaign_id)
        .bind(upload)
        .bind(from)
        .bind(until)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(())
    }

    async fn add_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        rows: Vec<NewRecipient>,
        now: i64,
    ) -> StoreResult<RecipientsAdded> {
        let mut tx = self.pool().begin().await.db()?;
        let (status, under_way) = upload_of(&mut tx, tenant_id, campaign_id, false).await?;
        if !accepts_recipients(&status) {
            return Err(closed_to_recipients(&status));
        }
        own_upload(under_way.as_ref(), upload)?;
        // Most batches hold no recipient already in the campaign: copied in at once (COPY,
        // half the database's work of an insert that checks each row for a conflict). A
        // batch with a duplicate breaks the unique index: that copy is rolled back (a
        // savepoint) and the batch inserted row by row, duplicates kept once.
        let mut copy = tx.begin().await.db()?;
        let added = match copy_recipients(&mut copy, campaign_id, &rows, now).await {
            Ok(()) => {
                copy.commit().await.db()?;
                RecipientsAdded {
                    accepted: rows.len() as u64,
                    duplicates: 0,
                    skipped: rows.iter().filter(|r| r.skipped.is_some()).count() as u64,
                }
            }
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some(UNIQUE_VIOLATION) => {
                copy.rollback().await.db()?;
                insert_recipients(&mut tx, campaign_id, &rows, now).await?
            }
            Err(e) => return Err(e).db(),
        };
        tx.commit().await.db()?;
        Ok(added)
    }

    async fn renew_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        until: i64,
    ) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE campaigns SET upload_until = $4
             WHERE id = $1 AND tenant_id = $2 AND upload_id = $3",
        )
        .bind(campaign_id)
        .bind(tenant_id)
        .bind(upload)
        .bind(until)
        .execute(self.pool())
        .await
        .db()?
        .rows_affected();
        Ok(n == 1)
    }

    async fn end_upload(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        upload: &str,
        keep: bool,
    ) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.db()?;
        let (_, under_way) = upload_of(&mut tx, tenant_id, campaign_id, true).await?;
        // Kept only if still its own. Removed only if still its own: a lapsed upload's rows
        // were removed by whoever found it lapsed.
        let from = match (keep, own_upload(under_way.as_ref(), upload)) {
            (true, Err(e)) => return Err(e),
            (_, Err(_)) => return Ok(0),
            (_, Ok(from)) => from,
        };
        let removed = if keep {
            0
        } else {
            sqlx::query(DROP_UPLOAD_SQL.as_str())
                .bind(campaign_id)
                .bind(from)
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected()
        };
        sqlx::query(
            "UPDATE campaigns SET upload_id = NULL, upload_from = NULL, upload_until = NULL
             WHERE id = $1",
        )
        .bind(campaign_id)
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(removed)
    }

    async fn remove_lapsed_uploads(&self, now: i64) -> StoreResult<Vec<(String, String, u64)>> {
        let lapsed: Vec<(String, String)> = sqlx::query_as(
            "SELECT tenant_id, id FROM campaigns
             WHERE upload_from IS NOT NULL AND upload_until <= $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await
        .db()?;
        let mut removed = Vec::with_capacity(lapsed.len());
        for (tenant_id, id) in lapsed {
            // Looked at again under the campaign's lock: a renewal or an end that came first
            // stands.
            let mut tx = self.pool().begin().await.db()?;
            let (_, under_way) = upload_of(&mut tx, &tenant_id, &id, true).await?;
            let Some(u) = under_way.filter(|u| u.until <= now) else {
                continue;
            };
            let n = sqlx::query(DROP_UPLOAD_SQL.as_str())
                .bind(&id)
                .bind(u.from)
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
            sqlx::query(
                "UPDATE campaigns SET upload_id = NULL, upload_from = NULL, upload_until = NULL
                 WHERE id = $1",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await
            .db()?;
            tx.commit().await.db()?;
            removed.push((id, u.id, n));
        }
        Ok(removed)
    }

    async fn transition_campaign(
        &self,
        tenant_id: &str,
        id: &str,
        action: CampaignAction,
        now: i64,
    ) -> StoreResult<Transitioned> {
        let mut tx = self.pool().begin().await.db()?;
        let found = lock(&mut tx, tenant_id, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        // Completed only with nothing left, judged under the campaign's lock: a grouped send
        // may have joined since the runner looked.
        if action == CampaignAction::Complete {
            let busy: bool = sqlx::query_scalar(HAS_WORK_SQL)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .db()?;
            if busy {
                return Ok(Transitioned {
                    campaign: found,
                    held: Vec::new(),
                });
            }
        }
        let (next, hold, event) = transition(&found, &action, now)?;
        let held = match hold {
            Hold::Keep => Vec::new(),
            Hold::Hold => sqlx::query_scalar(HOLD_SQL)
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?,
            Hold::Release => {
                sqlx::query(RELEASE_SQL)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                Vec::new()
            }
        };
        if action == CampaignAction::Cancel {
            sqlx::query(
                "UPDATE campaign_recipients SET state = 'skipped', reason = $2, updated_at = $3
                 WHERE campaign_id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(CANCELLED_REASON)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()?;
        }
        self.save(tx, &next, event).await?;
        Ok(Transitioned {
            campaign: next,
            held,
        })
    }

    async fn retry_recipients(
        &self,
        tenant_id: &str,
        campaign_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<(Campaign, u64)> {
        let mut tx = self.pool().begin().await.db()?;
        let found = lock(&mut tx, tenant_id, campaign_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(campaign_id.to_string()))?;
        // Refused here if its status allows no retry.
        transition(&found, &CampaignAction::Retry, now)?;
        let again: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT r.id, r.message_id FROM campaign_recipients r
             LEFT JOIN messages m ON m.id = r.message_id
             WHERE r.campaign_id = $1 AND (
                (r.state = 'queued' AND m.status = 'failed' AND COALESCE(m.error::json->>'code', m.error::json->0->>'code') = ANY($2))
                OR (r.state = 'failed'
                    AND COALESCE(r.reason::json->>'meta_code', r.reason::json->>'code') = ANY($2)))",
        )
        .bind(campaign_id)
        .bind(codes)
        .fetch_all(&mut *tx)
        .await
        .db()?;
        if again.is_empty() {
            return Ok((found, 0));
        }
        let messages: Vec<&str> = again.iter().filter_map(|(_, m)| m.as_deref()).collect();
        sqlx::query("UPDATE messages SET campaign_id = NULL WHERE id = ANY($1)")
            .bind(&messages)
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query(
            "UPDATE campaign_recipients SET state = 'pending', message_id = NULL, reason = NULL,
             updated_at = $2 WHERE id = ANY($1)",
        )
        .bind(again.iter().map(|(s, _)| *s).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *tx)
        .await
        .db()?;
        let (next, _, event) = transition(&found, &CampaignAction::Retry, now)?;
        self.save(tx, &next, event).await?;
        Ok((next, again.len() as u64))
    }

    async fn campaign_counts(&self, campaign_id: &str) -> StoreResult<CampaignCounts> {
        let rows = sqlx::query(COUNTS_SQL)
            .bind(campaign_id)
            .fetch_all(self.pool())
            .await
            .db()?;
        let rows = rows
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(counts_from(rows))
    }

    async fn list_recipients(
        &self,
        campaign_id: &str,
        f: &RecipientFilter,
    ) -> StoreResult<Vec<CampaignRecipient>> {
        let sql = recipients_sql(f.status.is_some());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(campaign_id)
            .bind(f.after.unwrap_or(0))
            .bind(&f.status)
            .bind(i64::from(f.limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        rows.iter().map(recipient).collect()
    }

    async fn active_campaigns(&self, now: i64) -> StoreResult<Vec<Campaign>> {
        let rows = sqlx::query(ACTIVE_SQL.as_str())
            .bind(now)
            .fetch_all(self.pool())
            .await
            .db()?;
        rows.iter().map(campaign).collect()
    }

    async fn pending_recipients(
        &self,
        campaign_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<CampaignRecipient>> {
        let rows = sqlx::query(PENDING_SQL.as_str())
            .bind(campaign_id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .db()?;
        rows.iter().map(recipient).collect()
    }

    async fn feed_campaign(
        &self,
        campaign_id: &str,
        items: Vec<FeedItem>,
        now: i64,
    ) -> StoreResult<Fed> {
        let mut conn = self.pool().acquire().await.db()?;
        let mut tx = conn.begin().await.db()?;
        let fed = feed(&mut tx, campaign_id, items, now).await?;
        tx.commit().await.db()?;
        if fed.queued > 0 {
            self.signal.bump();
        }
        Ok(fed)
    }

    async fn campaign_queued(&self, campaign_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = $1 AND status = 'queued'",
        )
        .bind(campaign_id)
        .fetch_one(self.pool())
        .await
        .db()?;
        Ok(n.max(0) as u64)
    }

    async fn enqueue_grouped(
        &self,
        group: &Campaign,
        new: NewOutbound,
        check: &SendCheck,
        now: i64,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>> {
        let key = group.group_key.clone().unwrap_or_default();
        // The campaign of the key is locked (or, for the first send, its row inserted: a
        // second first send waits on the unique index, fails, and runs again to find it)
        // before the send is stored; a send that is not stored commits nothing.
        let (outcome, wrote) = retrying!(self.pool, |c| async {
            let found = sqlx::query(GROUP_SQL.as_str())
                .bind(&group.tenant_id)
                .bind(&group.channel_id)
                .bind(&key)
                .fetch_optional(&mut *c)
                .await
                .pg()?;
            let found = found.as_ref().map(campaign).transpose()?;
            let step = join_group(found.as_ref(), group, now)?;
            let id = step.campaign().id.clone();
            if let GroupStep::Create(g, _) = &step {
                insert_group(c, g).await?;
            }
            let already: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM campaign_recipients
                 WHERE campaign_id = $1 AND recipient = $2)",
            )
            .bind(&id)
            .bind(&new.message.recipient)
            .fetch_one(&mut *c)
            .await
            .pg()?;
            let mut item = new.clone();
            item.message.campaign_id = (!already).then(|| id.clone());
            let mut outcomes =
                match enqueue_set(c, std::slice::from_mut(&mut item), &[Some(check.clone())]).await
                {
                    Ok(o) => o,
                    Err(StoreError::Conflict(w)) if w.starts_with(IDEMPOTENCY_CONSTRAINT) => {
                        return Err(Fail::Again(StoreError::Conflict(w)));
                    }
                    Err(e) => return Err(Fail::Stop(e)),
                };
            let outcome = outcomes
                .pop()
                .ok_or_else(|| StoreError::database("enqueue gave no outcome"))?;
            let Ok(EnqueueOutcome::Created { message, .. }) = &outcome else {
                return Ok(((outcome, false), false));
            };
            let event = match step {
                GroupStep::Create(_, event) => Some(event),
                GroupStep::Reopen(next, event) if !already => {
                    sqlx::query(UPDATE_SQL)
                        .bind(&next.id)
                        .bind(&next.status)
                        .bind(next.pause_reason.as_ref().map(|r| r.to_string()))
                        .bind(next.updated_at)
                        .bind(next.started_at)
                        .bind(next.completed_at)
                        .execute(&mut *c)
                        .await
                        .pg()?;
                    Some(event)
                }
                GroupStep::Reopen(..) | GroupStep::Join(_) => None,
            };
            if let Some(e) = event {
                emit::insert(c, vec![e]).await.pg()?;
            }
            if !already {
                sqlx::query(INSERT_GROUPED_RECIPIENT_SQL)
                    .bind(&id)
                    .bind(&message.recipient)
                    .bind(&message.id)
                    .bind(now)
                    .execute(&mut *c)
                    .await
                    .pg()?;
            }
            Ok(((outcome, true), true))
        })?;
        if wrote {
            self.signal.bump();
        }
        Ok(outcome)
    }
}

/// Stores the campaign of a group's first send (running, with its key) in the caller's
/// transaction: a concurrent first send of the same key breaks the unique index (runs again).
async fn insert_group(c: &mut PgConnection, g: &Campaign) -> Result<(), Fail> {
    sqlx::query(INSERT_GROUP_SQL.as_str())
        .bind(&g.id)
        .bind(&g.tenant_id)
        .bind(&g.channel_id)
        .bind(&g.name)
        .bind(&g.template_id)
        .bind(&g.template_name)
        .bind(&g.language)
        .bind(&g.category)
        .bind(g.spec.to_string())
        .bind(serde_json::to_string(&g.columns).map_err(StoreError::from)?)
        .bind(&g.status)
        .bind(g.pause_reason.as_ref().map(|r| r.to_string()))
        .bind(g.start_at)
        .bind(g.rate_limit.map(i64::from))
        .bind(g.created_at)
        .bind(g.updated_at)
        .bind(g.started_at)
        .bind(g.completed_at)
        .bind(&g.group_key)
        .execute(&mut *c)
        .await
        .pg()?;
    Ok(())
}

impl PgStore {
    /// Writes a campaign's new state and its event in `tx` (which holds the campaign's row
    /// lock), commits, and wakes the event readers when there was an event.
    async fn save(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        next: &Campaign,
        event: Option<crate::model::NewEvent>,
    ) -> StoreResult<()> {
        sqlx::query(UPDATE_SQL)
            .bind(&next.id)
            .bind(&next.status)
            .bind(next.pause_reason.as_ref().map(|r| r.to_string()))
            .bind(next.updated_at)
            .bind(next.started_at)
            .bind(next.completed_at)
            .execute(&mut *tx)
            .await
            .db()?;
        let wrote = event.is_some();
        if let Some(e) = event {
            emit::insert(&mut tx, vec![e]).await.db()?;
        }
        tx.commit().await.db()?;
        if wrote {
            self.signal.bump();
        }
        Ok(())
    }
}

/// A tenant's campaign, locked for the transaction.
async fn lock(c: &mut PgConnection, tenant_id: &str, id: &str) -> StoreResult<Option<Campaign>> {
    let row = sqlx::query(LOCK_SQL.as_str())
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *c)
        .await
        .db()?;
    row.as_ref().map(campaign).transpose()
}

/// Hands recipients to the sender in the caller's transaction (see
/// [`CampaignStore::feed_campaign`]).
async fn feed(
    c: &mut PgConnection,
    campaign_id: &str,
    items: Vec<FeedItem>,
    now: i64,
) -> StoreResult<Fed> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE")
            .bind(campaign_id)
            .fetch_optional(&mut *c)
            .await
            .db()?;
    let mut fed = Fed::default();
    if status.as_deref() != Some(campaign_status::RUNNING) {
        return Ok(fed);
    }
    fed.running = true;
    let seqs: Vec<i64> = items.iter().map(FeedItem::seq).collect();
    let pending: HashSet<i64> = sqlx::query_scalar(
        "SELECT id FROM campaign_recipients WHERE id = ANY($1) AND campaign_id = $2
         AND state = 'pending'",
    )
    .bind(&seqs)
    .bind(campaign_id)
    .fetch_all(&mut *c)
    .await
    .db()?
    .into_iter()
    .collect();

    let mut sends: Vec<(i64, NewOutbound, SendCheck)> = Vec::new();
    // (row, state, message, reason)
    let mut set: Vec<(i64, &'static str, Option<String>, Option<String>)> = Vec::new();
    for item in items {
        if !pending.contains(&item.seq()) {
            fed.taken += 1;
            continue;
        }
        match item {
            FeedItem::Fail { seq, reason } => {
                fed.failed += 1;
                set.push((seq, recipient_state::FAILED, None, Some(reason.to_string())));
            }
            FeedItem::Send { seq, new, check } => sends.push((seq, *new, check)),
        }
    }
    if !sends.is_empty() {
        let mut seqs = Vec::with_capacity(sends.len());
        let mut news = Vec::with_capacity(sends.len());
        let mut checks = Vec::with_capacity(sends.len());
        for (seq, new, check) in sends {
            seqs.push(seq);
            news.push(new);
            checks.push(Some(check));
        }
        let outcomes = enqueue_set(&mut *c, &mut news, &checks).await?;
        for (seq, outcome) in seqs.into_iter().zip(outcomes) {
            match outcome {
                Ok(
                    EnqueueOutcome::Created { message, .. }
                    | EnqueueOutcome::Existing(message)
                    | EnqueueOutcome::KeyReused(message),
                ) => {
                    fed.queued += 1;
                    set.push((seq, recipient_state::QUEUED, Some(message.id), None));
                }
                Err(refusal) => {
                    let (state, reason) = refusal_reason(&refusal);
                    if state == recipient_state::SKIPPED {
                        fed.skipped += 1;
                    } else {
                        fed.failed += 1;
                    }
                    set.push((seq, state, None, Some(reason.to_string())));
                }
            }
        }
    }
    if !set.is_empty() {
        sqlx::query(SET_RECIPIENTS_SQL)
            .bind(now)
            .bind(set.iter().map(|s| s.0).collect::<Vec<_>>())
            .bind(set.iter().map(|s| s.1).collect::<Vec<_>>())
            .bind(set.iter().map(|s| s.2.as_deref()).collect::<Vec<_>>())
            .bind(set.iter().map(|s| s.3.as_deref()).collect::<Vec<_>>())
            .execute(&mut *c)
            .await
            .db()?;
    }
    Ok(fed)
}

fn json(r: &PgRow, i: usize) -> StoreResult<Option<serde_json::Value>> {
    let s: Option<String> = get(r, i)?;
    s.map(|s| serde_json::from_str(&s).map_err(StoreError::from))
        .transpose()
}

/// PostgreSQL's code for a broken unique index.
const UNIQUE_VIOLATION: &str = "23505";
/// Rows of an upload copied in (text format: campaign, recipient, line, variables, state,
/// reason, created, updated).
const COPY_RECIPIENTS_SQL: &str = "COPY campaign_recipients (campaign_id, recipient, line,
    variables, state, reason, created_at, updated_at) FROM STDIN";

/// Copies `rows` into a campaign, in their order; a recipient already there breaks the
/// unique index (an error, nothing copied).
async fn copy_recipients(
    c: &mut PgConnection,
    campaign_id: &str,
    rows: &[NewRecipient],
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut data = Vec::with_capacity(rows.len() * 128);
    for r in rows {
        let (state, reason) = match &r.skipped {
            Some(reason) => (recipient_state::SKIPPED, Some(reason.to_string())),
            None => (recipient_state::PENDING, None),
        };
        copy_field(&mut data, campaign_id);
        data.push(b'\t');
        copy_field(&mut data, &r.recipient);
        data.extend_from_slice(format!("\t{}\t", r.line).as_bytes());
        copy_field(&mut data, &r.variables.to_string());
        data.push(b'\t');
        data.extend_from_slice(state.as_bytes());
        data.push(b'\t');
        match &reason {
            Some(reason) => copy_field(&mut data, reason),
            None => data.extend_from_slice(b"\\N"),
        }
        data.extend_from_slice(format!("\t{now}\t{now}\n").as_bytes());
    }
    let mut copy = c.copy_in_raw(COPY_RECIPIENTS_SQL).await?;
    if let Err(e) = copy.send(data).await {
        let _ = copy.abort("the upload's rows could not be sent").await;
        return Err(e);
    }
    copy.finish().await.map(|_| ())
}

/// `s` as a field of COPY's text format (its backslash, tab, newline and carriage return
/// escaped).
fn copy_field(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
}

/// Inserts `rows` into a campaign in chunks, each row once: one already there counts as a
/// duplicate.
async fn insert_recipients(
    c: &mut PgConnection,
    campaign_id: &str,
    rows: &[NewRecipient],
    now: i64,
) -> StoreResult<RecipientsAdded> {
    let mut added = RecipientsAdded::default();
    for part in rows.chunks(UPLOAD_CHUNK) {
        let vars: Vec<String> = part.iter().map(|r| r.variables.to_string()).collect();
        let states: Vec<Option<&str>> = part
            .iter()
            .map(|r| r.skipped.as_ref().map(|_| recipient_state::SKIPPED))
            .collect();
        let reasons: Vec<Option<String>> = part
            .iter()
            .map(|r| r.skipped.as_ref().map(|v| v.to_string()))
            .collect();
        let (inserted, skipped): (i64, i64) = sqlx::query_as(INSERT_RECIPIENTS_SQL)
            .bind(campaign_id)
            .bind(now)
            .bind(
                part.iter()
                    .map(|r| r.recipient.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(part.iter().map(|r| r.line as i64).collect::<Vec<_>>())
            .bind(vars)
            .bind(states)
            .bind(reasons)
            .fetch_one(&mut *c)
            .await
            .db()?;
        let inserted = inserted.max(0) as u64;
        added.accepted += inserted;
        added.skipped += skipped.max(0) as u64;
        added.duplicates += part.len() as u64 - inserted;
    }
    Ok(added)
}

/// A campaign's status, `upload_id`, `upload_from` and `upload_until`.
type UploadRow = (String, Option<String>, Option<i64>, Option<i64>);

/// A tenant's campaign's status and the upload under way on it, locked: for the change
/// (`exclusive`) or against it.
async fn upload_of(
    c: &mut PgConnection,
    tenant_id: &str,
    id: &str,
    exclusive: bool,
) -> StoreResult<(String, Option<UploadUnderWay>)> {
    let sql = if exclusive {
        UPLOAD_OF_SQL
    } else {
        UPLOAD_OF_SHARED_SQL
    };
    let found: Option<UploadRow> = sqlx::query_as(sql)
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *c)
        .await
        .db()?;
    let (status, upload, from, until) =
        found.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
    Ok((status, UploadUnderWay::from_columns(upload, from, until)))
}

fn campaign(r: &PgRow) -> StoreResult<Campaign> {
    let columns: String = get(r, 9)?;
    let rate: Option<i64> = get(r, 13)?;
    Ok(Campaign {
        id: get(r, 0)?,
        tenant_id: get(r, 1)?,
        channel_id: get(r, 2)?,
        name: get(r, 3)?,
        template_id: get(r, 4)?,
        template_name: get(r, 5)?,
        language: get(r, 6)?,
        category: get(r, 7)?,
        spec: json(r, 8)?.unwrap_or_default(),
        columns: serde_json::from_str(&columns)?,
        status: get(r, 10)?,
        pause_reason: json(r, 11)?,
        start_at: get(r, 12)?,
        rate_limit: rate.and_then(|r| u32::try_from(r).ok()),
        created_at: get(r, 14)?,
        updated_at: get(r, 15)?,
        started_at: get(r, 16)?,
        completed_at: get(r, 17)?,
        uploading: get(r, 18)?,
        group_key: get(r, 19)?,
    })
}

fn recipient(r: &PgRow) -> StoreResult<CampaignRecipient> {
    let status: Option<String> = get(r, 8)?;
    let line: i64 = get(r, 3)?;
    Ok(CampaignRecipient {
        seq: get(r, 0)?,
        campaign_id: get(r, 1)?,
        recipient: get(r, 2)?,
        line: line.max(0) as u64,
        variables: json(r, 4)?.unwrap_or_default(),
        state: get(r, 5)?,
        reason: json(r, 6)?,
        message_id: get(r, 7)?,
        message_status: status.as_deref().and_then(MessageStatus::parse),
        wamid: get(r, 9)?,
        error: json(r, 10)?,
        created_at: get(r, 11)?,
        updated_at: get(r, 12)?,
        replied_at: get(r, 13)?,
        meta_message_status: get(r, 14)?,
    })
}
