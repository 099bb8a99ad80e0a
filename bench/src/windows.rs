//! Opens the recipients' customer service windows before a load: the gateway refuses
//! free-form messages to users who have not written in the last 24 hours, as Meta does, so
//! every recipient first "writes" — an inbound message delivered as Meta's signed webhook.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::load::recipient;

/// Users per webhook payload (Meta batches several messages in one POST too).
const PER_PAYLOAD: u64 = 100;

/// One `messages` webhook with a text from each recipient `first..first + n`.
fn payload(phone_number_id: &str, first: u64, n: u64, now_secs: i64) -> String {
    let (mut contacts, mut messages) = (Vec::new(), Vec::new());
    for i in first..first + n {
        let user = recipient(i);
        contacts.push(json!({"profile": {"name": format!("Bench {i}")}, "wa_id": user}));
        messages.push(json!({"from": user, "id": format!("wamid.bench-{i}"), "timestamp": now_secs.to_string(), "type": "text", "text": {"body": "hi"}}));
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "900", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        "contacts": contacts, "messages": messages,
    }}]}]})
    .to_string()
}

/// Delivers an inbound text from each of the first `recipients` recipients and waits until
/// the gateway has applied them all (each payload's last user has an open window).
pub async fn open(
    base_url: &str,
    api_key: &str,
    app_secret: &str,
    phone_number_id: &str,
    recipients: u64,
) -> Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut last_users = Vec::new();
    let mut first = 0;
    while first < recipients {
        let n = PER_PAYLOAD.min(recipients - first);
        let body = payload(phone_number_id, first, n, now_secs);
        let signature = openbsp_wire::signature::sign(app_secret.as_bytes(), body.as_bytes());
        let r = client
            .post(format!("{base_url}/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .context("posting an inbound webhook")?;
        if !r.status().is_success() {
            bail!(
                "the gateway refused an inbound webhook: HTTP {}",
                r.status()
            );
        }
        last_users.push(recipient(first + n - 1));
        first += n;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for user in last_users {
        loop {
            let r = client
                .get(format!("{base_url}/v1/contacts/{user}"))
                .bearer_auth(api_key)
                .send()
                .await?;
            if r.status().is_success() {
                let v: Value = r.json().await?;
                if v["windows"][0]["customer_service"]["open"] == true {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("the gateway did not apply the inbound webhooks within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_carries_one_text_per_user() {
        let v: Value = serde_json::from_str(&payload("P", 5, 3, 1_700_000_000)).unwrap();
        let value = &v["entry"][0]["changes"][0]["value"];
        assert_eq!(value["messages"].as_array().unwrap().len(), 3);
        assert_eq!(value["messages"][0]["from"], recipient(5));
        assert_eq!(value["contacts"][2]["wa_id"], recipient(7));
        assert_eq!(value["metadata"]["phone_number_id"], "P");
    }
}
