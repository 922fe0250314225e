-- How many lines a run's process wrote in all (`log` keeps the last of them, written while it
-- runs): whoever follows the log knows what it has not seen yet.
ALTER TABLE job_runs ADD COLUMN log_lines BIGINT NOT NULL DEFAULT 0;

-- The merge request a run opened (a job whose output is `"merge_request": true`).
ALTER TABLE job_runs ADD COLUMN merge_request BIGINT;
