-- A channel whose credentials Meta rejected is paused: its sender stops until its token is
-- replaced. `pause_reason` is Meta's error object.
ALTER TABLE channels ADD COLUMN paused_at BIGINT;
ALTER TABLE channels ADD COLUMN pause_reason TEXT;
