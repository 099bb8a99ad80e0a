//! Campaigns (DESIGN §2.8): one approved template sent to many recipients, each with variables
//! of their own. Created against the stored template, filled by streamed uploads whose every
//! row is checked as its send will be, started, paused, resumed and cancelled through the
//! store's state machine, and run by [`feed`], which the campaign runner calls on the leader:
//! it hands the next recipients to the sender at the bulk priority, each at most once (the
//! store's feed is the guarantee).

pub mod rows;
mod run;
pub mod spec;
mod upload;

pub use run::{FEED_MAX, OPENED_BY, feed, on_template_refused};
pub use upload::{MAX_REPORTED_ERRORS, RowError, UploadReport, remove_lapsed, upload};

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_store::{
    Campaign, CampaignAction, CampaignCounts, CampaignCreated, CampaignFilter, CampaignRecipient,
    Channel, IdempotencyKey, RecipientFilter, SendResult, campaign_status,
};
use openbsp_wire::ids::{LanguageCode, TemplateName};
use openbsp_wire::template::{Definition, status_error};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::templates;
use super::{Core, CoreError, CoreResult};
use spec::Spec;

/// A new campaign, as a surface parsed it.
#[derive(Debug, Clone)]
pub struct CampaignInput {
    /// The business's name for it.
    pub name: String,
    /// The channel: phone number id or channel id.
    pub channel: String,
    /// The template part (see [`Spec::parse`]).
    pub template: Value,
    /// When it starts, if not when started (ms).
    pub start_at: Option<i64>,
    /// Its own rate, under the channel's (msg/s).
    pub rate_limit: Option<u32>,
}

/// Creates a campaign in `draft`: its channel the tenant's, its template stored, approved and
/// filled by its placeholders (a placeholder too many or too few is Meta's 132000). Under an
/// idempotency key already used, the first campaign (`false`: not created by this call), or
/// [`CoreError::KeyReused`] when the key came with another request.
pub async fn create(
    core: &Core,
    tenant_id: &str,
    input: CampaignInput,
    key: Option<IdempotencyKey>,
) -> CoreResult<(Campaign, bool)> {
    if let Some(k) = &key
        && let Some(found) = replay(core, tenant_id, k).await?
    {
        return Ok((found, false));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(CoreError::invalid_field(
            "name",
            "name is required: 1 to 256 characters",
        ));
    }
    let channel = core.require_channel(tenant_id, &input.channel).await?;
    let spec = Spec::parse(&input.template)?;
    // A gateway media in the template (a header's image) must be the tenant's, of its kind.
    crate::core::media::check_send(core, tenant_id, &input.template).await?;
    if let Some(rate) = input.rate_limit
        && (rate == 0 || rate > channel.throughput_mps)
    {
        return Err(CoreError::invalid_field(
            "rate_limit",
            format!(
                "rate_limit must be between 1 and the channel's throughput ({} msg/s)",
                channel.throughput_mps
            ),
        ));
    }
    let (template, def) = approved(core, &channel, &spec).await?;
    let columns = spec.columns();
    // The placeholders must fill the template's parameters: checked with a sample row (the
    // values' formats are checked row by row at upload).
    let sample: Map<String, Value> = columns
        .iter()
        .map(|c| (c.clone(), json!("sample")))
        .collect();
    if let Err(e) = spec.fill(&def, &sample)
        && e.code == openbsp_wire::error::codes::TEMPLATE_PARAM_COUNT
    {
        return Err(CoreError::TemplateRule(e));
    }
    let now = core.now();
    let c = Campaign {
        id: new_id_at(prefix::CAMPAIGN, now),
        tenant_id: tenant_id.to_string(),
        channel_id: channel.id.clone(),
        name: name.to_string(),
        template_id: template.id.clone(),
        template_name: template.name.clone(),
        language: template.language.clone(),
        category: template.category.as_ref().map(|c| c.to_ascii_lowercase()),
        spec: spec.to_value(),
        columns,
        status: campaign_status::DRAFT.to_string(),
        pause_reason: None,
        start_at: input.start_at,
        rate_limit: input.rate_limit,
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        uploading: false,
        group_key: None,
    };
    match core.store.create_campaign(&c, key.as_ref()).await? {
        CampaignCreated::Created(c) => Ok((c, true)),
        CampaignCreated::Existing(c) => Ok((c, false)),
        CampaignCreated::KeyReused(first) => Err(CoreError::KeyReused { first: first.id }),
    }
}

