//! Applies stored webhook payloads: statuses to outbound messages (forward only, idempotent),
//! inbound messages with their contacts. A payload is marked processed only after its effects
//! are committed, so a crash replays it, and replays are harmless.

use openbsp_domain::MessageStatus;
use openbsp_domain::clock::seconds_to_ms;
use openbsp_domain::ids::{new_id_at, prefix};
use std::collections::HashSet;
use std::sync::Arc;

use openbsp_store::{
    Channel, ContactKey, Direction, InboxItem, Message, NewDownload, NewEvent, NewInbound,
    OptOutChange, StatusOutcome, StatusUpdate, TemplateUpdate, event_format,
};
use openbsp_wire::webhook::{
    Envelope, InboundKind, InboundMessage, MessagesValue, Status, UserPreferencesValue, field_label,
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::core::{Core, SendOutcome};
use openbsp_domain::refs::ChannelRef;

/// Payloads taken per pass.
const BATCH: u32 = 256;
/// How long a replica's claim on the payloads it takes lasts.
const CLAIM_MS: i64 = 60_000;

/// How long a claim lasts here: [`CLAIM_MS`], but well inside the sender's `reconcile_grace`.
/// A dead replica's orphaned sends are retried once that grace has passed unless a status
/// settled them; a status payload the dead replica had claimed must reach another replica
/// before then, not a minute later (a claim that lapses while its batch still runs only costs
/// a second, harmless application: statuses move forward only, messages are kept once).
fn claim_ms(state: &Core) -> i64 {
    let grace = state.config.sender.reconcile_grace.as_millis() as i64;
    (grace / 3).clamp(1_000, CLAIM_MS)
}

/// Workers each claiming and applying their own batches: while one waits on the database
/// (its claim, its statuses' transaction, its mark), the others work. One worker measured
/// ~1,000 payloads/s on PostgreSQL with the database and the gateway mostly idle.
const WORKERS: usize = 4;

/// Runs until `shutdown`.
pub async fn run(state: Core, shutdown: watch::Receiver<bool>) {
    let workers = (0..WORKERS).map(|n| {
        // Each its own holder: a claim names the worker that took it.
        let holder = format!("{}/{n}", state.replica_id);
        worker(state.clone(), holder, shutdown.clone())
    });
    futures::future::join_all(workers).await;
}

/// One worker: a batch at a time, sleeping when none is waiting.
async fn worker(state: Core, holder: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        let processed = match process_pending(&state, &holder).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "webhook processing failed; will retry");
                0
            }
        };
        // A full batch: more may be waiting, unless the gateway is stopping (a backlog must not
        // hold the process: what is left stays in the inbox for the next start, or another
        // replica, to claim).
        if processed as u32 == BATCH && !*shutdown.borrow() {
            continue;
        }
        tokio::select! {
            // Stopping wins over a wake that is also ready.
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            _ = state.inbox_wake.notified() => {}
            _ = tokio::time::sleep(state.config.sender.poll_interval) => {}
        }
    }
}

/// Payloads applied at once: their writes share the store's group commits. Order does not
/// matter, because applying a payload is idempotent and statuses only move forward.
const CONCURRENCY: usize = 32;

