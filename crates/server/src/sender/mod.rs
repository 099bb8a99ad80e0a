//! The sender: one worker per channel with due sends, each pacing its number at the channel's
//! throughput with a token bucket, and one recorder that commits outcomes in batches and tells
//! waiting Cloud-API callers.
//!
//! **Exactly once.** A channel's worker runs only while this replica holds the channel's sender
//! lease (`sender:<channel id>`, renewed by the supervisor every third of `lease_ttl`). Sends
//! are claimed under the holding's term just before they are posted — no more than the worker
//! can post in the next half second — and only that term may record their outcome. A
//! send is in flight for as long as its holding is live, however long Meta takes to answer; once
//! the holding is gone (the replica died, or lost the lease), its sends in flight are orphans:
//! their outcome is unknown, so they are put back with a delay of `reconcile_grace`, during
//! which Meta's status webhook (which carries the gateway id in `biz_opaque_callback_data`) or
//! the late answer itself settles them instead of a second send; past the grace, an orphan is
//! still not claimed while a payload of Meta's received by its due time waits unprocessed (the
//! status may be in it), for one more grace at most. A worker whose lease is not
//! confirmed posts nothing more.
//!
//! **Started again.** The sender runs under the gateway's supervisor ([`crate::workers`]),
//! which starts it again if it panics. Each run holds its leases under a holder of its own
//! (this replica's id and the run's number), and the workers of a run that ends, however it
//! ends, are told to stop as at shutdown: a run started again waits for the last one's leases
//! to be given up (or to lapse), then finds what they left in flight as orphans. A channel's
//! worker that panics is treated alike: its lease is given up and its sends in flight put back
//! behind the reconcile grace.

mod media;
mod recorder;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openbsp_store::{Lease, sender_lease};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::core::Core;
use crate::meta::graph::GraphClient;

/// Shortest pause between two looks for due work, however often the sender is woken.
const MIN_LOOK_INTERVAL: Duration = Duration::from_millis(20);
/// How often orphaned sends (in flight under a holding that is gone) are looked for.
const ORPHAN_SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// Most posts to Meta in flight at once from one replica, all channels together. Every
/// channel posts to the one Graph host, each post on a connection of its own over HTTP/1.1:
/// without a bound, a Meta slowed down (or a machine out of CPU) made the channels' in-flight
/// allowances add up to more sockets than the process may open (bench `capacity`: 100 channels
/// at 80 msg/s hit `EMFILE`). 4,096 carry 8,000 msg/s at half a second per answer.
pub(crate) const MAX_POSTS: usize = 4_096;

/// What a worker knows of its channel's lease: until when it is sure to hold it (renewed by the
/// supervisor), or `None` once it is lost.
pub(crate) type Holding = watch::Receiver<Option<Instant>>;

/// A channel's pair rate limit budgets, by recipient: kept by the supervisor across its
/// workers (a worker that stops and starts again does not forget a burst).
pub(crate) type Pairs = Arc<parking_lot::Mutex<HashMap<String, openbsp_wire::pair::PairBudget>>>;

/// A running worker, as the supervisor keeps it.
struct Running {
    lease: Lease,
    valid: watch::Sender<Option<Instant>>,
}

/// Runs of the sender in this process, for each run's lease holder.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// The channel workers of one run of the sender. However the run ends (a panic included),
/// they are told to stop as at shutdown, and left to finish: to post nothing more, put back
/// what they claimed, see the posts in flight recorded and give their leases up.
struct Crew {
    tasks: tokio::task::JoinSet<()>,
    /// The channel of each worker's task.
    channels: HashMap<tokio::task::Id, String>,
    stop: watch::Sender<bool>,
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.tasks.detach_all();
    }
}

/// Runs the sender until `shutdown` turns true.
pub async fn run(state: Core, shutdown: watch::Receiver<bool>) {
    let client = state.graph.clone();
    run_with(state, client, shutdown).await
}

