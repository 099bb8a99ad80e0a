-- PostgreSQL schema, column for column the SQLite one (sqlite_0001_init.sql). Differences:
-- text compares byte-wise (COLLATE "C") as in SQLite, so ids and statuses sort and page the
-- same; the inbox index is partial (only the rows the query looks for); the idempotency index is
-- named in the code, which recognises its violations.

CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" REFERENCES tenants(id),
    name TEXT COLLATE "C" NOT NULL,
    key_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    key_prefix TEXT COLLATE "C" NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE apps (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    name TEXT COLLATE "C" NOT NULL,
    meta_app_id TEXT COLLATE "C",
    app_secret_enc TEXT COLLATE "C" NOT NULL,
    verify_token_enc TEXT COLLATE "C" NOT NULL,
    verify_token_hash TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX apps_verify_token ON apps(verify_token_hash);

CREATE TABLE channels (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    phone_number_id TEXT COLLATE "C" NOT NULL UNIQUE,
    waba_id TEXT COLLATE "C" NOT NULL,
    display_phone_number TEXT COLLATE "C" NOT NULL,
    access_token_enc TEXT COLLATE "C" NOT NULL,
    graph_base_url TEXT COLLATE "C" NOT NULL,
    graph_version TEXT COLLATE "C" NOT NULL,
    throughput_mps INTEGER NOT NULL,
    messaging_tier TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX channels_waba ON channels(waba_id);

CREATE TABLE contacts (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(id),
    wa_id TEXT COLLATE "C",
    user_id TEXT COLLATE "C",
    profile_name TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, wa_id),
    UNIQUE (tenant_id, user_id)
);

CREATE TABLE messages (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    contact_id TEXT COLLATE "C",
    direction TEXT COLLATE "C" NOT NULL,
    recipient TEXT COLLATE "C" NOT NULL,
    msg_type TEXT COLLATE "C" NOT NULL,
    content TEXT COLLATE "C" NOT NULL,
    wamid TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    error TEXT COLLATE "C",
    biz_opaque_callback_data TEXT COLLATE "C",
    context_message_id TEXT COLLATE "C",
    idempotency_key TEXT COLLATE "C",
    request_hash TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_tenant_id ON messages(tenant_id, id);
-- Partial: most messages have no idempotency key and no wamid when they are written, and
-- every index entry not written is less work per insert.
CREATE UNIQUE INDEX messages_idempotency_key ON messages(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX messages_wamid ON messages(wamid) WHERE wamid IS NOT NULL;

CREATE TABLE message_statuses (
    message_id TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    error TEXT COLLATE "C",
    PRIMARY KEY (message_id, status)
);

CREATE TABLE outbox (
    message_id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_at BIGINT,
    payload TEXT COLLATE "C" NOT NULL,
    last_error TEXT COLLATE "C"
);
-- Only pending rows are claimed; in-flight ones are only looked for when stale.
CREATE INDEX outbox_due ON outbox(channel_id, priority, next_attempt_at, message_id) WHERE state = 'pending';
CREATE INDEX outbox_inflight ON outbox(claimed_at) WHERE state = 'inflight';

CREATE TABLE webhook_inbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    app_id TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL,
    body BYTEA NOT NULL,
    processed_at BIGINT
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox(id) WHERE processed_at IS NULL;
