-- Meta's payloads are personal data: once processed they go after the events' retention (by
-- id range, on the primary key: inbox ids are time-ordered ULIDs, so no index of their own),
-- their bodies with them. A payload stored again (Meta's retry of a webhook it thinks failed,
-- or a captured signed payload replayed) is not: `digest` is the SHA-256 of the body, unique
-- per app. SQLite has no SHA-256 built in: payloads stored before keep none (they go with the
-- retention like the others).
ALTER TABLE webhook_inbox ADD COLUMN digest BLOB;
CREATE UNIQUE INDEX webhook_inbox_digest ON webhook_inbox(app_id, digest) WHERE digest IS NOT NULL;
