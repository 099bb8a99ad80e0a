-- Media: the metadata of the bytes a tenant keeps; the bytes are in the object store under
-- `<tenant>/<sha256>`, kept once however many media share them. `last_used_at` is what
-- retention counts from (stored, sent, read).
CREATE TABLE media (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    mime_type TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    filename TEXT,
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX media_tenant ON media(tenant_id, id);
-- Whether other media of the tenant share an object.
CREATE INDEX media_object ON media(tenant_id, sha256);
-- What retention prunes.
CREATE INDEX media_last_used ON media(last_used_at);

-- Meta's copy of a media for a channel: Meta's media id, and when it was uploaded (Meta keeps
-- uploads for a limited time).
CREATE TABLE media_meta_copies (
    media_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL,
    meta_media_id TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (media_id, channel_id)
);
