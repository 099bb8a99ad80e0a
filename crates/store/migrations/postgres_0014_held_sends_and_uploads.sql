-- Meta's `message_status` in its answer to a send, when it gave one: a paced template's send
-- is `held_for_quality_assessment` until Meta releases it (delivered) or fails it (132015).
ALTER TABLE messages ADD COLUMN meta_message_status TEXT;

-- The upload a campaign is taking (one at a time), `upload_id`: its rows are the campaign's
-- from `upload_from` on (recipient ids grow); the campaign does not run until it ends; it
-- lapses at `upload_until` unless renewed (a gateway that died mid-upload), and its rows go.
-- (The identity's sequence keeps its CACHE 1: every session's next value is above any handed
-- out before, so no row stored after an upload began has an id below its first.)
ALTER TABLE campaigns ADD COLUMN upload_id TEXT;
ALTER TABLE campaigns ADD COLUMN upload_from BIGINT;
ALTER TABLE campaigns ADD COLUMN upload_until BIGINT;
CREATE INDEX campaigns_uploading ON campaigns(upload_until) WHERE upload_from IS NOT NULL;
