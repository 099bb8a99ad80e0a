//! Uploads of recipients: the file streamed through three stages (the reader and the
//! template check, the numbers, the store), each row checked as its send will be.

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use openbsp_domain::ids::{new_id_at, prefix};
use openbsp_domain::windows::Refusal;
use openbsp_store::campaign::{accepts_recipients, closed_to_recipients, refusal_reason};
use openbsp_store::{ContactFilter, NewRecipient, Page};
use openbsp_wire::ids::{Bsuid, WaId};
use openbsp_wire::send::ParseContext;
use openbsp_wire::template::Definition;
use serde::Serialize;
use serde_json::Value;

use super::rows::{self, Format, KeyKind, Line};
use super::spec::Spec;
use super::{approved, get, state_error};
use crate::core::{Core, CoreError, CoreResult};

/// The first refused rows an upload reports.
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Rows stored per transaction of an upload.
const STORE_BATCH: usize = 10_000;
/// An upload under way lapses this long after the gateway last renewed it (a gateway that
/// died mid-upload: its rows are removed, by the next upload or the campaign runner).
pub const UPLOAD_LEASE: Duration = Duration::from_secs(30);
/// Opted-out contacts read per page at the start of a marketing campaign's upload.
const OPT_OUT_PAGE: u32 = 1_000;

/// What an upload did (DESIGN §2.8).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct UploadReport {
    /// Rows stored.
    pub accepted: u64,
    /// Of the stored, skipped: users who opted out of marketing (a marketing template).
    pub skipped: u64,
    /// Rows whose recipient was already in the campaign.
    pub duplicates: u64,
    /// Rows refused.
    pub rejected: u64,
    /// The first refused rows, with why.
    pub errors: Vec<RowError>,
}

/// A refused row.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Its line in the file.
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl UploadReport {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowError { line, reason });
        }
    }
}

/// One checked line, as the reading thread hands it on.
enum Checked {
    Ok(NewRecipient),
    Refused(u64, String),
}

/// Adds an upload's rows to a campaign, streamed: `body` is read on a blocking thread, each
/// row checked as its send will be (the recipient read as Meta would from the channel's
/// number, the template filled with its variables and checked against the stored
/// definition), and stored in batches as they come. An upload is added whole or not at all:
/// one at a time per campaign, which does not run until it ends; a file found wrong as a
/// whole (its header, its encoding, a body cut short) removes what it had stored, and so does
/// an upload whose caller went away.
pub async fn upload(
    core: &Core,
    tenant_id: &str,
    id: &str,
    format: Format,
    body: Box<dyn Read + Send>,
) -> CoreResult<UploadReport> {
    let c = get(core, tenant_id, id).await?;
    super::refuse_grouped(&c, "upload of recipients")?;
    if !accepts_recipients(&c.status) {
        return Err(state_error(closed_to_recipients(&c.status), id));
    }
    let channel = core
        .stored_channel(&c.channel_id)
        .await?
        .ok_or_else(|| CoreError::not_found("channel", &c.channel_id))?;
    let spec = Spec::from_stored(&c.template_name, &c.language, &c.spec)?;
    let (_, def) = approved(core, &channel, &spec).await?;
    let opted_out = if c.category.as_deref() == Some("marketing") {
        opted_out(core, tenant_id).await?
    } else {
        HashMap::new()
    };
    let lease = UPLOAD_LEASE.as_millis() as i64;
    let now = core.now();
    let ticket = new_id_at(prefix::UPLOAD, now);
    core.store
        .begin_upload(tenant_id, &c.id, &ticket, now, now + lease)
        .await
        .map_err(|e| state_error(e, id))?;
    // Until it ends, the upload's lease is renewed; dropped (the caller went away), its rows
    // are removed.
    let guard = Ticket {
        core: core.clone(),
        tenant_id: tenant_id.to_string(),
        campaign_id: c.id.clone(),
        ticket: ticket.clone(),
        renewer: tokio::spawn(renew(
            core.clone(),
            tenant_id.to_string(),
            c.id.clone(),
            ticket.clone(),
        )),
        ended: false,
    };
    let checks = RowChecks {
        spec,
        def,
        ctx: ParseContext::for_business(channel.display_phone_number.clone()),
    };
    let stored = store_rows(core, &c, checks, &opted_out, ticket, format, body).await;
    guard.end(stored).await
}

/// What each row of an upload is checked against: the campaign's template part and the stored
/// definition it fills, and how the channel's number reads a recipient.
struct RowChecks {
    spec: Spec,
    def: Definition,
    ctx: ParseContext,
}

