-- When a shard last recorded each Xet file (`crate::xet`): a file no commit named (`oid` unset)
-- keeps its xorbs from garbage collection only for the grace period after that (`crate::gc`).
-- Files recorded before this migration count from now.
ALTER TABLE xet_files ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
UPDATE xet_files SET recorded_at = CAST(strftime('%s', 'now') AS INTEGER);

-- On a bucket, when the whole copy of a file strata chunked is to go: once the download URLs to
-- it handed out before it was chunked have expired (`crate::xet::chunking`).
ALTER TABLE xet_files ADD COLUMN drop_whole_at BIGINT;
CREATE INDEX xet_files_by_drop ON xet_files (drop_whole_at);
