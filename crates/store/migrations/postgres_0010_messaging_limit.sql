-- Meta's messaging limit: a business portfolio reaches at most its tier's number of unique
-- users outside their customer service window in a moving 24 hours, shared by its numbers.
-- A channel's portfolio is `business_id`, or its WABA when that is not set.
ALTER TABLE channels ADD COLUMN business_id TEXT;

-- The users each portfolio reached outside their window, with the last time it did: a user
-- counts while `reached_at` is within the last 24 hours.
CREATE TABLE reach (
    tenant_id TEXT NOT NULL,
    portfolio TEXT NOT NULL,
    recipient TEXT NOT NULL,
    reached_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, portfolio, recipient)
);
CREATE INDEX reach_window ON reach(tenant_id, portfolio, reached_at);

-- A bulk send past the limit waits (its `next_attempt_at` is when a place frees) and takes
-- its place in the portfolio's count when it is claimed.
ALTER TABLE outbox ADD COLUMN awaits_reach BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX outbox_awaits_reach ON outbox(channel_id, next_attempt_at) WHERE awaits_reach;
