//! Retention of Meta's payloads: the raw bodies Meta signed (personal data, up to 3 MB each)
//! are kept while they are processed and, for replays of them to be known, as long as events
//! are (`OPENBSP_EVENTS_RETENTION_DAYS`); then the leader's hourly pruning job deletes them. A
//! payload never processed is never deleted here, whatever its age.

use openbsp_store::StoreResult;

use crate::core::Core;

/// Payloads deleted per statement (short transactions beside the live intake: a payload may
/// be 3 MB).
const PRUNE_BATCH: u32 = 1_000;

/// Deletes the payloads processed and received more than the retention ago, in batches; how
/// many went.
pub async fn prune(core: &Core) -> StoreResult<u64> {
    let before = core.now() - core.config.delivery.retention.as_millis() as i64;
    let mut pruned = 0;
    loop {
        let n = core.store.prune_inbox(before, PRUNE_BATCH).await?;
        pruned += n;
        if n < u64::from(PRUNE_BATCH) {
            return Ok(pruned);
        }
        tokio::task::yield_now().await;
    }
}
