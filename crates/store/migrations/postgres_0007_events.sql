-- Events (issue 5): what the gateway tells a business's systems, written in the transaction of
-- the change each one reports, and the state of their delivery to each webhook endpoint.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    -- The writing transaction. Sequence values are not handed out in commit order, so readers
    -- order by (xid, seq) and read only below pg_snapshot_xmin(pg_current_snapshot()), where
    -- every transaction has ended: a row that becomes visible later sorts after what was read.
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    tenant_id TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    -- 'native' (the gateway's events) or 'meta' (Meta's webhook as Meta sent it, for
    -- endpoints that ask for Meta's format).
    format TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    -- The event's data (native) or Meta's envelope (meta), as JSON text.
    data TEXT COLLATE "C" NOT NULL
);
-- Delivery order (events_after) and the API's listing (newest first: the same, backwards).
CREATE INDEX events_tenant_xid_seq ON events(tenant_id, format, xid, seq);
CREATE INDEX events_created_at ON events(created_at);

-- Where each endpoint's delivery has got to: every event before the cursor was attempted.
-- NULL: nothing yet (the endpoint gets events from its creation on).
ALTER TABLE webhook_endpoints ADD COLUMN cursor_xid xid8;
ALTER TABLE webhook_endpoints ADD COLUMN cursor_seq BIGINT;

-- Every delivery attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    seq BIGSERIAL PRIMARY KEY,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    succeeded BOOLEAN NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    -- Why it failed when there was no answer (timeout, refused…), else NULL.
    error TEXT COLLATE "C",
    -- The first bytes of the answer.
    response TEXT COLLATE "C",
    -- When it is tried again (NULL: it succeeded, or it was the last attempt).
    next_attempt_at BIGINT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts(endpoint_id, event_id);

-- Deliveries waiting for their next attempt (a failure's retry, or a manual replay).
CREATE TABLE webhook_retries (
    endpoint_id TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    -- The number the next attempt will have.
    attempt INTEGER NOT NULL,
    due_at BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_retries_due ON webhook_retries(endpoint_id, due_at);
