//! Connectly's webhook topics for endpoints in the `connectly` format (`vendors.md` §4.7), made
//! from the gateway's native events at delivery:
//!
//! - `messages` (from `message.received`): `{"timestamp", "sender", "recipient", "message",
//!   "context"?, "callbackData"?}`, the customer as `sender` and the business number as
//!   `recipient` (`{"id": "+<E.164>", "channelType": "whatsapp", "name"?}`; a phone-less
//!   customer's `id` is its BSUID, with `userId` and an empty `phoneNumber`). `message` is one of
//!   `text`, `attachments` (one: `{"type", "url", "caption"?, "filename"?}`, the URL a keyless
//!   link to the stored media on this gateway, valid for minutes from the delivery), `location`,
//!   a button or list answer (`text` with `isButtonResponse: true` and the button's `id`) or an
//!   ad's `referral`; other kinds (reactions, orders…) have no Connectly shape and are not
//!   delivered. A reply quoting a message the business sent carries `context.replyToId` (that
//!   message's id, as `send/messages` answered it) and its `callbackData`.
//! - `delivery_status` (from `message.status` of outbound messages once Meta has them):
//!   `{"topic": "delivery_status", "timestamp", "sender", "recipient", "metadata": null,
//!   "statusUpdate": {"id", "status": sent|delivered|read|delivery_failed, "error",
//!   "metadata": {"campaignName"}}, "callbackData"?}`; `error` is Connectly's error object for
//!   Meta's code (the same mapping as the API's answers).
//!
//! An endpoint's `configuration.filters` (`[{"field": "campaign_name", "expression":
//! "prod-*"}]`, `*` and `?` wildcards) keep only the events of campaigns whose name matches.
//! Signed `x-connectly-hmac-sha256` (base64 HMAC-SHA256 of the raw body under the endpoint's
//! secret, as shown when it was made), `content-type: text/plain; charset=utf-8`, as Connectly.

use std::collections::HashMap;

use base64::Engine;
use hmac::{Hmac, Mac};
use openbsp_store::{Event, WebhookEndpoint};
use openbsp_wire::MetaError;
use serde_json::{Value, json};
use sha2::Sha256;

use super::error::ConnectlyError;
use crate::core::{Core, media};

/// Connectly's signature header.
pub const SIGNATURE_HEADER: &str = "x-connectly-hmac-sha256";
/// Connectly's content type.
pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// `x-connectly-hmac-sha256` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// What a batch's bodies look up, read once per batch.
#[derive(Default)]
pub struct Lookups {
    /// Business numbers by channel id (`None`: gone).
    numbers: HashMap<String, Option<String>>,
    /// Campaign names by id.
    campaigns: HashMap<String, Option<String>>,
}

impl Lookups {
    async fn number(&mut self, core: &Core, channel_id: &str) -> Option<String> {
        if let Some(n) = self.numbers.get(channel_id) {
            return n.clone();
        }
        let n = core
            .store
            .get_channel(channel_id)
            .await
            .ok()
            .flatten()
            .map(|c| c.display_phone_number);
        self.numbers.insert(channel_id.to_string(), n.clone());
        n
    }

    async fn campaign(&mut self, core: &Core, tenant_id: &str, id: &str) -> Option<String> {
        if let Some(n) = self.campaigns.get(id) {
            return n.clone();
        }
        let n = core
            .store
            .get_campaign(tenant_id, id)
            .await
            .ok()
            .flatten()
            .map(|c| c.name);
        self.campaigns.insert(id.to_string(), n.clone());
        n
    }
}

/// `+` and the digits, as Connectly writes numbers.
fn e164(n: &str) -> String {
    if n.starts_with('+') {
        n.to_string()
    } else {
        format!("+{n}")
    }
}

/// A party on WhatsApp: a phone number (E.164), or a BSUID when the user has no number.
fn party(id: &str, name: Option<&str>) -> Value {
    let looks_like_phone = id.chars().all(|c| c.is_ascii_digit() || c == '+');
    let mut p = if looks_like_phone {
        json!({ "id": e164(id), "channelType": "whatsapp" })
    } else {
        json!({ "id": id, "channelType": "whatsapp", "userId": id, "phoneNumber": "" })
    };
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        p["name"] = json!(n);
    }
    p
}

/// The business's number as a party.
fn business(number: Option<String>) -> Value {
    match number {
        Some(n) => json!({ "id": e164(&n), "channelType": "whatsapp" }),
        None => json!({ "id": "", "channelType": "whatsapp" }),
    }
}

