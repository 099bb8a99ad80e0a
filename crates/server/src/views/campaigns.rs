//! How campaigns and their recipients look: `GET /v1/campaigns…`, and the CLI's `--json`.

use openbsp_domain::clock::rfc3339;
use openbsp_store::{Campaign, CampaignCounts, CampaignRecipient};
use serde::Serialize;
use serde_json::Value;

use crate::core::campaigns::Progress;

/// A campaign (fields in sorted order: see [`crate::views`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(
    description = "A campaign (`\"object\": \"campaign\"`): a template sent to uploaded recipients, at a rate."
)]
pub struct CampaignView {
    /// The channel it sends on.
    pub channel_id: String,
    /// When it completed or was cancelled.
    pub completed_at: Option<String>,
    /// Its counts (on a single campaign, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountsView>,
    /// Created.
    pub created_at: String,
    /// Seconds until its last pending recipient is sent at its rate (running only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Failures by code, most first (on a single campaign).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<FailureView>>,
    /// The client's key of a campaign of grouped direct sends (Pingtochat's `bulk_id`);
    /// absent on a campaign of uploaded recipients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// `cmp_…`
    pub id: String,
    /// Its name.
    pub name: String,
    /// Always `"campaign"`.
    pub object: &'static str,
    /// Why it is paused.
    pub pause_reason: Option<Value>,
    /// The rate it goes at (msg/s; on a single campaign).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// Its own rate limit (msg/s).
    pub rate_limit: Option<u32>,
    /// When it starts.
    pub start_at: Option<String>,
    /// When it first ran.
    pub started_at: Option<String>,
    /// `draft`, `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    pub status: String,
    /// Its template and parameters.
    pub template: CampaignTemplateView,
    /// Last change.
    pub updated_at: String,
    /// An upload of recipients is under way (the campaign starts or resumes when it ends).
    pub uploading: bool,
}

/// What a retry of a campaign's failed recipients did (`POST /v1/campaigns/{id}/retry`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignRetryView {
    /// The campaign as it is now.
    pub campaign: CampaignView,
    /// How many recipients go again.
    pub retried: u64,
}

/// A campaign's template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignTemplateView {
    /// Category, lower case.
    pub category: Option<String>,
    /// The columns its placeholders name.
    pub columns: Vec<String>,
    /// `components` with placeholders, when given so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Value>,
    /// The gateway's template id.
    pub id: String,
    /// Language.
    pub language: String,
    /// Name.
    pub name: String,
    /// `variables` with placeholders, when given so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<Value>,
}

/// A campaign's counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    /// Delivered.
    pub delivered: u64,
    /// Failed.
    pub failed: u64,
    /// Of the sent, held by Meta for the template's quality assessment (template pacing).
    pub held: u64,
    /// Not sent yet.
    pub pending: u64,
    /// Of the pending, queued at the sender.
    pub queued: u64,
    /// Read.
    pub read: u64,
    /// Answered.
    pub replied: u64,
    /// Accepted by Meta.
    pub sent: u64,
    /// Skipped.
    pub skipped: u64,
    /// Every recipient.
    pub total: u64,
    /// Of the queued, waiting for a place in the messaging limit.
    pub waiting: u64,
}

/// Failures of one code.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailureView {
    /// Meta's code, or the gateway's reason.
    pub code: String,
    /// How many.
    pub count: u64,
}

impl CountsView {
    /// The view of counts.
    pub fn new(c: &CampaignCounts) -> CountsView {
        CountsView {
            delivered: c.delivered,
            failed: c.failed,
            held: c.held,
            pending: c.pending,
            queued: c.queued,
            read: c.read,
            replied: c.replied,
            sent: c.sent,
            skipped: c.skipped,
            total: c.total,
            waiting: c.waiting,
        }
    }
}

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

