//! The shared store suite: scripted stories that run, unchanged, on SQLite and on PostgreSQL.
//! Each story opens a fresh database; a story passing on one backend and failing on the other
//! is a difference in behaviour, which the `Store` contract forbids.

#[path = "store_suite/campaigns.rs"]
mod campaigns;
#[path = "store_suite/conversations.rs"]
mod conversations;
#[path = "store_suite/credentials.rs"]
mod credentials;
#[path = "store_suite/events.rs"]
mod events;
#[path = "store_suite/fixtures.rs"]
mod fixtures;
#[path = "store_suite/inbound.rs"]
mod inbound;
// SQLite only: migration 24 is its own.
#[path = "store_suite/inbox_backfill.rs"]
mod inbox_backfill;
#[path = "store_suite/limits.rs"]
mod limits;
#[path = "store_suite/lists.rs"]
mod lists;
#[path = "store_suite/media.rs"]
mod media;
#[path = "store_suite/messages.rs"]
mod messages;
#[path = "store_suite/outbox.rs"]
mod outbox;
#[path = "store_suite/session_start.rs"]
mod session_start;
#[path = "store_suite/setup.rs"]
mod setup;
#[path = "store_suite/status.rs"]
mod status;
#[path = "store_suite/templates.rs"]
mod templates;
#[path = "store_suite/webhook_endpoints.rs"]
mod webhook_endpoints;
// SQLite only: its tests are its own.
#[path = "store_suite/writer.rs"]
mod writer;