/// Refuses what only a campaign of uploaded recipients does (an upload, a retry) on a
/// campaign of grouped sends: its recipients are its sends.
pub fn refuse_grouped(c: &Campaign, what: &str) -> CoreResult<()> {
    if c.group_key.is_some() {
        return Err(CoreError::conflict(
            "campaign_state",
            format!(
                "campaign {} groups direct sends (key {:?}): it takes no {what}",
                c.id,
                c.group_key.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// A creation retried under its idempotency key: the first answer stands (even when the
/// template has changed since), without any check.
async fn replay(
    core: &Core,
    tenant_id: &str,
    key: &IdempotencyKey,
) -> CoreResult<Option<Campaign>> {
    match core.store.find_campaign_by_key(tenant_id, &key.key).await? {
        Some((first, hash)) if hash.as_deref() == Some(key.request_hash.as_str()) => {
            Ok(Some(first))
        }
        Some((first, _)) => Err(CoreError::KeyReused { first: first.id }),
        None => Ok(None),
    }
}

/// The stored template a spec names, approved, and its definition.
async fn approved(
    core: &Core,
    channel: &Channel,
    spec: &Spec,
) -> CoreResult<(std::sync::Arc<openbsp_store::Template>, Definition)> {
    let (Ok(name), Ok(language)) = (
        TemplateName::parse(&spec.name),
        LanguageCode::parse(&spec.language),
    ) else {
        return Err(templates::no_such_name(&spec.name));
    };
    let t = templates::find_for_send(core, channel, &name, &language)
        .await?
        .ok_or_else(|| templates::no_such_name(&format!("{} ({})", spec.name, spec.language)))?;
    if let Some(e) = status_error(&t.status, &t.name, &t.language) {
        return Err(CoreError::TemplateRefused(e));
    }
    let def = templates::definition(&t)?;
    Ok((t, def))
}

/// A tenant's campaign.
pub async fn get(core: &Core, tenant_id: &str, id: &str) -> CoreResult<Campaign> {
    core.store
        .get_campaign(tenant_id, id)
        .await?
        .ok_or_else(|| CoreError::not_found("campaign", id))
}

/// A campaign's progress: its counts, the rate it goes at and when it should end.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Its counts.
    pub counts: CampaignCounts,
    /// The rate it is sent at while running (msg/s): the campaign's, else its channel's.
    pub rate: u32,
    /// Seconds until its last pending recipient is sent, at that rate (while running).
    pub eta_seconds: Option<u64>,
}

/// A campaign's progress.
pub async fn progress(core: &Core, c: &Campaign) -> CoreResult<Progress> {
    let counts = core.store.campaign_counts(&c.id).await?;
    let throughput = core
        .stored_channel(&c.channel_id)
        .await?
        .map_or(80, |ch| ch.throughput_mps);
    let rate = c.rate_limit.unwrap_or(throughput).min(throughput).max(1);
    let eta_seconds =
        (c.status == campaign_status::RUNNING).then(|| counts.pending.div_ceil(u64::from(rate)));
    Ok(Progress {
        counts,
        rate,
        eta_seconds,
    })
}

/// A tenant's campaigns, newest first.
pub async fn list(core: &Core, filter: &CampaignFilter) -> CoreResult<Vec<Campaign>> {
    if let Some(s) = &filter.status
        && !campaign_status::ALL.contains(&s.as_str())
    {
        return Err(CoreError::invalid_field(
            "status",
            format!("status must be one of {}", campaign_status::ALL.join(", ")),
        ));
    }
    Ok(core.store.list_campaigns(filter).await?)
}

/// The statuses a recipient list filters by.
pub const RECIPIENT_STATUSES: &[&str] = &[
    "pending",
    "sent",
    "delivered",
    "read",
    "replied",
    "failed",
    "skipped",
];

/// A tenant's campaign's recipients, in upload order.
pub async fn recipients(
    core: &Core,
    tenant_id: &str,
    id: &str,
    filter: &RecipientFilter,
) -> CoreResult<Vec<CampaignRecipient>> {
    if let Some(s) = &filter.status
        && !RECIPIENT_STATUSES.contains(&s.as_str())
    {
        return Err(CoreError::invalid_field(
            "status",
            format!("status must be one of {}", RECIPIENT_STATUSES.join(", ")),
        ));
    }
    let c = get(core, tenant_id, id).await?;
    Ok(core.store.list_recipients(&c.id, filter).await?)
}

/// Deletes a draft campaign.
pub async fn delete(core: &Core, tenant_id: &str, id: &str) -> CoreResult<()> {
    if core.store.delete_campaign(tenant_id, id).await? {
        Ok(())
    } else {
        Err(CoreError::not_found("campaign", id))
    }
}

/// Starts, pauses, resumes or cancels a campaign. A cancel fails the sends it held (queued,
/// not yet claimed: they never reach Meta).
pub async fn act(
    core: &Core,
    tenant_id: &str,
    id: &str,
    action: CampaignAction,
) -> CoreResult<Campaign> {
    let cancel = action == CampaignAction::Cancel;
    let done = core
        .store
        .transition_campaign(tenant_id, id, action, core.now())
        .await
        .map_err(|e| state_error(e, id))?;
    if cancel {
        fail_cancelled(core, &done.held).await?;
    }
    core.campaign_wake.notify_one();
    Ok(done.campaign)
}

/// Puts the recipients whose send failed with one of `codes` back to be sent again (a
/// completed campaign runs again); how many. Nothing is retried that was not asked for.
pub async fn retry(
    core: &Core,
    tenant_id: &str,
    id: &str,
    codes: Vec<String>,
) -> CoreResult<(Campaign, u64)> {
    if codes.is_empty() || codes.iter().any(|c| c.trim().is_empty()) {
        return Err(CoreError::invalid_field(
            "codes",
            "codes is required: the failure codes to retry, e.g. [\"131026\"]",
        ));
    }
    refuse_grouped(&get(core, tenant_id, id).await?, "retry")?;
    let (c, n) = core
        .store
        .retry_recipients(tenant_id, id, &codes, core.now())
        .await
        .map_err(|e| state_error(e, id))?;
    core.campaign_wake.notify_one();
    Ok((c, n))
}

/// A store error of a campaign's change: not found (another tenant's too), an upload under
/// way (`upload_in_progress`), or a status that does not allow it (`campaign_state`).
fn state_error(e: openbsp_store::StoreError, id: &str) -> CoreError {
    use openbsp_store::campaign::UPLOAD_UNDER_WAY;
    match e {
        openbsp_store::StoreError::NotFound(_) => CoreError::not_found("campaign", id),
        openbsp_store::StoreError::Conflict(m) => match m.strip_prefix(UPLOAD_UNDER_WAY) {
            Some(rest) => CoreError::conflict("upload_in_progress", rest.trim_start_matches(": ")),
            None => {
                CoreError::conflict("campaign_state", m.trim_start_matches("campaign.status: "))
            }
        },
        other => other.into(),
    }
}

/// Fails a cancelled campaign's held sends.
async fn fail_cancelled(core: &Core, held: &[String]) -> CoreResult<()> {
    let now = core.now();
    let results: Vec<SendResult> = held
        .iter()
        .map(|m| SendResult::Failed {
            message_id: m.clone(),
            term: 0,
            error: json!({"code": "campaign_cancelled",
                          "title": "The campaign was cancelled before this message was sent"}),
            at: now,
        })
        .collect();
    for part in results.chunks(500) {
        core.store.record_send_results(part).await?;
    }
    Ok(())
}
