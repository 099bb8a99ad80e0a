-- Meta's `message_status` in its answer to a send, when it gave one: a paced template's send
-- is `held_for_quality_assessment` until Meta releases it (delivered) or fails it (132015).
ALTER TABLE messages ADD COLUMN meta_message_status TEXT;

-- The upload a campaign is taking (one at a time): its rows are those from `upload_from` on
-- (recipient ids grow), not handed to the sender until it ends; it lapses at `upload_until`
-- unless its next batch comes (a gateway that died mid-upload), and then its rows go.
ALTER TABLE campaigns ADD COLUMN upload_from BIGINT;
ALTER TABLE campaigns ADD COLUMN upload_until BIGINT;
