-- Meta's payloads (up to 3 MB, usually 1-2 KB) move out of the row that claims and processing
-- update: an UPDATE rewrites its whole row, and with the body inline every claim and every
-- processed mark wrote each payload to the WAL again (two payloads to a 4 KB page). The body is
-- written once, in a table keyed by the inbox row's own rowid (one B-tree, no index of its own).
CREATE TABLE webhook_inbox_bodies (
    inbox_rowid INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
INSERT INTO webhook_inbox_bodies (inbox_rowid, body) SELECT rowid, body FROM webhook_inbox;
ALTER TABLE webhook_inbox DROP COLUMN body;
-- Only pending payloads are looked for: a partial index that processed marks leave.
DROP INDEX webhook_inbox_pending;
CREATE INDEX webhook_inbox_pending ON webhook_inbox(id) WHERE processed_at IS NULL;
