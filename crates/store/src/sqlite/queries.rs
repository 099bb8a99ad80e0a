//! [`Store`] for SQLite.

use async_trait::async_trait;
use openbsp_domain::MessageStatus;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::conversations as conv;
use super::events;
use super::rows::{self, *};
use super::templates as tpl;
use super::webhook_endpoints as whe;
use crate::error::StoreResult;
use crate::model::*;
use crate::store::Store;

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn create_tenant(&self, t: &Tenant) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.id, t.name, t.created_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?1");
            Ok(c.query_row(&sql, [id], rows::tenant).optional()?)
        })
        .await
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        self.read(|c| {
            let sql = format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id");
            collect(c, &sql, [], rows::tenant)
        })
        .await
    }

    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        let k = k.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO api_keys ({API_KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    k.id,
                    k.tenant_id,
                    k.name,
                    k.key_hash,
                    k.key_prefix,
                    k.is_admin,
                    k.created_at,
                    k.revoked_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let h = key_hash.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
            );
            Ok(c.query_row(&sql, [h], rows::api_key).optional()?)
        })
        .await
    }

    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {API_KEY_COLS} FROM api_keys WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::api_key)
        })
        .await
    }

    async fn create_app(&self, a: &App) -> StoreResult<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO apps ({APP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    a.id,
                    a.tenant_id,
                    a.name,
                    a.meta_app_id,
                    a.app_secret_enc,
                    a.verify_token_enc,
                    a.verify_token_hash,
                    a.created_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_app(&self, id: &str) -> StoreResult<Option<App>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {APP_COLS} FROM apps WHERE id = ?1");
            Ok(c.query_row(&sql, [id], rows::app).optional()?)
        })
        .await
    }

    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>> {
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {APP_COLS} FROM apps WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::app)
        })
        .await
    }

    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>> {
        let h = hash.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {APP_COLS} FROM apps WHERE verify_token_hash = ?1 LIMIT 1");
            Ok(c.query_row(&sql, [h], rows::app).optional()?)
        })
        .await
    }

    async fn create_channel(&self, ch: &Channel) -> StoreResult<()> {
        let ch = ch.clone();
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO channels ({CHANNEL_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                params![ch.id, ch.tenant_id, ch.app_id, ch.phone_number_id, ch.waba_id, ch.display_phone_number, ch.access_token_enc, ch.graph_base_url, ch.graph_version, ch.throughput_mps, ch.messaging_tier, ch.created_at, ch.updated_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_channel(&self, ch: &Channel) -> StoreResult<()> {
        let ch = ch.clone();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE channels SET app_id = ?2, waba_id = ?3, display_phone_number = ?4, access_token_enc = ?5, graph_base_url = ?6, graph_version = ?7, throughput_mps = ?8, messaging_tier = ?9, updated_at = ?10 WHERE id = ?1",
                params![ch.id, ch.app_id, ch.waba_id, ch.display_phone_number, ch.access_token_enc, ch.graph_base_url, ch.graph_version, ch.throughput_mps, ch.messaging_tier, ch.updated_at],
            )?;
            if n == 0 {
                return Err(crate::StoreError::NotFound(format!("channel {}", ch.id)));
            }
            Ok(())
        })
        .await
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
        let t = tenant_id.map(str::to_string);
        self.read(move |c| {
            let sql = format!(
                "SELECT {CHANNEL_COLS} FROM channels WHERE (?1 IS NULL OR tenant_id = ?1) ORDER BY id"
            );
            collect(c, &sql, [t], rows::channel)
        })
        .await
    }

    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| {
            let sql =
                format!("SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1 AND id = ?2");
            Ok(c.query_row(&sql, [t, id], rows::contact).optional()?)
        })
        .await
    }

    async fn find_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Option<Contact>> {
        let (t, key) = (tenant_id.to_string(), key.clone());
        self.read(move |c| conv::find_contact(c, &t, &key)).await
    }

    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)> {
        let (t, key, also) = (tenant_id.to_string(), key.clone(), also.cloned());
        let name = name.map(str::to_string);
        self.write(move |c| {
            let (id, created) = upsert_profiled(c, &t, &key, also.as_ref(), name.as_deref(), now)?;
            let contact = conv::get_contact(c, &t, &id)?
                .ok_or_else(|| crate::StoreError::Corrupt(format!("contact {id} vanished")))?;
            Ok((contact, created))
        })
        .await
    }

    async fn list_contacts(
        &self,
        tenant_id: &str,
        f: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>> {
        let (t, f, page) = (tenant_id.to_string(), f.clone(), page.clone());
        self.read(move |c| {
            let sql = format!(
                "SELECT {CONTACT_COLS} FROM contacts WHERE tenant_id = ?1
                 AND (?2 IS NULL OR wa_id = ?2)
                 AND (?3 IS NULL OR user_id = ?3)
                 AND (?4 IS NULL OR instr(lower(profile_name), lower(?4)) > 0)
                 AND (?5 IS NULL OR (marketing_opt_out_at IS NOT NULL) = ?5)
                 AND (?6 IS NULL OR id < ?6)
                 ORDER BY id DESC LIMIT ?7"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    t,
                    f.wa_id,
                    f.user_id,
                    f.name,
                    f.opted_out,
                    page.after,
                    page.limit
                ],
                rows::contact,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>> {
        let (t, id, patch) = (tenant_id.to_string(), id.to_string(), patch.clone());
        self.write(move |c| conv::update_contact(c, &t, &id, &patch, now))
            .await
    }

    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact> {
        let (t, key, change) = (tenant_id.to_string(), key.clone(), change.clone());
        self.write(move |c| {
            let before = conv::find_contact(c, &t, &key)?;
            let (id, _) = conv::resolve_contact(c, &t, &key, None, change.at)?;
            conv::set_opt_out(c, &id, &change)?;
            events::contact(c, &t, &id, before.as_ref(), change.at)?;
            conv::get_contact(c, &t, &id)?
                .ok_or_else(|| crate::StoreError::Corrupt(format!("contact {id} vanished")))
        })
        .await
    }

    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>> {
        let (t, id) = (tenant_id.to_string(), contact_id.to_string());
        self.read(move |c| conv::contact_windows(c, &t, &id)).await
    }

    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation> {
        let (t, ch, key) = (tenant_id.to_string(), channel_id.to_string(), key.clone());
        self.read(move |c| conv::conversation(c, &t, &ch, &key))
            .await
    }

    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)> {
        let (t, ch, con) = (
            tenant_id.to_string(),
            channel_id.to_string(),
            contact_id.to_string(),
        );
        let spec = spec.clone();
        self.write(move |c| {
            let (s, opened) = conv::open_session(c, &t, &ch, &con, &spec, now)?;
            if opened {
                events::insert(
                    c,
                    &crate::events::session(crate::events::kind::SESSION_OPENED, &s, now),
                )?;
            }
            Ok((s, opened))
        })
        .await
    }

    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| conv::get_session(c, &t, &id)).await
    }

    async fn list_sessions(
        &self,
        tenant_id: &str,
        f: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>> {
        let (t, f, page) = (tenant_id.to_string(), f.clone(), page.clone());
        self.read(move |c| {
            let sql = format!(
                "SELECT {SESSION_COLS} FROM sessions WHERE tenant_id = ?1
                 AND (?2 IS NULL OR channel_id = ?2)
                 AND (?3 IS NULL OR contact_id = ?3)
                 AND (?4 IS NULL OR (closed_at IS NULL) = ?4)
                 AND (?5 IS NULL OR opened_at >= ?5)
                 AND (?6 IS NULL OR opened_at < ?6)
                 AND (?7 IS NULL OR id < ?7)
                 ORDER BY id DESC LIMIT ?8"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    t,
                    f.channel_id,
                    f.contact_id,
                    f.open,
                    f.opened_from,
                    f.opened_to,
                    page.after,
                    page.limit
                ],
                rows::session,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| conv::close_session(c, &t, &id, now))
            .await
    }

    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>> {
        self.write(move |c| conv::close_expired(c, now, limit))
            .await
    }

    async fn next_session_expiry(&self) -> StoreResult<Option<i64>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(expires_at) FROM sessions WHERE closed_at IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn apply_template_update(&self, u: &TemplateUpdate) -> StoreResult<Template> {
        let u = u.clone();
        self.write(move |c| tpl::apply_update(c, &u)).await
    }

    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>> {
        let args = [tenant_id, waba_id, name, language].map(str::to_string);
        self.read(move |c| {
            let [t, w, n, l] = &args;
            Ok(tpl::by_key(c, w, n, l)?.filter(|found| &found.tenant_id == t))
        })
        .await
    }

    async fn create_template(&self, new: &NewTemplate) -> StoreResult<Template> {
        let new = new.clone();
        self.write(move |c| tpl::create(c, &new)).await
    }

    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| tpl::get(c, &t, &id)).await
    }

    async fn list_templates(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>> {
        let f = filter.clone();
        self.read(move |c| tpl::list(c, &f)).await
    }

    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64> {
        let w = waba_id.to_string();
        self.read(move |c| tpl::count(c, &w)).await
    }

    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>> {
        let edit = edit.clone();
        self.write(move |c| tpl::edit(c, &edit)).await
    }

    async fn sync_template(&self, template: &SyncedTemplate) -> StoreResult<SyncOutcome> {
        let s = template.clone();
        self.write(move |c| tpl::sync(c, &s)).await
    }

    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        meta_template_id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>> {
        let args = [tenant_id, waba_id, name].map(str::to_string);
        let id = meta_template_id.map(str::to_string);
        self.write(move |c| {
            let [t, w, n] = &args;
            tpl::delete(c, t, w, n, id.as_deref(), at)
        })
        .await
    }

    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>> {
        let (t, id) = (tenant_id.to_string(), template_id.to_string());
        self.read(move |c| tpl::history(c, &t, &id)).await
    }

    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint> {
        let e = endpoint.clone();
        self.write(move |c| whe::create(c, &e)).await
    }

    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| whe::get(c, &t, &id)).await
    }

    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let (t, page) = (tenant_id.to_string(), page.clone());
        self.read(move |c| whe::list(c, &t, &page)).await
    }

    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let e = endpoint.clone();
        self.write(move |c| whe::update(c, &e)).await
    }

    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.write(move |c| whe::delete(c, &t, &id)).await
    }

    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        self.read(whe::enabled).await
    }

    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &crate::policy::SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, openbsp_domain::windows::Refusal>> {
        let content = new.message.content.to_string();
        let payload = new.payload.to_string();
        let check = check.clone();
        // One job on the writer: the policy reads the writer's own (always warm) pages, and
        // the send path never opens a read transaction.
        self.write(move |c| {
            let m = &new.message;
            if let Some(key) = &m.idempotency_key
                && find_message(c, "idempotency_key", key, &m.tenant_id)?.is_some()
            {
                return enqueue(c, &new, &content, &payload).map(Ok);
            }
            let conversation = conv::conversation(c, &m.tenant_id, &m.channel_id, &new.contact)?;
            match crate::policy::plan(&conversation, &check, m.created_at) {
                Ok(plan) => enqueue_in(
                    c,
                    &new,
                    &content,
                    &payload,
                    &plan.session,
                    plan.open_fep_until,
                )
                .map(Ok),
                Err(refusal) => Ok(Err(refusal)),
            }
        })
        .await
    }

    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome> {
        // Serialise on the caller's thread: the writer is the one thread every write waits for.
        let content = new.message.content.to_string();
        let payload = new.payload.to_string();
        self.write(move |c| enqueue(c, &new, &content, &payload))
            .await
    }

    async fn get_message(
        &self,
        tenant_id: &str,
        id_or_wamid: &str,
    ) -> StoreResult<Option<Message>> {
        let (t, id) = (tenant_id.to_string(), id_or_wamid.to_string());
        self.read(move |c| {
            let col = if id.starts_with("msg_") {
                "id"
            } else {
                "wamid"
            };
            let sql =
                format!("SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = ?1 AND {col} = ?2");
            Ok(c.query_row(&sql, [t, id], rows::message).optional()?)
        })
        .await
    }

    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>> {
        let (t, k) = (tenant_id.to_string(), key.to_string());
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = ?1 AND idempotency_key = ?2"
            );
            Ok(c.query_row(&sql, [t, k], rows::message).optional()?)
        })
        .await
    }

    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>> {
        let id = message_id.to_string();
        self.read(move |c| {
            collect(
                c,
                "SELECT status, at, error FROM message_statuses WHERE message_id = ?1 ORDER BY at, status",
                [id],
                rows::status_entry,
            )
        })
        .await
    }

    async fn list_messages(
        &self,
        tenant_id: &str,
        f: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>> {
        let t = tenant_id.to_string();
        let f = f.clone();
        let page = page.clone();
        self.read(move |c| {
            // A session's messages are read through its index: a plain equality, not the
            // optional-filter form the planner cannot use an index for.
            let by_session = if f.session_id.is_some() {
                "session_id = ?10"
            } else {
                "?10 IS NULL"
            };
            let sql = format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE {by_session} AND tenant_id = ?1
                 AND (?2 IS NULL OR channel_id = ?2)
                 AND (?3 IS NULL OR status = ?3)
                 AND (?4 IS NULL OR direction = ?4)
                 AND (?5 IS NULL OR recipient = ?5)
                 AND (?6 IS NULL OR created_at >= ?6)
                 AND (?7 IS NULL OR created_at < ?7)
                 AND (?8 IS NULL OR id < ?8)
                 ORDER BY id DESC LIMIT ?9"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    t,
                    f.channel_id,
                    f.status.map(|s| s.as_str()),
                    f.direction.map(|d| d.as_str()),
                    f.recipient,
                    f.created_from,
                    f.created_to,
                    page.after,
                    page.limit,
                    f.session_id
                ],
                rows::message,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        self.read(|c| {
            collect(
                c,
                "SELECT status, COUNT(*) FROM messages GROUP BY status ORDER BY status",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }

    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64> {
        let t = tenant_id.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM messages WHERE tenant_id = ?1",
                [t],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            collect(
                c,
                "SELECT c.id FROM channels c WHERE EXISTS (SELECT 1 FROM outbox o
                 WHERE o.channel_id = c.id AND o.state = 'pending' AND o.next_attempt_at <= ?1)",
                [now],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn claim_sends(
        &self,
        channel_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>> {
        let ch = channel_id.to_string();
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE outbox SET state = 'inflight', claimed_at = ?2
                 WHERE message_id IN (
                    SELECT message_id FROM outbox
                    WHERE channel_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2
                    ORDER BY priority, next_attempt_at, message_id LIMIT ?3)
                 RETURNING message_id, tenant_id, channel_id, attempts, payload, priority, next_attempt_at",
            )?;
            let mut items = stmt
                .query_map(params![ch, now, limit], |r| {
                    let payload: String = r.get(4)?;
                    Ok((
                        r.get::<_, i32>(5)?,
                        r.get::<_, i64>(6)?,
                        OutboxItem {
                            message_id: r.get(0)?,
                            tenant_id: r.get(1)?,
                            channel_id: r.get(2)?,
                            attempts: r.get(3)?,
                            payload: serde_json::from_str(&payload).unwrap_or_default(),
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            items.sort_by(|a, b| (a.0, a.1, &a.2.message_id).cmp(&(b.0, b.1, &b.2.message_id)));
            Ok(items.into_iter().map(|(_, _, i)| i).collect())
        })
        .await
    }

    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()> {
        let results = results.to_vec();
        self.write(move |c| {
            for r in &results {
                record_result(c, r)?;
            }
            Ok(())
        })
        .await
    }

    async fn requeue_stale_sends(&self, claimed_before: i64, retry_at: i64) -> StoreResult<u64> {
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, claimed_at = NULL,
                 last_error = 'outcome unknown: sender stopped while the send was in flight'
                 WHERE state = 'inflight' AND claimed_at < ?1",
                params![claimed_before, retry_at],
            )? as u64)
        })
        .await
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        self.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?))
            .await
    }

    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<()> {
        let item = item.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO webhook_inbox (id, app_id, received_at, body) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![item.id, item.app_id, item.received_at, item.body])?;
            Ok(())
        })
        .await
    }

    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>> {
        self.read(move |c| {
            collect(
                c,
                "SELECT id, app_id, received_at, body FROM webhook_inbox WHERE processed_at IS NULL ORDER BY id LIMIT ?1",
                [limit],
                |r| {
                    Ok(InboxItem {
                        id: r.get(0)?,
                        app_id: r.get(1)?,
                        received_at: r.get(2)?,
                        body: r.get(3)?,
                    })
                },
            )
        })
        .await
    }

    async fn mark_inbox_processed(
        &self,
        ids: &[String],
        at: i64,
        new_events: &[NewEvent],
    ) -> StoreResult<()> {
        let (ids, new_events) = (ids.to_vec(), new_events.to_vec());
        self.write(move |c| {
            let mut stmt =
                c.prepare_cached("UPDATE webhook_inbox SET processed_at = ?2 WHERE id = ?1")?;
            for id in &ids {
                stmt.execute(params![id, at])?;
            }
            for e in &new_events {
                events::insert(c, e)?;
            }
            Ok(())
        })
        .await
    }

    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64> {
        self.write(move |c| events::prune(c, before, limit)).await
    }

    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits()
    }

    async fn list_events(&self, tenant_id: &str, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let (t, f) = (tenant_id.to_string(), filter.clone());
        self.read(move |c| events::list(c, &t, &f)).await
    }

    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>> {
        let (t, id) = (tenant_id.to_string(), id.to_string());
        self.read(move |c| events::get(c, &t, &id)).await
    }

    async fn events_after(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let (t, format) = (tenant_id.to_string(), format.to_string());
        self.read(move |c| events::after(c, &t, &format, cursor, since, limit))
            .await
    }

    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>> {
        let id = endpoint_id.to_string();
        self.read(move |c| events::due(c, &id, now, limit)).await
    }

    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>> {
        let id = endpoint_id.to_string();
        self.read(move |c| events::next_due(c, &id)).await
    }

    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()> {
        let record = record.clone();
        self.write(move |c| events::record(c, &record)).await
    }

    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        let (t, id, f) = (
            tenant_id.to_string(),
            endpoint_id.to_string(),
            filter.clone(),
        );
        self.read(move |c| events::attempts(c, &t, &id, &f)).await
    }

    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64> {
        let (t, id, sel) = (
            tenant_id.to_string(),
            endpoint_id.to_string(),
            selection.clone(),
        );
        self.write(move |c| events::replay(c, &t, &id, &sel, now))
            .await
    }

    async fn apply_status(&self, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
        let u = u.clone();
        self.write(move |c| apply_status(c, &u)).await
    }

    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool> {
        let new = new.clone();
        self.write(move |c| conv::insert_inbound(c, &new)).await
    }
}

