-- Merge requests: a branch proposed for merging into another, its approvals and the
-- resolutions of its conflicts. A protected default branch may take changes only through them
-- (require_merge_request) and only with approvals from other writers (required_approvals).
ALTER TABLE repos ADD COLUMN require_merge_request BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repos ADD COLUMN required_approvals BIGINT NOT NULL DEFAULT 0;

CREATE TABLE merge_requests (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    author TEXT NOT NULL,
    author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- open, merged or closed
    state TEXT NOT NULL,
    merged_revision TEXT,
    merged_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (repo_id, number)
);
-- One open merge request per source and target.
CREATE UNIQUE INDEX merge_requests_open ON merge_requests (repo_id, source, target) WHERE state = 'open';

-- An approval holds for the source head it was given on.
CREATE TABLE merge_approvals (
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source_head TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merge_request_id, user_id)
);

-- A conflict's resolution, by the conflict's id (a keyed hash of where it is and of the three
-- sides' values, so a resolution stops applying when the conflict changes).
CREATE TABLE merge_resolutions (
    merge_request_id BIGINT NOT NULL REFERENCES merge_requests(id) ON DELETE CASCADE,
    conflict TEXT NOT NULL,
    take TEXT NOT NULL,
    value TEXT,
    resolved_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (merge_request_id, conflict)
);