/// Processes one batch of stored payloads; returns how many were processed. A payload whose
/// effects could not be stored stays unprocessed and is tried again on the next pass.
pub async fn process_pending(
    state: &Core,
    holder: &str,
) -> Result<usize, openbsp_store::StoreError> {
    use futures::StreamExt;
    // Claimed, so that replicas (and this replica's workers) sharing the database each process
    // a payload once; a claim outlives any batch by far, and lapses for the others if this
    // replica dies.
    let now = state.now();
    let items = state
        .store
        .claim_inbox(holder, now, now + claim_ms(state), BATCH)
        .await?;
    if items.is_empty() {
        return Ok(0);
    }
    if items.len() as u32 == BATCH {
        // More may be waiting: a sibling worker takes the next batch meanwhile.
        state.inbox_wake.notify_one();
    }
    // Tenants with an endpoint in Meta's format get each payload as Meta sent it.
    let meta_tenants: Arc<HashSet<String>> = Arc::new(
        state
            .store
            .enabled_webhook_endpoints()
            .await?
            .into_iter()
            .filter(|e| e.format == event_format::META)
            .map(|e| e.tenant_id)
            .collect(),
    );
    let work = items.into_iter().map(|item| {
        let state = state.clone();
        let meta_tenants = meta_tenants.clone();
        async move {
            let result = match process(&state, &item).await {
                Ok(statuses) if !meta_tenants.is_empty() => {
                    meta_events(&state, &item, &meta_tenants)
                        .await
                        .map(|events| (statuses, events))
                }
                Ok(statuses) => Ok((statuses, Vec::new())),
                Err(e) => Err(e),
            };
            (item.id, result)
        }
    });
    // In the order of arrival, so that the statuses of one message are applied in the order
    // Meta sent them (any order is correct, statuses only move forward; this one is exact).
    let results: Vec<_> = futures::stream::iter(work)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut ready = Vec::with_capacity(results.len());
    let mut first_error = None;
    for (id, result) in results {
        match result {
            Ok((statuses, events)) => ready.push((id, statuses, events)),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let mut done = Vec::with_capacity(ready.len());
    for (id, events, failed) in apply_batches(state, ready).await {
        match failed {
            None => done.push((id, events)),
            Some(e) => first_error = first_error.or(Some(e)),
        }
    }
    if !done.is_empty() {
        state.store.mark_inbox_processed(&done, state.now()).await?;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(done.len()),
    }
}

/// Statuses and inbound messages stored per batch at most.
const STATUS_BATCH: usize = 1_024;

/// Stores the statuses and inbound messages of processed payloads (`(id, effects, events)`),
/// many per transaction (the inbound messages in one, the statuses in another); answers each
/// payload's id and events with the error that kept its effects from being stored, if one
/// did. A batch that fails is redone payload by payload, so one payload's failure never holds
/// its neighbours back (storing is idempotent: what the batch stored before it failed is found
/// stored).
async fn apply_batches(
    state: &Core,
    ready: Vec<(String, Effects, Vec<NewEvent>)>,
) -> Vec<(String, Vec<NewEvent>, Option<openbsp_store::StoreError>)> {
    let mut out = Vec::with_capacity(ready.len());
    let mut group: Vec<(String, Effects, Vec<NewEvent>)> = Vec::new();
    let mut size = 0;
    let mut rest = ready.into_iter().peekable();
    while let Some(payload) = rest.next() {
        size += payload.1.len();
        group.push(payload);
        let full = rest
            .peek()
            .is_none_or(|next| size + next.1.len() > STATUS_BATCH);
        if !full {
            continue;
        }
        let all = Effects {
            statuses: group
                .iter()
                .flat_map(|p| p.1.statuses.iter().cloned())
                .collect(),
            inbound: group
                .iter()
                .flat_map(|p| p.1.inbound.iter().cloned())
                .collect(),
        };
        match apply_group(state, &all).await {
            Ok(()) => out.extend(group.drain(..).map(|(id, _, events)| (id, events, None))),
            Err(e) => {
                tracing::warn!(error = %e, statuses = all.statuses.len(), inbound = all.inbound.len(), "a batch of webhook effects failed; storing them payload by payload");
                for (id, effects, events) in group.drain(..) {
                    let failed = apply_group(state, &effects).await.err();
                    out.push((id, events, failed));
                }
            }
        }
        size = 0;
    }
    out
}

/// Stores `effects` (the inbound messages in one transaction, the statuses in another), then
/// does what follows each.
async fn apply_group(state: &Core, effects: &Effects) -> Result<(), openbsp_store::StoreError> {
    if !effects.inbound.is_empty() {
        // Each stored message marks the campaign recipient it answers, in its transaction.
        let stored = state.store.insert_inbounds(&effects.inbound).await?;
        for (new, stored) in effects.inbound.iter().zip(stored) {
            if stored {
                let kind = InboundKind::classify(&new.message.msg_type, None).metric_label();
                metrics::counter!("openbsp_inbound_messages_total", "type" => kind).increment(1);
                if new.media.is_some() {
                    state.media_wake.notify_one();
                }
            }
        }
    }
    if effects.statuses.is_empty() {
        return Ok(());
    }
    let outcomes = state.store.apply_statuses(&effects.statuses).await?;
    for (u, outcome) in effects.statuses.iter().zip(outcomes) {
        after_status(state, u, outcome);
    }
    Ok(())
}

/// What a payload holds for the batch to store together: its statuses and its inbound
/// messages.
#[derive(Default)]
struct Effects {
    statuses: Vec<StatusUpdate>,
    inbound: Vec<NewInbound>,
}

impl Effects {
    fn len(&self) -> usize {
        self.statuses.len() + self.inbound.len()
    }
}

/// Applies what a payload holds but its statuses and inbound messages, which it answers (see
/// [`apply_batches`]).
async fn process(state: &Core, item: &InboxItem) -> Result<Effects, openbsp_store::StoreError> {
    let mut updates = Vec::new();
    let mut inbound = Vec::new();
    if holds_nul(&item.body) {
        // No text the gateway keeps holds NUL (PostgreSQL can store none): kept in the inbox,
        // applied as nothing, rather than failing its batch on every pass.
        tracing::warn!(inbox.id = %item.id, "stored webhook holds NUL in a string; refused");
        metrics::counter!("openbsp_webhook_items_refused_total", "reason" => "nul").increment(1);
        return Ok(Effects::default());
    }
    let env: Envelope = match serde_json::from_slice(&item.body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(inbox.id = %item.id, error = %e, "stored webhook is not a Meta envelope; skipped");
            return Ok(Effects::default());
        }
    };
    for entry in env.entry {
        for change in entry.changes {
            match change.field.as_str() {
                "messages" => {}
                "user_preferences" => {
                    apply_user_preferences(state, item, &change.value).await?;
                    continue;
                }
                "phone_number_quality_update" => {
                    apply_phone_quality(state, item, &entry.id, &change.value).await?;
                    continue;
                }
                "business_capability_update" => {
                    apply_capability(state, item, &entry.id, &change.value).await?;
                    continue;
                }
                "message_template_components_update" => {
                    refresh_template(state, item, &entry.id, &change.value).await;
                    continue;
                }
                "message_template_status_update"
                | "template_category_update"
                | "message_template_quality_update" => {
                    // Meta's time of the change (redeliveries carry the same), else now.
                    let at = match entry.time {
                        None => state.now(),
                        Some(t) => match seconds_to_ms(t) {
                            Some(at) => at,
                            None => {
                                refuse(item, "entry.time", &t.to_string());
                                continue;
                            }
                        },
                    };
                    apply_template_change(state, item, &entry.id, &change.field, &change.value, at)
                        .await?;
                    continue;
                }
                other => {
                    // Kept in the inbox with the rest of the payload; nothing to apply yet.
                    metrics::counter!("openbsp_webhook_fields_unhandled_total", "field" => field_label(other)).increment(1);
                    tracing::debug!(field = %other, "webhook field not applied");
                    continue;
                }
            }
            let value = match MessagesValue::deserialize(&change.value) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(inbox.id = %item.id, error = %e, "malformed messages change; skipped");
                    continue;
                }
            };
            let Some(channel) = owned_channel(state, item, &value.metadata.phone_number_id).await?
            else {
                continue;
            };
            updates.extend(
                value
                    .statuses
                    .iter()
                    .filter_map(|s| status_update(state, item, &channel, s)),
            );
            inbound.extend(
                value
                    .messages
                    .iter()
                    .filter_map(|m| inbound_of(state, item, &channel, &value, m)),
            );
        }
    }
    Ok(Effects {
        statuses: updates,
        inbound,
    })
}

