//! What Talqui's Session Start answers: `{contact, session, message}` in Talqui's field style
//! (camelCase, prefixed: `contactID`, `sessionID`, `messageID`, `createdAt`…), after the RTM
//! session object of `reference/vendors.md` §1.2. Built from the core's [`Started`]; what the
//! gateway knows beyond Talqui's fields is under each object's `…Meta`.

use openbsp_domain::clock::rfc3339;
use openbsp_domain::windows;
use openbsp_store::{ContactWindow, Direction, Message};
use serde::Serialize;
use serde_json::Value;

use super::request::StartIn;
use crate::core::sessions::{self, Started};

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartOut {
    /// The contact, found or created.
    pub contact: ContactOut,
    /// The session the first message is in.
    pub session: SessionOut,
    /// The first message, queued.
    pub message: MessageOut,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactOut {
    /// The gateway's contact id (`con_…`).
    #[serde(rename = "contactID")]
    pub contact_id: String,
    /// The tenant.
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    /// The name given (or WhatsApp's profile name).
    #[serde(rename = "contactFullName")]
    pub full_name: Option<String>,
    /// The phone number (`wa_id`), else the user's BSUID.
    #[serde(rename = "contactExternalID")]
    pub external_id: Option<String>,
    /// The gateway's own facts.
    #[serde(rename = "contactMeta")]
    pub meta: ContactMeta,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last change.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

/// What the gateway knows of a contact beyond Talqui's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactMeta {
    /// The phone number's digits, when known.
    #[serde(rename = "waID")]
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID), when known.
    #[serde(rename = "userID")]
    pub user_id: Option<String>,
    /// Whether the contact opted out of marketing messages.
    #[serde(rename = "marketingOptOut")]
    pub marketing_opt_out: bool,
    /// Whether the contact's 24-hour customer service window on this number is open (free-form
    /// messages allowed).
    #[serde(rename = "windowOpen")]
    pub window_open: bool,
    /// When that window closes, if the contact ever wrote.
    #[serde(rename = "windowExpiresAt")]
    pub window_expires_at: Option<String>,
}

/// A session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionOut {
    /// The gateway's session id (`ses_…`).
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// The tenant.
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    /// The contact.
    #[serde(rename = "contactID")]
    pub contact_id: String,
    /// Always `null`: no operator is assigned by the gateway.
    #[serde(rename = "operatorID")]
    pub operator_id: Option<String>,
    /// Whether the session is open.
    #[serde(rename = "sessionActive")]
    pub active: bool,
    /// Always `whatsapp`.
    #[serde(rename = "sessionChannel")]
    pub channel: &'static str,
    /// Talqui's kind as the request gave it, else the category WhatsApp opened it with.
    #[serde(rename = "sessionKind")]
    pub kind: Option<String>,
    /// `auto` or `manual`, as the request gave it.
    #[serde(rename = "sessionType")]
    pub session_type: String,
    /// `0` while open, `1` once closed.
    #[serde(rename = "sessionStatus")]
    pub status: u8,
    /// The first message.
    #[serde(rename = "sessionLastMessageID")]
    pub last_message_id: String,
    /// Always empty.
    #[serde(rename = "sessionTags")]
    pub tags: Vec<String>,
    /// The gateway's own facts.
    #[serde(rename = "sessionMeta")]
    pub meta: SessionMeta,
    /// When it opened.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last change.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

