-- List routes bounded by an index (issue 16): every filter of a native list route that can
-- select few of a tenant's rows is read through an index whose order is the page's, so that a
-- page reads about as many rows as it returns (docs/architecture.md, "List routes and their
-- indexes").

-- GET /v1/events?types=: each selected type's newest events, merged (seq is the rowid).
CREATE INDEX events_type ON events(tenant_id, format, type, seq);

-- GET /v1/messages?to= / ?status= / ?channel= (a channel is one tenant's).
CREATE INDEX messages_recipient ON messages(tenant_id, recipient, id);
CREATE INDEX messages_status ON messages(tenant_id, status, id);
CREATE INDEX messages_channel ON messages(channel_id, id);
-- ?direction=inbound: inbound messages are often few beside the sends (outbound ones are the
-- bulk, and the send path writes no entry here).
CREATE INDEX messages_inbound ON messages(tenant_id, id) WHERE direction = 'inbound';

-- GET /v1/sessions?channel=. A channel is one tenant's, so the channel leads, not the tenant:
-- an index led by the tenant would compete with sessions_open for the send path's look-up of
-- a pair's open session (tenant, channel, contact, open) and, planned without statistics (a
-- young table, the hot statements' generic plans), win it and scan the tenant's sessions.
-- ?status=open needs none: open sessions are the newest (a session lasts a day or three).
CREATE INDEX sessions_channel ON sessions(channel_id, id);

-- GET /v1/campaigns/{id}/recipients: a page in id order (id is the rowid), which
-- campaign_recipients_state (campaign_id, state, id) gave only after sorting the whole campaign.
CREATE INDEX campaign_recipients_campaign ON campaign_recipients(campaign_id, id);
-- ?status=skipped and ?status=replied name a condition these serve (see sql.rs,
-- recipient_status_hint): the state index, and the replied ones in id order.
DROP INDEX campaign_recipients_replied;
CREATE INDEX campaign_recipients_replied ON campaign_recipients(campaign_id, id)
    WHERE replied_at IS NOT NULL;

-- GET /v1/contacts?opted_out=true.
CREATE INDEX contacts_opted_out ON contacts(tenant_id, id) WHERE marketing_opt_out_at IS NOT NULL;

-- GET /v1/webhook-endpoints/{id}/deliveries?succeeded=false.
CREATE INDEX webhook_attempts_failed ON webhook_attempts(endpoint_id, seq) WHERE NOT succeeded;
