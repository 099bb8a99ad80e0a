-- Download jobs: an inbound message's media, fetched from Meta into the object store. A job is
-- written with its message, in the same transaction (one per message); `media_id` is the id
-- the media gets once stored, chosen in advance. `state` is `pending` (due at `next_at`,
-- claimed by a worker until `claimed_until`), `stored` or `failed`; `attempts` counts claims;
-- `error` is why the latest attempt failed (JSON).
CREATE TABLE media_downloads (
    message_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    media_id TEXT NOT NULL UNIQUE,
    meta_media_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    sha256 TEXT,
    filename TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    claimed_until INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- What a worker claims: the pending jobs, by when they are due.
CREATE INDEX media_downloads_due ON media_downloads(next_at, message_id) WHERE state = 'pending';
