-- Garbage collection (`crate::gc`). How many days of each branch's history a dataset keeps
-- reachable (NULL: all of it; refs' own revisions and tags are always kept).
ALTER TABLE repos ADD COLUMN retention_days INTEGER;

-- Who links an object (collection asks for objects no dataset links).
CREATE INDEX repo_objects_by_oid ON repo_objects (oid);

-- What a run found unreachable: a dataset's link (repo_id > 0) or an object no dataset links
-- (repo_id = 0). Anything that uses the link or links the object again deletes the row, so a
-- later sweep leaves it be.
CREATE TABLE gc_candidates (
    repo_id BIGINT NOT NULL,
    oid TEXT NOT NULL,
    marked_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);

-- Bytes being deleted (state 'deleting') or deleted lately ('deleted'): a link written meanwhile
-- is refused, and one written after checks its bytes are there. repo_id as above (0: the plain
-- object; a dataset: its sealed copy).
CREATE TABLE gc_tombstones (
    repo_id BIGINT NOT NULL,
    oid TEXT NOT NULL,
    state TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);

-- Each run, its claim while it runs (one at a time, whichever process or replica), and its report.
CREATE TABLE gc_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT,
    dry_run BIGINT NOT NULL,
    started_by TEXT,
    -- running, done or failed
    state TEXT NOT NULL,
    report TEXT
);
