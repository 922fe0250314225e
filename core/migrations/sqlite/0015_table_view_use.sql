-- When each view was last read (kept to the hour), so that views nobody reads any more (those of
-- older objects, decisions or declared types, which no new read can find) are forgotten.
ALTER TABLE table_views ADD COLUMN used_at INTEGER NOT NULL DEFAULT 0;
UPDATE table_views SET used_at = created_at;
CREATE INDEX table_views_by_use ON table_views (used_at);
