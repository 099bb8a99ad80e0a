//! A channel's pause when Meta rejects its credentials, and its limits as Meta gives them:
//! read from `GET /{phone-id}?fields=throughput,whatsapp_business_manager_messaging_limit`
//! when its sender starts; the throughput raised by Meta's `phone_number_quality_update` with
//! `THROUGHPUT_UPGRADE` (reference §5.2: 80 msg/s, 1,000 after the upgrade), the portfolio's
//! messaging limit changed by `business_capability_update` (§5.4).

use openbsp_store::Channel;
use serde_json::Value;

use super::{Core, CoreResult};

/// Meta rejected the channel's credentials (190 and the other account errors of reference
/// §4.2): its sender stops, `channel.paused` says why, until its token is replaced.
pub async fn pause(
    core: &Core,
    channel: &Channel,
    error: &openbsp_wire::MetaError,
) -> CoreResult<()> {
    let now = core.now();
    let reason = serde_json::to_value(error).unwrap_or_default();
    let event = openbsp_store::events::channel_pause(channel, Some(&reason), now);
    if core
        .store
        .set_channel_pause(&channel.id, Some((now, reason)), &event)
        .await?
    {
        tracing::error!(channel.id = %channel.id, code = error.code, "Meta rejected the channel's credentials: its sender stops until its access token is replaced");
        metrics::counter!("openbsp_channels_paused_total").increment(1);
    }
    core.invalidate();
    Ok(())
}

/// Meta's standard throughput.
pub const STANDARD_MPS: u32 = 80;
/// Meta's throughput after the upgrade.
pub const HIGH_MPS: u32 = 1_000;

/// The throughput Meta's `throughput.level` means for a channel now at `current`: `HIGH` is
/// 1,000; `STANDARD` is 80, or less if the channel was set lower (a coexistence number's 20,
/// an operator's own cap); anything else keeps `current`.
pub fn throughput_for_level(level: &str, current: u32) -> u32 {
    match level {
        "HIGH" => current.max(HIGH_MPS),
        "STANDARD" => current.min(STANDARD_MPS),
        _ => current,
    }
}

/// Stores a channel's new throughput (and forgets the cached channel); the sender's worker
/// picks it up on its next look at the channel.
async fn set_throughput(core: &Core, channel: &Channel, mps: u32) -> CoreResult<Channel> {
    let mut changed = channel.clone();
    changed.throughput_mps = mps;
    changed.updated_at = core.now();
    core.store.update_channel(&changed).await?;
    core.invalidate();
    tracing::info!(channel.id = %channel.id, from = channel.throughput_mps, to = mps, "the channel's throughput follows Meta");
    Ok(changed)
}

/// Sets the messaging-limit tier of `channel`'s business portfolio (all its numbers share it;
/// reference §5.4); whether any channel changed. A tier Meta does not name is ignored.
pub async fn set_tier(core: &Core, channel: &Channel, tier: &str) -> CoreResult<bool> {
    if !openbsp_domain::limits::is_tier(tier) {
        tracing::warn!(channel.id = %channel.id, tier, "Meta named a messaging-limit tier this gateway does not know; ignored");
        return Ok(false);
    }
    let changed = core
        .store
        .set_portfolio_tier(
            &channel.tenant_id,
            channel.portfolio(),
            Some(tier),
            core.now(),
        )
        .await?;
    if changed > 0 {
        core.invalidate();
        tracing::info!(channel.id = %channel.id, portfolio = channel.portfolio(), tier, "the portfolio's messaging limit follows Meta");
    }
    Ok(changed > 0)
}

/// Meta's `business_capability_update` for a WABA of `channel`'s portfolio: its
/// `max_daily_conversations_per_business` (or the older `max_daily_conversation_per_phone`)
/// is the portfolio's messaging limit (-1: unlimited). Whether anything changed.
pub async fn apply_capability_update(
    core: &Core,
    channel: &Channel,
    value: &Value,
) -> CoreResult<bool> {
    let number = |k: &str| {
        value.get(k).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
    };
    let Some(max) = number("max_daily_conversations_per_business")
        .or_else(|| number("max_daily_conversation_per_phone"))
    else {
        return Ok(false);
    };
    match openbsp_domain::limits::tier_of_max_daily(max) {
        Some(tier) => set_tier(core, channel, tier).await,
        None => {
            tracing::warn!(channel.id = %channel.id, max, "business_capability_update names no messaging-limit tier; ignored");
            Ok(false)
        }
    }
}

/// Asks Meta for the number's throughput and its portfolio's messaging limit, and follows
/// them; the channel as it now is. Meta not answering leaves it as it was.
pub async fn sync_throughput(core: &Core, channel: &Channel, token: &str) -> CoreResult<Channel> {
    let query = [(
        "fields".to_string(),
        "throughput,whatsapp_business_manager_messaging_limit".to_string(),
    )];
    let answer = core
        .graph
        .call(
            channel,
            token,
            reqwest::Method::GET,
            &channel.phone_number_id,
            &query,
            None,
        )
        .await;
    let mut channel = std::borrow::Cow::Borrowed(channel);
    if let Ok(v) = &answer
        && let Some(tier) = v
            .get("whatsapp_business_manager_messaging_limit")
            .and_then(Value::as_str)
        && channel.messaging_tier.as_deref() != Some(tier)
        && set_tier(core, &channel, tier).await?
    {
        channel.to_mut().messaging_tier = Some(tier.to_string());
    }
    let channel = channel.as_ref();
    let level = match &answer {
        Ok(v) => v.pointer("/throughput/level").and_then(Value::as_str),
        Err(e) => {
            tracing::debug!(channel.id = %channel.id, code = e.code, "could not read the number's throughput from Meta");
            None
        }
    };
    let Some(level) = level else {
        return Ok(channel.clone());
    };
    let mps = throughput_for_level(level, channel.throughput_mps);
    if mps == channel.throughput_mps {
        return Ok(channel.clone());
    }
    set_throughput(core, channel, mps).await
}

/// Meta's `phone_number_quality_update` for `channel`: a `THROUGHPUT_UPGRADE` raises it to
/// 1,000 msg/s. Whether anything changed.
pub async fn apply_quality_update(
    core: &Core,
    channel: &Channel,
    value: &Value,
) -> CoreResult<bool> {
    let event = value
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if event != "THROUGHPUT_UPGRADE" || channel.throughput_mps >= HIGH_MPS {
        return Ok(false);
    }
    set_throughput(core, channel, HIGH_MPS).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_meta_throughputs() {
        assert_eq!(throughput_for_level("HIGH", 80), 1_000);
        assert_eq!(throughput_for_level("HIGH", 2_000), 2_000);
        assert_eq!(throughput_for_level("STANDARD", 1_000), 80);
        assert_eq!(
            throughput_for_level("STANDARD", 20),
            20,
            "a coexistence number stays at 20"
        );
        assert_eq!(throughput_for_level("NOT_APPLICABLE", 80), 80);
    }
}
