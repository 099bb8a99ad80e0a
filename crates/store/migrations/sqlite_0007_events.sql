-- Events (issue 5): what the gateway tells a business's systems, written in the transaction of
-- the change each one reports, and the state of their delivery to each webhook endpoint.
CREATE TABLE events (
    -- Commit order: SQLite has one writer, so a reader's cursor over seq never skips a row.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    type TEXT NOT NULL,
    -- 'native' (the gateway's events) or 'meta' (Meta's webhook as Meta sent it, for
    -- endpoints that ask for Meta's format).
    format TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- The event's data (native) or Meta's envelope (meta), as JSON.
    data TEXT NOT NULL
);
CREATE INDEX events_tenant_seq ON events(tenant_id, format, seq);
CREATE INDEX events_created_at ON events(created_at);

-- Where each endpoint's delivery has got to: every event before the cursor was attempted.
-- NULL: nothing yet (the endpoint gets events from its creation on).
ALTER TABLE webhook_endpoints ADD COLUMN cursor_seq INTEGER;

-- Every delivery attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    -- Why it failed when there was no answer (timeout, refused…), else NULL.
    error TEXT,
    -- The first bytes of the answer.
    response TEXT,
    -- When it is tried again (NULL: it succeeded, or it was the last attempt).
    next_attempt_at INTEGER
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, seq);
CREATE INDEX webhook_attempts_event ON webhook_attempts(endpoint_id, event_id);

-- Deliveries waiting for their next attempt (a failure's retry, or a manual replay).
CREATE TABLE webhook_retries (
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    -- The number the next attempt will have.
    attempt INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX webhook_retries_due ON webhook_retries(endpoint_id, due_at);
