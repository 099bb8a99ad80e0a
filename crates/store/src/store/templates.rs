//! Message templates: Meta's changes applied, the gateway's own submissions, edits, syncs and
//! deletions, and each template's history.

use async_trait::async_trait;

use crate::error::StoreResult;
use crate::model::*;

/// Templates of a tenant's WABAs and their history.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Applies a template change learnt from Meta (a template webhook), creating the template
    /// if unknown (new templates get status `UNKNOWN` unless the update says otherwise). The
    /// fields the update carries replace the stored ones (a new status also replaces the reason,
    /// clearing it when the update has none; `deleted_at` follows the status:
    /// set when it becomes `DELETED`, cleared when it becomes anything else), and a history
    /// entry of kind `update.event` records the new status, quality score or category and the
    /// old one, with the reason and `update.detail`; a redelivered update (same kind, value and
    /// time) adds no second entry. One transaction. Returns the template; `Conflict` if
    /// another tenant holds that WABA, name and language.
    async fn apply_template_update(&self, update: &TemplateUpdate) -> StoreResult<Template>;

    /// A template of a tenant's WABA by name and language (deleted ones too: the caller looks
    /// at the status).
    async fn find_template(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<Template>>;

    /// Stores a template the gateway submitted to Meta, with a new `tpl_…` id and a `created`
    /// history entry, in one transaction. `Conflict` if the WABA already has that name and
    /// language, unless that template is `DELETED`: its row is then reused (same id, every
    /// field reset from `new`, `deleted_at` cleared).
    async fn create_template(&self, new: &NewTemplate) -> StoreResult<Template>;

    /// A template of a tenant by the gateway's id (`tpl_…`) or Meta's template id; deleted ones
    /// too.
    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<Template>>;

    /// A tenant's templates matching `filter` (exact matches; deleted ones only with
    /// `include_deleted`), in id order, after the cursor `filter.after`, at most `filter.limit`.
    async fn list_templates(&self, filter: &TemplateFilter) -> StoreResult<Vec<Template>>;

    /// Number of templates of a WABA, not counting deleted ones.
    async fn count_templates(&self, waba_id: &str) -> StoreResult<u64>;

    /// Applies an edit of a template's definition (found by `edit.id`, the gateway's id or
    /// Meta's, within `edit.tenant_id`): the given fields and `updated_at`, with an `edited`
    /// history entry (value: the new status if given; detail: what changed). `None` if the
    /// tenant has no such template.
    async fn edit_template(&self, edit: &TemplateEdit) -> StoreResult<Option<Template>>;

    /// Makes the gateway's copy of a template what Meta lists (keyed by WABA, name and
    /// language; created if unknown): category, status, components, Meta's id, parameter
    /// format, quality score, reason, previous category and TTL are replaced, and `deleted_at`
    /// cleared (unless the status is `DELETED`). A `synced` history entry is added only when
    /// it was created or something changed. `Conflict` if another tenant holds that key.
    async fn sync_template(&self, template: &SyncedTemplate) -> StoreResult<SyncOutcome>;

    /// Deletes a tenant's template `name` in a WABA: every language not already deleted, or
    /// only the one whose gateway or Meta id is `meta_template_id`. Each becomes `DELETED` with
    /// `deleted_at` = `at` and a `deleted` history entry. Returns them as they are now (empty
    /// when none matched).
    async fn delete_templates(
        &self,
        tenant_id: &str,
        waba_id: &str,
        name: &str,
        meta_template_id: Option<&str>,
        at: i64,
    ) -> StoreResult<Vec<Template>>;

    /// A template's history (`template_id` is the gateway's id), oldest first; empty if the
    /// tenant has no such template.
    async fn template_history(
        &self,
        tenant_id: &str,
        template_id: &str,
    ) -> StoreResult<Vec<TemplateEvent>>;
}