/// Meta's envelope of a payload for each tenant in `tenants` that owns some of its entries:
/// the envelope with that tenant's entries, as Meta sent them. An entry belongs to the tenant
/// of its number (`messages`, `user_preferences`: the change's `metadata.phone_number_id`) or
/// of its WABA (the entry's `id`), when the app that signed the payload owns that channel.
async fn meta_events(
    state: &Core,
    item: &InboxItem,
    tenants: &HashSet<String>,
) -> Result<Vec<NewEvent>, openbsp_store::StoreError> {
    let Ok(env) = serde_json::from_slice::<Value>(&item.body) else {
        return Ok(Vec::new());
    };
    // Each change goes to the tenant of its own number (or of the entry's WABA): an entry whose
    // changes concern numbers of several tenants (one Meta app serving them all) is split, each
    // tenant getting the entry with its changes only.
    let mut owned: Vec<(String, Vec<Value>, &'static str)> = Vec::new();
    for entry in env["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let field = change["field"].as_str().unwrap_or_default();
            let channel = match change["value"]["metadata"]["phone_number_id"].as_str() {
                Some(pnid) => state
                    .channel(&ChannelRef::PhoneNumberId(pnid.to_string()))
                    .await
                    .map_err(|_| {
                        openbsp_store::StoreError::Database("channel lookup failed".into())
                    })?,
                None => match entry["id"].as_str() {
                    Some(waba) => state.store.find_channel_by_waba(waba).await?,
                    None => None,
                },
            };
            let Some(channel) = channel else {
                continue;
            };
            if !tenants.contains(&channel.tenant_id) || !signed_for(state, item, &channel).await {
                continue;
            }
            let tenant_entries = match owned.iter_mut().find(|(t, _, _)| *t == channel.tenant_id) {
                Some((_, entries, _)) => entries,
                None => {
                    let kind = meta_event_type(field, &change["value"]);
                    owned.push((channel.tenant_id.clone(), Vec::new(), kind));
                    &mut owned.last_mut().expect("just pushed").1
                }
            };
            // This entry's changes for the tenant, in Meta's order.
            match tenant_entries
                .iter_mut()
                .find(|e| e["id"] == entry["id"] && e["time"] == entry["time"])
            {
                Some(e) => {
                    if let Some(list) = e["changes"].as_array_mut() {
                        list.push(change.clone());
                    }
                }
                None => {
                    let mut e = entry.clone();
                    e["changes"] = Value::Array(vec![change.clone()]);
                    tenant_entries.push(e);
                }
            }
        }
    }
    let mut events = Vec::with_capacity(owned.len());
    for (tenant, mut entries, kind) in owned {
        callers_callback_data(state, &tenant, &mut entries).await?;
        let mut envelope = env.clone();
        envelope["entry"] = Value::Array(entries);
        let mut e = NewEvent::native(&tenant, kind, envelope);
        e.format = event_format::META.to_string();
        events.push(e);
    }
    Ok(events)
}

