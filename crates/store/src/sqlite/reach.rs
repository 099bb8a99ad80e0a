//! The messaging limit on SQLite: a portfolio's reach in the moving 24 hours
//! ([`crate::policy::decide_reach`]), read and taken on the writer (one writer: no two sends
//! can take the last place).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreResult;
use crate::policy::{ReachDecision, ReachWindow, decide_reach};
use openbsp_domain::limits::{Counting, REACH_WINDOW_MS};

/// The portfolio's reach since `now - 24 h`.
fn window(c: &Connection, tenant: &str, portfolio: &str, now: i64) -> StoreResult<ReachWindow> {
    let (count, oldest): (i64, Option<i64>) = c
        .prepare_cached(
            "SELECT COUNT(*), MIN(reached_at) FROM reach
             WHERE tenant_id = ?1 AND portfolio = ?2 AND reached_at > ?3",
        )?
        .query_row(params![tenant, portfolio, now - REACH_WINDOW_MS], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(ReachWindow {
        count: count.max(0) as u64,
        oldest,
    })
}

/// Decides a business-initiated send to `recipient` at `now` and, unless the limit is full,
/// records the reach (a user reached again counts from this latest time).
pub(super) fn take(
    c: &Connection,
    tenant: &str,
    portfolio: &str,
    recipient: &str,
    limit: Option<u32>,
    now: i64,
) -> StoreResult<ReachDecision> {
    if limit.is_none() {
        // A tier not known yet refuses nothing: the reach is only recorded.
        record(c, tenant, portfolio, recipient, now)?;
        return Ok(ReachDecision::Take);
    }
    let already = c
        .prepare_cached(
            "SELECT 1 FROM reach WHERE tenant_id = ?1 AND portfolio = ?2 AND recipient = ?3
             AND reached_at > ?4",
        )?
        .query_row(
            params![tenant, portfolio, recipient, now - REACH_WINDOW_MS],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let decision = if already {
        ReachDecision::Again
    } else {
        decide_reach(&window(c, tenant, portfolio, now)?, false, limit, now)
    };
    if !matches!(decision, ReachDecision::Full { .. }) {
        record(c, tenant, portfolio, recipient, now)?;
    }
    Ok(decision)
}

/// Records that the portfolio reached `recipient` at `now`.
fn record(
    c: &Connection,
    tenant: &str,
    portfolio: &str,
    recipient: &str,
    now: i64,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO reach (tenant_id, portfolio, recipient, reached_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, portfolio, recipient)
         DO UPDATE SET reached_at = MAX(reached_at, excluded.reached_at)",
    )?
    .execute(params![tenant, portfolio, recipient, now])?;
    Ok(())
}

/// Forgets reaches older than 24 hours at `now`; how many.
pub(super) fn prune(c: &Connection, now: i64) -> StoreResult<u64> {
    Ok(
        c.prepare_cached("DELETE FROM reach WHERE reached_at <= ?1")?
            .execute([now - REACH_WINDOW_MS])? as u64,
    )
}

/// Before a claim on `channel_id`: the bulk sends that waited for a place in the messaging
/// limit and are due take one now, as the channel's portfolio and tier are now (a send that
/// still finds no place waits for the next one to free).
pub(super) fn admit_waiting(
    c: &Connection,
    channel_id: &str,
    now: i64,
    limit: u32,
) -> StoreResult<()> {
    let waiting: Vec<(String, String, String)> = c
        .prepare_cached(
            "SELECT o.message_id, o.tenant_id, m.recipient FROM outbox o
             JOIN messages m ON m.id = o.message_id
             WHERE o.channel_id = ?1 AND o.awaits_reach AND o.state = 'pending'
               AND o.next_attempt_at <= ?2
             ORDER BY o.priority, o.next_attempt_at, o.message_id LIMIT ?3",
        )?
        .query_map(params![channel_id, now, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    if waiting.is_empty() {
        return Ok(());
    }
    let (portfolio, tier): (String, Option<String>) = c
        .prepare_cached(
            "SELECT COALESCE(business_id, waba_id), messaging_tier FROM channels WHERE id = ?1",
        )?
        .query_row([channel_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let counting = openbsp_domain::limits::counting(tier.as_deref());
    for (id, tenant, recipient) in waiting {
        let decision = match counting {
            Counting::Limit(cap) => take(c, &tenant, &portfolio, &recipient, Some(cap), now)?,
            Counting::Unknown => take(c, &tenant, &portfolio, &recipient, None, now)?,
            Counting::Unlimited => ReachDecision::Again,
        };
        match decision {
            ReachDecision::Full { until } => c
                .prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE message_id = ?1")?
                .execute(params![id, until])?,
            _ => c
                .prepare_cached("UPDATE outbox SET awaits_reach = 0 WHERE message_id = ?1")?
                .execute([id])?,
        };
    }
    Ok(())
}