impl SqliteStore {
    async fn channel_where(&self, col: &'static str, value: &str) -> StoreResult<Option<Channel>> {
        let v = value.to_string();
        self.read(move |c| {
            let sql =
                format!("SELECT {CHANNEL_COLS} FROM channels WHERE {col} = ?1 ORDER BY id LIMIT 1");
            Ok(c.query_row(&sql, [v], rows::channel).optional()?)
        })
        .await
    }
}

fn collect<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
    f: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, f)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn find_message(
    c: &Connection,
    col: &str,
    value: &str,
    tenant: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE {col} = ?1 AND tenant_id = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row([value, tenant], rows::message)
        .optional()?)
}

/// Finds or creates the contact for `key`, returning its id and whether it was created.
pub(super) fn upsert_contact(
    c: &Connection,
    tenant: &str,
    key: &ContactKey,
    now: i64,
) -> StoreResult<(String, bool)> {
    let (col, value) = match key {
        ContactKey::WaId(w) => ("wa_id", w),
        ContactKey::UserId(u) => ("user_id", u),
    };
    let select = match key {
        ContactKey::WaId(_) => "SELECT id FROM contacts WHERE tenant_id = ?1 AND wa_id = ?2",
        ContactKey::UserId(_) => "SELECT id FROM contacts WHERE tenant_id = ?1 AND user_id = ?2",
    };
    if let Some(id) = c
        .prepare_cached(select)?
        .query_row([tenant, value], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok((id, false));
    }
    let id = openbsp_domain::ids::new_id_at(openbsp_domain::ids::prefix::CONTACT, now);
    let sql = format!(
        "INSERT INTO contacts (id, tenant_id, {col}, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"
    );
    c.prepare_cached(&sql)?
        .execute(params![id, tenant, value, now])?;
    Ok((id, true))
}

