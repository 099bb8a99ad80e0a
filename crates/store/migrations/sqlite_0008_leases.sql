-- Leases: one holder at a time for each name — `sender:<channel id>` for a channel's sender,
-- `leader` for the jobs that must run once — until `expires_at` unless renewed. Each new
-- holding is a new term, so a holder that lost its lease can tell (and be told) it did.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    term BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The term of the channel's sender lease an in-flight send was claimed under: only that
-- holding may record its outcome, and once it is no longer live the send is an orphan.
ALTER TABLE outbox ADD COLUMN claim_term BIGINT;
