//! What the native API answers about templates besides the template itself
//! ([`openbsp_store::views::TemplateView`]): its history, a preview, a sync's report and
//! what a deletion deleted.

use openbsp_domain::clock::rfc3339;
use openbsp_store::views::TemplateView;
use openbsp_store::{Template, TemplateEvent};
use openbsp_wire::template::{Rendered, RenderedCard};
use serde::Serialize;
use serde_json::Value;

use crate::core::templates::SyncReport;

/// One entry of a template's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateEventView {
    /// When it happened.
    pub at: String,
    /// More: the webhook's `value`, what an edit or a sync changed (a JSON object).
    pub detail: Value,
    /// `created`, `status`, `quality`, `category`, `edited`, `synced` or `deleted`.
    pub kind: String,
    /// The value before, when the entry has one.
    pub previous: Option<String>,
    /// Meta's reason (of a rejection, a pause, …), when it gave one.
    pub reason: Option<String>,
    /// The new status, quality score or category, when the entry has one.
    pub value: Option<String>,
}

impl TemplateEventView {
    /// The view of a history entry.
    pub fn new(e: &TemplateEvent) -> TemplateEventView {
        TemplateEventView {
            at: rfc3339(e.at),
            detail: e.detail.clone(),
            kind: e.kind.clone(),
            previous: e.previous.clone(),
            reason: e.reason.clone(),
            value: e.value.clone(),
        }
    }
}

/// A template's history, oldest first (`GET /v1/templates/{id}/history`): a list, not paged.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateHistoryView {
    /// Every change, oldest first.
    pub data: Vec<TemplateEventView>,
    /// Always `"list"`.
    pub object: &'static str,
    /// The template (`tpl_…`).
    pub template_id: String,
}

impl TemplateHistoryView {
    /// The history `events` of the template `t`.
    pub fn new(t: &Template, events: &[TemplateEvent]) -> TemplateHistoryView {
        TemplateHistoryView {
            data: events.iter().map(TemplateEventView::new).collect(),
            object: "list",
            template_id: t.id.clone(),
        }
    }
}

/// The templates a deletion deleted (`DELETE /v1/templates…`): a list, not paged.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeletedTemplatesView {
    /// The templates deleted, as they are now (`DELETED`).
    pub data: Vec<TemplateView>,
    /// Always `"list"`.
    pub object: &'static str,
}

impl DeletedTemplatesView {
    /// The view of the templates `deleted`.
    pub fn new(deleted: &[Template]) -> DeletedTemplatesView {
        DeletedTemplatesView {
            data: deleted.iter().map(TemplateView::new).collect(),
            object: "list",
        }
    }
}

/// What a sync from Meta did (`"object": "template_sync"`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateSyncView {
    /// Templates known to the gateway that Meta listed changed.
    pub changed: usize,
    /// Templates new to the gateway.
    pub created: usize,
    /// Templates known to the gateway but no longer on Meta, marked `DELETED` (full syncs
    /// only).
    pub deleted: usize,
    /// Always `"template_sync"`.
    pub object: &'static str,
    /// Templates Meta listed.
    pub total: usize,
    /// Templates known to the gateway and unchanged.
    pub unchanged: usize,
    /// The WABA synced.
    pub waba_id: String,
}

impl TemplateSyncView {
    /// The view of a sync of the WABA `waba_id`.
    pub fn new(report: &SyncReport, waba_id: &str) -> TemplateSyncView {
        TemplateSyncView {
            changed: report.changed,
            created: report.created,
            deleted: report.deleted,
            object: "template_sync",
            total: report.total,
            unchanged: report.unchanged,
            waba_id: waba_id.to_string(),
        }
    }
}

/// The language of a template send (`{"code": "en_US"}`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LanguageView {
    /// Language code (`en_US`).
    pub code: String,
}

/// The `template` object of a Cloud API template send: which template, with which
/// parameters.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateSendView {
    /// The parameters, as Cloud API components (a JSON array).
    pub components: Value,
    /// The template's language.
    pub language: LanguageView,
    /// The template's name.
    pub name: String,
}

impl TemplateSendView {
    /// The send of the template `t` with `components`.
    pub fn new(t: &Template, components: Value) -> TemplateSendView {
        TemplateSendView {
            components,
            language: LanguageView {
                code: t.language.clone(),
            },
            name: t.name.clone(),
        }
    }
}

/// A Cloud API template message body (`{"type": "template", "template": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplateMessageView {
    /// Which template, with which parameters.
    pub template: TemplateSendView,
    /// Always `"template"`.
    #[serde(rename = "type")]
    pub message_type: &'static str,
}

/// A template rendered with given parameters (`"object": "template_preview"`): what the
/// contact would see, and the message body that sends it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TemplatePreviewView {
    /// Body text, filled in.
    pub body: String,
    /// Button labels (with the filled-in URL or code where the parameters gave one).
    pub buttons: Vec<String>,
    /// Carousel cards, filled in: each `{"body", "buttons"}` as the body and buttons above.
    #[schema(value_type = Vec<Object>)]
    pub cards: Vec<RenderedCard>,
    /// Footer text, `null` when the template has none.
    pub footer: Option<String>,
    /// Header text, filled in (TEXT headers), or `[IMAGE]`, `[LOCATION: name]`, …; `null`
    /// when the template has no header.
    pub header: Option<String>,
    /// The Cloud API message content (`type` and `template`) that sends the template with
    /// these parameters.
    pub message: TemplateMessageView,
    /// Always `"template_preview"`.
    pub object: &'static str,
    /// Whether the template may be sent now (its status allows it).
    pub sendable: bool,
    /// The template's status.
    pub status: String,
    /// The template (`tpl_…`).
    pub template_id: String,
    /// Everything, as one text: header, body, footer and buttons, one block each.
    pub text: String,
}

impl TemplatePreviewView {
    /// The preview of `t` sent as `send`, rendered as `rendered`.
    pub fn new(
        t: &Template,
        send: TemplateSendView,
        rendered: Rendered,
        sendable: bool,
    ) -> TemplatePreviewView {
        TemplatePreviewView {
            body: rendered.body,
            buttons: rendered.buttons,
            cards: rendered.cards,
            footer: rendered.footer,
            header: rendered.header,
            message: TemplateMessageView {
                template: send,
                message_type: "template",
            },
            object: "template_preview",
            sendable,
            status: t.status.clone(),
            template_id: t.id.clone(),
            text: rendered.text,
        }
    }
}