/// Finds or creates the contact `key` names, linking `also` to it and naming it `name`, with
/// its `contact.updated` event (what [`crate::Store::upsert_contact`] does, inside the caller's
/// transaction). Returns its id and whether it was created.
fn upsert_profiled(
    c: &Connection,
    t: &str,
    key: &ContactKey,
    also: Option<&ContactKey>,
    name: Option<&str>,
    now: i64,
) -> StoreResult<(String, bool)> {
    let before = conv::find_contact(c, t, key)?;
    let (id, created) = conv::resolve_contact(c, t, key, also, now)?;
    let before = match (created, before) {
        (true, _) => None,
        (false, Some(b)) => Some(b),
        (false, None) => conv::get_contact(c, t, &id)?,
    };
    if let Some(name) = name {
        c.prepare_cached(
            "UPDATE contacts SET profile_name = ?2, updated_at = MAX(updated_at, ?3) WHERE id = ?1",
        )?
        .execute(params![id, name, now])?;
    }
    events::contact(c, t, &id, before.as_ref(), now)?;
    Ok((id, created))
}

fn enqueue(
    c: &Connection,
    new: &NewOutbound,
    content: &str,
    payload: &str,
) -> StoreResult<EnqueueOutcome> {
    enqueue_in(c, new, content, payload, &new.session, new.open_fep_until)
}

