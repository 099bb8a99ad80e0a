-- Template management (issue 4): what the gateway submits, edits, syncs and deletes, each
-- template's history, and which template an outbound message was sent from.
ALTER TABLE templates ADD COLUMN parameter_format TEXT;
ALTER TABLE templates ADD COLUMN previous_category TEXT;
ALTER TABLE templates ADD COLUMN message_send_ttl_seconds INTEGER;
-- Set while the template's status is DELETED.
ALTER TABLE templates ADD COLUMN deleted_at INTEGER;
-- Listing a tenant's templates of one WABA, in id order.
CREATE INDEX templates_tenant_waba ON templates(tenant_id, waba_id, id);
-- Finding a template by Meta's id (GET /{template_id}).
CREATE INDEX templates_meta_id ON templates(meta_template_id) WHERE meta_template_id IS NOT NULL;

-- A template's history: created, status, quality, category, edited, synced, deleted. A webhook
-- Meta delivers twice names the same (kind, value, at) and adds nothing.
CREATE TABLE template_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id TEXT NOT NULL REFERENCES templates(id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    previous TEXT,
    reason TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    at INTEGER NOT NULL,
    UNIQUE (template_id, kind, value, at)
);

-- The template an outbound message was sent from (the gateway's tpl_ id) and the text the
-- contact saw.
ALTER TABLE messages ADD COLUMN template_id TEXT;
ALTER TABLE messages ADD COLUMN rendered_text TEXT;
