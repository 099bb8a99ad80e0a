-- Messages outside any session (a system notice when none was open) by contact: what a
-- contact merge must move besides its sessions' messages. Partial, so the send path (every
-- message has a session) writes no entry.
CREATE INDEX messages_contact_sessionless ON messages(contact_id) WHERE session_id IS NULL;
