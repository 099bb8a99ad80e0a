-- Message templates as the gateway knows them (from Meta's template webhooks for now; the
-- templates issue adds management and sync). One row per WABA, name and language.
CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    waba_id TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT,
    status TEXT NOT NULL,
    meta_template_id TEXT,
    components TEXT NOT NULL DEFAULT '[]',
    quality_score TEXT,
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (waba_id, name, language)
);
CREATE INDEX templates_tenant_id ON templates(tenant_id, id);
