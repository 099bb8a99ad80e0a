-- Meta's `message_status` in its answer to a send, when it gave one: a paced template's send
-- is `held_for_quality_assessment` until Meta releases it (delivered) or fails it (132015).
ALTER TABLE messages ADD COLUMN meta_message_status TEXT;

-- The upload a campaign is taking (one at a time), `upload_id`: its rows are the campaign's
-- from `upload_from` on (recipient ids grow); the campaign does not run until it ends; it
-- lapses at `upload_until` unless renewed (a gateway that died mid-upload), and its rows go.
ALTER TABLE campaigns ADD COLUMN upload_id TEXT;
ALTER TABLE campaigns ADD COLUMN upload_from INTEGER;
ALTER TABLE campaigns ADD COLUMN upload_until INTEGER;
CREATE INDEX campaigns_uploading ON campaigns(upload_until) WHERE upload_from IS NOT NULL;

-- An upload's rows are its campaign's from its first id on, so ids must never be handed out
-- twice: without AUTOINCREMENT SQLite reuses the ids of deleted top rows (a failed upload of
-- one campaign), and another campaign's upload, begun before, would get ids below its first.
CREATE TABLE campaign_recipients_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    line INTEGER NOT NULL,
    variables TEXT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    replied_at INTEGER
);
INSERT INTO campaign_recipients_new (id, campaign_id, recipient, line, variables, state,
    message_id, reason, created_at, updated_at, replied_at)
SELECT id, campaign_id, recipient, line, variables, state, message_id, reason, created_at,
    updated_at, replied_at FROM campaign_recipients;
DROP TABLE campaign_recipients;
ALTER TABLE campaign_recipients_new RENAME TO campaign_recipients;
CREATE UNIQUE INDEX campaign_recipients_once ON campaign_recipients(campaign_id, recipient);
CREATE INDEX campaign_recipients_state ON campaign_recipients(campaign_id, state, id);
CREATE UNIQUE INDEX campaign_recipients_message ON campaign_recipients(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX campaign_recipients_replied ON campaign_recipients(campaign_id) WHERE replied_at IS NOT NULL;
