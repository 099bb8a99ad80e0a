//! Commits send outcomes in batches, then tells waiting Cloud-API callers.

use openbsp_store::SendResult;
use tokio::sync::{mpsc, oneshot};

use crate::core::{Core, SendOutcome};

/// Most outcomes committed together.
const MAX_BATCH: usize = 512;

/// One send's outcome.
pub(super) struct Recorded {
    /// What the store records.
    pub result: SendResult,
    /// What a waiting caller is told (none for a retry).
    pub outcome: Option<SendOutcome>,
}

/// What the recorder is given: an outcome, or a flush (answered once everything given before it
/// is committed, so that a worker gives its lease up only after its outcomes are recorded).
pub(super) enum ToRecorder {
    /// One send's outcome.
    Result(Recorded),
    /// Answer once everything before is committed.
    Flush(oneshot::Sender<()>),
}

fn message_id(r: &SendResult) -> &str {
    match r {
        SendResult::Accepted { message_id, .. }
        | SendResult::Failed { message_id, .. }
        | SendResult::Retry { message_id, .. }
        | SendResult::Defer { message_id, .. } => message_id,
    }
}

/// Runs until every sender of results is gone.
pub(super) async fn run(state: Core, mut rx: mpsc::Receiver<ToRecorder>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results: Vec<SendResult> = batch
            .iter()
            .filter_map(|r| match r {
                ToRecorder::Result(r) => Some(r.result.clone()),
                ToRecorder::Flush(_) => None,
            })
            .collect();
        let mut delay = std::time::Duration::from_millis(100);
        while !results.is_empty()
            && let Err(e) = state.store.record_send_results(&results).await
        {
            // The sends happened; their outcome must not be dropped.
            tracing::error!(error = %e, sends = results.len(), "could not record send outcomes; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(5));
        }
        for r in batch.drain(..) {
            match r {
                ToRecorder::Result(r) => {
                    if let Some(outcome) = r.outcome {
                        state.notify_outcome(message_id(&r.result), outcome);
                    }
                }
                ToRecorder::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}
