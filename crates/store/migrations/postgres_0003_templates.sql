-- Message templates as the gateway knows them (from Meta's template webhooks for now; the
-- templates issue adds management and sync). One row per WABA, name and language.
CREATE TABLE templates (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    waba_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    language TEXT COLLATE "C" NOT NULL,
    category TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    meta_template_id TEXT COLLATE "C",
    components TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    quality_score TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (waba_id, name, language)
);
CREATE INDEX templates_tenant_id ON templates(tenant_id, id);
