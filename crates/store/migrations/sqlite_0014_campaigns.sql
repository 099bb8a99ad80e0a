-- Campaigns: one template sent to many recipients, each with variables of their own.
-- `spec` is the template part as the campaign was created (`components` with {{column}}
-- placeholders, or a `variables` list); `columns` the placeholder columns every upload must
-- carry (a JSON array).
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    name TEXT NOT NULL,
    template_id TEXT NOT NULL,
    template_name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT,
    spec TEXT NOT NULL,
    columns TEXT NOT NULL,
    status TEXT NOT NULL,
    pause_reason TEXT,
    start_at INTEGER,
    rate_limit INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    idempotency_key TEXT,
    request_hash TEXT
);
-- A creation retried under its Idempotency-Key finds the campaign it made.
CREATE UNIQUE INDEX campaigns_idempotency ON campaigns(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX campaigns_tenant_id ON campaigns(tenant_id, id);
-- What the runner reads: the campaigns that are running or waiting for their start.
CREATE INDEX campaigns_active ON campaigns(status, start_at) WHERE status IN ('scheduled', 'running');

-- A campaign's recipients, in upload order (`id`). `state` is the gateway's part: `pending`
-- (not handed to the sender yet), `queued` (its message, `message_id`, is the sender's: the
-- message's status says the rest), `skipped` (opted out) or `failed` (refused before Meta).
-- A recipient is in a campaign once (the unique index), and gets at most one message. The
-- state index gives a campaign's pending recipients in order (and its counts); a row is
-- kept small, for a campaign of a million writes a million of them.
CREATE TABLE campaign_recipients (
    id INTEGER PRIMARY KEY,
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
CREATE UNIQUE INDEX campaign_recipients_once ON campaign_recipients(campaign_id, recipient);
CREATE INDEX campaign_recipients_state ON campaign_recipients(campaign_id, state, id);
CREATE UNIQUE INDEX campaign_recipients_message ON campaign_recipients(message_id) WHERE message_id IS NOT NULL;
CREATE INDEX campaign_recipients_replied ON campaign_recipients(campaign_id) WHERE replied_at IS NOT NULL;

-- A campaign's messages, by status: its counts, and what it still has queued.
ALTER TABLE messages ADD COLUMN campaign_id TEXT;
CREATE INDEX messages_campaign ON messages(campaign_id, status) WHERE campaign_id IS NOT NULL;
-- A user's latest campaign message on a channel: what an answer from them replies to.
CREATE INDEX messages_campaign_recipient ON messages(channel_id, recipient, created_at) WHERE campaign_id IS NOT NULL;
