//! Builders shared by the stories: a fresh store, a tenant with an app and a channel, messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::CSW_MS;
use openbsp_store::*;
use openbsp_testkit::{Backend, TestDb};
use serde_json::json;

/// A fresh database and the store on it. Keep the `TestDb` alive as long as the store.
pub async fn open_store(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = openbsp_store::open(&db.url).await.expect("open store");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.backend(), expected);
    store.ping().await.expect("ping");
    (db, store)
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A number unique in this test process, for phone number ids and such.
pub fn unique() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// A tenant with one app and one channel.
pub struct World {
    pub tenant: Tenant,
    pub app: App,
    pub channel: Channel,
}

pub fn tenant(name: &str, at: i64) -> Tenant {
    Tenant {
        id: new_id_at(prefix::TENANT, at),
        name: name.to_string(),
        created_at: at,
    }
}

pub fn app(tenant_id: &str, at: i64) -> App {
    let n = unique();
    App {
        id: new_id_at(prefix::APP, at),
        tenant_id: tenant_id.to_string(),
        name: format!("app {n}"),
        meta_app_id: Some(format!("meta{n}")),
        app_secret_enc: format!("secret-enc-{n}"),
        verify_token_enc: format!("verify-enc-{n}"),
        verify_token_hash: format!("verify-hash-{n}"),
        created_at: at,
        previous_secret_enc: None,
        previous_secret_expires_at: None,
    }
}

pub fn channel(tenant_id: &str, app_id: &str, at: i64) -> Channel {
    let n = unique();
    Channel {
        id: new_id_at(prefix::CHANNEL, at),
        tenant_id: tenant_id.to_string(),
        app_id: app_id.to_string(),
        phone_number_id: format!("1{n:014}"),
        waba_id: format!("2{n:014}"),
        display_phone_number: format!("1555{n:07}"),
        access_token_enc: format!("token-enc-{n}"),
        graph_base_url: "http://127.0.0.1:9".to_string(),
        graph_version: "v23.0".to_string(),
        throughput_mps: 80,
        messaging_tier: None,
        created_at: at,
        updated_at: at,
        paused_at: None,
        pause_reason: None,
        business_id: None,
    }
}

/// Creates a tenant named `name` with an app and a channel.
pub async fn world(store: &Arc<dyn Store>, name: &str) -> World {
    let tenant = tenant(name, 1_000);
    store.create_tenant(&tenant).await.expect("create tenant");
    let app = app(&tenant.id, 1_000);
    store.create_app(&app).await.expect("create app");
    let channel = channel(&tenant.id, &app.id, 1_000);
    store
        .create_channel(&channel)
        .await
        .expect("create channel");
    World {
        tenant,
        app,
        channel,
    }
}

/// Adds another channel to a world's tenant.
pub async fn second_channel(store: &Arc<dyn Store>, w: &World) -> Channel {
    let ch = channel(&w.tenant.id, &w.app.id, 2_000);
    store.create_channel(&ch).await.expect("create channel");
    ch
}

/// A new outbound text message on `channel` to `to`, created at `at`, due at `at`.
pub fn outbound(channel: &Channel, to: &str, at: i64) -> NewOutbound {
    let id = new_id_at(prefix::MESSAGE, at);
    let content = json!({"type": "text", "text": {"body": format!("hello {to}")}});
    NewOutbound {
        payload: json!({
            "messaging_product": "whatsapp",
            "to": to,
            "type": "text",
            "text": {"body": format!("hello {to}")},
            "biz_opaque_callback_data": id,
        }),
        message: Message {
            id: id.clone(),
            tenant_id: channel.tenant_id.clone(),
            channel_id: channel.id.clone(),
            contact_id: None,
            direction: Direction::Outbound,
            recipient: to.to_string(),
            msg_type: "text".to_string(),
            content,
            wamid: None,
            status: MessageStatus::Queued,
            error: None,
            biz_opaque_callback_data: Some(id),
            context_message_id: None,
            session_id: None,
            template_id: None,
            rendered_text: None,
            campaign_id: None,
            idempotency_key: None,
            created_at: at,
            updated_at: at,
        },
        request_hash: format!("hash-{to}"),
        contact: ContactKey::WaId(to.to_string()),
        priority: 10,
        session: SessionSpec {
            kind: None,
            opened_by: "message".to_string(),
            expires_at: at + CSW_MS,
        },
        open_fep_until: None,
        profile: None,
        reach_wait: None,
        due_at: None,
    }
}

