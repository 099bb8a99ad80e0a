//! How the tenant's objects look as JSON: on the native API and inside events. One spelling,
//! so that an event's `data` and a `GET` of the same object agree.
//!
//! Each object is a view type deriving `Serialize` ([`MessageView`], [`SessionView`],
//! [`ContactView`], [`TemplateView`], [`MediaView`], [`EventView`], and the list envelope
//! [`ListPage`]), built from a store row with its `new`. The `*_json` functions are the same
//! views as a [`Value`], for the events (which store their `data` as JSON) and the other
//! crates.
//!
//! Field order: serde_json is built without its `preserve_order` feature, so the keys of a
//! [`Value`] object are kept sorted (byte order), while a struct serializes its fields in
//! declaration order. Every view therefore declares its fields in sorted order: serialized
//! directly (axum's `Json`, as the native API answers) or through a [`Value`] (events, the
//! CLI), a view gives the same bytes, and the bytes the `json!` trees it replaces gave. The
//! tests at the end check it for every view.
//!
//! `null` and absent are kept apart: a field that is always there is a plain `Option`
//! (serialized `null` when there is nothing); a field only some answers carry is skipped
//! when `None`, and its doc says when it is there. Times are RFC 3339 strings in UTC with
//! milliseconds, as [`rfc3339`] spells them.

use openbsp_domain::MessageStatus;
use openbsp_domain::clock::rfc3339;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::media::Media;
use crate::model::*;

/// The schema of a [`MessageStatus`] in the API's description: its names, as serialized,
/// listed from [`MessageStatus::ALL`] so that a new status is described the day it exists.
fn message_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(MessageStatus::ALL.iter().map(|s| s.as_str())))
        .build()
}

/// A view as a [`Value`]. Views are plain structs, sequences and strings: serializing one
/// cannot fail (no map has keys that are not strings).
pub fn to_value(view: impl Serialize) -> Value {
    serde_json::to_value(view).expect("a view serializes to JSON")
}

/// The list envelope of the native API: one page of objects, newest first (or as the list
/// says), with the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ListPage<T> {
    /// The objects of this page.
    pub data: Vec<T>,
    /// Whether there are more objects after this page.
    pub has_more: bool,
    /// The `after` that asks for the next page: the last object's id when there are more,
    /// `null` otherwise.
    pub next_cursor: Option<String>,
    /// Always `"list"`.
    pub object: &'static str,
}

impl<T> ListPage<T> {
    /// A page of `data`; `has_more` when more follow, from `next_cursor`.
    pub fn new(data: Vec<T>, has_more: bool, next_cursor: Option<String>) -> ListPage<T> {
        ListPage {
            data,
            has_more,
            next_cursor,
            object: "list",
        }
    }

    /// Every object at once, in one page (lists that are not paged).
    pub fn complete(data: Vec<T>) -> ListPage<T> {
        ListPage::new(data, false, None)
    }
}

/// The message a reply answers (`context` of a message).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContextView {
    /// The gateway's id of that message when the gateway has it, else its `wamid` as given.
    pub message_id: String,
}

/// The template an outbound message was sent from (`template` of a message).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageTemplateView {
    /// The gateway's id of the template (`tpl_…`), when it is known.
    pub id: Option<String>,
    /// The template's text as the contact saw it, parameters filled in, when known.
    pub rendered_text: Option<String>,
}

/// One entry of a message's status history (`statuses` of a message).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusEntryView {
    /// When the status was reached (Meta's timestamp for the statuses of its webhooks).
    pub at: String,
    /// Meta's error, for `failed`; `null` otherwise.
    pub error: Option<Value>,
    /// The status reached.
    #[schema(schema_with = message_status_schema)]
    pub status: MessageStatus,
}

impl StatusEntryView {
    /// The view of one history entry.
    pub fn new(e: &StatusEntry) -> StatusEntryView {
        StatusEntryView {
            at: rfc3339(e.at),
            error: e.error.clone(),
            status: e.status,
        }
    }
}

