//! Message templates, managed and reviewed as Meta does (reference §2.2–§2.4), and checked
//! on send (§2.1).
//!
//! Every WABA keeps its own templates. A WABA the simulator has not seen before (the WABA of
//! a phone number being added) starts with Meta's sample, `hello_world` (en_US, MARKETING,
//! APPROVED). A template created through the Graph API (`POST /{WABA}/message_templates`,
//! validated by [`openbsp_wire::template::parse_definition`]) or edited (`POST
//! /{template_id}`) is `PENDING`; after the review delay (`template_review_delay_ms`) its
//! review ends by the first matching [`ReviewRule`] (none: `APPROVED`), which may also
//! re-categorise it. Every change of status is told to the WABA's webhook URLs as a signed
//! `message_template_status_update`, a re-categorisation as a `template_category_update`, a
//! quality change as a `message_template_quality_update` — once per distinct URL among the
//! WABA's phone numbers, signed with that number's app secret, through the common delivery
//! (retried and logged).
//!
//! Deleting through the API sends no webhook (Meta sends `DELETED`/`PENDING_DELETION` for
//! deletions made in WhatsApp Manager); a deleted name can be created again in the same
//! language after 30 days (2388023 before). Approved templates may be edited once per 24
//! hours and 10 times per 30 days, by the simulator's clock.
//!
//! The rules live here, on plain data (`TemplateStore`, under the simulator's lock); the
//! simulator's template operations (`template_ops`) take the lock, start the reviews
//! and send the webhooks that the store's changes return.

mod lifecycle;
mod notices;
mod paging;
mod requests;
mod status;
mod store;
mod template;

pub use lifecycle::{MAX_EDITS_PER_30_DAYS, MAX_EDITS_PER_DAY};
pub use paging::DEFAULT_PAGE_SIZE;
pub use requests::{
    OtherInfo, ReviewRule, TemplateControlError, TemplateReview, TemplateSeed, TemplateStatusChange,
};
pub use status::{QualityScore, REASONS, TemplateEvent, TemplateStatus};
pub use store::{HELLO_WORLD, NAME_REUSE_AFTER_MS};
pub use template::Template;

pub(crate) use notices::{Notice, webhook_targets};
pub(crate) use paging::{cursor, parse_cursor};
pub(crate) use store::{SendTemplate, TemplateStore};
pub(crate) use template::{GRAPH_FIELDS, OPTIONAL_GRAPH_FIELDS};