/// [`enqueue`] into the session `spec` finds or opens, opening a FEP window until `fep`.
fn enqueue_in(
    c: &Connection,
    new: &NewOutbound,
    content: &str,
    payload: &str,
    spec: &SessionSpec,
    fep: Option<i64>,
) -> StoreResult<EnqueueOutcome> {
    let mut message = new.message.clone();
    let m = &mut message;
    if let Some(key) = &m.idempotency_key
        && let Some(existing) = find_message(c, "idempotency_key", key, &m.tenant_id)?
    {
        let hash: Option<String> = c
            .prepare_cached("SELECT request_hash FROM messages WHERE id = ?1")?
            .query_row([&existing.id], |r| r.get(0))?;
        return Ok(if hash.as_deref() == Some(new.request_hash.as_str()) {
            EnqueueOutcome::Existing(existing)
        } else {
            EnqueueOutcome::KeyReused(existing)
        });
    }
    let contact_id = match &new.profile {
        // A Session Start names the contact as it links and names it, with its own event.
        Some(p) => {
            upsert_profiled(
                c,
                &m.tenant_id,
                &new.contact,
                p.also.as_ref(),
                p.name.as_deref(),
                m.created_at,
            )?
            .0
        }
        None => {
            let (id, created) = upsert_contact(c, &m.tenant_id, &new.contact, m.created_at)?;
            if created {
                events::contact(c, &m.tenant_id, &id, None, m.created_at)?;
            }
            id
        }
    };
    let (session, opened) = conv::open_session(
        c,
        &m.tenant_id,
        &m.channel_id,
        &contact_id,
        spec,
        m.created_at,
    )?;
    if opened {
        events::insert(
            c,
            &crate::events::session(crate::events::kind::SESSION_OPENED, &session, m.created_at),
        )?;
    }
    if let Some(until) = fep {
        conv::open_fep(
            c,
            &m.tenant_id,
            &m.channel_id,
            &contact_id,
            m.created_at,
            until,
        )?;
    }
    m.contact_id = Some(contact_id);
    m.session_id = Some(session.id);
    insert_message(c, m, content, Some(&new.request_hash))?;
    c.prepare_cached(
        "INSERT INTO outbox (message_id, tenant_id, channel_id, state, priority, attempts, next_attempt_at, payload)
         VALUES (?1, ?2, ?3, 'pending', ?4, 0, ?5, ?6)",
    )?
    .execute(params![m.id, m.tenant_id, m.channel_id, new.priority, m.created_at, payload])?;
    Ok(EnqueueOutcome::Created(message))
}

