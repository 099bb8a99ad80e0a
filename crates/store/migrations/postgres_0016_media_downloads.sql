-- PostgreSQL: column for column the SQLite migration (sqlite_0017_media_downloads.sql), text
-- compared byte-wise (COLLATE "C") as everywhere in this schema.
-- Download jobs: an inbound message's media, fetched from Meta into the object store. A job is
-- written with its message, in the same transaction (one per message); `media_id` is the id
-- the media gets once stored, chosen in advance. `state` is `pending` (due at `next_at`,
-- claimed by a worker until `claimed_until`), `stored` or `failed`; `attempts` counts claims;
-- `error` is why the latest attempt failed (JSON).
CREATE TABLE media_downloads (
    message_id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    media_id TEXT COLLATE "C" NOT NULL UNIQUE,
    meta_media_id TEXT COLLATE "C" NOT NULL,
    mime_type TEXT NOT NULL,
    sha256 TEXT COLLATE "C",
    filename TEXT,
    state TEXT COLLATE "C" NOT NULL,
    attempts INTEGER NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT,
    error TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- What a worker claims: the pending jobs, by when they are due.
CREATE INDEX media_downloads_due ON media_downloads(next_at, message_id) WHERE state = 'pending';
