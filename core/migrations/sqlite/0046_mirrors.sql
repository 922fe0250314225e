-- Pull mirrors (`crate::mirrors`): a dataset that follows a git + LFS remote. Its refs move only
-- once every LFS object the new commits name is stored and verified; writers may not change it.
CREATE TABLE mirrors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL UNIQUE REFERENCES repos(id) ON DELETE CASCADE,
    -- the remote's git URL, and its LFS endpoint when not the git URL's own
    url TEXT NOT NULL,
    lfs_url TEXT,
    -- the Authorization header's value for the remote, sealed (`crate::auth::sealed`)
    credentials TEXT,
    -- the Standard Webhooks secret a remote's webhook signs with, sealed
    hook_secret TEXT NOT NULL,
    -- syncs run as this account, which must still administer the dataset
    created_by INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    interval_secs INTEGER NOT NULL,
    -- 'new', 'ok' or 'failed'; paused mirrors are not synced
    state TEXT NOT NULL DEFAULT 'new',
    paused INTEGER NOT NULL DEFAULT 0,
    -- when the next sync is due
    next_at INTEGER NOT NULL,
    -- a running sync's lease, and when it was taken; a trigger after that syncs again at once
    claimed_at INTEGER,
    claimed_until INTEGER,
    triggered_at INTEGER,
    last_attempt_at INTEGER,
    last_success_at INTEGER,
    -- since when the remote had refs this mirror has not (cleared by a sync that catches up)
    behind_since INTEGER,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    -- JSON: the remote's refs the last sync moved to
    remote_refs TEXT NOT NULL DEFAULT '{}',
    objects_fetched INTEGER NOT NULL DEFAULT 0,
    bytes_fetched INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX mirrors_by_next ON mirrors (next_at);

-- Non-zero: the dataset is a mirror, read-only to writers.
ALTER TABLE repos ADD COLUMN mirror INTEGER NOT NULL DEFAULT 0;
