//! Meta's webhook payloads for the `inbound` scenario, in the Cloud API's shape and field
//! order, each signed as Meta signs them (`X-Hub-Signature-256: sha256=<hex>`).
//!
//! Payloads come in groups of four: the `sent`, `delivered` and `read` statuses of one
//! outbound message, then one inbound text (Meta sizes the intake at 3× the outbound rate in
//! statuses plus the inbound). Group `k`'s statuses are about the `k`-th outbound message the
//! benchmark queued at the gateway before the load ([`Outbound`], see `seed`): they carry its
//! id in `biz_opaque_callback_data` (the gateway never learnt a `wamid` for it: it was never
//! sent), its `to` as `recipient_id`, a `wamid` of their own per message and timestamps a
//! second apart (`sent` < `delivered` < `read`), so that each one does the gateway's real
//! work: the message's status moved, a status row, a `message.status` event. Group `k`'s
//! inbound text comes from user [`crate::load::recipient`]`(k)`. Every payload has its own
//! content, and every message its own `wamid`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderValue;

/// The WABA of the channel [`crate::gateway::Gateway::provision`] creates.
const WABA_ID: &str = "900";
/// Its display number.
const DISPLAY_PHONE_NUMBER: &str = "15550001111";

/// Payloads per group: three statuses, one inbound message.
pub const GROUP: u64 = 4;

/// What a payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `statuses[]` entry of an outbound message.
    Status(&'static str),
    /// An inbound text in `messages[]`.
    Message,
}

/// One outbound message queued at the gateway before the load, that a group's statuses are
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The gateway's id (`msg_…`): the `biz_opaque_callback_data` it would have been sent with.
    pub id: String,
    /// The user it is for (`to`).
    pub to: String,
}

/// The groups that `payloads` payloads start: the outbound messages their statuses need.
pub fn groups(payloads: u64) -> u64 {
    payloads.div_ceil(GROUP)
}

/// The statuses of the first `taken` payloads, by kind, for the first `seeded` groups (those
/// with a seeded message), and how many named no seeded message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Posted {
    /// `sent` statuses of seeded messages.
    pub sent: u64,
    /// `delivered` statuses of seeded messages.
    pub delivered: u64,
    /// `read` statuses of seeded messages.
    pub read: u64,
    /// Statuses of groups past the seeded messages (built during the load).
    pub unseeded: u64,
}

impl Posted {
    /// The statuses of the first `taken` payloads, `seeded` groups having a message.
    pub fn of(taken: u64, seeded: u64) -> Posted {
        // Payload `GROUP·k + i` is the `i`-th status of group `k` (i < 3).
        let of_kind = |i: u64| taken.saturating_sub(i).div_ceil(GROUP);
        let (sent, delivered, read) = (of_kind(0), of_kind(1), of_kind(2));
        let past = |c: u64| c.saturating_sub(seeded);
        Posted {
            sent: sent.min(seeded),
            delivered: delivered.min(seeded),
            read: read.min(seeded),
            unseeded: past(sent) + past(delivered) + past(read),
        }
    }

    /// Statuses of seeded messages.
    pub fn total(&self) -> u64 {
        self.sent + self.delivered + self.read
    }
}

/// The kind of payload number `n`.
pub fn kind(n: u64) -> Kind {
    match n % GROUP {
        0 => Kind::Status("sent"),
        1 => Kind::Status("delivered"),
        2 => Kind::Status("read"),
        _ => Kind::Message,
    }
}

/// A payload ready to post.
#[derive(Debug)]
pub struct Signed {
    /// The body, exactly the bytes signed.
    pub body: Vec<u8>,
    /// `X-Hub-Signature-256`.
    pub signature: HeaderValue,
}

/// Builds and signs payload number `n` for one run.
#[derive(Debug, Clone)]
pub struct Builder {
    /// `metadata.phone_number_id`.
    pub phone_number_id: String,
    /// The app secret that signs.
    pub app_secret: String,
    /// Unix seconds of the run: the payloads' timestamps.
    pub now_secs: i64,
    /// The outbound messages, by group: group `k`'s statuses are about `outbound[k]`. A group
    /// past them (built during the load, had it outrun the pool) names a message this gateway
    /// never sent.
    pub outbound: Arc<[Outbound]>,
}