/// `INSERT INTO messages`, spelled out once (the column order is [`MESSAGE_COLS`]'s).
const INSERT_MESSAGE: &str = "INSERT INTO messages (id, tenant_id, channel_id, contact_id, direction, recipient, msg_type, content, wamid, status, error, biz_opaque_callback_data, context_message_id, idempotency_key, created_at, updated_at, session_id, template_id, rendered_text, request_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)";

pub(super) fn insert_message(
    c: &Connection,
    m: &Message,
    content: &str,
    request_hash: Option<&str>,
) -> StoreResult<()> {
    debug_assert!(INSERT_MESSAGE.contains(MESSAGE_COLS));
    // What template a message was sent from is the business's: an inbound message has none.
    let outbound = m.direction == Direction::Outbound;
    let template_id = m.template_id.as_deref().filter(|_| outbound);
    let rendered_text = m.rendered_text.as_deref().filter(|_| outbound);
    c.prepare_cached(INSERT_MESSAGE)?.execute(params![
        m.id,
        m.tenant_id,
        m.channel_id,
        m.contact_id,
        m.direction.as_str(),
        m.recipient,
        m.msg_type,
        content,
        m.wamid,
        m.status.as_str(),
        m.error.as_ref().map(|e| e.to_string()),
        m.biz_opaque_callback_data,
        m.context_message_id,
        m.idempotency_key,
        m.created_at,
        m.updated_at,
        m.session_id,
        template_id,
        rendered_text,
        request_hash,
    ])?;
    add_history(c, m, m.status, m.created_at, None, None)
}

