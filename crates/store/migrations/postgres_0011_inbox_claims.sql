-- Meta's payloads are claimed before they are processed, so that several replicas sharing the
-- database each process a payload once: a claim lasts until `claimed_until` (a replica that
-- died mid-batch leaves its payloads to the others after that).
ALTER TABLE webhook_inbox ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_inbox ADD COLUMN claimed_until BIGINT;