impl Builder {
    /// The body of payload `n`.
    pub fn body(&self, n: u64) -> String {
        let k = n / GROUP;
        let user = crate::load::recipient(k);
        let value = match kind(n) {
            Kind::Status(status) => {
                let step = (n % GROUP) as i64;
                let unknown;
                let (callback, to) = match self.outbound.get(k as usize) {
                    Some(m) => (m.id.as_str(), m.to.as_str()),
                    None => {
                        unknown = (unknown_callback_id(k, self.now_secs), seed_recipient(k));
                        (unknown.0.as_str(), unknown.1.as_str())
                    }
                };
                // Meta prices a template sent outside the user's window on `sent` and
                // `delivered` (Cloud API, per-message pricing).
                let pricing = if status == "read" {
                    ""
                } else {
                    r#","pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}"#
                };
                format!(
                    r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"{DISPLAY_PHONE_NUMBER}","phone_number_id":"{pnid}"}},"statuses":[{{"id":"{wamid}","status":"{status}","timestamp":"{ts}","recipient_id":"{to}","biz_opaque_callback_data":"{callback}"{pricing}}}]}}"#,
                    pnid = self.phone_number_id,
                    wamid = outbound_wamid(k),
                    ts = self.now_secs + step,
                )
            }
            Kind::Message => format!(
                r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"{DISPLAY_PHONE_NUMBER}","phone_number_id":"{pnid}"}},"contacts":[{{"profile":{{"name":"Bench {who}"}},"wa_id":"{user}"}}],"messages":[{{"from":"{user}","id":"{wamid}","timestamp":"{ts}","text":{{"body":"bench inbound message {k}"}},"type":"text"}}]}}"#,
                pnid = self.phone_number_id,
                who = k % crate::load::RECIPIENTS,
                wamid = inbound_wamid(k),
                ts = self.now_secs,
            ),
        };
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{WABA_ID}","changes":[{{"value":{value},"field":"messages"}}]}}]}}"#
        )
    }

    /// Payload `n`, signed.
    pub fn signed(&self, n: u64) -> Signed {
        let body = self.body(n).into_bytes();
        let signature = openbsp_wire::signature::sign(self.app_secret.as_bytes(), &body);
        Signed {
            body,
            // `sha256=` and hex digits: always a valid header value.
            signature: HeaderValue::try_from(signature).expect("a valid header value"),
        }
    }
}

/// The `wamid` Meta gave outbound message `k` (the one whose statuses group `k` carries).
pub fn outbound_wamid(k: u64) -> String {
    format!("wamid.HBgLMTU1NTAwMDAwMDAVAgARGBJCRU5DSE9VVA{k:016}AA==")
}

/// The `wamid` of user `k`'s inbound message.
fn inbound_wamid(k: u64) -> String {
    format!("wamid.HBgLMTU1NTAwMDAwMDAVAgASGBJCRU5DSElOQg{k:016}AA==")
}

/// `biz_opaque_callback_data` for group `k` past the seeded messages: a message id (`msg_` +
/// ULID) of the run's time that no message of the benchmark's database has (nor the
/// `wamid`), so that those statuses are for a message this gateway did not send.
fn unknown_callback_id(k: u64, now_secs: i64) -> String {
    let ms = (now_secs.max(0) as u64) * 1000;
    let ulid = ulid::Ulid::from_parts(ms, u128::from(k));
    format!("msg_{}", ulid.to_string().to_lowercase())
}

/// The `to` of seeded outbound message `k`: distinct per message, and none of them an inbound
/// user ([`crate::load::recipient`]).
pub fn seed_recipient(k: u64) -> String {
    format!("1556{k:07}")
}

/// The payloads of a run: `prebuilt` built and signed before the load, handed out in order,
/// then more built on demand should the load outrun them.
#[derive(Debug)]
pub struct Pool {
    ready: Mutex<std::vec::IntoIter<Signed>>,
    next_extra: AtomicU64,
    taken: AtomicU64,
    prebuilt: u64,
    builder: Builder,
}

impl Pool {
    /// Builds and signs payloads `0..prebuilt`.
    pub fn prebuild(builder: Builder, prebuilt: u64) -> Pool {
        let ready: Vec<Signed> = (0..prebuilt).map(|n| builder.signed(n)).collect();
        Pool {
            ready: Mutex::new(ready.into_iter()),
            next_extra: AtomicU64::new(prebuilt),
            taken: AtomicU64::new(0),
            prebuilt,
            builder,
        }
    }

