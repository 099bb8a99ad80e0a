-- What a vendor-format endpoint was set up with (DESIGN §2.7): Connectly's topic, type and
-- configuration (its `campaign_name` filters), and the verification token of an endpoint that
-- asked for Pingtochat's handshake (encrypted). JSON; NULL for an endpoint without any.
ALTER TABLE webhook_endpoints ADD COLUMN options TEXT;
