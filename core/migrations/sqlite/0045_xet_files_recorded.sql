-- When a shard last recorded each Xet file (`crate::xet`): a file no commit named (`oid` unset)
-- keeps its xorbs from garbage collection only for the grace period after that (`crate::gc`).
-- Files recorded before this migration count from now.
ALTER TABLE xet_files ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
UPDATE xet_files SET recorded_at = CAST(strftime('%s', 'now') AS INTEGER);