/// Puts back in each status of `entries` the `biz_opaque_callback_data` its sender gave: Meta
/// echoes what the gateway sent it (the gateway's message id, to match its statuses), and a
/// handler written for Meta expects its own value (or none, when it gave none).
async fn callers_callback_data(
    state: &Core,
    tenant_id: &str,
    entries: &mut [Value],
) -> Result<(), openbsp_store::StoreError> {
    for entry in entries {
        let changes = entry["changes"].as_array_mut().into_iter().flatten();
        for change in changes {
            let statuses = change["value"]["statuses"]
                .as_array_mut()
                .into_iter()
                .flatten();
            for status in statuses {
                let Some(obj) = status.as_object_mut() else {
                    continue;
                };
                let Some(echoed) = obj.get("biz_opaque_callback_data") else {
                    continue;
                };
                let Some(wamid) = obj.get("id").and_then(Value::as_str) else {
                    continue;
                };
                // The echo is the gateway's id, known before Meta answered: a status may come
                // first (Meta answers late), when the message has no wamid yet. By the wamid
                // only when the echo is no message of the tenant's that this status may be.
                let mut message = match echoed.as_str() {
                    Some(id) => state.store.get_message(tenant_id, id).await?,
                    None => None,
                };
                if message
                    .as_ref()
                    .is_some_and(|m| m.wamid.as_deref().is_some_and(|w| w != wamid))
                {
                    message = None;
                }
                if message.is_none() {
                    message = state.store.get_message(tenant_id, wamid).await?;
                }
                let own = message.and_then(|m| m.biz_opaque_callback_data);
                match own {
                    Some(v) => {
                        obj.insert("biz_opaque_callback_data".into(), Value::String(v));
                    }
                    None => {
                        obj.remove("biz_opaque_callback_data");
                    }
                }
            }
        }
    }
    Ok(())
}

/// The native event type a Meta change corresponds to, for endpoints' patterns.
fn meta_event_type(field: &str, value: &Value) -> &'static str {
    use openbsp_store::events::kind;
    match field {
        "messages" if value.get("messages").is_some() => kind::MESSAGE_RECEIVED,
        "messages" => kind::MESSAGE_STATUS,
        "message_template_quality_update" => kind::TEMPLATE_QUALITY,
        "template_category_update" => kind::TEMPLATE_CATEGORY,
        "message_template_status_update" | "message_template_components_update" => {
            kind::TEMPLATE_STATUS
        }
        "user_preferences" => kind::CONTACT_UPDATED,
        _ => "meta.other",
    }
}

/// `phone_number_quality_update` (entry id: the WABA; value: the number and the event): a
/// `THROUGHPUT_UPGRADE` raises the number's channel to 1,000 msg/s.
async fn apply_phone_quality(
    state: &Core,
    item: &InboxItem,
    waba_id: &str,
    value: &Value,
) -> Result<(), openbsp_store::StoreError> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let number = digits(
        value
            .get("display_phone_number")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let Some(first) = state.store.find_channel_by_waba(waba_id).await? else {
        return Ok(());
    };
    for c in state.store.list_channels(Some(&first.tenant_id)).await? {
        if c.waba_id == waba_id
            && c.app_id == item.app_id
            && digits(&c.display_phone_number) == number
        {
            crate::core::channels::apply_quality_update(state, &c, value)
                .await
                .map_err(|e| openbsp_store::StoreError::Database(Box::new(e)))?;
        }
    }
    Ok(())
}

/// `business_capability_update` (entry id: a WABA of the portfolio): the portfolio's
/// messaging limit, for the channels of that WABA the signing app owns (and so their
/// portfolio's other numbers).
async fn apply_capability(
    state: &Core,
    item: &InboxItem,
    waba_id: &str,
    value: &Value,
) -> Result<(), openbsp_store::StoreError> {
    let Some(first) = state.store.find_channel_by_waba(waba_id).await? else {
        return Ok(());
    };
    for c in state.store.list_channels(Some(&first.tenant_id)).await? {
        if c.waba_id == waba_id && c.app_id == item.app_id {
            crate::core::channels::apply_capability_update(state, &c, value)
                .await
                .map_err(|e| openbsp_store::StoreError::Database(Box::new(e)))?;
        }
    }
    Ok(())
}

