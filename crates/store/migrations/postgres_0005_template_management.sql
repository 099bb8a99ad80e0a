-- Template management (issue 4): what the gateway submits, edits, syncs and deletes, each
-- template's history, and which template an outbound message was sent from.
ALTER TABLE templates ADD COLUMN parameter_format TEXT COLLATE "C";
ALTER TABLE templates ADD COLUMN previous_category TEXT COLLATE "C";
ALTER TABLE templates ADD COLUMN message_send_ttl_seconds BIGINT;
-- Set while the template's status is DELETED.
ALTER TABLE templates ADD COLUMN deleted_at BIGINT;
-- Listing a tenant's templates of one WABA, in id order.
CREATE INDEX templates_tenant_waba ON templates(tenant_id, waba_id, id);
-- Finding a template by Meta's id (GET /{template_id}).
CREATE INDEX templates_meta_id ON templates(meta_template_id) WHERE meta_template_id IS NOT NULL;

-- A template's history: created, status, quality, category, edited, synced, deleted. A webhook
-- Meta delivers twice names the same (kind, value, at) and adds nothing.
CREATE TABLE template_events (
    seq BIGSERIAL PRIMARY KEY,
    template_id TEXT COLLATE "C" NOT NULL REFERENCES templates(id),
    kind TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL DEFAULT '',
    previous TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    detail TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    at BIGINT NOT NULL,
    UNIQUE (template_id, kind, value, at)
);

-- The template an outbound message was sent from (the gateway's tpl_ id) and the text the
-- contact saw.
ALTER TABLE messages ADD COLUMN template_id TEXT COLLATE "C";
ALTER TABLE messages ADD COLUMN rendered_text TEXT COLLATE "C";
