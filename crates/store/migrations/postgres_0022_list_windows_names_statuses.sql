-- The list filters no index bounded yet (issue 16, finding 4; docs/architecture.md, "List
-- routes and their indexes"): time windows, a contact's name, a campaign recipient's status.
-- Plain CREATE INDEX, as in migration 21 (which says how to build them beforehand, CONCURRENTLY,
-- on a large installation: IF NOT EXISTS then leaves them be).

-- GET /v1/messages?created_after/created_before, /v1/sessions?opened_after/opened_before,
-- /v1/events?since/until: a window is read through these in (time, id) order, newest first,
-- so that a window far in the past is a range of its own instead of a walk through every
-- newer row. Led by the tenant like messages_tenant_id / sessions_tenant_id; checked against
-- the send path's look-ups under generic plans on a never-analyzed table (none takes them).
CREATE INDEX IF NOT EXISTS messages_created ON messages(tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS sessions_opened ON sessions(tenant_id, opened_at, id);
CREATE INDEX IF NOT EXISTS events_created ON events(tenant_id, format, created_at, seq);

-- GET /v1/contacts?name=: a substring of the name (ASCII letters folded, as lower() does in
-- the column's "C" collation), found through pg_trgm's trigrams. pg_trgm ships with the
-- server (Debian's postgresql-NN package) and is a trusted extension: the database's owner
-- may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- Partial: the send path creates contacts without a name, which then cost it no entry (the
-- condition of a search, strict in profile_name, implies the index's).
CREATE INDEX IF NOT EXISTS contacts_name_trgm ON contacts
    USING gin (lower(profile_name) gin_trgm_ops) WHERE profile_name IS NOT NULL;

-- GET /v1/campaigns/{id}/recipients?status=: the status the API shows (see
-- CampaignRecipient::status in campaign.rs: from the recipient and its message), stored and kept by triggers, so
-- that every status is a range of campaign_recipients_status in id order. The trigger on
-- messages fires only for a campaign's message whose status moved.
CREATE FUNCTION campaign_recipient_status(state text, replied_at bigint, message_status text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN state IN ('skipped', 'failed') THEN state
        WHEN replied_at IS NOT NULL THEN 'replied'
        WHEN message_status IN ('accepted', 'sent') THEN 'sent'
        WHEN message_status IN ('delivered', 'read', 'failed') THEN message_status
        ELSE 'pending' END
$$;

ALTER TABLE campaign_recipients ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'pending';
UPDATE campaign_recipients AS r SET status = campaign_recipient_status(r.state, r.replied_at,
        (SELECT m.status FROM messages m WHERE m.id = r.message_id))
    WHERE campaign_recipient_status(r.state, r.replied_at,
        (SELECT m.status FROM messages m WHERE m.id = r.message_id)) <> 'pending';
CREATE INDEX IF NOT EXISTS campaign_recipients_status
    ON campaign_recipients(campaign_id, status, id);

-- A recipient's own change: its status from its row and its message's.
CREATE FUNCTION campaign_recipients_status_of_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.status := campaign_recipient_status(NEW.state, NEW.replied_at,
        (SELECT m.status FROM messages m WHERE m.id = NEW.message_id));
    RETURN NEW;
END
$$;
CREATE TRIGGER campaign_recipients_status_insert BEFORE INSERT ON campaign_recipients
    FOR EACH ROW
    WHEN (NEW.state IN ('skipped', 'failed') OR NEW.replied_at IS NOT NULL
          OR NEW.message_id IS NOT NULL)
    EXECUTE FUNCTION campaign_recipients_status_of_row();
CREATE TRIGGER campaign_recipients_status_update
    BEFORE UPDATE OF state, replied_at, message_id ON campaign_recipients
    FOR EACH ROW EXECUTE FUNCTION campaign_recipients_status_of_row();

-- A campaign message's status: its recipient's follows. A campaign message is always stored
-- before its recipient names it (feed, grouped send), so the recipient's own trigger reads its
-- first status: inserting a message fires nothing.
CREATE FUNCTION campaign_recipients_status_of_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_recipients r
        SET status = campaign_recipient_status(r.state, r.replied_at, NEW.status)
        WHERE r.message_id = NEW.id
          AND r.status IS DISTINCT FROM campaign_recipient_status(r.state, r.replied_at, NEW.status);
    RETURN NULL;
END
$$;
CREATE TRIGGER campaign_recipients_status_message_update AFTER UPDATE OF status ON messages
    FOR EACH ROW WHEN (NEW.campaign_id IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION campaign_recipients_status_of_message();
