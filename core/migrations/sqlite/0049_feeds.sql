-- Region feeds (`crate::mirrors::feed`): a dataset as one region may hold it, for a strata in
-- that region to follow as a pull mirror. The region is pinned when the feed is made; the feed
-- is read with its token alone, and only the snapshots it built and the objects they name.
CREATE TABLE region_feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    region TEXT NOT NULL,
    -- its snapshots are decided as this account reads, and it must still administer the dataset
    created_by INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL DEFAULT '',
    built_at INTEGER,
    error TEXT,
    -- when erasure last took objects out of it, and the erasure its history was last rewritten
    -- for (a build rewrites it when the first is newer)
    erased_at INTEGER,
    rewritten_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX region_feeds_by_repo ON region_feeds (repo_id);

-- The LFS objects a feed's snapshots name: the only ones its token may download, kept while the
-- feed is (garbage collection counts them, and what they were made from, as reached). A table
-- the region may hold only transformed is its governed version (source_oid: the raw object it
-- was made from, never in the feed; decision: what was applied, as the audit log gives it).
CREATE TABLE feed_objects (
    feed_id INTEGER NOT NULL REFERENCES region_feeds(id) ON DELETE CASCADE,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    oid TEXT NOT NULL,
    size INTEGER NOT NULL,
    source_oid TEXT,
    resource TEXT,
    revision TEXT NOT NULL,
    decision TEXT,
    policies TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (feed_id, oid)
);
CREATE INDEX feed_objects_by_repo ON feed_objects (repo_id, oid);
CREATE INDEX feed_objects_by_source ON feed_objects (repo_id, source_oid);
