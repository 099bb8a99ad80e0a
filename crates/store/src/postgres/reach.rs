//! The messaging limit on PostgreSQL: a portfolio's reach in the moving 24 hours
//! ([`crate::policy::decide_reach`]). Each portfolio a transaction judges is locked for the rest
//! of it (an advisory lock, taken in one order), so that two replicas, or two batches, never
//! both take the last place.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::PgConnection;

use super::conn::DbResult;
use openbsp_domain::windows::Refusal;

use crate::error::StoreResult;
use crate::model::NewOutbound;
use crate::policy::{ReachDecision, ReachWindow, SendPlan, decide_reach};
use openbsp_domain::limits::{Counting, REACH_WINDOW_MS};

/// (tenant, portfolio)
type Portfolio = (String, String);

/// The reach of the portfolios a transaction judges, read under their locks, and what it
/// takes of them: decided in memory, written once ([`Ledger::write`]).
#[derive(Default)]
pub(in crate::postgres) struct Ledger {
    windows: HashMap<Portfolio, ReachWindow>,
    reached: HashSet<(String, String, String)>,
    taken: BTreeMap<(String, String, String), i64>,
}

impl Ledger {
    /// Locks the portfolios of `wanted` (tenant, portfolio, recipient) and reads their reach
    /// since `now - 24 h`, with which of these recipients they reached.
    pub(in crate::postgres) async fn read(
        c: &mut PgConnection,
        wanted: &[(&str, &str, &str)],
        now: i64,
    ) -> StoreResult<Ledger> {
        let mut ledger = Ledger::default();
        let mut groups: BTreeMap<Portfolio, Vec<&str>> = BTreeMap::new();
        for (t, p, r) in wanted {
            groups
                .entry((t.to_string(), p.to_string()))
                .or_default()
                .push(r);
        }
        let since = now - REACH_WINDOW_MS;
        for ((tenant, portfolio), recipients) in groups {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("reach\u{1f}{tenant}\u{1f}{portfolio}"))
                .execute(&mut *c)
                .await
                .db()?;
            let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MIN(reached_at) FROM reach
                 WHERE tenant_id = $1 AND portfolio = $2 AND reached_at > $3",
            )
            .bind(&tenant)
            .bind(&portfolio)
            .bind(since)
            .fetch_one(&mut *c)
            .await
            .db()?;
            let found: Vec<String> = sqlx::query_scalar(
                "SELECT recipient FROM reach
                 WHERE tenant_id = $1 AND portfolio = $2 AND recipient = ANY($3)
                   AND reached_at > $4",
            )
            .bind(&tenant)
            .bind(&portfolio)
            .bind(&recipients)
            .bind(since)
            .fetch_all(&mut *c)
            .await
            .db()?;
            for r in found {
                ledger
                    .reached
                    .insert((tenant.clone(), portfolio.clone(), r));
            }
            ledger.windows.insert(
                (tenant, portfolio),
                ReachWindow {
                    count: count.max(0) as u64,
                    oldest,
                },
            );
        }
        Ok(ledger)
    }

    /// Decides a send to `recipient` at `now`, as if the sends decided before it were stored.
    pub(in crate::postgres) fn decide(
        &mut self,
        tenant: &str,
        portfolio: &str,
        recipient: &str,
        limit: Option<u32>,
        now: i64,
    ) -> ReachDecision {
        let key = (
            tenant.to_string(),
            portfolio.to_string(),
            recipient.to_string(),
        );
        let window = self
            .windows
            .entry((key.0.clone(), key.1.clone()))
            .or_default();
        let decision = decide_reach(window, self.reached.contains(&key), limit, now);
        match decision {
            ReachDecision::Take => {
                window.count += 1;
                window.oldest = Some(window.oldest.map_or(now, |o| o.min(now)));
            }
            ReachDecision::Again => {}
            ReachDecision::Full { .. } => return decision,
        }
        self.reached.insert(key.clone());
        let at = self.taken.entry(key).or_insert(now);
        *at = (*at).max(now);
        decision
    }

    /// What the limit says of `new`, planned as `plan`: `Ok(None)` goes now, `Ok(Some(until))`
    /// waits (bulk), `Err` is refused ([`crate::policy::reach_outcome`]).
    pub(in crate::postgres) fn judge(
        &mut self,
        new: &NewOutbound,
        plan: &SendPlan,
    ) -> Result<Option<i64>, Refusal> {
        let Some(r) = &plan.reach else {
            return Ok(None);
        };
        let m = &new.message;
        let decision = self.decide(
            &m.tenant_id,
            &r.portfolio,
            &m.recipient,
            r.limit,
            m.created_at,
        );
        crate::policy::reach_outcome(decision, r.limit, plan.priority)
    }

    /// Stores what was taken (a user reached again counts from the latest time).
    pub(in crate::postgres) async fn write(self, c: &mut PgConnection) -> StoreResult<()> {
        if self.taken.is_empty() {
            return Ok(());
        }
        let mut cols: (Vec<String>, Vec<String>, Vec<String>, Vec<i64>) = Default::default();
        for ((t, p, r), at) in self.taken {
            cols.0.push(t);
            cols.1.push(p);
            cols.2.push(r);
            cols.3.push(at);
        }
        sqlx::query(
            "INSERT INTO reach (tenant_id, portfolio, recipient, reached_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])
             ON CONFLICT (tenant_id, portfolio, recipient)
             DO UPDATE SET reached_at = GREATEST(reach.reached_at, EXCLUDED.reached_at)",
        )
        .bind(cols.0)
        .bind(cols.1)
        .bind(cols.2)
        .bind(cols.3)
        .execute(&mut *c)
        .await
        .db()?;
        Ok(())
    }
}