/// Adds a status history entry, unless the message already reached that status, and its
/// `message.status` event (inbound messages get `message.received` from their caller).
fn add_history<'a>(
    c: &Connection,
    message: impl Into<Subject<'a>>,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
    pricing: Option<&str>,
) -> StoreResult<()> {
    let message = message.into();
    let message_id = match &message {
        Subject::Id(id) => *id,
        Subject::Message(m) => m.id.as_str(),
    };
    let added = c
        .prepare_cached(
            "INSERT INTO message_statuses (message_id, status, at, error) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (message_id, status) DO NOTHING",
        )?
        .execute(params![
            message_id,
            status.as_str(),
            at,
            error.map(|e| e.to_string())
        ])?;
    if added > 0 && status != MessageStatus::Received {
        match message {
            // Just inserted: the event is built from it, without reading it back.
            Subject::Message(m) => events::insert(
                c,
                &crate::events::message_status(m, status, at, error, pricing),
            )?,
            Subject::Id(id) => events::message_status(c, id, status, at, error, pricing)?,
        }
    }
    Ok(())
}

/// The message a history entry is for: by id, or the message itself when the caller has it.
enum Subject<'a> {
    Id(&'a str),
    Message(&'a Message),
}

impl<'a> From<&'a str> for Subject<'a> {
    fn from(id: &'a str) -> Self {
        Subject::Id(id)
    }
}

