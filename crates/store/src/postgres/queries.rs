//! [`Store`] for PostgreSQL: the same statements and rules as the SQLite backend
//! (`sqlite/queries.rs`), with row locks where SQLite's single writer made them unnecessary.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::conversations::{self, Pg, retrying};
use super::rows::{self, *};
use super::{DbResult, PgStore, events, outcomes};
use crate::error::{StoreError, StoreResult};
use crate::events::{self as build, kind as ev};
use crate::model::*;
use crate::store::Store;

static GET_TENANT_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"));
static LIST_TENANTS_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"));
static CREATE_API_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
});
static FIND_API_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
});
static LIST_API_KEYS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {API_KEY_COLS} FROM api_keys WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id"
    )
});
static CREATE_APP_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
});
static GET_APP_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {APP_COLS} FROM apps WHERE id = $1"));
static LIST_APPS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {APP_COLS} FROM apps WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id")
});
static FIND_APP_BY_TOKEN_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {APP_COLS} FROM apps WHERE verify_token_hash = $1 ORDER BY id LIMIT 1")
});
static CREATE_CHANNEL_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO channels ({CHANNEL_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
});
static LIST_CHANNELS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CHANNEL_COLS} FROM channels WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id"
    )
});
static GET_CONTACT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND id = $2")
});
/// A contact of a tenant, locked for a change.
static LOCK_CONTACT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
});
static CONTACT_WINDOWS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {WINDOW_COLS} FROM contact_windows WHERE tenant_id = $1 AND contact_id = $2
         ORDER BY channel_id"
    )
});
static GET_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = $1 AND id = $2")
});
/// Closes a session if it is open; returns it only if it did.
static CLOSE_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE sessions SET closed_at = $3, close_reason = 'closed', updated_at = $3
         WHERE tenant_id = $1 AND id = $2 AND closed_at IS NULL
         RETURNING {SESSION_COLS}"
    )
});
/// Closes up to `$2` sessions expired at `$1`, each at its own expiry. Sessions locked by a
/// concurrent writer (an inbound message renewing one, another replica's closer) are skipped:
/// the next run sees what became of them. The chosen rows are a materialised CTE: as an
/// `IN (… LIMIT …)` sub-query the planner may run the pick more than once and exceed the limit.
static CLOSE_EXPIRED_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS MATERIALIZED (
            SELECT id FROM sessions WHERE closed_at IS NULL AND expires_at <= $1
            ORDER BY expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE sessions SET closed_at = expires_at, close_reason = 'expired', updated_at = $1
         FROM due
         WHERE sessions.id = due.id AND sessions.closed_at IS NULL AND sessions.expires_at <= $1
         RETURNING {}",
        prefixed("sessions", SESSION_COLS)
    )
});
static GET_MESSAGE_BY_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND id = $2")
});
static GET_MESSAGE_BY_WAMID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND wamid = $2")
});
static GET_MESSAGE_BY_KEY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND idempotency_key = $2")
});
#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn apply_template_update(&self, u: &TemplateUpdate) -> StoreResult<Template> {
        self.apply_template_update_pg(u).await
    }

    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>> {
        self.find_template_pg(tenant_id, waba_id, name, language)
            .await
    }

    async fn create_template(&self, new: &NewTemplate) -> StoreResult<Template> {
        self.create_template_pg(new).await
    }

    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
        self.get_template_pg(tenant_id, id).await
    }

    async fn list_templates(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>> {
        self.list_templates_pg(filter).await
    }

    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64> {
        self.count_templates_pg(waba_id).await
    }

    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
        self.edit_template_pg(edit).await
    }

    async fn sync_template(&self, template: &SyncedTemplate) -> StoreResult<SyncOutcome> {
        self.sync_template_pg(template).await
    }

    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        meta_template_id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>> {
        self.delete_templates_pg(tenant_id, waba_id, name, meta_template_id, at)
            .await
    }

    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>> {
        self.template_history_pg(tenant_id, template_id).await
    }

    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        self.create_webhook_endpoint_pg(endpoint).await
    }

    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        self.get_webhook_endpoint_pg(tenant_id, id).await
    }

    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        self.list_webhook_endpoints_pg(tenant_id, page).await
    }

    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        self.update_webhook_endpoint_pg(endpoint).await
    }

    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        self.delete_webhook_endpoint_pg(tenant_id, id).await
    }

    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.enabled_webhook_endpoints_pg().await
    }

    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.signal_rx.clone()
    }

    async fn list_events(&self, tenant_id: &str, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        self.list_events_pg(tenant_id, filter).await
    }

    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>> {
        self.get_event_pg(tenant_id, id).await
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        self.events_after_pg(tenant_id, format, cursor, since, limit)
            .await
    }

    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        self.due_deliveries_pg(endpoint_id, now, limit).await
    }

    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>> {
        self.next_delivery_due_pg(endpoint_id).await
    }

    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()> {
        self.record_deliveries_pg(record).await
    }

    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        self.list_delivery_attempts_pg(tenant_id, endpoint_id, filter)
            .await
    }

    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64> {
        self.prune_events_pg(before, limit).await
    }

    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64> {
        self.replay_deliveries_pg(tenant_id, endpoint_id, selection, now)
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db()?;
        Ok(())
    }

    async fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query(GET_TENANT_SQL.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::tenant).transpose()
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        let found = sqlx::query(LIST_TENANTS_SQL.as_str())
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::tenant)
    }

    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        sqlx::query(CREATE_API_KEY_SQL.as_str())
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(&k.name)
            .bind(&k.key_hash)
            .bind(&k.key_prefix)
            .bind(k.is_admin)
            .bind(k.created_at)
            .bind(k.revoked_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(FIND_API_KEY_SQL.as_str())
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::api_key).transpose()
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let found = sqlx::query(LIST_API_KEYS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::api_key)
    }

    async fn create_app(&self, a: &App) -> StoreResult<()> {
        sqlx::query(CREATE_APP_SQL.as_str())
            .bind(&a.id)
            .bind(&a.tenant_id)
            .bind(&a.name)
            .bind(&a.meta_app_id)
            .bind(&a.app_secret_enc)
            .bind(&a.verify_token_enc)
            .bind(&a.verify_token_hash)
            .bind(a.created_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query(GET_APP_SQL.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::app).transpose()
    }

    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>> {
        let found = sqlx::query(LIST_APPS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::app)
    }

    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query(FIND_APP_BY_TOKEN_SQL.as_str())
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::app).transpose()
    }

    async fn create_channel(&self, ch: &Channel) -> StoreResult<()> {
        sqlx::query(CREATE_CHANNEL_SQL.as_str())
            .bind(&ch.id)
            .bind(&ch.tenant_id)
            .bind(&ch.app_id)
            .bind(&ch.phone_number_id)
            .bind(&ch.waba_id)
            .bind(&ch.display_phone_number)
            .bind(&ch.access_token_enc)
            .bind(&ch.graph_base_url)
            .bind(&ch.graph_version)
            .bind(i64::from(ch.throughput_mps))
            .bind(&ch.messaging_tier)
            .bind(ch.created_at)
            .bind(ch.updated_at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn update_channel(&self, ch: &Channel) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE channels SET app_id = $2, waba_id = $3, display_phone_number = $4, access_token_enc = $5,
             graph_base_url = $6, graph_version = $7, throughput_mps = $8, messaging_tier = $9, updated_at = $10
             WHERE id = $1",
        )
        .bind(&ch.id)
        .bind(&ch.app_id)
        .bind(&ch.waba_id)
        .bind(&ch.display_phone_number)
        .bind(&ch.access_token_enc)
        .bind(&ch.graph_base_url)
        .bind(&ch.graph_version)
        .bind(i64::from(ch.throughput_mps))
        .bind(&ch.messaging_tier)
        .bind(ch.updated_at)
        .execute(&self.pool)
        .await
        .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("channel {}", ch.id)));
        }
        Ok(())
    }

    async fn get_channel(&self, id: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("id", id).await
    }

    async fn find_channel_by_phone_number_id(&self, pnid: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("phone_number_id", pnid).await
    }

    async fn find_channel_by_waba(&self, waba_id: &str) -> StoreResult<Option<Channel>> {
        self.channel_where("waba_id", waba_id).await
    }

    async fn list_channels(&self, tenant_id: Option<&str>) -> StoreResult<Vec<Channel>> {
        let found = sqlx::query(LIST_CHANNELS_SQL.as_str())
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::channel)
    }

    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>> {
        let row = sqlx::query(GET_CONTACT_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::contact).transpose()
    }

    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome> {
        if new.profile.is_some() {
            return self.enqueue_profiled(new, None).await?.map_err(|_| {
                StoreError::Database("an enqueue without a send check was refused".into())
            });
        }
        self.batcher.enqueue(new).await
    }

    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &crate::policy::SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, openbsp_domain::windows::Refusal>> {
        if new.profile.is_some() {
            // A Session Start: its contact is named and linked in the same transaction.
            return self.enqueue_profiled(new, Some(check.clone())).await;
        }
        // In the group commit's own transaction: the idempotency key first, then the policy on
        // the conversation as the batch sees it; no read of its own on the send path.
        self.batcher.enqueue_checked(new, check.clone()).await
    }

    async fn get_message(
        &self,
        tenant_id: &str,
        id_or_wamid: &str,
    ) -> StoreResult<Option<Message>> {
        let sql = if id_or_wamid.starts_with("msg_") {
            GET_MESSAGE_BY_ID_SQL.as_str()
        } else {
            GET_MESSAGE_BY_WAMID_SQL.as_str()
        };
        let row = sqlx::query(sql)
            .bind(tenant_id)
            .bind(id_or_wamid)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(GET_MESSAGE_BY_KEY_SQL.as_str())
            .bind(tenant_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>> {
        let found = sqlx::query(
            "SELECT status, at, error FROM message_statuses WHERE message_id = $1 ORDER BY at, status",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows::all(found, rows::status_entry)
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        f: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>> {
        let mut q = Filtered::new(
            format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1"),
            tenant_id,
        );
        q.text(f.channel_id.as_deref(), "channel_id =");
        q.text(f.status.map(|s| s.as_str()), "status =");
        q.text(f.direction.map(|d| d.as_str()), "direction =");
        q.text(f.recipient.as_deref(), "recipient =");
        q.int(f.created_from, "created_at >=");
        q.int(f.created_to, "created_at <");
        q.text(f.session_id.as_deref(), "session_id =");
        let found = q.page(page).fetch_all(&self.pool).await.db()?;
        rows::all(found, rows::message)
    }

    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        let found =
            sqlx::query("SELECT status, COUNT(*) FROM messages GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .db()?;
        found
            .iter()
            .map(|r| Ok((rows::get(r, 0)?, rows::get(r, 1)?)))
            .collect()
    }

    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await
            .db()
    }

    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            // A scalar sub-query with LIMIT 1 is one index probe per channel; written as EXISTS,
            // the planner turns it into a semi-join that hashes every pending row.
            "SELECT c.id FROM channels c WHERE (SELECT 1 FROM outbox o
             WHERE o.channel_id = c.id AND o.state = 'pending' AND o.next_attempt_at <= $1 LIMIT 1) IS NOT NULL
             ORDER BY c.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .db()
    }

    async fn claim_sends(
        &self,
        channel_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        let found = sqlx::query(
            "UPDATE outbox SET state = 'inflight', claimed_at = $2
             WHERE message_id IN (
                SELECT message_id FROM outbox
                WHERE channel_id = $1 AND state = 'pending' AND next_attempt_at <= $2
                ORDER BY priority, next_attempt_at, message_id LIMIT $3
                FOR UPDATE SKIP LOCKED)
             RETURNING message_id, tenant_id, channel_id, attempts, payload, priority, next_attempt_at",
        )
        .bind(channel_id)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let mut items = found
            .iter()
            .map(|r| {
                let priority: i32 = rows::get(r, 5)?;
                let due: i64 = rows::get(r, 6)?;
                Ok((priority, due, rows::outbox_item(r)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by(|a, b| (a.0, a.1, &a.2.message_id).cmp(&(b.0, b.1, &b.2.message_id)));
        Ok(items.into_iter().map(|(_, _, i)| i).collect())
    }

    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.db()?;
        outcomes::record_send_results(&mut tx, results).await?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(())
    }

    async fn requeue_stale_sends(&self, claimed_before: i64, retry_at: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, claimed_at = NULL,
             last_error = 'outcome unknown: sender stopped while the send was in flight'
             WHERE state = 'inflight' AND claimed_at < $1",
        )
        .bind(claimed_before)
        .bind(retry_at)
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .db()
    }

    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<()> {
        self.batcher.insert_inbox(item.clone()).await
    }

    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>> {
        let found = sqlx::query(
            "SELECT id, app_id, received_at, body FROM webhook_inbox WHERE processed_at IS NULL
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows::all(found, rows::inbox_item)
    }

    async fn mark_inbox_processed(
        &self,
        ids: &[String],
        at: i64,
        new_events: &[NewEvent],
    ) -> StoreResult<()> {
        if ids.is_empty() && new_events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.db()?;
        if !ids.is_empty() {
            sqlx::query("UPDATE webhook_inbox SET processed_at = $2 WHERE id = ANY($1)")
                .bind(ids)
                .bind(at)
                .execute(&mut *tx)
                .await
                .db()?;
        }
        events::insert(&mut tx, new_events.to_vec()).await.db()?;
        tx.commit().await.db()?;
        if !new_events.is_empty() {
            self.signal.bump();
        }
        Ok(())
    }

    async fn apply_status(&self, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        let outcome = outcomes::apply_status(&mut tx, u).await?;
        tx.commit().await.db()?;
        if !matches!(outcome, StatusOutcome::UnknownMessage) {
            self.signal.bump();
        }
        Ok(outcome)
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        // Not stored: the transaction is rolled back, so a duplicate changes nothing.
        let stored = retrying!(self.pool, |c| conversations::insert_inbound(c, new))?;
        if stored {
            self.signal.bump();
        }
        Ok(stored)
    }

    async fn find_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Contact>> {
        let (col, value) = rows::contact_key(key);
        let sql =
            format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1 AND {col} = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::contact).transpose()
    }

    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)> {
        let out = retrying!(self.pool, |c| async {
            let mut r =
                conversations::resolve(c, tenant_id, key, also, None, (name, None), now).await?;
            // What `contact.updated` compares with, as SQLite: the contact the key named before,
            // or (found by the other identifier) the contact as resolving left it.
            let before = match (r.created, &r.before.0) {
                (true, _) => None,
                (false, Some(b)) => Some(b.clone()),
                (false, None) => Some(r.contact.clone()),
            };
            r.set_name(name);
            if r.dirty {
                conversations::save(c, &mut r.contact, now).await?;
            }
            let mut new_events = std::mem::take(&mut r.events);
            new_events.extend(r.contact_event(before.as_ref(), now));
            events::insert(c, new_events).await.pg()?;
            Ok(((r.contact, r.created), true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        f: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>> {
        let mut q = Filtered::new(
            format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = $1"),
            tenant_id,
        );
        q.text(f.wa_id.as_deref(), "wa_id =");
        q.text(f.user_id.as_deref(), "user_id =");
        // Case-insensitive for ASCII letters (the column's collation is "C"), as SQLite's
        // lower(); `strpos` rather than LIKE, so that `%` and `_` are plain characters.
        let name = f.name.as_ref().map(|n| n.to_ascii_lowercase());
        if let Some(n) = &name {
            q.cond_with(Arg::Text(n), |i| {
                format!("strpos(lower(profile_name), ${i}) > 0")
            });
        }
        match f.opted_out {
            Some(true) => q.sql.push_str(" AND marketing_opt_out_at IS NOT NULL"),
            Some(false) => q.sql.push_str(" AND marketing_opt_out_at IS NULL"),
            None => {}
        }
        let found = q.page(page).fetch_all(&self.pool).await.db()?;
        rows::all(found, rows::contact)
    }

    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>> {
        let out = retrying!(self.pool, |c| async {
            let row = sqlx::query(LOCK_CONTACT_SQL.as_str())
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(&mut *c)
                .await
                .pg()?;
            let Some(row) = row else {
                return Ok((None, false));
            };
            let mut contact = rows::contact(&row)?;
            let before = contact.clone();
            if let Some(name) = &patch.profile_name {
                contact.profile_name = Some(name.clone());
            }
            if let Some(attributes) = &patch.attributes {
                conversations::patch_attributes(&mut contact.attributes, attributes);
            }
            match patch.marketing_opt_out {
                Some(true) => {
                    contact.marketing_opt_out_at =
                        Some(contact.marketing_opt_out_at.unwrap_or(now));
                    contact.marketing_opt_out_source = Some("api".to_string());
                }
                Some(false) => {
                    contact.marketing_opt_out_at = None;
                    contact.marketing_opt_out_source = None;
                }
                None => {}
            }
            conversations::save(c, &mut contact, now).await?;
            let changes = build::contact_changes(Some(&before), &contact);
            if !changes.is_empty() {
                let event = build::contact_updated(&contact, &changes, now);
                events::insert(c, vec![event]).await.pg()?;
            }
            Ok((Some(contact), true))
        })?;
        if out.is_some() {
            self.signal.bump();
        }
        Ok(out)
    }

    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact> {
        let out = retrying!(self.pool, |c| async {
            let mut r =
                conversations::resolve(c, tenant_id, key, None, None, (None, None), change.at)
                    .await?;
            r.set_opt_out(change);
            if r.dirty {
                conversations::save(c, &mut r.contact, change.at).await?;
            }
            let before = r.before.0.clone();
            let mut new_events = std::mem::take(&mut r.events);
            new_events.extend(r.contact_event(before.as_ref(), change.at));
            events::insert(c, new_events).await.pg()?;
            Ok((r.contact, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>> {
        let found = sqlx::query(CONTACT_WINDOWS_SQL.as_str())
            .bind(tenant_id)
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows::all(found, rows::window)
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation> {
        self.reader.conversation(tenant_id, channel_id, key).await
    }

    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)> {
        let out = retrying!(self.pool, |c| async {
            let mut new_events = Vec::new();
            let opened = conversations::open_session(
                c,
                tenant_id,
                channel_id,
                contact_id,
                spec,
                now,
                &mut new_events,
            )
            .await?;
            events::insert(c, new_events).await.pg()?;
            Ok((opened, true))
        })?;
        self.signal.bump();
        Ok(out)
    }

    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(GET_SESSION_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn list_sessions(
        &self,
        tenant_id: &str,
        f: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>> {
        let mut q = Filtered::new(
            format!("SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = $1"),
            tenant_id,
        );
        q.text(f.channel_id.as_deref(), "channel_id =");
        q.text(f.contact_id.as_deref(), "contact_id =");
        match f.open {
            Some(true) => q.sql.push_str(" AND closed_at IS NULL"),
            Some(false) => q.sql.push_str(" AND closed_at IS NOT NULL"),
            None => {}
        }
        q.int(f.opened_from, "opened_at >=");
        q.int(f.opened_to, "opened_at <");
        let found = q.page(page).fetch_all(&self.pool).await.db()?;
        rows::all(found, rows::session)
    }

    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let mut tx = self.pool.begin().await.db()?;
        let row = sqlx::query(CLOSE_SESSION_SQL.as_str())
            .bind(tenant_id)
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if let Some(row) = row {
            let s = rows::session(&row)?;
            let event = build::session(ev::SESSION_CLOSED, &s, now);
            events::insert(&mut tx, vec![event]).await.db()?;
            tx.commit().await.db()?;
            self.signal.bump();
            return Ok(Some(s));
        }
        drop(tx);
        self.get_session(tenant_id, id).await
    }

    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
        let mut tx = self.pool.begin().await.db()?;
        let found = sqlx::query(CLOSE_EXPIRED_SQL.as_str())
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .db()?;
        let mut closed = rows::all(found, rows::session)?;
        if closed.is_empty() {
            return Ok(closed);
        }
        closed.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        let new_events = closed
            .iter()
            .map(|s| build::session(ev::SESSION_CLOSED, s, now))
            .collect();
        events::insert(&mut tx, new_events).await.db()?;
        tx.commit().await.db()?;
        self.signal.bump();
        Ok(closed)
    }

    async fn next_session_expiry(&self) -> StoreResult<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(expires_at) FROM sessions WHERE closed_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .db()
    }
}

impl PgStore {
    async fn channel_where(&self, col: &'static str, value: &str) -> StoreResult<Option<Channel>> {
        let sql =
            format!("SELECT {CHANNEL_COLS} FROM channels WHERE {col} = $1 ORDER BY id LIMIT 1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .db()?;
        row.as_ref().map(rows::channel).transpose()
    }
}

/// A bound value of a [`Filtered`] query.
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// A list query whose conditions are only the filters given, so that each combination gets a
/// plan of its own; newest first, paged by id.
struct Filtered<'a> {
    sql: String,
    args: Vec<Arg<'a>>,
}

impl<'a> Filtered<'a> {
    /// `sql` selects a tenant's rows, the tenant being `$1`.
    fn new(sql: String, tenant_id: &'a str) -> Filtered<'a> {
        Filtered {
            sql,
            args: vec![Arg::Text(tenant_id)],
        }
    }

    /// Adds the condition `what(n)`, `$n` being `arg`.
    fn cond_with(&mut self, arg: Arg<'a>, what: impl FnOnce(usize) -> String) {
        self.args.push(arg);
        let cond = what(self.args.len());
        self.sql.push_str(" AND ");
        self.sql.push_str(&cond);
    }

    /// `AND {what} $n` if `value` is given.
    fn text(&mut self, value: Option<&'a str>, what: &str) {
        if let Some(v) = value {
            self.cond_with(Arg::Text(v), |n| format!("{what} ${n}"));
        }
    }

    /// `AND {what} $n` if `value` is given.
    fn int(&mut self, value: Option<i64>, what: &str) {
        if let Some(v) = value {
            self.cond_with(Arg::Int(v), |n| format!("{what} ${n}"));
        }
    }

    /// The query, for the page asked for (`id < after`, newest first, `limit` rows).
    fn page(
        mut self,
        page: &'a Page,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        if let Some(after) = &page.after {
            self.cond_with(Arg::Text(after), |n| format!("id < ${n}"));
        }
        self.args.push(Arg::Int(i64::from(page.limit)));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ${}", self.args.len()));
        let mut q = sqlx::query(AssertSqlSafe(self.sql));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        q
    }
}

/// `cols` (a column list) with each column qualified by `alias`.
fn prefixed(alias: &str, cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
