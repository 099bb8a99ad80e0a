-- Contacts as WhatsApp's conversational model needs them: username, marketing opt-out,
-- free attributes; windows per (channel, contact); sessions; each message's session.
ALTER TABLE contacts ADD COLUMN username TEXT;
ALTER TABLE contacts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN marketing_opt_out_at INTEGER;
ALTER TABLE contacts ADD COLUMN marketing_opt_out_source TEXT;
ALTER TABLE contacts ADD COLUMN previous_wa_ids TEXT NOT NULL DEFAULT '[]';
CREATE INDEX contacts_tenant_id ON contacts(tenant_id, id);

CREATE TABLE contact_windows (
    channel_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    last_inbound_at INTEGER,
    entry_point_at INTEGER,
    fep_opened_at INTEGER,
    fep_expires_at INTEGER,
    PRIMARY KEY (channel_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX contact_windows_contact ON contact_windows(contact_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    kind TEXT,
    opened_by TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    closed_at INTEGER,
    close_reason TEXT,
    last_inbound_at INTEGER,
    updated_at INTEGER NOT NULL
);
-- At most one open session per channel and contact.
CREATE UNIQUE INDEX sessions_open ON sessions(channel_id, contact_id) WHERE closed_at IS NULL;
CREATE INDEX sessions_expiry ON sessions(expires_at) WHERE closed_at IS NULL;
CREATE INDEX sessions_tenant_id ON sessions(tenant_id, id);
CREATE INDEX sessions_contact ON sessions(contact_id, id);

ALTER TABLE messages ADD COLUMN session_id TEXT;
CREATE INDEX messages_session ON messages(session_id, id) WHERE session_id IS NOT NULL;