/// A message, either way (`"object": "message"`).
///
/// The user is `to` on an outbound message and `from` on an inbound one: exactly one of the
/// two is there. They are two fields rather than one enum because each sits at its own
/// place in the sorted key order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageView {
    /// The client's `biz_opaque_callback_data`, as sent.
    pub biz_opaque_callback_data: Option<String>,
    /// The campaign it was sent for: only on campaign messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// The business number (`chn_…`).
    pub channel_id: String,
    /// The user (`con_…`), once the store has linked the message to a contact.
    pub contact_id: Option<String>,
    /// The Cloud API content: the send's body outbound, Meta's whole message object inbound.
    pub content: Value,
    /// The message this one replies to, `null` when it is no reply.
    pub context: Option<ContextView>,
    /// Creation time.
    pub created_at: String,
    /// `outbound` (business to user) or `inbound` (user to business).
    pub direction: Direction,
    /// Meta's error, when the message failed; `null` otherwise.
    pub error: Option<Value>,
    /// Inbound only: the user who wrote (a `wa_id` or a BSUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The gateway's id (`msg_…`).
    pub id: String,
    /// The client's `Idempotency-Key`, when it gave one.
    pub idempotency_key: Option<String>,
    /// Always `"message"`.
    pub object: &'static str,
    /// The session the message belongs to (`ses_…`).
    pub session_id: Option<String>,
    /// The current status.
    #[schema(schema_with = message_status_schema)]
    pub status: MessageStatus,
    /// The status history, oldest first: only on `GET /v1/messages/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<StatusEntryView>>,
    /// The template it was sent from: only on outbound template messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<MessageTemplateView>,
    /// Outbound only: the user it goes to (a `wa_id` or a BSUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The Cloud API message type (`text`, `template`, …).
    #[serde(rename = "type")]
    pub message_type: String,
    /// Last change.
    pub updated_at: String,
    /// Meta's id, once Meta accepted or delivered it.
    pub wamid: Option<String>,
}

impl MessageView {
    /// The view of a message; `history` adds its status history (`statuses`).
    pub fn new(m: &Message, history: Option<&[StatusEntry]>) -> MessageView {
        let (from, to) = match m.direction {
            Direction::Outbound => (None, Some(m.recipient.clone())),
            Direction::Inbound => (Some(m.recipient.clone()), None),
        };
        let template =
            (m.template_id.is_some() || m.rendered_text.is_some()).then(|| MessageTemplateView {
                id: m.template_id.clone(),
                rendered_text: m.rendered_text.clone(),
            });
        MessageView {
            biz_opaque_callback_data: m.biz_opaque_callback_data.clone(),
            campaign_id: m.campaign_id.clone(),
            channel_id: m.channel_id.clone(),
            contact_id: m.contact_id.clone(),
            content: m.content.clone(),
            context: m.context_message_id.as_ref().map(|c| ContextView {
                message_id: c.clone(),
            }),
            created_at: rfc3339(m.created_at),
            direction: m.direction,
            error: m.error.clone(),
            from,
            id: m.id.clone(),
            idempotency_key: m.idempotency_key.clone(),
            object: "message",
            session_id: m.session_id.clone(),
            status: m.status,
            statuses: history.map(|h| h.iter().map(StatusEntryView::new).collect()),
            template,
            to,
            message_type: m.msg_type.clone(),
            updated_at: rfc3339(m.updated_at),
            wamid: m.wamid.clone(),
        }
    }
}

/// A message as JSON; `history` adds its status history.
pub fn message_json(m: &Message, history: Option<&[StatusEntry]>) -> Value {
    to_value(MessageView::new(m, history))
}

/// Whether a session is open at `now` (its window may have lapsed before the closer ran).
pub fn session_is_open(s: &Session, now: i64) -> bool {
    s.closed_at.is_none() && s.expires_at > now
}

/// Whether a session is open, as it stands when viewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Open: its customer service window has not lapsed and it was not closed.
    Open,
    /// Closed, on request, by a merge, or because its window lapsed.
    Closed,
}

