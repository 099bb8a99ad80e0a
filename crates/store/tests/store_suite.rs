//! The shared store suite: scripted stories that run, unchanged, on SQLite and on PostgreSQL.
//! Each story opens a fresh database; a story passing on one backend and failing on the other
//! is a difference in behaviour, which the `Store` contract forbids.

#[path = "store_suite/fixtures.rs"]
mod fixtures;
#[path = "store_suite/inbound.rs"]
mod inbound;
#[path = "store_suite/messages.rs"]
mod messages;
#[path = "store_suite/outbox.rs"]
mod outbox;
#[path = "store_suite/setup.rs"]
mod setup;
#[path = "store_suite/status.rs"]
mod status;

openbsp_testkit::on_both_backends! {
    tenants_and_keys => crate::setup::tenants_and_keys,
    apps_and_channels => crate::setup::apps_and_channels,
    concurrent_opens_migrate_once => crate::setup::concurrent_opens_migrate_once,

    enqueue_creates_message_history_outbox_contact =>
        crate::messages::enqueue_creates_message_history_outbox_contact,
    idempotency_keys => crate::messages::idempotency_keys,
    concurrent_enqueues_land_once => crate::messages::concurrent_enqueues_land_once,
    concurrent_enqueues_with_one_key => crate::messages::concurrent_enqueues_with_one_key,
    a_bad_request_does_not_fail_its_neighbours =>
        crate::messages::a_bad_request_does_not_fail_its_neighbours,
    get_message_by_id_and_wamid_within_tenant =>
        crate::messages::get_message_by_id_and_wamid_within_tenant,
    list_messages_filters_and_pages => crate::messages::list_messages_filters_and_pages,

    claim_sends_by_priority_due_time_and_limit =>
        crate::outbox::claim_sends_by_priority_due_time_and_limit,
    concurrent_claims_never_share_a_row => crate::outbox::concurrent_claims_never_share_a_row,
    record_send_results => crate::outbox::record_send_results,
    requeue_stale_sends => crate::outbox::requeue_stale_sends,
    results_in_one_call_apply_in_order => crate::outbox::results_in_one_call_apply_in_order,
    many_results_at_once => crate::outbox::many_results_at_once,

    statuses_apply_forward_only => crate::status::statuses_apply_forward_only,
    failed_is_final => crate::status::failed_is_final,
    reconciles_through_callback_data => crate::status::reconciles_through_callback_data,

    inbox_insert_list_and_mark => crate::inbound::inbox_insert_list_and_mark,
    inbound_messages_dedupe_and_name_contacts =>
        crate::inbound::inbound_messages_dedupe_and_name_contacts,
    concurrent_inbound_duplicates => crate::inbound::concurrent_inbound_duplicates,
    counts_for_metrics => crate::inbound::counts_for_metrics,
}

#[path = "store_suite/throughput.rs"]
mod throughput;

/// Load runs (ignored by default: they measure, they do not check).
mod load {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a load run; see store_suite/throughput.rs"]
    async fn enqueue_throughput_sqlite() {
        crate::throughput::enqueue_throughput(openbsp_testkit::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a load run; see store_suite/throughput.rs"]
    async fn enqueue_throughput_postgres() {
        crate::throughput::enqueue_throughput(openbsp_testkit::Backend::Postgres).await
    }
}
