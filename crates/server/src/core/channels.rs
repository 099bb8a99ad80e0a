//! A channel's pause when Meta rejects its credentials, and its throughput as Meta gives it: read from `GET /{phone-id}?fields=throughput` when
//! its sender starts, and raised by Meta's `phone_number_quality_update` with
//! `THROUGHPUT_UPGRADE` (reference §5.2: 80 msg/s, 1,000 after the upgrade).

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
    core.channels.clear();
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
    core.channels.clear();
    tracing::info!(channel.id = %channel.id, from = channel.throughput_mps, to = mps, "the channel's throughput follows Meta");
    Ok(changed)
}

/// Asks Meta for the number's throughput and follows it; the channel as it now is. Meta not
/// answering leaves it as it was.
pub async fn sync_throughput(core: &Core, channel: &Channel, token: &str) -> CoreResult<Channel> {
    let query = [("fields".to_string(), "throughput".to_string())];
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
