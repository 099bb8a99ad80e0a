-- Payloads stored before migration 21 have no digest, so a copy of one (Meta's retry, a
-- replayed signed payload) would be stored again. SQLite has no SHA-256 built in: the store
-- registers `openbsp_inbox_digest(id, body)` on its connection before migrating, the very
-- digest a new payload is stored under (`crate::inbox::digest`). As on PostgreSQL
-- (postgres_0020): payloads Meta may still retry (it does for up to 7 days) get theirs, older
-- ones go with the retention. Of copies already stored, the first keeps it: NOT INDEXED scans
-- the table in rowid order (the order payloads were stored), and OR IGNORE leaves a later copy
-- (or one whose digest a payload stored since holds) without, through the unique index.
-- Bodies are read one at a time (a correlated look-up), so memory stays one payload's.
UPDATE OR IGNORE webhook_inbox NOT INDEXED
SET digest = openbsp_inbox_digest(
    id, (SELECT body FROM webhook_inbox_bodies WHERE inbox_rowid = webhook_inbox.rowid))
WHERE digest IS NULL AND received_at >= unixepoch() * 1000 - 7 * 86400000;