/// A session: one conversation between a channel and a contact (`"object": "session"`), as
/// it stands when viewed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SessionView {
    /// The business number (`chn_…`).
    pub channel_id: String,
    /// Why it closed: `expired` (also for a window that lapsed before the closer ran),
    /// `closed` (on request) or `merged`; `null` while open.
    pub close_reason: Option<String>,
    /// When it closed (for a lapsed window: when the window ended); `null` while open.
    pub closed_at: Option<String>,
    /// The user (`con_…`).
    pub contact_id: String,
    /// When it closes unless renewed.
    pub expires_at: String,
    /// The gateway's id (`ses_…`).
    pub id: String,
    /// The category of what opened it (`marketing`, `utility`, `authentication`,
    /// `service`), `null` until known.
    pub kind: Option<String>,
    /// The user's last message in it, `null` before the user wrote.
    pub last_inbound_at: Option<String>,
    /// A page of its messages, newest first: only on `GET /v1/sessions/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<ListPage<MessageView>>,
    /// Always `"session"`.
    pub object: &'static str,
    /// When it opened.
    pub opened_at: String,
    /// What opened it: `inbound` (the user wrote), `session_start` or `message`.
    pub opened_by: String,
    /// Only in Session Start's answer: whether the call joined a session that was already
    /// open (or was a retry) rather than opening it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused: Option<bool>,
    /// `open` or `closed`.
    pub status: SessionStatus,
}

impl SessionView {
    /// The view of a session as it stands at `now`.
    pub fn new(s: &Session, now: i64) -> SessionView {
        let open = session_is_open(s, now);
        let (closed_at, reason) = match (s.closed_at, open) {
            (Some(t), _) => (Some(t), s.close_reason.clone()),
            (None, false) => (Some(s.expires_at), Some("expired".to_string())),
            (None, true) => (None, None),
        };
        SessionView {
            channel_id: s.channel_id.clone(),
            close_reason: reason,
            closed_at: closed_at.map(rfc3339),
            contact_id: s.contact_id.clone(),
            expires_at: rfc3339(s.expires_at),
            id: s.id.clone(),
            kind: s.kind.clone(),
            last_inbound_at: s.last_inbound_at.map(rfc3339),
            messages: None,
            object: "session",
            opened_at: rfc3339(s.opened_at),
            opened_by: s.opened_by.clone(),
            reused: None,
            status: if open {
                SessionStatus::Open
            } else {
                SessionStatus::Closed
            },
        }
    }
}

/// A session as JSON, as it stands at `now`.
pub fn session_json(s: &Session, now: i64) -> Value {
    to_value(SessionView::new(s, now))
}

/// A contact's marketing opt-out (`marketing_opt_out` of a contact).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MarketingOptOutView {
    /// Whether the contact opted out of marketing messages (and has not resumed).
    pub opted_out: bool,
    /// Since when, `null` when not opted out.
    pub since: Option<String>,
    /// Where the opt-out came from: `user_preferences` (Meta's webhook), `keyword` (a STOP
    /// message) or `api`; `null` when not opted out.
    pub source: Option<String>,
}

/// A WhatsApp user as the tenant knows them (`"object": "contact"`), without its windows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactView {
    /// The business's own attributes of the contact (a JSON object).
    pub attributes: Value,
    /// Creation time.
    pub created_at: String,
    /// The gateway's id (`con_…`).
    pub id: String,
    /// The marketing opt-out.
    pub marketing_opt_out: MarketingOptOutView,
    /// The profile name (from the user's last message, or as the business gave it).
    pub name: Option<String>,
    /// Always `"contact"`.
    pub object: &'static str,
    /// The numbers the user had before changing number, oldest first.
    pub previous_wa_ids: Vec<String>,
    /// Last change.
    pub updated_at: String,
    /// The business-scoped user id (BSUID), when known.
    pub user_id: Option<String>,
    /// The WhatsApp username, when the user has one.
    pub username: Option<String>,
    /// The phone number (digits), when known.
    pub wa_id: Option<String>,
}