/// The channel of `pnid`, if the app whose secret signed the payload owns it (else the change
/// is skipped, with a warning).
async fn owned_channel(
    state: &Core,
    item: &InboxItem,
    pnid: &str,
) -> Result<Option<Channel>, openbsp_store::StoreError> {
    match state
        .channel(&ChannelRef::PhoneNumberId(pnid.to_string()))
        .await
    {
        Ok(Some(c)) if signed_for(state, item, &c).await => Ok(Some(c)),
        Ok(_) => {
            tracing::warn!(inbox.id = %item.id, phone_number_id = %pnid, "change for a number the signing app does not own; skipped");
            Ok(None)
        }
        Err(_) => Err(openbsp_store::StoreError::Database(
            "channel lookup failed".into(),
        )),
    }
}

/// Whether payload `item` may speak for channel `c`: its app signed it, or another gateway app
/// with the same secret (the same Meta app) did (one Meta app serving numbers of several tenants: each tenant has
/// registered it, and each change goes to the tenant of its own number).
async fn signed_for(state: &Core, item: &InboxItem, c: &Channel) -> bool {
    if c.app_id == item.app_id {
        return true;
    }
    match (
        state.app_with_secret(&item.app_id).await,
        state.app_with_secret(&c.app_id).await,
    ) {
        // The same secret, not merely the same Meta app id: a tenant could register another's
        // app id, never its secret. The payload was signed with the owner's secret.
        (Ok(Some((_, a))), Ok(Some((_, b)))) => a.same_app_as(&b),
        _ => false,
    }
}

/// Meta's time of an item (Unix seconds, as a string) in Unix ms: `fallback` when it is not a
/// number, `None` when it is one that is no date (the item is refused: see [`refuse`]).
fn unix_ms(ts: &str, fallback: i64) -> Option<i64> {
    match ts.parse::<i64>() {
        Ok(secs) => seconds_to_ms(secs),
        Err(_) => Some(fallback),
    }
}

/// Whether a payload holds NUL in a string (a key or a value): JSON writes it `\u0000`, so
/// only a payload with that escape is parsed again to tell.
fn holds_nul(body: &[u8]) -> bool {
    body.windows(6).any(|w| w == br"\u0000")
        && matches!(
            openbsp_wire::json::read(body),
            Err(openbsp_wire::json::Unreadable::Nul)
        )
}

/// Records that an item of payload `item` (a message, a status, a preference, a template
/// change) was refused because its time `what` (`value`) is no date: a warning and a count,
/// and the rest of the payload applied. Never a panic: the payload would be claimed again, and
/// fail again, forever.
fn refuse(item: &InboxItem, what: &'static str, value: &str) {
    tracing::warn!(inbox.id = %item.id, field = what, value, "webhook item with a time out of range; refused");
    metrics::counter!("openbsp_webhook_items_refused_total", "reason" => "time_out_of_range")
        .increment(1);
}

/// The update a webhook status asks for (`None`: a status this version does not know, or one
/// whose time is refused).
fn status_update(
    state: &Core,
    item: &InboxItem,
    channel: &Channel,
    s: &Status,
) -> Option<StatusUpdate> {
    let Some(status) = MessageStatus::parse(&s.status) else {
        tracing::debug!(status = %s.status, "unknown status; ignored");
        return None;
    };
    let Some(at) = unix_ms(&s.timestamp, state.now()) else {
        refuse(item, "statuses.timestamp", &s.timestamp);
        return None;
    };
    Some(StatusUpdate {
        channel_id: channel.id.clone(),
        wamid: s.id.clone(),
        status,
        at,
        callback_data: s.biz_opaque_callback_data.clone(),
        error: (!s.errors.is_empty()).then(|| serde_json::Value::Array(s.errors.clone())),
        pricing_category: s
            .pricing
            .as_ref()
            .and_then(|p| p.get("category"))
            .and_then(|c| c.as_str())
            .map(session_kind_of_category),
    })
}

/// What follows a status once stored: its metric, and the word to a Cloud-API caller.
fn after_status(state: &Core, u: &StatusUpdate, outcome: StatusOutcome) {
    let status = u.status;
    metrics::counter!("openbsp_statuses_total", "status" => status.as_str()).increment(1);
    match outcome {
        StatusOutcome::Advanced {
            message_id,
            learned_wamid,
        }
        | StatusOutcome::Kept {
            message_id,
            learned_wamid,
        } => {
            // A Cloud-API caller whose send's answer was lost learns the wamid here: on this
            // replica if it waits here, else by a notice, sent only when the status taught
            // the message its wamid. Otherwise the sender told the caller already, and a
            // notice per status (three per send) would be the replicas' busiest traffic.
            if status != MessageStatus::Failed {
                let outcome = SendOutcome::Accepted {
                    wamid: u.wamid.clone(),
                    message_status: None,
                };
                if learned_wamid {
                    state.notify_outcome(&message_id, outcome);
                } else {
                    state.deliver_outcome(&message_id, outcome);
                }
            }
        }
        StatusOutcome::UnknownMessage => {
            tracing::debug!(wamid = %u.wamid, "status for a message this gateway did not send");
        }
    }
}

