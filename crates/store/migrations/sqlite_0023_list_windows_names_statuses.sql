-- The list filters no index bounded yet (issue 16, finding 4; docs/architecture.md, "List
-- routes and their indexes"): time windows, a contact's name, a campaign recipient's status.

-- GET /v1/messages?created_after/created_before, /v1/sessions?opened_after/opened_before,
-- /v1/events?since/until: a window is read through these in (time, id) order, newest first,
-- so that a window far in the past is a range of its own instead of a walk through every
-- newer row. Led by the tenant like messages_tenant_id / sessions_tenant_id, which the send
-- path's look-ups already leave aside (none names a time alone after the tenant).
CREATE INDEX messages_created ON messages(tenant_id, created_at, id);
CREATE INDEX sessions_opened ON sessions(tenant_id, opened_at, id);
CREATE INDEX events_created ON events(tenant_id, format, created_at, seq);

-- GET /v1/contacts?name=: a substring of the name, found through the trigrams of the names
-- (FTS5's trigram tokenizer, case-insensitive), then checked on the contact's row as before.
-- An external-content table over contacts' rowid, kept by the triggers below; a contact
-- without a name has no entry (the send path creates contacts without one: it pays nothing
-- here). VACUUM may renumber the rowids of a table without an INTEGER PRIMARY KEY (contacts
-- has a text key): after one, rebuild it with
--   INSERT INTO contact_names(contact_names) VALUES ('delete-all');
--   INSERT INTO contact_names(rowid, profile_name)
--       SELECT rowid, profile_name FROM contacts WHERE profile_name IS NOT NULL;
CREATE VIRTUAL TABLE contact_names USING fts5(
    profile_name, content = 'contacts', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO contact_names(rowid, profile_name)
    SELECT rowid, profile_name FROM contacts WHERE profile_name IS NOT NULL;
CREATE TRIGGER contact_names_insert AFTER INSERT ON contacts
WHEN new.profile_name IS NOT NULL BEGIN
    INSERT INTO contact_names(rowid, profile_name) VALUES (new.rowid, new.profile_name);
END;
CREATE TRIGGER contact_names_delete AFTER DELETE ON contacts
WHEN old.profile_name IS NOT NULL BEGIN
    INSERT INTO contact_names(contact_names, rowid, profile_name)
        VALUES ('delete', old.rowid, old.profile_name);
END;
CREATE TRIGGER contact_names_update AFTER UPDATE OF profile_name ON contacts
WHEN old.profile_name IS NOT new.profile_name BEGIN
    INSERT INTO contact_names(contact_names, rowid, profile_name)
        SELECT 'delete', old.rowid, old.profile_name WHERE old.profile_name IS NOT NULL;
    INSERT INTO contact_names(rowid, profile_name)
        SELECT new.rowid, new.profile_name WHERE new.profile_name IS NOT NULL;
END;

-- GET /v1/campaigns/{id}/recipients?status=: the status the API shows
-- (CampaignRecipient::status in campaign.rs: from the recipient and its message), stored and kept by
-- triggers, so that every status is a range of campaign_recipients_status in id order. The
-- trigger on messages fires only for a campaign's message (campaign_id set) whose status moved.
-- A campaign message is always stored before its recipient names it (feed, grouped send), so
-- the recipient's own trigger reads its first status: no trigger on inserting a message, which
-- cost the send path ~20 us a message (measured with the send path's inserts in plain SQL).
-- (An UPDATE in a trigger takes no table alias.)
ALTER TABLE campaign_recipients ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
UPDATE campaign_recipients AS r SET status = CASE
    WHEN r.state IN ('skipped', 'failed') THEN r.state
    WHEN r.replied_at IS NOT NULL THEN 'replied'
    ELSE COALESCE((SELECT CASE WHEN m.status IN ('accepted', 'sent') THEN 'sent'
        WHEN m.status IN ('delivered', 'read', 'failed') THEN m.status END
        FROM messages m WHERE m.id = r.message_id), 'pending') END;
CREATE INDEX campaign_recipients_status ON campaign_recipients(campaign_id, status, id);

CREATE TRIGGER campaign_recipients_status_insert AFTER INSERT ON campaign_recipients
WHEN new.state IN ('skipped', 'failed') OR new.replied_at IS NOT NULL OR new.message_id IS NOT NULL
BEGIN
    UPDATE campaign_recipients SET status = CASE
        WHEN state IN ('skipped', 'failed') THEN state
        WHEN replied_at IS NOT NULL THEN 'replied'
        ELSE COALESCE((SELECT CASE WHEN m.status IN ('accepted', 'sent') THEN 'sent'
            WHEN m.status IN ('delivered', 'read', 'failed') THEN m.status END
            FROM messages m WHERE m.id = campaign_recipients.message_id), 'pending') END
    WHERE id = new.id;
END;
CREATE TRIGGER campaign_recipients_status_update
AFTER UPDATE OF state, replied_at, message_id ON campaign_recipients BEGIN
    UPDATE campaign_recipients SET status = CASE
        WHEN state IN ('skipped', 'failed') THEN state
        WHEN replied_at IS NOT NULL THEN 'replied'
        ELSE COALESCE((SELECT CASE WHEN m.status IN ('accepted', 'sent') THEN 'sent'
            WHEN m.status IN ('delivered', 'read', 'failed') THEN m.status END
            FROM messages m WHERE m.id = campaign_recipients.message_id), 'pending') END
    WHERE id = new.id;
END;
CREATE TRIGGER campaign_recipients_status_message_update AFTER UPDATE OF status ON messages
WHEN new.campaign_id IS NOT NULL AND old.status IS NOT new.status BEGIN
    UPDATE campaign_recipients SET status = CASE
        WHEN new.status IN ('accepted', 'sent') THEN 'sent'
        WHEN new.status IN ('delivered', 'read', 'failed') THEN new.status ELSE 'pending' END
    WHERE message_id = new.id AND state NOT IN ('skipped', 'failed') AND replied_at IS NULL;
END;