/// What the gateway knows of a session beyond Talqui's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionMeta {
    /// The number (`chn_…`): the plugin connection.
    #[serde(rename = "pluginConnectionID")]
    pub channel_id: String,
    /// The category of what opened it (`marketing`, `utility`, `authentication`, `service`).
    pub category: Option<String>,
    /// `session_start`, `inbound` (the user wrote first) or `message`.
    #[serde(rename = "openedBy")]
    pub opened_by: String,
    /// When it closes unless the user writes.
    #[serde(rename = "expiresAt")]
    pub expires_at: String,
    /// Whether this call joined a session that was already open (or was a retry).
    pub reused: bool,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageOut {
    /// The gateway's message id (`msg_…`).
    #[serde(rename = "messageID")]
    pub message_id: String,
    /// The session.
    #[serde(rename = "sessionID")]
    pub session_id: Option<String>,
    /// The contact.
    #[serde(rename = "contactID")]
    pub contact_id: Option<String>,
    /// The tenant.
    #[serde(rename = "tenantID")]
    pub tenant_id: String,
    /// `text`.
    #[serde(rename = "messageKey")]
    pub key: String,
    /// With a model: its label; without: the text sent.
    #[serde(rename = "messageValue")]
    pub value: Option<String>,
    /// `queued`, then `accepted`, `sent`, `delivered`, `read` (or `failed`).
    #[serde(rename = "messageStatus")]
    pub status: String,
    /// Always `outbound`.
    #[serde(rename = "messageDirection")]
    pub direction: &'static str,
    /// The gateway's own facts.
    #[serde(rename = "messageMeta")]
    pub meta: MessageMeta,
    /// Creation time.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// Last change.
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

/// What the gateway knows of a message beyond Talqui's fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageMeta {
    /// The Cloud API type: `template` or `text`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The template sent (`tpl_…`), for a model.
    #[serde(rename = "templateID")]
    pub template_id: Option<String>,
    /// The model's text as the contact sees it, values filled in.
    #[serde(rename = "renderedText")]
    pub rendered_text: Option<String>,
    /// Meta's id, once Meta accepted it.
    #[serde(rename = "wamID")]
    pub wamid: Option<String>,
}

/// The first message's `messageValue`: a model's label, or the text sent.
fn value_of(m: &Message) -> Option<String> {
    if m.msg_type == "template" {
        return m.biz_opaque_callback_data.clone();
    }
    m.content
        .pointer("/text/body")
        .and_then(Value::as_str)
        .map(str::to_string)
}

impl StartOut {
    /// The answer to `req` as things stand at `now`.
    pub fn new(started: &Started, req: &StartIn, now: i64) -> StartOut {
        let c = &started.contact.contact;
        let s = &started.session;
        let m = &started.message;
        let window: Option<&ContactWindow> = started
            .contact
            .windows
            .iter()
            .map(|(w, _)| w)
            .find(|w| w.channel_id == s.channel_id);
        let last_inbound = window.and_then(|w| w.last_inbound_at);
        let open = sessions::is_open(s, now);
        StartOut {
            contact: ContactOut {
                contact_id: c.id.clone(),
                tenant_id: c.tenant_id.clone(),
                full_name: c.profile_name.clone(),
                external_id: c.wa_id.clone().or_else(|| c.user_id.clone()),
                meta: ContactMeta {
                    wa_id: c.wa_id.clone(),
                    user_id: c.user_id.clone(),
                    marketing_opt_out: c.marketing_opt_out_at.is_some(),
                    window_open: windows::csw_open(last_inbound, now),
                    window_expires_at: last_inbound.map(windows::csw_expires_at).map(rfc3339),
                },
                created_at: rfc3339(c.created_at),
                updated_at: rfc3339(c.updated_at),
            },
            session: SessionOut {
                session_id: s.id.clone(),
                tenant_id: s.tenant_id.clone(),
                contact_id: s.contact_id.clone(),
                operator_id: None,
                active: open,
                channel: "whatsapp",
                kind: req.session_kind.clone().or_else(|| s.kind.clone()),
                session_type: req.session_type.clone(),
                status: if open { 0 } else { 1 },
                last_message_id: m.id.clone(),
                tags: Vec::new(),
                meta: SessionMeta {
                    channel_id: s.channel_id.clone(),
                    category: s.kind.clone(),
                    opened_by: s.opened_by.clone(),
                    expires_at: rfc3339(s.expires_at),
                    reused: started.reused,
                },
                created_at: rfc3339(s.opened_at),
                updated_at: rfc3339(s.updated_at),
            },
            message: MessageOut {
                message_id: m.id.clone(),
                session_id: m.session_id.clone(),
                contact_id: m.contact_id.clone(),
                tenant_id: m.tenant_id.clone(),
                key: req.message_key.clone(),
                value: value_of(m),
                status: m.status.as_str().to_string(),
                direction: match m.direction {
                    Direction::Outbound => "outbound",
                    Direction::Inbound => "inbound",
                },
                meta: MessageMeta {
                    message_type: m.msg_type.clone(),
                    template_id: m.template_id.clone(),
                    rendered_text: m.rendered_text.clone(),
                    wamid: m.wamid.clone(),
                },
                created_at: rfc3339(m.created_at),
                updated_at: rfc3339(m.updated_at),
            },
        }
    }
}