/// The session kind for a pricing category (`marketing_lite` is marketing,
/// `authentication-international` authentication, …).
fn session_kind_of_category(category: &str) -> String {
    let c = category.to_ascii_lowercase();
    for kind in ["marketing", "utility", "authentication", "service"] {
        if c.starts_with(kind) {
            return kind.to_string();
        }
    }
    c
}

/// Who a webhook message or preference is about: `wa_id` and/or BSUID, primary first.
fn user_keys(
    wa_id: Option<&String>,
    user_id: Option<&String>,
) -> Option<(ContactKey, Option<ContactKey>)> {
    match (wa_id, user_id) {
        (Some(w), u) => Some((
            ContactKey::WaId(w.clone()),
            u.cloned().map(ContactKey::UserId),
        )),
        (None, Some(u)) => Some((ContactKey::UserId(u.clone()), None)),
        (None, None) => None,
    }
}

/// The opt-out change a keyword message asks for.
fn keyword_opt_out(state: &Core, m: &InboundMessage, at: i64) -> Option<OptOutChange> {
    let text = m.text_body()?.trim();
    let is = |list: &[String]| list.iter().any(|k| k.eq_ignore_ascii_case(text));
    let opted_out = if is(&state.config.opt_out_keywords) {
        true
    } else if is(&state.config.opt_in_keywords) {
        false
    } else {
        return None;
    };
    Some(OptOutChange {
        opted_out,
        source: "keyword".into(),
        at,
    })
}

/// The inbound message `m` as the store takes it (`None`: it names no sender, or its time is
/// refused); stored with the batch's statuses (see [`apply_batches`]).
fn inbound_of(
    state: &Core,
    item: &InboxItem,
    channel: &Channel,
    value: &MessagesValue,
    m: &InboundMessage,
) -> Option<NewInbound> {
    let profile = value.contacts.iter().find(|c| {
        (m.from.is_some() && c.wa_id == m.from)
            || (m.from_user_id.is_some() && c.user_id == m.from_user_id)
    });
    let Some((contact, also)) = user_keys(m.from.as_ref(), m.from_user_id.as_ref()) else {
        tracing::warn!(wamid = %m.id, "inbound message without a sender; skipped");
        return None;
    };
    let also = also.or_else(|| {
        let p = profile?;
        match &contact {
            ContactKey::WaId(_) => p.user_id.clone().map(ContactKey::UserId),
            ContactKey::UserId(_) => p.wa_id.clone().map(ContactKey::WaId),
        }
    });
    // The message's time is Meta's: it decides the window, however late the webhook comes.
    let Some(at) = unix_ms(&m.timestamp, state.now()) else {
        refuse(item, "messages.timestamp", &m.timestamp);
        return None;
    };
    let changed_number = m.system_change().map(str::to_string);
    let context_wamid = m.context_id().map(str::to_string);
    let mut content = serde_json::to_value(m).unwrap_or_default();
    let media = inbound_media(&mut content, at);
    let message = Message {
        id: new_id_at(prefix::MESSAGE, at),
        tenant_id: channel.tenant_id.clone(),
        channel_id: channel.id.clone(),
        contact_id: None,
        direction: Direction::Inbound,
        recipient: m
            .from
            .clone()
            .or_else(|| m.from_user_id.clone())
            .unwrap_or_default(),
        msg_type: m.kind.clone(),
        content,
        wamid: Some(m.id.clone()),
        status: MessageStatus::Received,
        error: (!m.errors().is_empty()).then(|| serde_json::Value::Array(m.errors().to_vec())),
        biz_opaque_callback_data: None,
        context_message_id: context_wamid.clone(),
        session_id: None,
        template_id: None,
        rendered_text: None,
        campaign_id: None,
        idempotency_key: None,
        created_at: at,
        updated_at: at,
    };
    Some(NewInbound {
        message,
        contact,
        also,
        profile_name: profile
            .and_then(|p| p.profile.as_ref())
            .and_then(|p| p.name.clone()),
        username: profile
            .and_then(|p| p.profile.as_ref())
            .and_then(|p| p.username.clone()),
        // Every user message opens the window; a system notice is not a user message.
        opens_window: m.kind != "system",
        entry_point: m.referral().is_some(),
        opt_out: keyword_opt_out(state, m, at),
        changed_number,
        context_wamid,
        // Any message from the user answers their latest campaign message of the period.
        replies_since: Some(
            at.saturating_sub(state.config.campaign_reply_window.as_millis() as i64),
        ),
        media,
    })
}

