-- A send whose sender stopped mid-flight (an orphan) is put back due after the reconcile
-- grace, for Meta's status webhook to settle it first. `orphaned_at` says when it was put
-- back: until it is posted again it is not claimed while a payload of Meta's received by its
-- due time is still unprocessed (the status that settles it may be in there), for at most a
-- second grace (a payload that never processes does not hold it for ever).
ALTER TABLE outbox ADD COLUMN orphaned_at BIGINT;