impl<'a> From<&'a Message> for Subject<'a> {
    fn from(m: &'a Message) -> Self {
        Subject::Message(m)
    }
}

/// Moves a message to `status` if that is forward; records history either way (the event is
/// written after the move, so it shows the message as it now is).
fn advance(
    c: &Connection,
    id: &str,
    current: MessageStatus,
    status: MessageStatus,
    at: i64,
    error: Option<&serde_json::Value>,
    pricing: Option<&str>,
) -> StoreResult<bool> {
    let moved = current.advance(status).is_some();
    if moved {
        c.prepare_cached(
            "UPDATE messages SET status = ?2, error = COALESCE(?3, error), updated_at = MAX(updated_at, ?4) WHERE id = ?1",
        )?
        .execute(params![id, status.as_str(), error.map(|e| e.to_string()), at])?;
    }
    add_history(c, id, status, at, error, pricing)?;
    Ok(moved)
}

fn current_status(
    c: &Connection,
    id: &str,
) -> StoreResult<Option<(MessageStatus, Option<String>)>> {
    let row: Option<(String, Option<String>)> = c
        .prepare_cached("SELECT status, wamid FROM messages WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(s, w)| MessageStatus::parse(&s).map(|s| (s, w))))
}

fn record_result(c: &Connection, r: &SendResult) -> StoreResult<()> {
    match r {
        SendResult::Accepted {
            message_id,
            wamid,
            at,
        } => {
            if let Some((current, _)) = current_status(c, message_id)? {
                c.prepare_cached("UPDATE messages SET wamid = ?2 WHERE id = ?1")?
                    .execute(params![message_id, wamid])?;
                advance(
                    c,
                    message_id,
                    current,
                    MessageStatus::Accepted,
                    *at,
                    None,
                    None,
                )?;
            }
            delete_outbox(c, message_id)
        }
        SendResult::Failed {
            message_id,
            error,
            at,
        } => {
            if let Some((current, _)) = current_status(c, message_id)? {
                advance(
                    c,
                    message_id,
                    current,
                    MessageStatus::Failed,
                    *at,
                    Some(error),
                    None,
                )?;
            }
            delete_outbox(c, message_id)
        }
        SendResult::Retry {
            message_id,
            next_at,
            error,
        } => {
            c.prepare_cached(
                "UPDATE outbox SET state = 'pending', attempts = attempts + 1, next_attempt_at = ?2,
                 claimed_at = NULL, last_error = ?3 WHERE message_id = ?1",
            )?
            .execute(params![message_id, next_at, error.to_string()])?;
            Ok(())
        }
    }
}

fn delete_outbox(c: &Connection, message_id: &str) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?
        .execute([message_id])?;
    Ok(())
}