/// The media of an inbound message (`image`, `video`, `audio`, `document`, `sticker` with
/// Meta's `id`), to download: its gateway id is chosen now and written into the message's
/// media object as `media_id`, so the message and its `message.received` event name it
/// before the bytes are fetched (`media.stored` says when they are).
fn inbound_media(content: &mut serde_json::Value, at: i64) -> Option<NewDownload> {
    let kind = content.get("type")?.as_str()?.to_string();
    openbsp_wire::media::MediaKind::from_name(&kind)?;
    let object = content.get_mut(&kind)?.as_object_mut()?;
    let text = |k: &str| {
        object
            .get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let meta_media_id = text("id").filter(|i| !i.is_empty())?;
    let download = NewDownload {
        media_id: new_id_at(prefix::MEDIA, at),
        meta_media_id,
        mime_type: text("mime_type").unwrap_or_default(),
        sha256: text("sha256"),
        filename: text("filename"),
    };
    object.insert("media_id".into(), download.media_id.clone().into());
    Some(download)
}

/// `user_preferences`: a user stopped or resumed marketing messages.
async fn apply_user_preferences(
    state: &Core,
    item: &InboxItem,
    value: &serde_json::Value,
) -> Result<(), openbsp_store::StoreError> {
    let prefs = match UserPreferencesValue::deserialize(value) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(inbox.id = %item.id, error = %e, "malformed user_preferences change; skipped");
            return Ok(());
        }
    };
    let Some(channel) = owned_channel(state, item, &prefs.metadata.phone_number_id).await? else {
        return Ok(());
    };
    for p in &prefs.user_preferences {
        let Some(at) = seconds_to_ms(p.timestamp) else {
            refuse(item, "user_preferences.timestamp", &p.timestamp.to_string());
            continue;
        };
        let Some(opted_out) = p.marketing_opt_out() else {
            tracing::debug!(category = %p.category, "user preference not about marketing; ignored");
            continue;
        };
        let Some((key, also)) = user_keys(p.wa_id.as_ref(), p.user_id.as_ref()) else {
            continue;
        };
        if also.is_some() {
            // Both identifiers: the contact learns the one it lacks (or two merge).
            state
                .store
                .upsert_contact(&channel.tenant_id, &key, also.as_ref(), None, at)
                .await?;
        }
        let change = OptOutChange {
            opted_out,
            source: "user_preferences".into(),
            at,
        };
        state
            .store
            .set_marketing_opt_out(&channel.tenant_id, &key, &change)
            .await?;
        metrics::counter!("openbsp_marketing_preferences_total", "value" => if opted_out { "stop" } else { "resume" }).increment(1);
    }
    Ok(())
}