/// Before a claim on `channel_id`: the bulk sends that waited for a place in the messaging
/// limit and are due take one now, as the channel's portfolio and tier are now (a send that
/// still finds no place waits for the next one to free). On `c`, in the caller's transaction.
pub(in crate::postgres) async fn admit_waiting(
    c: &mut PgConnection,
    channel_id: &str,
    now: i64,
    limit: u32,
) -> StoreResult<()> {
    // Waiting sends are always pending; see [`super::outbox::WAITING_PROBE_SQL`] for why the
    // query does not say so.
    let waiting: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT o.message_id, o.tenant_id, m.recipient FROM outbox o
         JOIN messages m ON m.id = o.message_id
         WHERE o.channel_id = $1 AND o.awaits_reach AND o.next_attempt_at <= $2
         ORDER BY o.priority, o.next_attempt_at, o.message_id LIMIT $3
         FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(channel_id)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await
    .db()?;
    if waiting.is_empty() {
        return Ok(());
    }
    let (portfolio, tier): (String, Option<String>) = sqlx::query_as(
        "SELECT COALESCE(business_id, waba_id), messaging_tier FROM channels WHERE id = $1",
    )
    .bind(channel_id)
    .fetch_one(&mut *c)
    .await
    .db()?;
    let cap = match openbsp_domain::limits::counting(tier.as_deref()) {
        Counting::Unlimited => None,
        Counting::Unknown => Some(None),
        Counting::Limit(n) => Some(Some(n)),
    };
    let wanted: Vec<(&str, &str, &str)> = waiting
        .iter()
        .map(|(_, t, r)| (t.as_str(), portfolio.as_str(), r.as_str()))
        .collect();
    let mut ledger = match cap {
        Some(_) => Ledger::read(c, &wanted, now).await?,
        None => Ledger::default(),
    };
    let (mut admitted, mut later, mut until) = (Vec::new(), Vec::new(), Vec::new());
    for (id, tenant, recipient) in &waiting {
        match cap.map(|cap| ledger.decide(tenant, &portfolio, recipient, cap, now)) {
            Some(ReachDecision::Full { until: at }) => {
                later.push(id.as_str());
                until.push(at);
            }
            _ => admitted.push(id.as_str()),
        }
    }
    ledger.write(c).await?;
    sqlx::query("UPDATE outbox SET awaits_reach = false WHERE message_id = ANY($1)")
        .bind(&admitted)
        .execute(&mut *c)
        .await
        .db()?;
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = u.at
         FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE outbox.message_id = u.id",
    )
    .bind(&later)
    .bind(&until)
    .execute(&mut *c)
    .await
    .db()?;
    Ok(())
}

/// Forgets reaches older than 24 hours at `now`; how many.
pub(in crate::postgres) async fn prune(c: &mut PgConnection, now: i64) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM reach WHERE reached_at <= $1")
        .bind(now - REACH_WINDOW_MS)
        .execute(&mut *c)
        .await
        .db()?;
    Ok(done.rows_affected())
}
