-- Runs of the jobs datasets declare (`crate::jobs`): the job by its declaring dataset and name,
-- the inputs at the revisions it read (JSON), its state (queued, running, succeeded, failed,
-- skipped, cancelled), what it wrote and its log. One run per (job, inputs) at a time; a run
-- whose heartbeat stopped (its server went away) makes way for the next.
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    job TEXT NOT NULL,
    state TEXT NOT NULL,
    cause TEXT NOT NULL,
    started_by TEXT NOT NULL,
    runs_as INTEGER REFERENCES users(id) ON DELETE SET NULL,
    job_revision TEXT NOT NULL,
    inputs TEXT NOT NULL,
    inputs_key TEXT NOT NULL,
    exit_code INTEGER,
    error TEXT,
    log TEXT NOT NULL DEFAULT '',
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0,
    output TEXT NOT NULL DEFAULT '',
    output_revision TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    heartbeat_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX job_runs_one_at_a_time ON job_runs (repo_id, job, inputs_key)
    WHERE state IN ('queued', 'running');
CREATE INDEX job_runs_by_job ON job_runs (repo_id, job, id);

-- What made a revision a run committed: the job, the run, its inputs and runner (JSON).
CREATE TABLE provenance (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    record TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, revision)
);

-- The jobs each dataset declares on its default branch, as of the revision that last changed
-- its datapackage, with who committed it (the account its runs started by commits act as), and
-- the (dataset, branch) inputs whose commits start them (`dataset` in lower case).
CREATE TABLE jobs (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    revision TEXT NOT NULL,
    owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, name)
);
CREATE TABLE job_triggers (
    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    branch TEXT NOT NULL,
    PRIMARY KEY (repo_id, name, dataset, branch)
);
CREATE INDEX job_triggers_by_input ON job_triggers (dataset, branch);