/// The rows of an upload, checked and stored under its `ticket`; what was stored.
async fn store_rows(
    core: &Core,
    c: &openbsp_store::Campaign,
    checks: RowChecks,
    opted_out: &HashMap<String, i64>,
    ticket: String,
    format: Format,
    body: Box<dyn Read + Send>,
) -> CoreResult<UploadReport> {
    let RowChecks { spec, def, ctx } = checks;
    let columns = c.columns.clone();

    // Two stages on two threads, so that a machine's second core does half the work: the
    // reader parses the file and checks each row's template; the next stage reads each row's
    // number (libphonenumber's metadata: most of an upload's work, and behind one lock, so one
    // thread does it). Both hand on batches in file order through bounded channels: rows are
    // stored, and later sent, in the order they were written, and the upload is streamed
    // whatever its size.
    let (tx, mut templated) = tokio::sync::mpsc::channel::<Vec<Templated>>(2);
    let (checked_tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Checked>>(2);
    let reader = tokio::task::spawn_blocking(move || {
        rows::read(body, format, &columns, |lines| {
            let batch = lines
                .into_iter()
                .map(|l| check_template(l, &spec, &def))
                .collect();
            tx.blocking_send(batch).is_ok()
        })
    });
    let numbers = tokio::task::spawn_blocking(move || {
        while let Some(batch) = templated.blocking_recv() {
            let batch = batch.into_iter().map(|t| check_number(t, &ctx)).collect();
            if checked_tx.blocking_send(batch).is_err() {
                return;
            }
        }
    });

    // The third stage stores the checked rows, a batch per transaction, one batch after
    // the other, while the next ones are checked: a commit's wait for the disk does not stop
    // the checking.
    let (batches, mut to_store) = tokio::sync::mpsc::channel::<Vec<NewRecipient>>(1);
    let storing = {
        let (core, tenant_id, id) = (core.clone(), c.tenant_id.clone(), c.id.clone());
        let now = core.now();
        tokio::spawn(async move {
            let mut added = openbsp_store::RecipientsAdded::default();
            while let Some(rows) = to_store.recv().await {
                let a = core
                    .store
                    .add_recipients(&tenant_id, &id, &ticket, rows, now)
                    .await
                    .map_err(|e| state_error(e, &id))?;
                added.accepted += a.accepted;
                added.duplicates += a.duplicates;
                added.skipped += a.skipped;
            }
            Ok::<_, CoreError>(added)
        })
    };

    let mut report = UploadReport::default();
    let mut ready: Vec<NewRecipient> = Vec::with_capacity(STORE_BATCH);
    while let Some(batch) = rx.recv().await {
        for item in batch {
            match item {
                Checked::Ok(mut r) => {
                    if let Some(since) = opted_out.get(&r.recipient) {
                        r.skipped = Some(refusal_reason(&Refusal::OptedOut { since: *since }).1);
                    }
                    ready.push(r)
                }
                Checked::Refused(line, reason) => report.reject(line, reason),
            }
        }
        if ready.len() >= STORE_BATCH {
            let rows = std::mem::replace(&mut ready, Vec::with_capacity(STORE_BATCH));
            if batches.send(rows).await.is_err() {
                break; // the store failed: its error is the answer
            }
        }
    }
    if !ready.is_empty() {
        let _ = batches.send(ready).await;
    }
    drop(batches);
    drop(rx);
    let read = reader
        .await
        .map_err(|e| CoreError::internal(format!("the upload's reader stopped: {e}")))?;
    numbers
        .await
        .map_err(|e| CoreError::internal(format!("the upload's number check stopped: {e}")))?;
    let added = storing
        .await
        .map_err(|e| CoreError::internal(format!("the upload's store stopped: {e}")))??;
    read?;
    report.accepted = added.accepted;
    report.duplicates = added.duplicates;
    report.skipped = added.skipped;
    Ok(report)
}

/// Removes the rows of the uploads whose lease lapsed (their gateway died mid-upload): the
/// campaign runner's sweep. How many rows went.
pub async fn remove_lapsed(core: &Core) -> CoreResult<u64> {
    let mut removed = 0;
    for (campaign_id, upload, n) in core.store.remove_lapsed_uploads(core.now()).await? {
        tracing::info!(campaign.id = %campaign_id, upload.id = %upload, removed = n, "an upload lapsed: its rows were removed");
        removed += n;
    }
    Ok(removed)
}

/// The tenant's contacts who opted out of marketing: `wa_id` and BSUID, with when.
async fn opted_out(core: &Core, tenant_id: &str) -> CoreResult<HashMap<String, i64>> {
    let filter = ContactFilter {
        opted_out: Some(true),
        ..ContactFilter::default()
    };
    let mut page = Page {
        limit: OPT_OUT_PAGE,
        after: None,
    };
    let mut out = HashMap::new();
    loop {
        let found = core.store.list_contacts(tenant_id, &filter, &page).await?;
        for c in &found {
            let since = c.marketing_opt_out_at.unwrap_or_default();
            out.extend(c.wa_id.iter().chain(&c.user_id).map(|k| (k.clone(), since)));
        }
        match found.last() {
            Some(last) if found.len() == OPT_OUT_PAGE as usize => {
                page.after = Some(last.id.clone())
            }
            _ => return Ok(out),
        }
    }
}

/// Renews an upload's lease until aborted (by [`Ticket`]).
async fn renew(core: Core, tenant_id: String, campaign_id: String, ticket: String) {
    loop {
        tokio::time::sleep(UPLOAD_LEASE / 3).await;
        let until = core.now() + UPLOAD_LEASE.as_millis() as i64;
        match core
            .store
            .renew_upload(&tenant_id, &campaign_id, &ticket, until)
            .await
        {
            Ok(true) => {}
            Ok(false) => return, // lapsed: the next batch says so
            Err(e) => {
                tracing::warn!(campaign.id = %campaign_id, error = %e, "could not renew an upload's lease")
            }
        }
    }
}

/// An upload under way: ended with its outcome ([`Ticket::end`]), or removed when dropped
/// before (the caller went away mid-upload).
struct Ticket {
    core: Core,
    tenant_id: String,
    campaign_id: String,
    /// The upload's id.
    ticket: String,
    renewer: tokio::task::JoinHandle<()>,
    ended: bool,
}

impl Ticket {
    /// Keeps the upload's rows when it went through; removes them when it failed (the error
    /// stays the answer).
    async fn end(mut self, outcome: CoreResult<UploadReport>) -> CoreResult<UploadReport> {
        self.renewer.abort();
        self.ended = true;
        let keep = outcome.is_ok();
        let ended = self
            .core
            .store
            .end_upload(&self.tenant_id, &self.campaign_id, &self.ticket, keep)
            .await;
        match (outcome, ended) {
            (Ok(report), Ok(_)) => Ok(report),
            (Ok(_), Err(e)) => Err(state_error(e, &self.campaign_id)),
            (Err(e), Ok(removed)) => {
                tracing::info!(campaign.id = %self.campaign_id, removed, error = %e, "an upload failed: its rows were removed");
                Err(e)
            }
            (Err(e), Err(end)) => {
                // The lease lapses and the runner removes the rows.
                tracing::warn!(campaign.id = %self.campaign_id, error = %end, "could not remove a failed upload's rows");
                Err(e)
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.ended {
            return;
        }
        let (core, tenant_id, campaign_id, ticket) = (
            self.core.clone(),
            self.tenant_id.clone(),
            self.campaign_id.clone(),
            self.ticket.clone(),
        );
        tokio::spawn(async move {
            match core
                .store
                .end_upload(&tenant_id, &campaign_id, &ticket, false)
                .await
            {
                Ok(removed) => {
                    tracing::info!(campaign.id = %campaign_id, removed, "an upload was cut off: its rows were removed")
                }
                Err(e) => {
                    tracing::warn!(campaign.id = %campaign_id, error = %e, "could not remove a cut-off upload's rows")
                }
            }
        });
    }
}

/// A line of an upload whose template part is checked (`Err`: why Meta would refuse what its
/// variables make of the template); its number is not read yet.
type Templated = (Line, Result<(), String>);

/// The first check of a line: the template filled with its variables, against the stored
/// definition (132000/132005/132012/132018 as Meta would answer).
fn check_template(line: Line, spec: &Spec, def: &Definition) -> Templated {
    let template = match &line {
        Line::Row { variables, .. } => spec
            .fill(def, variables)
            .map(|_| ())
            .map_err(|e| format!("({}) {}: {}", e.code, e.field, e.message)),
        Line::Bad { .. } => Ok(()),
    };
    (line, template)
}

/// The second check of a line: its recipient, read as Meta would from the channel's number
/// (a number refused is the line's reason before its template is).
fn check_number((line, template): Templated, ctx: &ParseContext) -> Checked {
    let (line, kind, key, variables) = match line {
        Line::Bad { line, reason } => return Checked::Refused(line, reason),
        Line::Row {
            line,
            kind,
            key,
            variables,
        } => (line, kind, key, variables),
    };
    let recipient = match kind {
        KeyKind::Phone | KeyKind::WaId => WaId::parse_in(&key, ctx).map(|w| w.as_str().to_string()),
        KeyKind::UserId => Bsuid::parse(&key).map(|b| b.as_str().to_string()),
    };
    let recipient = match recipient {
        Ok(r) => r,
        Err(e) => return Checked::Refused(line, format!("{}: {}", kind.name(), e.message)),
    };
    if let Err(reason) = template {
        return Checked::Refused(line, reason);
    }
    Checked::Ok(NewRecipient {
        recipient,
        line,
        variables: Value::Object(variables),
        skipped: None,
    })
}