fn apply_status(c: &Connection, u: &StatusUpdate) -> StoreResult<StatusOutcome> {
    let by_wamid: Option<(String, String, Option<String>)> = c
        .prepare_cached(
            "SELECT id, status, wamid FROM messages WHERE wamid = ?1 AND channel_id = ?2",
        )?
        .query_row([&u.wamid, &u.channel_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let found = match by_wamid {
        Some(row) => Some(row),
        // The send's answer was lost (a crash): the callback data carries our id.
        None => match &u.callback_data {
            Some(id) if id.starts_with("msg_") => c
                .prepare_cached(
                    "SELECT id, status, wamid FROM messages WHERE id = ?1 AND channel_id = ?2 AND direction = 'outbound'",
                )?
                .query_row([id, &u.channel_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?,
            _ => None,
        },
    };
    let Some((id, status, wamid)) = found else {
        return Ok(StatusOutcome::UnknownMessage);
    };
    if wamid.is_none() {
        c.prepare_cached("UPDATE messages SET wamid = ?2 WHERE id = ?1 AND wamid IS NULL")?
            .execute(params![id, u.wamid])?;
    }
    // Meta has the message: whatever the outbox thought, it must not be sent again.
    delete_outbox(c, &id)?;
    if let Some(category) = &u.pricing_category {
        c.prepare_cached(
            "UPDATE sessions SET kind = ?2 WHERE kind IS NULL AND id = (SELECT session_id FROM messages WHERE id = ?1)",
        )?
        .execute(params![id, category])?;
    }
    let current = MessageStatus::parse(&status).unwrap_or(MessageStatus::Queued);
    let moved = advance(
        c,
        &id,
        current,
        u.status,
        u.at,
        u.error.as_ref(),
        u.pricing_category.as_deref(),
    )?;
    Ok(if moved {
        StatusOutcome::Advanced { message_id: id }
    } else {
        StatusOutcome::Kept { message_id: id }
    })
}
