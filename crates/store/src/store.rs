//! The storage interface both backends implement.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;
use crate::policy::SendCheck;
use openbsp_domain::windows::Refusal;

/// Everything the gateway keeps. Implementations must behave identically; the shared test
/// suite (`tests/`) checks it on both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- tenants and keys -----------------------------------------------------------------

    /// Stores a new tenant.
    async fn create_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    /// A tenant by id.
    async fn get_tenant(&self, id: &str) -> StoreResult<Option<Tenant>>;
    /// All tenants, oldest first.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;
    /// Stores a new API key (its hash).
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// The key with this hash, if not revoked.
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Keys of a tenant (or all, for `None`).
    async fn list_api_keys(&self, tenant_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;

    // --- apps and channels ----------------------------------------------------------------

    /// Stores a new app.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    /// An app by id.
    async fn get_app(&self, id: &str) -> StoreResult<Option<App>>;
    /// Apps of a tenant (or all).
    async fn list_apps(&self, tenant_id: Option<&str>) -> StoreResult<Vec<App>>;
    /// The app with this verify-token hash.
    async fn find_app_by_verify_token(&self, hash: &str) -> StoreResult<Option<App>>;
    /// Stores a new channel; `Conflict` if its phone number id is taken.
    async fn create_channel(&self, channel: &Channel) -> StoreResult<()>;
    /// Replaces a channel's mutable fields (token, base URL, throughput, tier…).
    async fn update_channel(&self, channel: &Channel) -> StoreResult<()>;
    /// A channel by id.
    async fn get_channel(&self, id: &str) -> StoreResult<Option<Channel>>;
    /// A channel by Meta's phone number id (installation-wide: for webhooks and routing).
    async fn find_channel_by_phone_number_id(&self, pnid: &str) -> StoreResult<Option<Channel>>;
    /// The first channel of a WABA.
    async fn find_channel_by_waba(&self, waba_id: &str) -> StoreResult<Option<Channel>>;
    /// Channels of a tenant (or all).
    async fn list_channels(&self, tenant_id: Option<&str>) -> StoreResult<Vec<Channel>>;

    // --- contacts ---------------------------------------------------------------------------

    /// A contact by id, within a tenant.
    async fn get_contact(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Contact>>;
    /// A contact by `wa_id` or BSUID, within a tenant.
    async fn find_contact(&self, tenant_id: &str, key: &ContactKey)
    -> StoreResult<Option<Contact>>;
    /// Finds the contact with `key` (or with `also`, the user's other identifier), creating it
    /// if neither is known; fills in a missing identifier from `also` when no other contact
    /// has it (if another contact has it, the two are merged: see [`Store::insert_inbound`]);
    /// sets the profile name when `name` is given. Returns the contact and whether it was
    /// created.
    async fn upsert_contact(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        also: Option<&ContactKey>,
        name: Option<&str>,
        now: i64,
    ) -> StoreResult<(Contact, bool)>;
    /// Contacts of a tenant, newest first.
    async fn list_contacts(
        &self,
        tenant_id: &str,
        filter: &ContactFilter,
        page: &Page,
    ) -> StoreResult<Vec<Contact>>;
    /// Applies a business's change to a contact; `None` if the tenant has no such contact.
    async fn update_contact(
        &self,
        tenant_id: &str,
        id: &str,
        patch: &ContactPatch,
        now: i64,
    ) -> StoreResult<Option<Contact>>;
    /// Records a user's marketing opt-out or opt-in (Meta's `user_preferences` webhook),
    /// creating the contact if it is not known yet (so the choice is kept).
    async fn set_marketing_opt_out(
        &self,
        tenant_id: &str,
        key: &ContactKey,
        change: &OptOutChange,
    ) -> StoreResult<Contact>;
    /// A contact's windows, one per channel it wrote to.
    async fn contact_windows(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> StoreResult<Vec<ContactWindow>>;
    /// What decides a send to `key` on `channel_id`: the contact, its windows on that
    /// channel, and its open session there.
    async fn conversation(
        &self,
        tenant_id: &str,
        channel_id: &str,
        key: &ContactKey,
    ) -> StoreResult<Conversation>;

    // --- sessions ---------------------------------------------------------------------------

    /// The open session of a channel and contact, or a new one opened with `spec` at `now`.
    /// Returns it and whether it was opened by this call.
    async fn open_session(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        spec: &SessionSpec,
        now: i64,
    ) -> StoreResult<(Session, bool)>;
    /// A session by id, within a tenant.
    async fn get_session(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Session>>;
    /// Sessions of a tenant, newest first.
    async fn list_sessions(
        &self,
        tenant_id: &str,
        filter: &SessionFilter,
        page: &Page,
    ) -> StoreResult<Vec<Session>>;
    /// Closes an open session on request (`close_reason` = `closed`). Returns the session as it
    /// is now (unchanged if it was already closed); `None` if the tenant has no such session.
    async fn close_session(
        &self,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<Session>>;
    /// Closes every open session whose `expires_at` is at or before `now` (`closed_at` =
    /// its `expires_at`, `close_reason` = `expired`), at most `limit`; returns them.
    async fn close_expired_sessions(&self, now: i64, limit: u32) -> StoreResult<Vec<Session>>;
    /// The earliest `expires_at` of an open session: when the closer must next run.
    async fn next_session_expiry(&self) -> StoreResult<Option<i64>>;

    // --- messages ---------------------------------------------------------------------------

    /// Stores an outbound message, its contact, its `queued` status and its outbox row in one
    /// transaction (batched with concurrent calls). Honours the idempotency key. The message
    /// joins the open session of its channel and contact, or opens one from `new.session`;
    /// `new.open_fep_until` opens a free entry point window unless one is already open.
    async fn enqueue_outbound(&self, new: NewOutbound) -> StoreResult<EnqueueOutcome>;
    /// [`Store::enqueue_outbound`] behind the send policy: the conversation of the message's
    /// channel and recipient decides ([`crate::policy::plan`]) whether it may go, which
    /// session it joins or opens and which FEP window it opens (`new.session` and
    /// `new.open_fep_until` are replaced by the plan). `Err(refusal)` stores nothing.
    ///
    /// The policy and the enqueue are one transaction, and an idempotent retry is answered
    /// before the policy is asked (its first answer stands even after the window closed).
    async fn enqueue_checked(
        &self,
        new: NewOutbound,
        check: &SendCheck,
    ) -> StoreResult<Result<EnqueueOutcome, Refusal>>;
    /// A message of a tenant by gateway id or `wamid`.
    async fn get_message(&self, tenant_id: &str, id_or_wamid: &str)
    -> StoreResult<Option<Message>>;
    /// The message a tenant's `Idempotency-Key` created, if any.
    async fn find_message_by_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> StoreResult<Option<Message>>;
    /// A message's status history, oldest first.
    async fn message_history(&self, message_id: &str) -> StoreResult<Vec<StatusEntry>>;
    /// Messages of a tenant, newest first.
    async fn list_messages(
        &self,
        tenant_id: &str,
        filter: &MessageFilter,
        page: &Page,
    ) -> StoreResult<Vec<Message>>;
    /// Number of messages per status, installation-wide (for metrics).
    async fn count_messages_by_status(&self) -> StoreResult<Vec<(String, i64)>>;
    /// Number of messages of a tenant.
    async fn count_messages(&self, tenant_id: &str) -> StoreResult<i64>;

    // --- the outbox (sender) ----------------------------------------------------------------

    /// Channels that have sends due at `now`.
    async fn channels_with_due_sends(&self, now: i64) -> StoreResult<Vec<String>>;
    /// Claims up to `limit` due sends of a channel, by priority then age, marking them in
    /// flight at `now`.
    async fn claim_sends(
        &self,
        channel_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutboxItem>>;
    /// Records the outcomes of send attempts (message status, history, outbox) in one
    /// transaction.
    async fn record_send_results(&self, results: &[SendResult]) -> StoreResult<()>;
    /// Sends in flight since before `claimed_before` lost their sender (a crash): their outcome
    /// is unknown, so they wait until `retry_at` for a status webhook to reconcile them before
    /// they are sent again. Returns how many.
    async fn requeue_stale_sends(&self, claimed_before: i64, retry_at: i64) -> StoreResult<u64>;
    /// Sends waiting in the outbox (for metrics).
    async fn outbox_depth(&self) -> StoreResult<i64>;

    // --- templates --------------------------------------------------------------------------

    /// Applies a template change learnt from Meta (a template webhook), creating the template
    /// if unknown (new templates get status `UNKNOWN` unless the update says otherwise). The
    /// fields the update carries replace the stored ones (a new status also replaces the reason,
    /// clearing it when the update has none; `deleted_at` follows the status:
    /// set when it becomes `DELETED`, cleared when it becomes anything else), and a history
    /// entry of kind `update.event` records the new status, quality score or category and the
    /// old one, with the reason and `update.detail`; a redelivered update (same kind, value and
    /// time) adds no second entry. One transaction. Returns the template; `Conflict` if
    /// another tenant holds that WABA, name and language.
    async fn apply_template_update(&self, update: &TemplateUpdate) -> StoreResult<Template>;
    /// A template of a tenant's WABA by name and language (deleted ones too: the caller looks
    /// at the status).
    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>>;
    /// Stores a template the gateway submitted to Meta, with a new `tpl_…` id and a `created`
    /// history entry, in one transaction. `Conflict` if the WABA already has that name and
    /// language, unless that template is `DELETED`: its row is then reused (same id, every
    /// field reset from `new`, `deleted_at` cleared).
    async fn create_template(&self, new: &NewTemplate) -> StoreResult<Template>;
    /// A template of a tenant by the gateway's id (`tpl_…`) or Meta's template id; deleted ones
    /// too.
    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>>;
    /// A tenant's templates matching `filter` (exact matches; deleted ones only with
    /// `include_deleted`), in id order, after the cursor `filter.after`, at most `filter.limit`.
    async fn list_templates(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>>;
    /// Number of templates of a WABA, not counting deleted ones.
    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64>;
    /// Applies an edit of a template's definition (found by `edit.id`, the gateway's id or
    /// Meta's, within `edit.tenant_id`): the given fields and `updated_at`, with an `edited`
    /// history entry (value: the new status if given; detail: what changed). `None` if the
    /// tenant has no such template.
    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>>;
    /// Makes the gateway's copy of a template what Meta lists (keyed by WABA, name and
    /// language; created if unknown): category, status, components, Meta's id, parameter
    /// format, quality score, reason, previous category and TTL are replaced, and `deleted_at`
    /// cleared (unless the status is `DELETED`). A `synced` history entry is added only when
    /// it was created or something changed. `Conflict` if another tenant holds that key.
    async fn sync_template(&self, template: &SyncedTemplate) -> StoreResult<SyncOutcome>;
    /// Deletes a tenant's template `name` in a WABA: every language not already deleted, or
    /// only the one whose gateway or Meta id is `meta_template_id`. Each becomes `DELETED` with
    /// `deleted_at` = `at` and a `deleted` history entry. Returns them as they are now (empty
    /// when none matched).
    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        meta_template_id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>>;
    /// A template's history (`template_id` is the gateway's id), oldest first; empty if the
    /// tenant has no such template.
    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>>;

    // --- webhook endpoints ----------------------------------------------------------------

    /// Stores a new webhook endpoint as given (the caller chose its `whe_…` id and encrypted
    /// its secrets). Returns it; `Conflict` if the id is taken.
    async fn create_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<WebhookEndpoint>;
    /// A tenant's webhook endpoint by id; `None` if the tenant has no such endpoint.
    async fn get_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// A tenant's webhook endpoints, enabled or not, oldest first (id ascending): those whose
    /// id is greater than `page.after` (the last id of the previous page), at most
    /// `page.limit`.
    async fn list_webhook_endpoints(
        &self,
        tenant_id: &str,
        page: &Page,
    ) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Replaces the url, description, events, format, enabled flag, disabled reason, secrets,
    /// previous secret's expiry, `failing_since` and `updated_at` of the endpoint with
    /// `endpoint.id` that belongs to `endpoint.tenant_id` (its `created_at` stays). Returns it
    /// as stored now; `None` if that tenant has no such endpoint.
    async fn update_webhook_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    /// Deletes a tenant's webhook endpoint; `false` if the tenant had no such endpoint.
    async fn delete_webhook_endpoint(&self, tenant_id: &str, id: &str) -> StoreResult<bool>;
    /// Every tenant's enabled webhook endpoints, id ascending: what a dispatcher delivers to.
    async fn enabled_webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>>;

    // --- events and their delivery ---------------------------------------------------------

    /// Wakes when a transaction that may have written events commits (the value counts
    /// commits): what delivery waits on instead of polling. Another replica's events are not
    /// signalled: readers also look on a timer.
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64>;
    /// A tenant's native events matching `filter`, newest first.
    async fn list_events(&self, tenant_id: &str, filter: &EventFilter) -> StoreResult<Vec<Event>>;
    /// A tenant's event by id (either format).
    async fn get_event(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Event>>;
    /// A tenant's events in `format` after `cursor` in delivery order, at most `limit`; with no
    /// cursor, those made at or after `since`. Only events that no running transaction can
    /// precede are returned, so a reader that moves its cursor past what it read never skips
    /// one that commits later.
    async fn events_after(
        &self,
        tenant_id: &str,
        format: &str,
        cursor: Option<EventCursor>,
        since: i64,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// Deliveries of an endpoint waiting for an attempt due at or before `now`, earliest first,
    /// at most `limit`.
    async fn due_deliveries(
        &self,
        endpoint_id: &str,
        now: i64,
        limit: u32,
    ) -> StoreResult<Vec<PendingDelivery>>;
    /// When the endpoint's next waiting delivery is due.
    async fn next_delivery_due(&self, endpoint_id: &str) -> StoreResult<Option<i64>>;
    /// Records a batch of attempts to one endpoint in one transaction: the attempts logged,
    /// the cursor moved forward, retries scheduled (replacing what was pending), finished
    /// deliveries removed, `failing_since` set or cleared, and the endpoint disabled with its
    /// event when asked. Nothing is written if the endpoint no longer exists.
    async fn record_deliveries(&self, record: &DeliveryRecord) -> StoreResult<()>;
    /// An endpoint's delivery attempts matching `filter`, newest first; empty when the tenant
    /// has no such endpoint.
    async fn list_delivery_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        filter: &AttemptFilter,
    ) -> StoreResult<Vec<LoggedAttempt>>;
    /// Queues events for another delivery to a tenant's endpoint, due at `now` (the attempt
    /// number continuing from the last one logged). Returns how many; 0 when the tenant has no
    /// such endpoint or event.
    async fn replay_deliveries(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        selection: &ReplaySelection,
        now: i64,
    ) -> StoreResult<u64>;

    /// Forgets what is older than `before` (ms): events (except those still waiting for a
    /// delivery attempt) and delivery attempts, at most `limit` rows of each. Returns how many
    /// rows went.
    async fn prune_events(&self, before: i64, limit: u32) -> StoreResult<u64>;

    // --- Meta's webhooks --------------------------------------------------------------------

    /// Stores a verified webhook payload (batched with concurrent calls).
    async fn insert_inbox(&self, item: &InboxItem) -> StoreResult<()>;
    /// Payloads not yet processed, oldest first.
    async fn unprocessed_inbox(&self, limit: u32) -> StoreResult<Vec<InboxItem>>;
    /// Marks payloads processed, writing `events` (Meta's envelopes for the tenants whose
    /// endpoints want Meta's format) in the same transaction.
    async fn mark_inbox_processed(
        &self,
        ids: &[String],
        at: i64,
        events: &[NewEvent],
    ) -> StoreResult<()>;
    /// Applies a status: history row (deduplicated on message and status), status only
    /// forward, `wamid` learnt from the callback data if the send's answer was lost, and the
    /// outbox row of a reconciled send removed. A `pricing_category` sets the kind of the
    /// message's session if that is still unknown.
    async fn apply_status(&self, update: &StatusUpdate) -> StoreResult<StatusOutcome>;
    /// Stores an inbound message with its effects, in one transaction; `false` (and nothing
    /// changed) if that `wamid` was already stored. Effects:
    /// - the contact is found by `new.contact` or `new.also`, or created; a missing identifier
    ///   is filled in; when the two identifiers belong to two contacts, they are merged into
    ///   the older one (messages, sessions and windows move; a second open session on the same
    ///   channel is closed with reason `merged`; the newer contact is deleted);
    /// - the profile name and username are updated when given;
    /// - `changed_number` moves the contact to the new `wa_id` (the old one goes to
    ///   `previous_wa_ids`; a contact that already had the new number is merged into it);
    /// - `opt_out` sets or clears the marketing opt-out;
    /// - `opens_window`: the window's `last_inbound_at` becomes the message's time (if later),
    ///   `entry_point_at` too when `entry_point`; the message joins the open session (renewing
    ///   `expires_at` to 24 h after it and `last_inbound_at`), or opens one (`kind` service,
    ///   `opened_by` inbound). Without `opens_window` it joins the open session if there is one;
    /// - `context_wamid` is resolved to the gateway's message id when the gateway has it.
    async fn insert_inbound(&self, new: &NewInbound) -> StoreResult<bool>;
}
