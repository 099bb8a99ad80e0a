-- Meta's payloads are personal data: once processed they go after the events' retention (by
-- id range, on the primary key: inbox ids are time-ordered ULIDs, so no index of their own).
-- A payload stored again (Meta's retry of a webhook it thinks failed, or a captured signed
-- payload replayed) is not: `digest` is the SHA-256 of the body, unique per app.
ALTER TABLE webhook_inbox ADD COLUMN digest BYTEA;
-- Payloads Meta may still retry (it does for up to 7 days) get their digest; older ones go
-- with the retention. Of copies already stored, the first keeps it.
UPDATE webhook_inbox SET digest = d.digest
FROM (SELECT DISTINCT ON (app_id, sha256(body)) id, sha256(body) AS digest
      FROM webhook_inbox
      WHERE received_at >= (EXTRACT(EPOCH FROM now()) * 1000)::bigint - 7 * 86400000
      ORDER BY app_id, sha256(body), id) AS d
WHERE webhook_inbox.id = d.id;
CREATE UNIQUE INDEX webhook_inbox_digest ON webhook_inbox(app_id, digest) WHERE digest IS NOT NULL;
