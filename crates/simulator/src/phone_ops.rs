//! Meta's operations on a business number that end in a webhook: the throughput upgrade.
//! (Apart from [`crate::state`], which keeps the state and sends nothing.)

use std::sync::Arc;

use crate::state::SimState;

impl SimState {
    /// Upgrades a number's throughput to 1,000 msg/s as Meta does: for `maintenance_ms` its
    /// sends are refused with 131057, then the limit is 1,000 and a
    /// `phone_number_quality_update` with `event: THROUGHPUT_UPGRADE` goes to its webhook.
    /// `false` if there is no such number.
    pub fn upgrade_throughput(
        self: &Arc<Self>,
        phone_number_id: &str,
        maintenance_ms: u64,
    ) -> bool {
        let Some(phone) = self.phone_number(phone_number_id) else {
            return false;
        };
        let until = self.now_ms() + maintenance_ms as i64;
        self.set_maintenance(phone_number_id, Some(until));
        let st = self.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(maintenance_ms)).await;
            let mut upgraded = phone.clone();
            upgraded.throughput_mps = Some(upgraded.throughput_mps.unwrap_or(0).max(1_000));
            st.add_phone_number(upgraded);
            st.set_maintenance(&phone.phone_number_id, None);
            let body = crate::envelope::waba_change_body(
                &phone.waba_id,
                st.now_ms().div_euclid(1000),
                "phone_number_quality_update",
                serde_json::json!({
                    "display_phone_number": phone.display_phone_number,
                    "event": "THROUGHPUT_UPGRADE",
                    "current_limit": "TIER_UNLIMITED",
                }),
            );
            crate::webhooks::enqueue(
                &st,
                &phone.phone_number_id,
                crate::records::WebhookKind::PhoneQuality,
                body,
            );
        });
        true
    }
}