/// Seconds, as a string (Connectly's `timestamp`).
fn seconds(rfc3339: Option<&str>, fallback_ms: i64) -> String {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(fallback_ms.div_euclid(1000))
        .to_string()
}

/// `callbackData` as the client gave it: JSON it wrote as an object or array comes back as
/// one, anything else as the string kept.
fn callback_data(kept: &Value) -> Option<Value> {
    let s = kept.as_str()?;
    if s.starts_with('{') || s.starts_with('[') {
        serde_json::from_str(s).ok()
    } else {
        Some(json!(s))
    }
}

/// Whether `name` matches `pattern` (`*` any run of characters, `?` one).
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The `campaign_name` filters of the endpoint's configuration.
fn campaign_filters(e: &WebhookEndpoint) -> Vec<String> {
    e.options
        .as_ref()
        .and_then(|o| o["connectly"]["configuration"]["filters"].as_array())
        .map(|fs| {
            fs.iter()
                .filter(|f| f["field"] == "campaign_name")
                .filter_map(|f| f["expression"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The body of `ev` for a `connectly` endpoint `e`; `None` when the event has no shape in
/// Connectly's topics or the endpoint's filters leave it out.
pub async fn body(core: &Core, e: &WebhookEndpoint, ev: &Event, l: &mut Lookups) -> Option<Value> {
    let filters = campaign_filters(e);
    let d = &ev.data;
    let (body, campaign_id) = match ev.kind.as_str() {
        "message.status" => (status(core, ev, l).await?, d["campaign_id"].as_str()),
        "message.received" => (
            received(core, ev, l).await?,
            d["message"]["campaign_id"].as_str(),
        ),
        _ => return None,
    };
    if !filters.is_empty() {
        let name = match campaign_id {
            Some(id) => l.campaign(core, &ev.tenant_id, id).await,
            None => None,
        }?;
        if !filters.iter().all(|f| glob(f, &name)) {
            return None;
        }
    }
    Some(body)
}

/// Connectly's status for the gateway's.
fn connectly_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "sent" => "sent",
        "delivered" => "delivered",
        "read" => "read",
        "failed" => "delivery_failed",
        _ => return None,
    })
}

/// Connectly's error object for Meta's webhook error (`{code, title, message, error_data}`,
/// or Meta's list of them: the first says why).
fn error_object(meta: &Value) -> Value {
    let meta = match meta {
        Value::Array(list) => list.first().unwrap_or(&Value::Null),
        other => other,
    };
    let code = meta["code"].as_i64().unwrap_or(0);
    let mut m = MetaError::new(
        code,
        meta["error_data"]["details"].as_str().map(String::from),
    );
    if let Some(msg) = meta["message"].as_str().or(meta["title"].as_str()) {
        m.message = msg.to_string();
    }
    ConnectlyError::from(m).body("")
}

async fn status(core: &Core, ev: &Event, l: &mut Lookups) -> Option<Value> {
    let d = &ev.data;
    if d["direction"] != "outbound" {
        return None;
    }
    let status = connectly_status(d["status"].as_str()?)?;
    let number = l.number(core, d["channel_id"].as_str()?).await;
    let campaign = match d["campaign_id"].as_str() {
        Some(id) => l.campaign(core, &ev.tenant_id, id).await,
        None => None,
    };
    let mut out = json!({
        "topic": "delivery_status",
        "timestamp": seconds(d["at"].as_str(), ev.created_at),
        "sender": business(number),
        "recipient": party(d["to"].as_str().unwrap_or_default(), None),
        "metadata": null,
        "statusUpdate": {
            "id": d["message_id"],
            "status": status,
            "error": if d["error"].is_null() { Value::Null } else { error_object(&d["error"]) },
            "metadata": { "campaignName": campaign },
        },
    });
    if let Some(c) = callback_data(&d["biz_opaque_callback_data"]) {
        out["callbackData"] = c;
    }
    Some(out)
}

/// The link an attachment's `url` gives: the stored media, keyless, for a few minutes.
fn attachment_url(core: &Core, tenant_id: &str, media_id: &str) -> String {
    let base = core.config.public_url.as_deref().unwrap_or_default();
    let (query, _) = media::public_query(core, media_id);
    format!("{base}/v1/businesses/{tenant_id}/assets/{media_id}/content?{query}")
}

/// Connectly's `message` for Meta's inbound message object; `None` for kinds it has no shape
/// for.
fn message(core: &Core, tenant_id: &str, m: &Value) -> Option<Value> {
    let kind = m["type"].as_str()?;
    Some(match kind {
        "text" => json!({ "text": m["text"]["body"] }),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let o = &m[kind];
            let media_id = o["media_id"].as_str()?;
            let mut a = json!({
                "type": if kind == "sticker" { "image" } else { kind },
                "url": attachment_url(core, tenant_id, media_id),
            });
            if let Some(c) = o["caption"].as_str() {
                a["caption"] = json!(c);
            }
            if let Some(f) = o["filename"].as_str() {
                a["filename"] = json!(f);
            }
            json!({ "attachments": [a] })
        }
        "location" => {
            let l = &m["location"];
            let mut loc = json!({ "latitude": l["latitude"], "longitude": l["longitude"] });
            for k in ["name", "address", "url"] {
                if let Some(v) = l[k].as_str() {
                    loc[k] = json!(v);
                }
            }
            json!({ "location": loc })
        }
        "button" => json!({
            "text": m["button"]["text"],
            "isButtonResponse": true,
            "buttonPayload": m["button"]["payload"],
        }),
        "interactive" => {
            let i = &m["interactive"];
            let reply = match i["type"].as_str()? {
                "button_reply" => &i["button_reply"],
                "list_reply" => &i["list_reply"],
                _ => return None,
            };
            json!({ "text": reply["title"], "isButtonResponse": true, "buttonId": reply["id"] })
        }
        _ => return None,
    })
}

/// An ad's referral in Connectly's names.
fn referral(r: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (meta, connectly) in [
        ("ctwa_clid", "ctwaClid"),
        ("source_url", "sourceUrl"),
        ("source_id", "sourceId"),
        ("source_type", "sourceType"),
        ("headline", "headline"),
        ("body", "body"),
        ("media_type", "mediaType"),
        ("image_url", "imageUrl"),
        ("video_url", "videoUrl"),
        ("thumbnail_url", "thumbnailUrl"),
    ] {
        if !r[meta].is_null() {
            out.insert(connectly.into(), r[meta].clone());
        }
    }
    Value::Object(out)
}

async fn received(core: &Core, ev: &Event, l: &mut Lookups) -> Option<Value> {
    let msg = &ev.data["message"];
    let content = &msg["content"];
    let mut message = message(core, &ev.tenant_id, content)?;
    if content["referral"].is_object() {
        message["referral"] = referral(&content["referral"]);
    }
    let contact = &ev.data["contact"];
    let customer = msg["from"].as_str().unwrap_or_default();
    let mut sender = party(customer, contact["name"].as_str());
    if let (Some(user), Some(phone)) = (contact["user_id"].as_str(), contact["wa_id"].as_str()) {
        sender["userId"] = json!(user);
        sender["phoneNumber"] = json!(e164(phone));
    }
    let number = l.number(core, msg["channel_id"].as_str()?).await;
    let mut out = json!({
        "timestamp": seconds(msg["created_at"].as_str(), ev.created_at),
        "sender": sender,
        "recipient": business(number),
        "message": message,
    });
    if let Some(quoted) = msg["context"]["message_id"].as_str()
        && let Ok(Some(q)) = core.store.get_message(&ev.tenant_id, quoted).await
    {
        out["context"] = json!({ "replyToId": q.id });
        if let Some(c) = q
            .biz_opaque_callback_data
            .as_ref()
            .and_then(|c| callback_data(&json!(c)))
        {
            out["callbackData"] = c;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_like_connectlys() {
        for (p, n, ok) in [
            ("prod-*", "prod-summer", true),
            ("prod-*", "prod-", true),
            ("prod-*", "staging-summer", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*-2024", "spring-2024", true),
            ("*-2024", "spring-2025", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, n), ok, "{p} vs {n}");
        }
    }

    #[test]
    fn signatures_are_connectlys() {
        // base64(HMAC-SHA256("secret", "body")), as their Go and Node examples compute it.
        assert_eq!(
            signature(b"secret", b"body"),
            "3EaYNVf+oSe0OvchRn65s/3iM4/j4U9RlSqoR4wT01U="
        );
    }

    #[test]
    fn callback_data_comes_back_as_written() {
        assert_eq!(
            callback_data(&json!("{\"order\":7}")),
            Some(json!({"order": 7}))
        );
        assert_eq!(callback_data(&json!("plain")), Some(json!("plain")));
        assert_eq!(callback_data(&Value::Null), None);
    }
}
