-- Tenants' webhook endpoints (issue 5): where the gateway delivers events, what each
-- subscribes to, how its requests are signed, and whether it is failing.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT,
    -- A JSON array of event-type patterns ("message.*", "session.opened", "*").
    events TEXT NOT NULL,
    -- 'native' or 'meta'.
    format TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    disabled_reason TEXT,
    -- Signing secrets, encrypted by the caller: the current one, and the one before the last
    -- rotation, which still signs until previous_secret_expires_at.
    secret_enc TEXT NOT NULL,
    previous_secret_enc TEXT,
    previous_secret_expires_at INTEGER,
    -- First failure of the current run of failed deliveries; NULL once one succeeds.
    failing_since INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Listing a tenant's endpoints, in id order.
CREATE INDEX webhook_endpoints_tenant_id ON webhook_endpoints(tenant_id, id);