/// `message_template_status_update`, `template_category_update` and
/// `message_template_quality_update`: a template's status (with Meta's reason and extra
/// information), category and quality, each kept in its history.
async fn apply_template_change(
    state: &Core,
    item: &InboxItem,
    waba_id: &str,
    field: &str,
    value: &serde_json::Value,
    at: i64,
) -> Result<(), openbsp_store::StoreError> {
    let channel = match state.store.find_channel_by_waba(waba_id).await? {
        Some(c) if c.app_id == item.app_id => c,
        _ => {
            tracing::warn!(inbox.id = %item.id, waba_id, "template update for a WABA the signing app does not own; skipped");
            return Ok(());
        }
    };
    let s = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(name), Some(language)) = (s("message_template_name"), s("message_template_language"))
    else {
        tracing::warn!(inbox.id = %item.id, field, "template update without name or language; skipped");
        return Ok(());
    };
    let meta_template_id = match value.get("message_template_id") {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let base = base_update(&channel, name, language, meta_template_id, at);
    let update = match field {
        "template_category_update" => TemplateUpdate {
            category: s("new_category"),
            previous_category: s("previous_category"),
            event: "category".to_string(),
            detail: value.clone(),
            ..base
        },
        "message_template_quality_update" => TemplateUpdate {
            quality_score: s("new_quality_score"),
            event: "quality".to_string(),
            detail: value.clone(),
            ..base
        },
        _ => TemplateUpdate {
            category: s("message_template_category"),
            status: s("event").and_then(|e| status_after(&e)),
            event: match s("event").as_deref() {
                Some("FLAGGED") => "flagged".to_string(),
                Some("LOCKED") => "locked".to_string(),
                _ => "status".to_string(),
            },
            reason: s("reason")
                .or_else(|| {
                    value
                        .pointer("/rejection_info/reason")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
                .filter(|r| r != "NONE"),
            detail: value.clone(),
            ..base
        },
    };
    // Meta redelivers for days: an update older than one already applied (a late APPROVED
    // after a PAUSED) is not news, and must not undo it.
    if let Some(known) = state
        .store
        .find_template(
            &channel.tenant_id,
            &channel.waba_id,
            &update.name,
            &update.language,
        )
        .await?
    {
        let newer = state
            .store
            .template_history(&channel.tenant_id, &known.id)
            .await?
            .iter()
            .any(|e| e.kind == update.event && e.at > update.at);
        if newer {
            tracing::info!(inbox.id = %item.id, template.id = %known.id, field, "template update older than one already applied; skipped");
            metrics::counter!("openbsp_template_updates_stale_total").increment(1);
            return Ok(());
        }
    }
    metrics::counter!("openbsp_template_updates_total", "field" => field_label(field)).increment(1);
    let result = state.store.apply_template_update(&update).await;
    // A category may have changed: sends must see it at once.
    state.invalidate();
    match result {
        Ok(_) | Err(openbsp_store::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `message_template_components_update` (an edit made in WhatsApp Manager): the template is
/// read again from Meta, so sends are checked against what Meta now holds.
async fn refresh_template(
    state: &Core,
    item: &InboxItem,
    waba_id: &str,
    value: &serde_json::Value,
) {
    let Some(name) = value.get("message_template_name").and_then(|v| v.as_str()) else {
        return;
    };
    let channel = match state.store.find_channel_by_waba(waba_id).await {
        Ok(Some(c)) if c.app_id == item.app_id => c,
        _ => return,
    };
    if let Err(e) =
        crate::core::templates::sync(state, &channel.tenant_id, &channel, Some(name)).await
    {
        // Sends still check against the stored definition, and a send that fails this way
        // asks Meta again.
        tracing::warn!(inbox.id = %item.id, template = name, error = ?e, "could not read the edited template from Meta");
    }
    state.invalidate();
}

/// The status a template has after a `message_template_status_update` event (reference
/// §2.4): most events are the status itself; REINSTATED and UNARCHIVED bring it back to
/// APPROVED; FLAGGED (a warning) and LOCKED (no more edits) leave it as it is.
fn status_after(event: &str) -> Option<String> {
    match event {
        "FLAGGED" | "LOCKED" => None,
        "REINSTATED" | "UNARCHIVED" => Some("APPROVED".to_string()),
        other => Some(other.to_string()),
    }
}

fn base_update(
    channel: &Channel,
    name: String,
    language: String,
    meta_template_id: Option<String>,
    at: i64,
) -> TemplateUpdate {
    TemplateUpdate {
        tenant_id: channel.tenant_id.clone(),
        waba_id: channel.waba_id.clone(),
        name,
        language,
        category: None,
        status: None,
        meta_template_id,
        reason: None,
        quality_score: None,
        previous_category: None,
        event: "status".to_string(),
        detail: serde_json::Value::Null,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_testkit::{Backend, TestDb};

    /// A stopping gateway's processor finishes the batches it holds and returns, whatever is
    /// left in the inbox (which stays there, unclaimed by it once its claims lapse): it used
    /// to go on while batches came full, so a backlog of minutes held the process past its
    /// orchestrator's patience.
    async fn a_backlog_does_not_hold_a_stopping_processor(backend: Backend) {
        let db = TestDb::new(backend).await;
        let store = openbsp_store::open(&db.url).await.expect("open store");
        let (key, _) = openbsp_domain::crypto::MasterKey::generate();
        let core = Core::new(crate::config::Config::for_tests(key), store.clone()).unwrap();
        let backlog = 4 * WORKERS * BATCH as usize;
        for n in 0..backlog {
            store
                .insert_inbox(&InboxItem {
                    id: format!("whk_{n:08}"),
                    app_id: "app_test".into(),
                    received_at: 1_000,
                    // Bodies apart: a copy of one stored is not stored again.
                    body: format!(r#"{{"object":"whatsapp_business_account","entry":[],"n":{n}}}"#)
                        .into_bytes(),
                })
                .await
                .unwrap();
        }
        let (stop, stopped) = watch::channel(true);
        run(core, stopped).await;
        drop(stop);
        let left = store.unprocessed_inbox(backlog as u32).await.unwrap().len();
        assert!(
            left >= backlog - WORKERS * BATCH as usize && left < backlog,
            "each worker takes at most its batch, then stops: {left} of {backlog} left"
        );
    }

    #[tokio::test]
    async fn a_backlog_does_not_hold_a_stopping_processor_sqlite() {
        a_backlog_does_not_hold_a_stopping_processor(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn a_backlog_does_not_hold_a_stopping_processor_postgres() {
        a_backlog_does_not_hold_a_stopping_processor(Backend::Postgres).await;
    }
}
