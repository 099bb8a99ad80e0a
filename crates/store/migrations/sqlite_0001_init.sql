CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    meta_app_id TEXT,
    app_secret_enc TEXT NOT NULL,
    verify_token_enc TEXT NOT NULL,
    verify_token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX apps_verify_token ON apps(verify_token_hash);

CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id),
    phone_number_id TEXT NOT NULL UNIQUE,
    waba_id TEXT NOT NULL,
    display_phone_number TEXT NOT NULL,
    access_token_enc TEXT NOT NULL,
    graph_base_url TEXT NOT NULL,
    graph_version TEXT NOT NULL,
    throughput_mps INTEGER NOT NULL,
    messaging_tier TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX channels_waba ON channels(waba_id);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    wa_id TEXT,
    user_id TEXT,
    profile_name TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant_id, wa_id),
    UNIQUE (tenant_id, user_id)
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    contact_id TEXT,
    direction TEXT NOT NULL,
    recipient TEXT NOT NULL,
    msg_type TEXT NOT NULL,
    content TEXT NOT NULL,
    wamid TEXT,
    status TEXT NOT NULL,
    error TEXT,
    biz_opaque_callback_data TEXT,
    context_message_id TEXT,
    idempotency_key TEXT,
    request_hash TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX messages_tenant_id ON messages(tenant_id, id);
-- Partial: most messages have no idempotency key and no wamid when they are written, and
-- every index entry not written is less work for the single writer.
CREATE UNIQUE INDEX messages_idempotency ON messages(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX messages_wamid ON messages(wamid) WHERE wamid IS NOT NULL;

CREATE TABLE message_statuses (
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (message_id, status)
) WITHOUT ROWID;

CREATE TABLE outbox (
    message_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_at INTEGER,
    payload TEXT NOT NULL,
    last_error TEXT
);
-- Partial indexes: the outbox's pending rows are what the sender reads (by priority, then due
-- time), and in-flight rows what the crash sweep reads.
CREATE INDEX outbox_due ON outbox(channel_id, priority, next_attempt_at, message_id) WHERE state = 'pending';
CREATE INDEX outbox_inflight ON outbox(claimed_at) WHERE state = 'inflight';

CREATE TABLE webhook_inbox (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    body BLOB NOT NULL,
    processed_at INTEGER
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox(processed_at, id);
