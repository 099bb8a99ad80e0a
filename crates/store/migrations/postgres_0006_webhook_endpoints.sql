-- Tenants' webhook endpoints (issue 5): where the gateway delivers events, what each
-- subscribes to, how its requests are signed, and whether it is failing.
CREATE TABLE webhook_endpoints (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    -- A JSON array of event-type patterns ("message.*", "session.opened", "*").
    events TEXT COLLATE "C" NOT NULL,
    -- 'native' or 'meta'.
    format TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT COLLATE "C",
    -- Signing secrets, encrypted by the caller: the current one, and the one before the last
    -- rotation, which still signs until previous_secret_expires_at.
    secret_enc TEXT COLLATE "C" NOT NULL,
    previous_secret_enc TEXT COLLATE "C",
    previous_secret_expires_at BIGINT,
    -- First failure of the current run of failed deliveries; NULL once one succeeds.
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Listing a tenant's endpoints, in id order.
CREATE INDEX webhook_endpoints_tenant_id ON webhook_endpoints(tenant_id, id);