    /// The next payload.
    pub fn take(&self) -> Signed {
        self.taken.fetch_add(1, Ordering::Relaxed);
        let ready = match self.ready.lock() {
            Ok(mut it) => it.next(),
            Err(poisoned) => poisoned.into_inner().next(),
        };
        ready.unwrap_or_else(|| {
            let n = self.next_extra.fetch_add(1, Ordering::Relaxed);
            self.builder.signed(n)
        })
    }

    /// Payloads built beforehand.
    pub fn prebuilt(&self) -> u64 {
        self.prebuilt
    }

    /// Payloads handed out: payloads `0..taken` (the pool hands them out in order).
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Payloads built during the load because the prebuilt ones ran out.
    pub fn built_on_demand(&self) -> u64 {
        self.next_extra.load(Ordering::Relaxed) - self.prebuilt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbsp_wire::webhook::{Envelope, MessagesValue, RoutingKey, routing_key};
    use std::collections::HashSet;

    /// Seeded messages in the tests.
    const SEEDED: u64 = 1000;

    fn seeded_id(k: u64) -> String {
        let ulid = ulid::Ulid::from_parts(1_749_999_000_000, u128::from(k) << 40 | 0xbe);
        format!("msg_{}", ulid.to_string().to_lowercase())
    }

    fn builder() -> Builder {
        let outbound: Vec<Outbound> = (0..SEEDED)
            .map(|k| Outbound {
                id: seeded_id(k),
                to: seed_recipient(k),
            })
            .collect();
        Builder {
            phone_number_id: "100200300".into(),
            app_secret: "s3cret".into(),
            now_secs: 1_750_000_000,
            outbound: outbound.into(),
        }
    }

    fn value(body: &str) -> MessagesValue {
        let env: Envelope = serde_json::from_str(body).expect("an envelope");
        assert_eq!(env.object, "whatsapp_business_account");
        assert_eq!(env.entry.len(), 1);
        assert_eq!(env.entry[0].id, WABA_ID);
        assert_eq!(env.entry[0].changes[0].field, "messages");
        serde_json::from_value(env.entry[0].changes[0].value.clone()).expect("a messages value")
    }

    #[test]
    fn groups_are_three_statuses_of_a_seeded_message_then_an_inbound_one() {
        let b = builder();
        let kinds: Vec<Kind> = (0..8).map(kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Status("sent"),
                Kind::Status("delivered"),
                Kind::Status("read"),
                Kind::Message,
                Kind::Status("sent"),
                Kind::Status("delivered"),
                Kind::Status("read"),
                Kind::Message,
            ]
        );
        for n in 4..7 {
            let v = value(&b.body(n));
            assert_eq!(v.metadata.phone_number_id, "100200300");
            assert_eq!(v.metadata.display_phone_number, DISPLAY_PHONE_NUMBER);
            assert!(v.messages.is_empty());
            let s = &v.statuses[0];
            assert_eq!(s.id, outbound_wamid(1));
            let Kind::Status(expected) = kind(n) else {
                panic!("payload {n} is not a status")
            };
            assert_eq!(s.status, expected);
            // A second apart: sent < delivered < read.
            assert_eq!(s.timestamp, (1_750_000_000 + (n % 4) as i64).to_string());
            // About seeded message 1: its `to`, its gateway id as the callback data.
            assert_eq!(s.recipient_id.as_deref(), Some("15560000001"));
            assert_eq!(
                s.biz_opaque_callback_data.as_deref(),
                Some(seeded_id(1).as_str())
            );
            assert_eq!(s.pricing.is_some(), s.status != "read");
            if let Some(p) = &s.pricing {
                assert_eq!(p["category"], "utility");
                assert_eq!(p["type"], "regular");
                assert_eq!(p["billable"], true);
            }
        }
        let v = value(&b.body(7));
        assert!(v.statuses.is_empty());
        let m = &v.messages[0];
        assert_eq!(m.from.as_deref(), Some(crate::load::recipient(1).as_str()));
        assert_eq!(m.id, inbound_wamid(1));
        assert_eq!(m.kind, "text");
        assert_eq!(m.text_body(), Some("bench inbound message 1"));
        assert_eq!(v.contacts[0].wa_id, m.from);
    }

