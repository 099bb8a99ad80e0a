//! Uploads of recipients: the file streamed through three stages (the reader and the
//! template check, the numbers, the store), each row checked as its send will be.

use std::io::Read;

use openbsp_store::NewRecipient;
use openbsp_store::campaign::{accepts_recipients, closed_to_recipients};
use openbsp_wire::ids::{Bsuid, WaId};
use openbsp_wire::send::ParseContext;
use openbsp_wire::template::Definition;
use serde::Serialize;
use serde_json::Value;

use super::rows::{self, Format, KeyKind, Line};
use super::spec::Spec;
use super::{approved, get};
use crate::core::{Core, CoreError, CoreResult};

/// The first refused rows an upload reports.
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Rows stored per transaction of an upload.
const STORE_BATCH: usize = 10_000;

/// What an upload did (DESIGN §2.8).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadReport {
    /// Rows stored.
    pub accepted: u64,
    /// Rows whose recipient was already in the campaign.
    pub duplicates: u64,
    /// Rows refused.
    pub rejected: u64,
    /// The first refused rows, with why.
    pub errors: Vec<RowError>,
}

/// A refused row.
#[derive(Debug, Clone, Serialize)]
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
/// definition), and stored in batches as they come. The whole file is refused before any row
/// is stored when its header is wrong.
pub async fn upload(
    core: &Core,
    tenant_id: &str,
    id: &str,
    format: Format,
    body: Box<dyn Read + Send>,
) -> CoreResult<UploadReport> {
    let c = get(core, tenant_id, id).await?;
    if !accepts_recipients(&c.status) {
        return Err(CoreError::from(closed_to_recipients(&c.status)));
    }
    let channel = core
        .stored_channel(&c.channel_id)
        .await?
        .ok_or_else(|| CoreError::not_found("channel", &c.channel_id))?;
    let spec = Spec::from_stored(&c.template_name, &c.language, &c.spec)?;
    let (_, def) = approved(core, &channel, &spec).await?;
    let ctx = ParseContext::for_business(channel.display_phone_number.clone());
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
        let (core, tenant_id, id) = (core.clone(), tenant_id.to_string(), c.id.clone());
        let now = core.now();
        tokio::spawn(async move {
            let mut added = openbsp_store::RecipientsAdded::default();
            while let Some(rows) = to_store.recv().await {
                let a = core
                    .store
                    .add_recipients(&tenant_id, &id, rows, now)
                    .await?;
                added.accepted += a.accepted;
                added.duplicates += a.duplicates;
            }
            Ok::<_, CoreError>(added)
        })
    };

    let mut report = UploadReport::default();
    let mut ready: Vec<NewRecipient> = Vec::with_capacity(STORE_BATCH);
    while let Some(batch) = rx.recv().await {
        for item in batch {
            match item {
                Checked::Ok(r) => ready.push(r),
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
    report.accepted = added.accepted;
    report.duplicates = added.duplicates;
    if let Err(e) = read {
        // The rows before the failure are stored (a retry of the upload finds them
        // duplicates); the answer says how far it went.
        let stored = report.accepted + report.duplicates;
        if stored > 0 {
            tracing::warn!(campaign.id = %c.id, error = %e, stored, "an upload stopped part way");
            return Err(CoreError::invalid_field(
                "file",
                format!(
                    "{e} ({stored} rows before it were stored; upload the file again to add the rest: rows already stored are kept once)"
                ),
            ));
        }
        return Err(e);
    }
    Ok(report)
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
    })
}
