-- Pull mirrors (`crate::mirrors`): a dataset that follows a git + LFS remote. Its refs move only
-- once every LFS object the new commits name is stored and verified; writers may not change it.
CREATE TABLE mirrors (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL UNIQUE REFERENCES repos(id) ON DELETE CASCADE,
    -- the remote's git URL, and its LFS endpoint when not the git URL's own
    url TEXT NOT NULL,
    lfs_url TEXT,
    -- the Authorization header's value for the remote, sealed (`crate::auth::sealed`)
    credentials TEXT,
    -- the Standard Webhooks secret a remote's webhook signs with, sealed
    hook_secret TEXT NOT NULL,
    -- syncs run as this account, which must still administer the dataset
    created_by BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    interval_secs BIGINT NOT NULL,
    -- 'new', 'ok' or 'failed'; paused mirrors are not synced
    state TEXT NOT NULL DEFAULT 'new',
    paused BIGINT NOT NULL DEFAULT 0,
    -- when the next sync is due
    next_at BIGINT NOT NULL,
    -- a running sync's lease, and when it was taken; a trigger after that syncs again at once
    claimed_at BIGINT,
    claimed_until BIGINT,
    triggered_at BIGINT,
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    -- since when the remote had refs this mirror has not (cleared by a sync that catches up)
    behind_since BIGINT,
    last_error TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    -- JSON: the remote's refs the last sync moved to
    remote_refs TEXT NOT NULL DEFAULT '{}',
    objects_fetched BIGINT NOT NULL DEFAULT 0,
    bytes_fetched BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mirrors_by_next ON mirrors (next_at);

-- Non-zero: the dataset is a mirror, read-only to writers.
ALTER TABLE repos ADD COLUMN mirror BIGINT NOT NULL DEFAULT 0;
