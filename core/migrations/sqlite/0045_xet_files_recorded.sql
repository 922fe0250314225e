-- When a shard last recorded each Xet file (`crate::xet`): a file no commit named (`oid` unset)
-- keeps its xorbs from garbage collection only for the grace period after that (`crate::gc`).
-- Files recorded before this migration count from now.
ALTER TABLE xet_files ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
UPDATE xet_files SET recorded_at = CAST(strftime('%s', 'now') AS INTEGER);

-- When the whole copy of a file kept as chunks is to go (a bucket: once the download URLs to it
-- handed out before it was chunked have expired, `crate::xet::chunking`). Files checked before
-- this migration may have one (a bucket kept Xet uploads whole too): theirs goes after the
-- default lifetime of those URLs (an hour and two minutes), unless another dataset needs it.
ALTER TABLE xet_files ADD COLUMN drop_whole_at BIGINT;
UPDATE xet_files SET drop_whole_at = CAST(strftime('%s', 'now') AS INTEGER) + 3720 WHERE oid IS NOT NULL;
CREATE INDEX xet_files_by_drop ON xet_files (drop_whole_at);

-- The xorb a compaction wrote this one's used chunks into (`crate::gc`): while it waits to be
-- collected, an erasure of the files moved onto the new xorb erases it too.
ALTER TABLE xet_xorbs ADD COLUMN compacted_into TEXT;
