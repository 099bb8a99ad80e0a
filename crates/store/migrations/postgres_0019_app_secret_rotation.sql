-- An app secret rotation (issue 16): the secret that was current before the last rotation
-- (encrypted with the master key, as app_secret_enc) keeps verifying Meta's signatures beside
-- the new one until previous_secret_expires_at (Unix ms). NULL when no rotation overlaps.
ALTER TABLE apps ADD COLUMN previous_secret_enc TEXT COLLATE "C";
ALTER TABLE apps ADD COLUMN previous_secret_expires_at BIGINT;