openbsp_testkit::on_both_backends! {
    windows_page_in_time_order_across_equal_times =>
        crate::lists::windows_page_in_time_order_across_equal_times,
    contacts_are_found_by_a_substring_of_their_name =>
        crate::lists::contacts_are_found_by_a_substring_of_their_name,
    a_name_search_pages_on_past_the_newest_contacts =>
        crate::lists::a_name_search_pages_on_past_the_newest_contacts,
    recipients_are_listed_by_their_computed_status =>
        crate::lists::recipients_are_listed_by_their_computed_status,
    media_is_kept_per_tenant_and_shares_its_bytes =>
        crate::media::media_is_kept_per_tenant_and_shares_its_bytes,
    inbound_media_is_downloaded_once => crate::media::inbound_media_is_downloaded_once,
    download_claims_never_share_a_job => crate::media::download_claims_never_share_a_job,
    campaigns_are_filled_started_fed_once_and_counted =>
        crate::campaigns::campaigns_are_filled_started_fed_once_and_counted,
    a_paused_campaign_holds_its_sends_and_a_cancel_hands_them_back =>
        crate::campaigns::a_paused_campaign_holds_its_sends_and_a_cancel_hands_them_back,
    concurrent_feeds_queue_each_recipient_once =>
        crate::campaigns::concurrent_feeds_queue_each_recipient_once,
    opted_out_recipients_are_skipped_and_failures_counted_by_reason =>
        crate::campaigns::opted_out_recipients_are_skipped_and_failures_counted_by_reason,
    sends_past_the_messaging_limit_wait_and_are_counted =>
        crate::campaigns::sends_past_the_messaging_limit_wait_and_are_counted,
    an_upload_is_added_whole_or_not_at_all =>
        crate::campaigns::an_upload_is_added_whole_or_not_at_all,
    an_answer_marks_its_campaign_recipient_replied_with_the_message =>
        crate::campaigns::an_answer_marks_its_campaign_recipient_replied_with_the_message,
    grouped_sends_are_one_campaign_that_completes_and_reopens =>
        crate::campaigns::grouped_sends_are_one_campaign_that_completes_and_reopens,
    concurrent_first_grouped_sends_make_one_campaign =>
        crate::campaigns::concurrent_first_grouped_sends_make_one_campaign,
    every_change_writes_its_event => crate::events::every_change_writes_its_event,
    events_list_newest_first_with_filters_and_pages =>
        crate::events::events_list_newest_first_with_filters_and_pages,
    a_cursor_reader_never_skips_an_event => crate::events::a_cursor_reader_never_skips_an_event,
    deliveries_are_logged_retried_replayed_and_disabled =>
        crate::events::deliveries_are_logged_retried_replayed_and_disabled,
    meta_envelopes_are_written_with_the_inbox_mark =>
        crate::events::meta_envelopes_are_written_with_the_inbox_mark,
    old_events_and_attempts_are_pruned => crate::events::old_events_and_attempts_are_pruned,
    event_type_filters_select_what_the_patterns_match =>
        crate::events::event_type_filters_select_what_the_patterns_match,
    a_session_start_names_its_contact_in_the_enqueues_transaction =>
        crate::session_start::a_session_start_names_its_contact_in_the_enqueues_transaction,
    of_concurrent_first_sends_exactly_one_opens_the_session =>
        crate::session_start::of_concurrent_first_sends_exactly_one_opens_the_session,
    the_messaging_limit_is_the_portfolios_and_moves_with_24_hours =>
        crate::limits::the_messaging_limit_is_the_portfolios_and_moves_with_24_hours,
    waiting_bulk_sends_take_places_as_they_free =>
        crate::limits::waiting_bulk_sends_take_places_as_they_free,
    a_tier_is_set_for_the_whole_portfolio => crate::limits::a_tier_is_set_for_the_whole_portfolio,
    inbox_payloads_are_claimed_once => crate::inbound::inbox_payloads_are_claimed_once,
    inbound_messages_in_one_call => crate::inbound::inbound_messages_in_one_call,
    tenants_and_keys => crate::setup::tenants_and_keys,
    keys_are_revoked_once_and_never_the_last_admin =>
        crate::credentials::keys_are_revoked_once_and_never_the_last_admin,
    of_concurrent_revocations_one_admin_key_survives =>
        crate::credentials::of_concurrent_revocations_one_admin_key_survives,
    app_secrets_rotate_and_verify_tokens_change =>
        crate::credentials::app_secrets_rotate_and_verify_tokens_change,
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

    replies_go_first_and_bulk_last => crate::outbox::replies_go_first_and_bulk_last,
    a_paused_channel_sends_nothing_until_resumed =>
        crate::outbox::a_paused_channel_sends_nothing_until_resumed,
    a_deferred_send_waits_without_an_attempt =>
        crate::outbox::a_deferred_send_waits_without_an_attempt,
    claim_sends_by_priority_due_time_and_limit =>
        crate::outbox::claim_sends_by_priority_due_time_and_limit,
    concurrent_claims_never_share_a_row => crate::outbox::concurrent_claims_never_share_a_row,
    record_send_results => crate::outbox::record_send_results,
    orphaned_sends_are_put_back_and_only_their_claim_records =>
        crate::outbox::orphaned_sends_are_put_back_and_only_their_claim_records,
    an_orphan_waits_for_the_payloads_received_by_its_due_time =>
        crate::outbox::an_orphan_waits_for_the_payloads_received_by_its_due_time,
    results_in_one_call_apply_in_order => crate::outbox::results_in_one_call_apply_in_order,
    many_results_at_once => crate::outbox::many_results_at_once,

    statuses_apply_forward_only => crate::status::statuses_apply_forward_only,
    failed_is_final => crate::status::failed_is_final,
    reconciles_through_callback_data => crate::status::reconciles_through_callback_data,
    a_batch_of_statuses_is_applied_as_one_by_one =>
        crate::status::a_batch_of_statuses_is_applied_as_one_by_one,

    inbox_insert_list_and_mark => crate::inbound::inbox_insert_list_and_mark,
    inbox_copies_are_stored_once_per_app => crate::inbound::inbox_copies_are_stored_once_per_app,
    processed_inbox_payloads_are_pruned => crate::inbound::processed_inbox_payloads_are_pruned,
    inbound_messages_dedupe_and_name_contacts =>
        crate::inbound::inbound_messages_dedupe_and_name_contacts,
    the_latest_messages_profile_wins => crate::inbound::the_latest_messages_profile_wins,
    concurrent_inbound_duplicates => crate::inbound::concurrent_inbound_duplicates,
    counts_for_metrics => crate::inbound::counts_for_metrics,

    inbound_opens_a_session_and_the_next_renews_it =>
        crate::conversations::inbound_opens_a_session_and_the_next_renews_it,
    concurrent_inbound_from_one_user_opens_one_session =>
        crate::conversations::concurrent_inbound_from_one_user_opens_one_session,
    outbound_joins_the_open_session_or_opens_one_from_its_spec =>
        crate::conversations::outbound_joins_the_open_session_or_opens_one_from_its_spec,
    concurrent_enqueues_to_a_new_contact_share_one_session =>
        crate::conversations::concurrent_enqueues_to_a_new_contact_share_one_session,
    a_closed_session_gives_way_to_a_new_one =>
        crate::conversations::a_closed_session_gives_way_to_a_new_one,
    expired_sessions_close_at_their_expiry =>
        crate::conversations::expired_sessions_close_at_their_expiry,
    a_lapsed_session_the_closer_missed_gives_way =>
        crate::conversations::a_lapsed_session_the_closer_missed_gives_way,
    an_inbound_with_both_identifiers_merges_two_contacts =>
        crate::conversations::an_inbound_with_both_identifiers_merges_two_contacts,
    upsert_contact_finds_fills_in_and_merges =>
        crate::conversations::upsert_contact_finds_fills_in_and_merges,
    a_user_who_changed_number_keeps_their_contact =>
        crate::conversations::a_user_who_changed_number_keeps_their_contact,
    an_opt_out_from_an_unknown_user_creates_the_contact =>
        crate::conversations::an_opt_out_from_an_unknown_user_creates_the_contact,
    a_stop_keyword_opts_out_and_start_opts_back_in =>
        crate::conversations::a_stop_keyword_opts_out_and_start_opts_back_in,
    update_contact_merges_attributes_within_its_tenant =>
        crate::conversations::update_contact_merges_attributes_within_its_tenant,
    a_free_entry_point_window_opens_once_per_entry =>
        crate::conversations::a_free_entry_point_window_opens_once_per_entry,
    a_reply_context_resolves_to_the_gateway_id =>
        crate::conversations::a_reply_context_resolves_to_the_gateway_id,
    a_pricing_category_names_a_session_of_unknown_kind =>
        crate::conversations::a_pricing_category_names_a_session_of_unknown_kind,
    a_duplicate_inbound_changes_nothing =>
        crate::conversations::a_duplicate_inbound_changes_nothing,
    contacts_list_by_filter_and_page => crate::conversations::contacts_list_by_filter_and_page,
    sessions_list_by_filter_and_page => crate::conversations::sessions_list_by_filter_and_page,
    concurrent_conversation_reads_answer_each_caller =>
        crate::conversations::concurrent_conversation_reads_answer_each_caller,
    enqueue_checked_answers_retries_then_applies_the_policy =>
        crate::conversations::enqueue_checked_answers_retries_then_applies_the_policy,

    templates_create_get_list_and_conflict =>
        crate::templates::templates_create_get_list_and_conflict,
    templates_delete_and_recreate => crate::templates::templates_delete_and_recreate,
    templates_edit => crate::templates::templates_edit,
    templates_sync_creates_changes_or_leaves_alone =>
        crate::templates::templates_sync_creates_changes_or_leaves_alone,
    templates_webhook_updates_record_history =>
        crate::templates::templates_webhook_updates_record_history,
    templates_other_tenants_see_nothing => crate::templates::templates_other_tenants_see_nothing,
    templates_messages_keep_their_template_and_text =>
        crate::templates::templates_messages_keep_their_template_and_text,

    webhook_endpoints_create_get_and_isolate =>
        crate::webhook_endpoints::webhook_endpoints_create_get_and_isolate,
    webhook_endpoints_list_by_id_with_a_cursor =>
        crate::webhook_endpoints::webhook_endpoints_list_by_id_with_a_cursor,
    webhook_endpoints_update_replaces_every_field =>
        crate::webhook_endpoints::webhook_endpoints_update_replaces_every_field,
    webhook_endpoints_enabled_across_tenants =>
        crate::webhook_endpoints::webhook_endpoints_enabled_across_tenants,
    webhook_endpoints_delete_within_the_tenant =>
        crate::webhook_endpoints::webhook_endpoints_delete_within_the_tenant,
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a load run; see store_suite/throughput.rs"]
    async fn read_throughput_sqlite() {
        crate::throughput::read_throughput(openbsp_testkit::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a load run; see store_suite/throughput.rs"]
    async fn read_throughput_postgres() {
        crate::throughput::read_throughput(openbsp_testkit::Backend::Postgres).await
    }
}