/// Runs the sender with a given Graph client (tests swap it).
pub async fn run_with(
    state: Core,
    client: Arc<dyn GraphClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = state.config.sender.clone();
    let ttl_ms = cfg.lease_ttl.as_millis() as i64;
    let (results_tx, results_rx) = mpsc::channel(4096);
    let mut recorder = tokio::spawn(recorder::run(state.clone(), results_rx));
    let (exited_tx, mut exited_rx) = mpsc::unbounded_channel::<String>();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut pairs: HashMap<String, Pairs> = HashMap::new();
    let (stop, stopped) = watch::channel(false);
    let mut crew = Crew {
        tasks: tokio::task::JoinSet::new(),
        channels: HashMap::new(),
        stop,
    };
    let shared = Shared {
        client,
        holder: format!(
            "{}/sender-{}",
            state.replica_id,
            RUNS.fetch_add(1, Ordering::Relaxed)
        ),
        results: results_tx,
        exited: exited_tx,
        shutdown: stopped,
        posts: Arc::new(tokio::sync::Semaphore::new(MAX_POSTS)),
        uploads: media::Uploads::default(),
    };
    // Channels another replica holds: not asked for again until then.
    let mut elsewhere: HashMap<String, Instant> = HashMap::new();
    let mut renew = tokio::time::interval(cfg.lease_ttl / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(ORPHAN_SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut look = true;
    let mut last_look = None::<Instant>;
    loop {
        if look {
            look = false;
            // However often it is woken, the supervisor looks at most once per interval (a
            // worker, once started, is woken directly).
            if let Some(wait) =
                last_look.and_then(|t: Instant| MIN_LOOK_INTERVAL.checked_sub(t.elapsed()))
            {
                tokio::time::sleep(wait).await;
            }
            last_look = Some(Instant::now());
            start_workers(
                &state,
                &shared,
                &mut running,
                &mut elsewhere,
                &mut pairs,
                &mut crew,
            )
            .await;
        }
        let (mut do_renew, mut do_sweep) = (false, false);
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = state.sender_wakes.supervisor().notified() => look = true,
            Some(channel) = exited_rx.recv() => {
                running.remove(&channel);
                look = true;
            }
            Some(ended) = crew.tasks.join_next_with_id(), if !crew.tasks.is_empty() => {
                let (id, panicked) = match ended {
                    Ok((id, ())) => (id, None),
                    Err(e) => (e.id(), e.try_into_panic().ok()),
                };
                let channel = crew.channels.remove(&id);
                if let (Some(channel), Some(panic)) = (channel, panicked) {
                    let panic = crate::workers::panic_message(panic);
                    worker_panicked(&state, &mut running, &channel, &panic).await;
                    look = true;
                }
            }
            // Without its recorder the sender would post and forget: this run ends, and the
            // gateway's supervisor starts another.
            ended = &mut recorder => {
                let why = match ended {
                    Ok(()) => "ended".to_string(),
                    Err(e) => match e.try_into_panic() {
                        Ok(panic) => format!("panicked: {}", crate::workers::panic_message(panic)),
                        Err(e) => e.to_string(),
                    },
                };
                tracing::error!(reason = %why, "the sender's recorder stopped; the sender starts again");
                return;
            }
            _ = renew.tick() => do_renew = true,
            _ = sweep.tick() => do_sweep = true,
            _ = tokio::time::sleep(cfg.poll_interval) => look = true,
        }
        if *shutdown.borrow() {
            break;
        }
        if do_renew {
            renew_leases(&state, &shared.holder, &mut running, ttl_ms).await;
        }
        if do_sweep {
            sweep_orphans(&state).await;
        }
    }
    crew.stop.send_replace(true);
    while crew.tasks.join_next().await.is_some() {}
    // The recorder stops once every sender of results is gone.
    drop(shared);
    let _ = recorder.await;
}

/// A channel's worker panicked: its lease is given up and the sends it left in flight are
/// put back behind the reconcile grace (as a dead replica's), so that the channel's next
/// worker, under a new term, finds them.
async fn worker_panicked(
    state: &Core,
    running: &mut HashMap<String, Running>,
    channel: &str,
    panic: &str,
) {
    tracing::error!(channel.id = %channel, panic, "a channel's sender worker panicked; its sends in flight are put back");
    metrics::counter!("openbsp_sender_worker_panics_total").increment(1);
    state.sender_wakes.unregister(channel);
    let Some(r) = running.remove(channel) else {
        return;
    };
    let now = state.now();
    if let Err(e) = state
        .store
        .release_lease(&r.lease.name, &r.lease.holder, r.lease.term, now)
        .await
    {
        tracing::warn!(channel.id = %channel, error = %e, "could not give the channel's sender lease up (it lapses)");
        return;
    }
    let retry_at = now + state.config.sender.reconcile_grace.as_millis() as i64;
    if let Err(e) = state
        .store
        .requeue_orphaned_sends(Some(channel), now, retry_at)
        .await
    {
        tracing::warn!(channel.id = %channel, error = %e, "could not put orphaned sends back");
    }
}

/// What every worker of this replica is handed alike.
struct Shared {
    client: Arc<dyn GraphClient>,
    /// Who holds this run's leases.
    holder: String,
    results: mpsc::Sender<recorder::ToRecorder>,
    exited: mpsc::UnboundedSender<String>,
    shutdown: watch::Receiver<bool>,
    posts: Arc<tokio::sync::Semaphore>,
    uploads: media::Uploads,
}

/// Starts a worker for each channel with due sends that has none here, if this replica can
/// take its lease. A new holding first puts back the sends its channel's last holding left in
/// flight.
async fn start_workers(
    state: &Core,
    shared: &Shared,
    running: &mut HashMap<String, Running>,
    elsewhere: &mut HashMap<String, Instant>,
    pairs: &mut HashMap<String, Pairs>,
    crew: &mut Crew,
) {
    // Budgets of channels with no worker and nothing to remember are forgotten.
    let now = state.now();
    pairs.retain(|ch, p| running.contains_key(ch) || p.lock().values().any(|b| !b.idle(now)));
    let cfg = &state.config.sender;
    let ttl_ms = cfg.lease_ttl.as_millis() as i64;
    let channels = match state.store.channels_with_due_sends(state.now()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "sender could not look for due sends");
            return;
        }
    };
    let now_instant = Instant::now();
    elsewhere.retain(|_, until| *until > now_instant);
    for ch in channels {
        if running.contains_key(&ch) || elsewhere.contains_key(&ch) {
            continue;
        }
        let asked = Instant::now();
        let now = state.now();
        let lease = match state
            .store
            .acquire_lease(&sender_lease(&ch), &shared.holder, now, ttl_ms)
            .await
        {
            Ok(Some(l)) => l,
            Ok(None) => {
                elsewhere.insert(ch, asked + cfg.lease_ttl / 3);
                continue;
            }
            Err(e) => {
                tracing::warn!(channel.id = %ch, error = %e, "could not take the channel's sender lease");
                continue;
            }
        };
        // Sends the channel's earlier holding left in flight (this replica's before a restart,
        // or a dead replica's): their outcome is unknown.
        let retry_at = now + cfg.reconcile_grace.as_millis() as i64;
        match state
            .store
            .requeue_orphaned_sends(Some(&ch), now, retry_at)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                channel.id = %ch,
                sends = n,
                "sends whose outcome was lost (their sender stopped mid-flight) wait for Meta's status webhook before being retried"
            ),
            Err(e) => {
                tracing::warn!(channel.id = %ch, error = %e, "could not put orphaned sends back");
            }
        }
        let (valid, holding) = watch::channel(Some(asked + valid_for(cfg.lease_ttl)));
        tracing::debug!(channel.id = %ch, term = lease.term, "sending for the channel");
        let task = crew.tasks.spawn(worker::run(worker::Assignment {
            state: state.clone(),
            client: shared.client.clone(),
            channel_id: ch.clone(),
            lease: lease.clone(),
            holding,
            pairs: pairs.entry(ch.clone()).or_default().clone(),
            results: shared.results.clone(),
            exited: shared.exited.clone(),
            shutdown: shared.shutdown.clone(),
            posts: shared.posts.clone(),
            uploads: shared.uploads.clone(),
        }));
        crew.channels.insert(task.id(), ch.clone());
        running.insert(ch, Running { lease, valid });
    }
}