/// The same, with an idempotency key and request hash.
pub fn keyed(channel: &Channel, to: &str, at: i64, key: &str, hash: &str) -> NewOutbound {
    let mut n = outbound(channel, to, at);
    n.message.idempotency_key = Some(key.to_string());
    n.request_hash = hash.to_string();
    n
}

/// Who claims sends in these tests.
pub const HOLDER: &str = "test-sender";
/// The term of the tests' sender's first holding of a channel's lease (long enough to last).
pub const TERM: i64 = 1;

/// Claims as the tests' sender: takes (or keeps) the channel's sender lease at `now`, then
/// claims up to `limit` due sends under it.
pub async fn claim(
    store: &Arc<dyn Store>,
    channel_id: &str,
    now: i64,
    limit: u32,
) -> Vec<OutboxItem> {
    let lease = store
        .acquire_lease(&sender_lease(channel_id), HOLDER, now, 1_000_000_000)
        .await
        .unwrap()
        .expect("the tests' sender holds the lease");
    store
        .claim_sends(channel_id, lease.term, now, limit)
        .await
        .unwrap()
}

/// Enqueues and expects a new message.
pub async fn enqueue(store: &Arc<dyn Store>, new: NewOutbound) -> Message {
    match store.enqueue_outbound(new).await.expect("enqueue") {
        EnqueueOutcome::Created { message: m, .. } => m,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// An inbound text message from `from` with Meta id `wamid`.
pub fn inbound(
    channel: &Channel,
    from: &str,
    wamid: &str,
    name: Option<&str>,
    at: i64,
) -> NewInbound {
    NewInbound {
        message: Message {
            id: new_id_at(prefix::MESSAGE, at),
            tenant_id: channel.tenant_id.clone(),
            channel_id: channel.id.clone(),
            contact_id: None,
            direction: Direction::Inbound,
            recipient: from.to_string(),
            msg_type: "text".to_string(),
            content: json!({"from": from, "id": wamid, "type": "text", "text": {"body": "hi"}}),
            wamid: Some(wamid.to_string()),
            status: MessageStatus::Received,
            error: None,
            biz_opaque_callback_data: None,
            context_message_id: None,
            session_id: None,
            template_id: None,
            rendered_text: None,
            campaign_id: None,
            idempotency_key: None,
            created_at: at,
            updated_at: at,
        },
        contact: ContactKey::WaId(from.to_string()),
        also: None,
        profile_name: name.map(str::to_string),
        username: None,
        opens_window: true,
        entry_point: false,
        opt_out: None,
        changed_number: None,
        context_wamid: None,
        replies_since: None,
        media: None,
    }
}

/// A status webhook for `wamid` on `channel`.
pub fn status(channel: &Channel, wamid: &str, status: MessageStatus, at: i64) -> StatusUpdate {
    StatusUpdate {
        channel_id: channel.id.clone(),
        wamid: wamid.to_string(),
        status,
        at,
        callback_data: None,
        error: None,
        pricing_category: None,
    }
}

/// The statuses of a message's history, in order.
pub async fn history(store: &Arc<dyn Store>, message_id: &str) -> Vec<MessageStatus> {
    store
        .message_history(message_id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.status)
        .collect()
}

/// A message that must exist.
pub async fn message(store: &Arc<dyn Store>, tenant_id: &str, id: &str) -> Message {
    store
        .get_message(tenant_id, id)
        .await
        .expect("get message")
        .unwrap_or_else(|| panic!("message {id} not found"))
}

/// Marks a message accepted by Meta with `wamid` (claiming it first, as the sender would).
pub async fn accept(store: &Arc<dyn Store>, m: &Message, wamid: &str, at: i64) {
    store
        .record_send_results(&[SendResult::Accepted {
            message_id: m.id.clone(),
            term: TERM,
            wamid: wamid.to_string(),
            message_status: None,
            at,
        }])
        .await
        .expect("record accepted");
}