impl ContactView {
    /// The view of a contact.
    pub fn new(c: &Contact) -> ContactView {
        ContactView {
            attributes: c.attributes.clone(),
            created_at: rfc3339(c.created_at),
            id: c.id.clone(),
            marketing_opt_out: MarketingOptOutView {
                opted_out: c.marketing_opt_out_at.is_some(),
                since: c.marketing_opt_out_at.map(rfc3339),
                source: c.marketing_opt_out_source.clone(),
            },
            name: c.profile_name.clone(),
            object: "contact",
            previous_wa_ids: c.previous_wa_ids.clone(),
            updated_at: rfc3339(c.updated_at),
            user_id: c.user_id.clone(),
            username: c.username.clone(),
            wa_id: c.wa_id.clone(),
        }
    }
}

/// A contact as JSON, without its windows.
pub fn contact_json(c: &Contact) -> Value {
    to_value(ContactView::new(c))
}

/// A message template of a WABA (`"object": "template"`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TemplateView {
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`, when known.
    pub category: Option<String>,
    /// Its components (a JSON array), as Meta has them.
    pub components: Value,
    /// Creation time.
    pub created_at: String,
    /// When it was deleted: set while `status` is `DELETED`, `null` otherwise.
    pub deleted_at: Option<String>,
    /// The gateway's id (`tpl_…`).
    pub id: String,
    /// Language code (`en_US`).
    pub language: String,
    /// How long Meta keeps trying to deliver a message of it, when set.
    pub message_send_ttl_seconds: Option<i64>,
    /// Meta's template id, when known.
    pub meta_template_id: Option<String>,
    /// Template name.
    pub name: String,
    /// Always `"template"`.
    pub object: &'static str,
    /// `POSITIONAL` (`{{1}}`) or `NAMED` (`{{first_name}}`) parameters, when known.
    pub parameter_format: Option<String>,
    /// The category it had before Meta re-categorised it, when Meta did.
    pub previous_category: Option<String>,
    /// Quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`), when known.
    pub quality_score: Option<String>,
    /// Why Meta rejected, paused or disabled it.
    pub reason: Option<String>,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, `DELETED`, … (`UNKNOWN`
    /// until told).
    pub status: String,
    /// Last change.
    pub updated_at: String,
    /// The WhatsApp Business Account it belongs to.
    pub waba_id: String,
}

impl TemplateView {
    /// The view of a template.
    pub fn new(t: &Template) -> TemplateView {
        TemplateView {
            category: t.category.clone(),
            components: t.components.clone(),
            created_at: rfc3339(t.created_at),
            deleted_at: t.deleted_at.map(rfc3339),
            id: t.id.clone(),
            language: t.language.clone(),
            message_send_ttl_seconds: t.message_send_ttl_seconds,
            meta_template_id: t.meta_template_id.clone(),
            name: t.name.clone(),
            object: "template",
            parameter_format: t.parameter_format.clone(),
            previous_category: t.previous_category.clone(),
            quality_score: t.quality_score.clone(),
            reason: t.reason.clone(),
            status: t.status.clone(),
            updated_at: rfc3339(t.updated_at),
            waba_id: t.waba_id.clone(),
        }
    }
}

/// A template as JSON.
pub fn template_json(t: &Template) -> Value {
    to_value(TemplateView::new(t))
}

/// A media (`"object": "media"`): what `GET /v1/media/{id}` answers and `media.stored` carries.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MediaView {
    /// Stored.
    pub created_at: String,
    /// Bytes.
    pub file_size: u64,
    /// The file's name, when it came with one.
    pub filename: Option<String>,
    /// `med_…`
    pub id: String,
    /// Last stored, sent or read: retention counts from it.
    pub last_used_at: String,
    /// Its type.
    pub mime_type: String,
    /// Always `"media"`.
    pub object: &'static str,
    /// `upload` or `inbound`.
    pub origin: String,
    /// The bytes' SHA-256, hex.
    pub sha256: String,
}

impl MediaView {
    /// The view of a media.
    pub fn new(m: &Media) -> MediaView {
        MediaView {
            created_at: rfc3339(m.created_at),
            file_size: m.file_size,
            filename: m.filename.clone(),
            id: m.id.clone(),
            last_used_at: rfc3339(m.last_used_at),
            mime_type: m.mime_type.clone(),
            object: "media",
            origin: m.origin.clone(),
            sha256: m.sha256.clone(),
        }
    }
}