    #[test]
    fn groups_past_the_seeded_messages_name_an_unknown_message() {
        let b = builder();
        let v = value(&b.body(SEEDED * GROUP + 1));
        let s = &v.statuses[0];
        assert_eq!(s.id, outbound_wamid(SEEDED));
        let cb = s.biz_opaque_callback_data.as_deref().unwrap();
        // Shaped as a gateway id, but none of the seeded ones.
        assert!(cb.starts_with("msg_") && cb.len() == 30, "{cb}");
        assert!(b.outbound.iter().all(|m| m.id != cb));
        assert_eq!(
            s.recipient_id.as_deref(),
            Some(seed_recipient(SEEDED).as_str())
        );
    }

    #[test]
    fn every_payload_is_unique_and_every_message_id_too() {
        let b = builder();
        let bodies: HashSet<String> = (0..4000).map(|n| b.body(n)).collect();
        assert_eq!(bodies.len(), 4000);
        let mut wamids = HashSet::new();
        let mut callbacks = HashSet::new();
        let mut recipients = HashSet::new();
        let inbound_users: HashSet<String> = (0..1000).map(crate::load::recipient).collect();
        for n in 0..4000 {
            let v = value(&b.body(n));
            match kind(n) {
                Kind::Status(_) if n % GROUP == 0 => {
                    let s = &v.statuses[0];
                    assert!(wamids.insert(s.id.clone()));
                    assert!(callbacks.insert(s.biz_opaque_callback_data.clone()));
                    let to = s.recipient_id.clone().unwrap();
                    assert!(!inbound_users.contains(&to), "{to}");
                    assert!(recipients.insert(to));
                }
                Kind::Status(_) => {}
                Kind::Message => assert!(wamids.insert(v.messages[0].id.clone())),
            }
        }
        assert_eq!(wamids.len(), 2000);
        assert_eq!(recipients.len(), 1000);
    }

    #[test]
    fn statuses_posted_by_kind() {
        assert_eq!(groups(0), 0);
        assert_eq!(groups(1), 1);
        assert_eq!(groups(4), 1);
        assert_eq!(groups(5), 2);
        assert_eq!(Posted::of(0, 10), Posted::default());
        // Payloads 0..6: sent, delivered, read, message, sent, delivered.
        assert_eq!(
            Posted::of(6, 10),
            Posted {
                sent: 2,
                delivered: 2,
                read: 1,
                unseeded: 0
            }
        );
        assert_eq!(Posted::of(6, 10).total(), 5);
        assert_eq!(
            Posted::of(8, 2),
            Posted {
                sent: 2,
                delivered: 2,
                read: 2,
                unseeded: 0
            }
        );
        // Two groups seeded, payloads 0..11: the third group's three statuses name none.
        assert_eq!(
            Posted::of(11, 2),
            Posted {
                sent: 2,
                delivered: 2,
                read: 2,
                unseeded: 3
            }
        );
        // Three statuses per group of the pool, each of a seeded message.
        let pool = 4 * 250 + 3;
        let p = Posted::of(pool, groups(pool));
        assert_eq!(
            (p.sent, p.delivered, p.read, p.unseeded),
            (251, 251, 251, 0)
        );
    }

    #[test]
    fn signatures_verify_and_route_to_the_channel() {
        let b = builder();
        for n in 0..8 {
            let s = b.signed(n);
            let header = s.signature.to_str().unwrap();
            assert!(header.starts_with("sha256="));
            assert!(openbsp_wire::signature::verify(b"s3cret", &s.body, header));
            assert!(!openbsp_wire::signature::verify(b"other", &s.body, header));
            assert_eq!(s.body, b.body(n).into_bytes());
            assert_eq!(
                routing_key(&s.body),
                Some(RoutingKey::PhoneNumberId("100200300".into()))
            );
        }
    }

    #[test]
    fn the_pool_hands_out_prebuilt_payloads_then_builds_more() {
        let b = builder();
        let pool = Pool::prebuild(b.clone(), 3);
        assert_eq!(pool.prebuilt(), 3);
        let taken: Vec<Vec<u8>> = (0..5).map(|_| pool.take().body).collect();
        let expected: Vec<Vec<u8>> = (0..5).map(|n| b.body(n).into_bytes()).collect();
        assert_eq!(taken, expected);
        assert_eq!(pool.built_on_demand(), 2);
        assert_eq!(pool.taken(), 5);
    }
}
