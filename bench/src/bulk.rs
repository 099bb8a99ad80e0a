//! Bulk sends queued through the store, as a campaign queues them (there is no HTTP API for
//! bulk sends yet): the backlog of `send --part backlog`, and of `pacing` and `capacity` with
//! `--prequeued`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use openbsp_domain::MessageStatus;
use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::{CSW_MS, SendKind};
use openbsp_store::policy::SendCheck;
use openbsp_store::{
    ContactKey, Direction, EnqueueOutcome, Message, NewOutbound, SessionSpec, Store, priority,
};
use openbsp_wire::SendRequest;
use openbsp_wire::send::Surface;
use serde_json::json;

use crate::gateway::Provisioned;
use crate::scene::{TEMPLATE, unix_us};

/// Concurrent enqueues into the store (the backends batch concurrent calls).
const ENQUEUERS: usize = 256;

/// The bulk send number `i`: a template to a user of its own, as a campaign queues it (the
/// store's row built as `core::messages` builds one, at priority BULK).
fn bulk_send(p: &Provisioned, channel_id: &str, i: u32, now: i64) -> Result<NewOutbound> {
    let body = json!({"to": format!("1557{i:07}"), "type": "template",
                      "template": {"name": TEMPLATE, "language": {"code": "en_US"}}});
    let req = SendRequest::parse(&body, Surface::Native)
        .map_err(|e| anyhow!("a bulk send does not parse: {e:?}"))?;
    let id = new_id_at(prefix::MESSAGE, now);
    let payload = req.to_graph_body(None, Some(&id));
    let contact = match &req.recipient {
        openbsp_wire::Recipient::WaId(w) => ContactKey::WaId(w.clone()),
        openbsp_wire::Recipient::UserId(u) => ContactKey::UserId(u.clone()),
    };
    let message = Message {
        id,
        tenant_id: p.tenant_id.clone(),
        channel_id: channel_id.to_string(),
        contact_id: None,
        direction: Direction::Outbound,
        recipient: req.recipient.as_str().to_string(),
        msg_type: req.body.type_name().to_string(),
        content: req.content_json(),
        wamid: None,
        status: MessageStatus::Queued,
        error: None,
        biz_opaque_callback_data: None,
        context_message_id: None,
        session_id: None,
        // Not known to the gateway yet (it learns the template from Meta on its first API send).
        template_id: None,
        rendered_text: None,
        campaign_id: None,
        idempotency_key: None,
        created_at: now,
        updated_at: now,
    };
    Ok(NewOutbound {
        message,
        // Only compared for an idempotency key, which bulk sends have none of.
        request_hash: "bench:bulk".to_string(),
        contact,
        payload,
        priority: priority::BULK,
        session: SessionSpec {
            kind: Some("utility".to_string()),
            opened_by: "message".to_string(),
            expires_at: now + CSW_MS,
        },
        open_fep_until: None,
        profile: None,
        reach_wait: None,
        due_at: None,
    })
}

/// Queues `backlog` bulk sends through the store at `url`, behind the send policy (a utility
/// template; the portfolio unlimited, as the simulator's is), send `i` on `channels[i % n]`
/// (interleaved, so that every channel's backlog grows at once); answers the message ids.
pub(crate) async fn enqueue(
    url: &str,
    p: &Provisioned,
    channels: &[String],
    backlog: u32,
) -> Result<Vec<String>> {
    if channels.is_empty() || backlog >= 10_000_000 {
        bail!("bulk sends need a channel and fewer than 10,000,000 recipients");
    }
    let channels: Arc<[String]> = channels.into();
    let store: Arc<dyn Store> = openbsp_store::open(url)
        .await
        .map_err(|e| anyhow!("opening the store: {e}"))?;
    let check = Arc::new(SendCheck {
        kind: SendKind::Template { marketing: false },
        session_kind: Some("utility".to_string()),
        opened_by: "message".to_string(),
        reach: None,
    });
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..ENQUEUERS {
        let (store, check, next, p) = (store.clone(), check.clone(), next.clone(), p.clone());
        let channels = channels.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= backlog {
                    return Ok::<_, anyhow::Error>(ids);
                }
                let channel = &channels[i as usize % channels.len()];
                let new = bulk_send(&p, channel, i, unix_us() / 1000)?;
                ids.push(new.message.id.clone());
                match store.enqueue_checked(new, &check).await {
                    Ok(Ok(EnqueueOutcome::Created { .. })) => {}
                    Ok(Ok(other)) => bail!("bulk send {i} was not created: {other:?}"),
                    Ok(Err(refusal)) => bail!("the send policy refused bulk send {i}: {refusal:?}"),
                    Err(e) => bail!("enqueueing bulk send {i}: {e}"),
                }
            }
        }));
    }
    let mut ids = Vec::with_capacity(backlog as usize);
    for t in tasks {
        ids.extend(t.await??);
    }
    drop(store);
    // The SQLite store's writer and checkpoint threads close their connections on their own.
    tokio::time::sleep(Duration::from_millis(700)).await;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bulk_send_is_a_bulk_template() {
        let p = Provisioned {
            tenant_id: "ten_1".into(),
            api_key: "obsp_x".into(),
            app_id: "app_1".into(),
            channel_id: "chn_1".into(),
        };
        let n = bulk_send(&p, "chn_2", 42, 1_700_000_000_000).unwrap();
        assert_eq!(n.priority, priority::BULK);
        assert_eq!(n.message.recipient, "15570000042");
        assert_eq!(n.message.channel_id, "chn_2");
        assert_eq!(n.message.msg_type, "template");
        assert_eq!(n.payload["to"], "15570000042");
        assert_eq!(n.payload["template"]["name"], TEMPLATE);
        assert_eq!(
            n.payload["biz_opaque_callback_data"].as_str(),
            Some(n.message.id.as_str())
        );
        assert!(n.message.id.starts_with("msg_"));
    }
}