/// A media: [`MediaView`] as a [`Value`].
pub fn media_json(m: &Media) -> Value {
    to_value(MediaView::new(m))
}

/// An event in the native format (`"object": "event"`): what a native endpoint receives and
/// `GET /v1/events` lists.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventView {
    /// When it happened.
    pub created_at: String,
    /// What it is about, as its type says (`{"message": …}`, `{"session": …}`, …: the
    /// objects in these views).
    pub data: Value,
    /// The gateway's id (`evt_…`).
    pub id: String,
    /// Always `"event"`.
    pub object: &'static str,
    /// The event type (`message.received`, `session.opened`, …).
    #[serde(rename = "type")]
    pub event_type: String,
}

impl EventView {
    /// The view of an event.
    pub fn new(e: &Event) -> EventView {
        EventView {
            created_at: rfc3339(e.created_at),
            data: e.data.clone(),
            id: e.id.clone(),
            object: "event",
            event_type: e.kind.clone(),
        }
    }
}

/// An event in the native format: what a native endpoint receives and `GET /v1/events` lists.
pub fn event_json(e: &Event) -> Value {
    to_value(EventView::new(e))
}

/// [`EventView`] borrowing the event, for the hot path of delivery: serialized straight to
/// bytes, with no copy of its data (the same fields, in the same order).
#[derive(Serialize)]
struct EventRef<'a> {
    created_at: String,
    data: &'a Value,
    id: &'a str,
    object: &'static str,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// An event as its native delivery's body: the bytes of [`EventView`], made without copying
/// the event's data.
pub fn event_bytes(e: &Event) -> Vec<u8> {
    serde_json::to_vec(&EventRef {
        created_at: rfc3339(e.created_at),
        data: &e.data,
        id: &e.id,
        object: "event",
        event_type: &e.kind,
    })
    .expect("a view serializes to JSON")
}

#[cfg(test)]
mod event_bytes_tests {
    use super::*;

