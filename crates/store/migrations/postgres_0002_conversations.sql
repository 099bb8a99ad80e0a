-- Contacts as WhatsApp's conversational model needs them: username, marketing opt-out,
-- free attributes; windows per (channel, contact); sessions; each message's session.
ALTER TABLE contacts ADD COLUMN username TEXT COLLATE "C";
ALTER TABLE contacts ADD COLUMN attributes TEXT COLLATE "C" NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN marketing_opt_out_at BIGINT;
ALTER TABLE contacts ADD COLUMN marketing_opt_out_source TEXT COLLATE "C";
ALTER TABLE contacts ADD COLUMN previous_wa_ids TEXT COLLATE "C" NOT NULL DEFAULT '[]';
CREATE INDEX contacts_tenant_id ON contacts(tenant_id, id);

CREATE TABLE contact_windows (
    channel_id TEXT COLLATE "C" NOT NULL,
    contact_id TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    last_inbound_at BIGINT,
    entry_point_at BIGINT,
    fep_opened_at BIGINT,
    fep_expires_at BIGINT,
    PRIMARY KEY (channel_id, contact_id)
);
CREATE INDEX contact_windows_contact ON contact_windows(contact_id);

CREATE TABLE sessions (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    contact_id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C",
    opened_by TEXT COLLATE "C" NOT NULL,
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    closed_at BIGINT,
    close_reason TEXT COLLATE "C",
    last_inbound_at BIGINT,
    updated_at BIGINT NOT NULL
);
-- At most one open session per channel and contact.
CREATE UNIQUE INDEX sessions_open ON sessions(channel_id, contact_id) WHERE closed_at IS NULL;
CREATE INDEX sessions_expiry ON sessions(expires_at) WHERE closed_at IS NULL;
CREATE INDEX sessions_tenant_id ON sessions(tenant_id, id);
CREATE INDEX sessions_contact ON sessions(contact_id, id);

ALTER TABLE messages ADD COLUMN session_id TEXT COLLATE "C";
CREATE INDEX messages_session ON messages(session_id, id) WHERE session_id IS NOT NULL;