/// How long after a renewal was asked for the holder is sure it still holds the lease: the
/// lease's time less a margin for clocks and the renewal's own time.
fn valid_for(ttl: Duration) -> Duration {
    ttl - ttl / 5
}

/// Renews the leases of every running worker in one call; a worker whose lease is gone is
/// told to stop.
async fn renew_leases(
    state: &Core,
    holder: &str,
    running: &mut HashMap<String, Running>,
    ttl_ms: i64,
) {
    if running.is_empty() {
        return;
    }
    let held: Vec<(String, i64)> = running
        .values()
        .map(|r| (r.lease.name.clone(), r.lease.term))
        .collect();
    let asked = Instant::now();
    match state
        .store
        .renew_leases(holder, &held, state.now(), ttl_ms)
        .await
    {
        Ok(kept) => {
            let kept: HashMap<&str, &Lease> = kept.iter().map(|l| (l.name.as_str(), l)).collect();
            let until = asked + valid_for(state.config.sender.lease_ttl);
            for (ch, r) in running.iter() {
                if kept.contains_key(r.lease.name.as_str()) {
                    r.valid.send_replace(Some(until));
                } else {
                    tracing::warn!(channel.id = %ch, term = r.lease.term, "the channel's sender lease was lost; its worker stops");
                    r.valid.send_replace(None);
                }
            }
        }
        // Not renewed: the workers stop posting once their holding's time runs out, unless a
        // later renewal gets through.
        Err(e) => tracing::warn!(error = %e, "could not renew the sender leases"),
    }
}

/// Puts back every send in flight under a holding that is gone: on the leader only (each
/// channel's new holder also sweeps its own channel when it takes the lease).
async fn sweep_orphans(state: &Core) {
    if !state.leadership.is_leader() {
        return;
    }
    let cfg = &state.config.sender;
    let now = state.now();
    match state
        .store
        .requeue_orphaned_sends(None, now, now + cfg.reconcile_grace.as_millis() as i64)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            sends = n,
            "sends whose outcome was lost (their sender stopped mid-flight) wait for Meta's status webhook before being retried"
        ),
        Err(e) => tracing::warn!(error = %e, "could not look for orphaned sends"),
    }
}