    #[test]
    fn an_events_delivery_body_is_its_view() {
        let e = Event {
            id: "evt_01".into(),
            tenant_id: "ten_01".into(),
            kind: "message.status".into(),
            format: event_format::NATIVE.into(),
            data: serde_json::json!({"message": {"id": "msg_01", "status": "sent"}, "z": [1, 2]}),
            created_at: 1_750_000_000_123,
            cursor: EventCursor::default(),
        };
        assert_eq!(
            event_bytes(&e),
            serde_json::to_vec(&event_json(&e)).unwrap()
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Serialized directly, the view gives the bytes it gives through a [`Value`]: its
    /// fields are declared in sorted order, at every level.
    fn assert_same_bytes(view: impl Serialize) {
        let direct = serde_json::to_string(&view).unwrap();
        let through_value = serde_json::to_string(&to_value(&view)).unwrap();
        assert_eq!(direct, through_value);
        let direct = serde_json::to_string_pretty(&view).unwrap();
        let through_value = serde_json::to_string_pretty(&to_value(&view)).unwrap();
        assert_eq!(direct, through_value);
    }

    fn message(direction: Direction) -> Message {
        Message {
            id: "msg_1".into(),
            tenant_id: "ten_1".into(),
            channel_id: "chn_1".into(),
            contact_id: Some("con_1".into()),
            direction,
            recipient: "15551234567".into(),
            msg_type: "template".into(),
            content: json!({"type": "text", "text": {"body": "hi", "preview_url": false}}),
            wamid: Some("wamid.1".into()),
            status: MessageStatus::Failed,
            error: Some(json!({"code": 131026, "title": "x"})),
            biz_opaque_callback_data: Some("cb".into()),
            context_message_id: Some("msg_0".into()),
            session_id: Some("ses_1".into()),
            template_id: Some("tpl_1".into()),
            rendered_text: Some("Hello".into()),
            campaign_id: None,
            idempotency_key: Some("k".into()),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
        }
    }

    fn session() -> Session {
        Session {
            id: "ses_1".into(),
            tenant_id: "ten_1".into(),
            channel_id: "chn_1".into(),
            contact_id: "con_1".into(),
            kind: Some("service".into()),
            opened_by: "inbound".into(),
            opened_at: 1_000,
            expires_at: 2_000,
            closed_at: None,
            close_reason: None,
            last_inbound_at: Some(1_500),
            updated_at: 1_500,
        }
    }

    #[test]
    fn every_view_declares_its_fields_in_sorted_order() {
        let history = [StatusEntry {
            status: MessageStatus::Failed,
            at: 5,
            error: Some(json!({"b": 1, "a": 2})),
        }];
        for direction in [Direction::Outbound, Direction::Inbound] {
            let mut m = message(direction);
            assert_same_bytes(MessageView::new(&m, Some(&history)));
            m.template_id = None;
            m.rendered_text = None;
            m.context_message_id = None;
            assert_same_bytes(MessageView::new(&m, None));
        }
        let mut s = session();
        assert_same_bytes(SessionView::new(&s, 1_200));
        assert_same_bytes(SessionView::new(&s, 3_000));
        s.closed_at = Some(1_800);
        s.close_reason = Some("closed".into());
        let mut v = SessionView::new(&s, 1_200);
        v.reused = Some(true);
        v.messages = Some(ListPage::new(
            vec![MessageView::new(&message(Direction::Outbound), None)],
            true,
            Some("msg_1".into()),
        ));
        assert_same_bytes(v);
        let c = Contact {
            id: "con_1".into(),
            tenant_id: "ten_1".into(),
            wa_id: Some("15551234567".into()),
            user_id: Some("US.1".into()),
            profile_name: Some("Ana".into()),
            username: Some("ana".into()),
            attributes: json!({"z": 1, "a": {"y": 2, "b": 3}}),
            marketing_opt_out_at: Some(9),
            marketing_opt_out_source: Some("api".into()),
            previous_wa_ids: vec!["1555".into()],
            created_at: 1,
            updated_at: 2,
        };
        assert_same_bytes(ContactView::new(&c));
        let t = Template {
            id: "tpl_1".into(),
            tenant_id: "ten_1".into(),
            waba_id: "waba".into(),
            name: "shipping".into(),
            language: "en_US".into(),
            category: Some("UTILITY".into()),
            status: "DELETED".into(),
            meta_template_id: Some("123".into()),
            components: json!([{"type": "BODY", "text": "Hi {{1}}"}]),
            quality_score: Some("GREEN".into()),
            reason: Some("r".into()),
            created_at: 1,
            updated_at: 2,
            parameter_format: Some("POSITIONAL".into()),
            previous_category: Some("MARKETING".into()),
            message_send_ttl_seconds: Some(600),
            deleted_at: Some(3),
        };
        assert_same_bytes(TemplateView::new(&t));
        let mut media = Media {
            id: "med_1".into(),
            tenant_id: "ten_1".into(),
            sha256: "ab".repeat(32),
            mime_type: "image/jpeg".into(),
            file_size: 5,
            filename: Some("photo.jpg".into()),
            origin: "inbound".into(),
            created_at: 1,
            last_used_at: 2,
        };
        assert_same_bytes(MediaView::new(&media));
        media.filename = None;
        assert_same_bytes(MediaView::new(&media));
        let e = Event {
            id: "evt_1".into(),
            tenant_id: "ten_1".into(),
            kind: "message.received".into(),
            format: "native".into(),
            created_at: 1,
            data: json!({"message": message_json(&message(Direction::Inbound), None)}),
            cursor: Default::default(),
        };
        assert_same_bytes(EventView::new(&e));
        assert_same_bytes(ListPage::complete(vec![EventView::new(&e)]));
    }

    #[test]
    fn a_message_keeps_null_and_absent_apart() {
        let mut m = message(Direction::Inbound);
        m.template_id = None;
        m.rendered_text = None;
        m.context_message_id = None;
        m.error = None;
        let v = message_json(&m, None);
        assert_eq!(v["from"], json!("15551234567"));
        assert_eq!(v["context"], Value::Null);
        assert_eq!(v["error"], Value::Null);
        for absent in ["to", "template", "statuses"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        let s = session_json(&session(), 1_200);
        assert_eq!(s["closed_at"], Value::Null);
        assert!(s.get("messages").is_none() && s.get("reused").is_none());
    }
}
