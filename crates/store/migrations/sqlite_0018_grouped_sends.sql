-- Grouped direct sends (DESIGN §2.8): a campaign created by the first one-to-one template send
-- that names a client's key (Pingtochat's `bulk_id`), joined by every later send with the same
-- key on the same channel. Its recipients are born `queued` with their message; the runner
-- never feeds it. One campaign per key: two first sends at once make one campaign.
ALTER TABLE campaigns ADD COLUMN group_key TEXT;
CREATE UNIQUE INDEX campaigns_group ON campaigns(tenant_id, channel_id, group_key) WHERE group_key IS NOT NULL;
