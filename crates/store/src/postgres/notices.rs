//! [`NoticeStore`] on PostgreSQL: `NOTIFY openbsp` and one listening connection per store.
//! Events written by any replica also wake this one's event readers: each commit that may
//! have written events raises a notice (coalesced, at most one per [`EVENTS_EVERY`]), and a
//! notice from another store bumps this one's [`Signal`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

use super::PgStore;
use super::conn::{DbResult, Signal};
use crate::error::StoreResult;
use crate::store::MISSED_NOTICES;
use crate::store::NoticeStore;

/// The channel every notice goes on.
pub(super) const CHANNEL: &str = "openbsp";
/// The prefix of the notice that events were written (followed by the writing store's id).
const EVENTS: &str = "events:";
/// Events notices are sent at most this often by one store.
const EVENTS_EVERY: Duration = Duration::from_millis(5);

/// A notice is a wake-up, not a record: the transaction that sends it does not wait for its
/// commit to reach the disk (`synchronous_commit` off for it alone, set by `set_config(…,
/// true)` in the statement's own implicit transaction). With a synchronous commit, every notice
/// statement was one more WAL flush beside the group commits of the accept path, which
/// measured it (a crash loses nothing: a lost notice only costs a poll).
const NOTIFY_ONE_SQL: &str =
    "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";
/// [`NOTIFY_ONE_SQL`] for many notices in one statement.
const NOTIFY_SQL: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, n)
     FROM UNNEST($2::text[]) AS n";

/// The store's listening and events-notice tasks, stopped with it.
pub(super) struct Notices {
    pub(super) heard: broadcast::Sender<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Notices {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Notices {
    /// Starts listening on `pool`, and raising an events notice after each `dirty` (which
    /// [`Signal::bump`] notifies).
    pub(super) fn spawn(pool: PgPool, signal: Signal, dirty: Arc<Notify>) -> Notices {
        let (heard, _) = broadcast::channel(4_096);
        let me = openbsp_domain::ids::new_id("sto");
        let listen = {
            let (pool, heard, me, signal) =
                (pool.clone(), heard.clone(), me.clone(), signal.clone());
            tokio::spawn(async move {
                loop {
                    if let Err(e) = listen(&pool, &heard, &me, &signal).await {
                        tracing::warn!(error = %e, "the LISTEN connection failed; polling until it is back");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        let raise = tokio::spawn(async move {
            let notice = format!("{EVENTS}{me}");
            loop {
                dirty.notified().await;
                if let Err(e) = sqlx::query(NOTIFY_ONE_SQL)
                    .bind(CHANNEL)
                    .bind(&notice)
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "could not raise the events notice");
                }
                tokio::time::sleep(EVENTS_EVERY).await;
            }
        });
        Notices {
            heard,
            tasks: vec![listen, raise],
        }
    }
}

/// Hears notices until the connection fails: events notices from other stores bump the local
/// signal, the others go to [`NoticeStore::notices`]' receivers. On each connection, and each
/// time the listener reconnects by itself (it would otherwise do so silently), what may have
/// been missed meanwhile is told: the readers are woken and the receivers hear
/// [`MISSED_NOTICES`].
async fn listen(
    pool: &PgPool,
    heard: &broadcast::Sender<String>,
    me: &str,
    signal: &Signal,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        // Whatever was missed while not listening: wake the readers, tell the receivers.
        signal.bump_local();
        let _ = heard.send(MISSED_NOTICES.to_string());
        // `None`: the connection was lost, and is listening again.
        while let Some(n) = listener.try_recv().await? {
            hear(&n, heard, me, signal);
        }
        tracing::warn!("the LISTEN connection was lost and is back; notices meanwhile are gone");
    }
}

/// One notice heard ([`listen`]).
fn hear(
    n: &sqlx::postgres::PgNotification,
    heard: &broadcast::Sender<String>,
    me: &str,
    signal: &Signal,
) {
    match n.payload().strip_prefix(EVENTS) {
        Some(from) if from == me => {}
        Some(_) => signal.bump_local(),
        None => {
            let _ = heard.send(n.payload().to_string());
        }
    }
}

#[async_trait]
impl NoticeStore for PgStore {
    async fn publish(&self, notices: &[String]) -> StoreResult<()> {
        if notices.is_empty() {
            return Ok(());
        }
        sqlx::query(NOTIFY_SQL)
            .bind(CHANNEL)
            .bind(notices)
            .execute(&self.pool)
            .await
            .db()?;
        Ok(())
    }

    fn notices(&self) -> Option<broadcast::Receiver<String>> {
        Some(self.notices.heard.subscribe())
    }
}
