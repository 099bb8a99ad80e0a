//! [`Store`] for PostgreSQL: the same statements and rules as the SQLite backend
//! (`sqlite/queries.rs`), with row locks where SQLite's single writer made them unnecessary.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgConnection};

use super::rows::{self, *};
use super::{DbResult, PgStore, batch, outcomes};
use crate::error::{StoreError, StoreResult};
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
static GET_MESSAGE_BY_ID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND id = $2")
});
static GET_MESSAGE_BY_WAMID_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND wamid = $2")
});
/// An inbound message and its first history entry; nothing if its `wamid` is already stored.
static INSERT_INBOUND_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH m AS (
            INSERT INTO messages ({MESSAGE_COLS}, request_hash)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
            ON CONFLICT (wamid) WHERE wamid IS NOT NULL DO NOTHING
            RETURNING id, status, created_at
         )
         INSERT INTO message_statuses (message_id, status, at)
         SELECT id, status, created_at FROM m
         ON CONFLICT (message_id, status) DO NOTHING"
    )
});

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
        self.batcher.enqueue(new).await
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
        // Only the filters given become conditions, so each combination gets its own plan.
        enum Arg<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut args = vec![Arg::Text(tenant_id)];
        let mut sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1");
        let mut cond = |n: usize, what: &str| sql.push_str(&format!(" AND {what} ${n}"));
        if let Some(v) = &f.channel_id {
            args.push(Arg::Text(v));
            cond(args.len(), "channel_id =");
        }
        if let Some(v) = f.status {
            args.push(Arg::Text(v.as_str()));
            cond(args.len(), "status =");
        }
        if let Some(v) = f.direction {
            args.push(Arg::Text(v.as_str()));
            cond(args.len(), "direction =");
        }
        if let Some(v) = &f.recipient {
            args.push(Arg::Text(v));
            cond(args.len(), "recipient =");
        }
        if let Some(v) = f.created_from {
            args.push(Arg::Int(v));
            cond(args.len(), "created_at >=");
        }
        if let Some(v) = f.created_to {
            args.push(Arg::Int(v));
            cond(args.len(), "created_at <");
        }
        if let Some(v) = &page.after {
            args.push(Arg::Text(v));
            cond(args.len(), "id <");
        }
        args.push(Arg::Int(i64::from(page.limit)));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", args.len()));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        let found = q.fetch_all(&self.pool).await.db()?;
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
        tx.commit().await.db()
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

    async fn mark_inbox_processed(&self, ids: &[String], at: i64) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE webhook_inbox SET processed_at = $2 WHERE id = ANY($1)")
            .bind(ids)
            .bind(at)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    async fn apply_status(&self, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
        let mut tx = self.pool.begin().await.db()?;
        let outcome = outcomes::apply_status(&mut tx, u).await?;
        tx.commit().await.db()?;
        Ok(outcome)
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.db()?;
        let stored = insert_inbound(&mut tx, new).await?;
        if stored {
            tx.commit().await.db()?;
        }
        // Not stored: dropping the transaction rolls back the contact changes, as SQLite's
        // early return never made them.
        Ok(stored)
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

/// Stores an inbound message; `false` if its `wamid` is already stored (by an earlier delivery
/// or a concurrent transaction), in which case the caller rolls back the contact changes made
/// on the way, leaving things as SQLite's check-first leaves them.
async fn insert_inbound(c: &mut PgConnection, new: &NewInbound) -> StoreResult<bool> {
    let m = &new.message;
    let wanted = [(m.tenant_id.as_str(), &new.contact, m.created_at)];
    let contacts = batch::resolve_contacts(c, &wanted).await?;
    let (col, value) = rows::contact_key(&new.contact);
    let contact_id = contacts
        .get(&(m.tenant_id.clone(), col, value.to_string()))
        .cloned()
        .ok_or_else(|| StoreError::Database("contact not resolved".into()))?;
    if let Some(also) = &new.also {
        let (col, v) = rows::contact_key(also);
        let sql = format!(
            "UPDATE contacts SET {col} = $2 WHERE id = $1 AND {col} IS NULL
             AND NOT EXISTS (SELECT 1 FROM contacts WHERE tenant_id = $3 AND {col} = $2)"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(&contact_id)
            .bind(v)
            .bind(&m.tenant_id)
            .execute(&mut *c)
            .await
            .db()?;
    }
    if let Some(name) = &new.profile_name {
        sqlx::query("UPDATE contacts SET profile_name = $2, updated_at = $3 WHERE id = $1")
            .bind(&contact_id)
            .bind(name)
            .bind(m.created_at)
            .execute(&mut *c)
            .await
            .db()?;
    }
    let inserted = sqlx::query(INSERT_INBOUND_SQL.as_str())
        .bind(&m.id)
        .bind(&m.tenant_id)
        .bind(&m.channel_id)
        .bind(&contact_id)
        .bind(m.direction.as_str())
        .bind(&m.recipient)
        .bind(&m.msg_type)
        .bind(m.content.to_string())
        .bind(&m.wamid)
        .bind(m.status.as_str())
        .bind(m.error.as_ref().map(|e| e.to_string()))
        .bind(&m.biz_opaque_callback_data)
        .bind(&m.context_message_id)
        .bind(&m.idempotency_key)
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(None::<String>)
        .execute(&mut *c)
        .await
        .db()?;
    Ok(inserted.rows_affected() > 0)
}