impl CampaignView {
    /// The view of a campaign, with its progress when given.
    pub fn new(c: &Campaign, progress: Option<&Progress>) -> CampaignView {
        CampaignView {
            channel_id: c.channel_id.clone(),
            completed_at: time(c.completed_at),
            counts: progress.map(|p| CountsView::new(&p.counts)),
            created_at: rfc3339(c.created_at),
            eta_seconds: progress.and_then(|p| p.eta_seconds),
            failures: progress.map(|p| {
                p.counts
                    .failures
                    .iter()
                    .map(|(code, count)| FailureView {
                        code: code.clone(),
                        count: *count,
                    })
                    .collect()
            }),
            group_key: c.group_key.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            object: "campaign",
            pause_reason: c.pause_reason.clone(),
            rate: progress.map(|p| p.rate),
            rate_limit: c.rate_limit,
            start_at: time(c.start_at),
            started_at: time(c.started_at),
            status: c.status.clone(),
            template: CampaignTemplateView {
                category: c.category.clone(),
                columns: c.columns.clone(),
                components: c.spec.get("components").cloned(),
                id: c.template_id.clone(),
                language: c.language.clone(),
                name: c.template_name.clone(),
                variables: c.spec.get("variables").cloned(),
            },
            updated_at: rfc3339(c.updated_at),
            uploading: c.uploading,
        }
    }
}

/// A campaign's recipient.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    /// Added.
    pub created_at: String,
    /// Why it failed or was skipped: Meta's error, or the gateway's reason.
    pub error: Option<Value>,
    /// Meta holds its message for the template's quality assessment (answered
    /// `message_status: held_for_quality_assessment`; template pacing, reference §2.4).
    pub held_for_quality_assessment: bool,
    /// Its line in the upload.
    pub line: u64,
    /// Its message, once queued.
    pub message_id: Option<String>,
    /// Always `"campaign_recipient"`.
    pub object: &'static str,
    /// The recipient (`wa_id` or BSUID).
    pub recipient: String,
    /// When it answered.
    pub replied_at: Option<String>,
    /// Its place in the campaign (the cursor of the list).
    pub seq: i64,
    /// `pending`, `sent`, `delivered`, `read`, `replied`, `failed` or `skipped`.
    pub status: &'static str,
    /// Last change.
    pub updated_at: String,
    /// Its variables.
    pub variables: Value,
    /// Meta's id of its message.
    pub wamid: Option<String>,
}

impl RecipientView {
    /// The view of a recipient.
    pub fn new(r: &CampaignRecipient) -> RecipientView {
        RecipientView {
            created_at: rfc3339(r.created_at),
            error: r.error.clone().or_else(|| r.reason.clone()),
            held_for_quality_assessment: r.held(),
            line: r.line,
            message_id: r.message_id.clone(),
            object: "campaign_recipient",
            recipient: r.recipient.clone(),
            replied_at: time(r.replied_at),
            seq: r.seq,
            status: r.status(),
            updated_at: rfc3339(r.updated_at),
            variables: r.variables.clone(),
            wamid: r.wamid.clone(),
        }
    }
}

/// A campaign's report (`GET /v1/campaigns/{id}/report`): CSV, a row a recipient.
pub mod report {
    use bytes::Bytes;
    use openbsp_store::CampaignRecipient;
    use serde_json::Value;

    /// The first row of a campaign's report: its columns.
    pub const HEADER: &str = "line,recipient,status,message_id,wamid,error_code,error,created_at,updated_at,replied_at,held_for_quality_assessment\n";

    /// The whole report of `rows`, as one text: the description's example of the report, made
    /// as the report is.
    pub fn text(rows: &[CampaignRecipient]) -> String {
        let rows = self::rows(rows).expect("CSV is written to memory");
        format!("{HEADER}{}", String::from_utf8_lossy(&rows))
    }

    /// The report's rows of `rows` (no header), as the report streams them page by page.
    pub fn rows(rows: &[CampaignRecipient]) -> std::io::Result<Bytes> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::with_capacity(rows.len() * 96));
        for r in rows {
            let error = r.error.as_ref().or(r.reason.as_ref());
            let code = error.map(openbsp_store::campaign::failure_code);
            let message = error.and_then(|e| {
                e.get("message")
                    .or_else(|| e.get("title"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let time = |ms: Option<i64>| ms.map(openbsp_domain::clock::rfc3339).unwrap_or_default();
            w.write_record([
                r.line.to_string(),
                r.recipient.clone(),
                r.status().to_string(),
                r.message_id.clone().unwrap_or_default(),
                r.wamid.clone().unwrap_or_default(),
                code.unwrap_or_default(),
                message.unwrap_or_default(),
                time(Some(r.created_at)),
                time(Some(r.updated_at)),
                time(r.replied_at),
                r.held().to_string(),
            ])?;
        }
        w.into_inner()
            .map(Bytes::from)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
