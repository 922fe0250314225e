//! `job_runs` and `provenance`: the runs of the jobs datasets declare (one per (job, inputs) at a
//! time, kept alive by a heartbeat), and what made each revision a run committed; `jobs` and
//! `job_triggers`: the jobs declared on each dataset's default branch, and the inputs whose
//! commits start them.

use super::{now, Db, Error};

/// A run whose heartbeat is older than this many seconds was left by a server that went away.
pub const STALE_SECS: i64 = 120;

/// A run, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub repo_id: i64,
    pub job: String,
    /// `queued`, `running`, `succeeded`, `failed`, `skipped` or `cancelled`.
    pub state: String,
    /// `manual` or `push`.
    pub cause: String,
    pub started_by: String,
    pub runs_as: Option<i64>,
    pub job_revision: String,
    /// JSON: `[{dataset, branch, revision}]`.
    pub inputs: String,
    pub inputs_key: String,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub log: String,
    /// How many lines the process wrote in all (`log` keeps the last ones).
    pub log_lines: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// The output dataset and branch, `ns/name@branch`.
    pub output: String,
    pub output_revision: Option<String>,
    /// The merge request the run opened with its output.
    pub merge_request: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A job as declared on a dataset's default branch.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub repo_id: i64,
    pub name: String,
    /// The job as declared (JSON).
    pub spec: String,
    /// The declaring revision.
    pub revision: String,
    /// Who committed it: the account runs started by commits act as.
    pub owner_id: Option<i64>,
}

/// A job to keep.
#[derive(Debug, Clone)]
pub struct KeptJob {
    pub name: String,
    /// The job as declared (JSON).
    pub spec: String,
    /// The (dataset in lower case, branch) inputs whose commits start it.
    pub triggers: Vec<(String, String)>,
    /// Its cron schedule.
    pub schedule: Option<String>,
}

/// A job with a schedule, and when it last fired.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduledJob {
    #[sqlx(flatten)]
    pub job: JobRow,
    pub schedule: String,
    pub fired_at: i64,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub repo_id: i64,
    pub job: &'a str,
    pub state: &'a str,
    pub cause: &'a str,
    pub started_by: &'a str,
    pub runs_as: Option<i64>,
    pub job_revision: &'a str,
    pub inputs: &'a str,
    pub inputs_key: &'a str,
    pub output: &'a str,
    /// For a skipped run: the revision the run it repeats committed.
    pub output_revision: Option<&'a str>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub state: String,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub log: String,
    pub log_lines: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub output_revision: Option<String>,
    pub merge_request: Option<i64>,
}

const COLUMNS: &str = "id, repo_id, job, state, cause, started_by, runs_as, job_revision, inputs, \
     inputs_key, exit_code, error, log, log_lines, bytes_in, bytes_out, output, output_revision, \
     merge_request, created_at, started_at, finished_at";

impl Db {
    /// Records a run; [`Error::Conflict`] when one of the same job and inputs is queued or
    /// running (one whose heartbeat stopped is marked failed first, and makes way).
    pub async fn insert_run(&self, run: &NewRun<'_>) -> Result<i64, Error> {
        let at = now();
        sqlx::query(
            "UPDATE job_runs SET state = 'failed', error = 'the server running it went away', \
             finished_at = $4 WHERE repo_id = $1 AND job = $2 AND inputs_key = $3 \
             AND state IN ('queued', 'running') AND heartbeat_at < $5",
        )
        .bind(run.repo_id)
        .bind(run.job)
        .bind(run.inputs_key)
        .bind(at)
        .bind(at - STALE_SECS)
        .execute(&self.pool)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job_runs (repo_id, job, state, cause, started_by, runs_as, job_revision, \
             inputs, inputs_key, output, output_revision, created_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(run.repo_id)
        .bind(run.job)
        .bind(run.state)
        .bind(run.cause)
        .bind(run.started_by)
        .bind(run.runs_as)
        .bind(run.job_revision)
        .bind(run.inputs)
        .bind(run.inputs_key)
        .bind(run.output)
        .bind(run.output_revision)
        .bind(at)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// The run of the same job and inputs that is queued or running.
    pub async fn run_in_flight(
        &self,
        repo_id: i64,
        job: &str,
        inputs_key: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM job_runs WHERE repo_id = $1 AND job = $2 AND inputs_key = $3 \
             AND state IN ('queued', 'running')",
        )
        .bind(repo_id)
        .bind(job)
        .bind(inputs_key)
        .fetch_optional(&self.pool)
        .await
    }

    /// A queued or running run of job `job` of `repo_id`, on any inputs.
    pub async fn job_in_flight(&self, repo_id: i64, job: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM job_runs WHERE repo_id = $1 AND job = $2 \
             AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
        )
        .bind(repo_id)
        .bind(job)
        .fetch_optional(&self.pool)
        .await
    }

    /// Run `id` of dataset `repo_id`.
    pub async fn run(&self, repo_id: i64, id: i64) -> Result<Option<RunRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM job_runs WHERE repo_id = $1 AND id = $2"
        ))
        .bind(repo_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The runs of dataset `repo_id`'s jobs (of `job` alone when given), newest first, at most
    /// `limit`.
    pub async fn runs(
        &self,
        repo_id: i64,
        job: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM job_runs WHERE repo_id = $1 AND ($2 = '' OR job = $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(repo_id)
        .bind(job.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The last run of `job` that succeeded, but for re-runs (they read old inputs, on a branch of
    /// their own).
    pub async fn last_success(
        &self,
        repo_id: i64,
        job: &str,
    ) -> Result<Option<RunRow>, sqlx::Error> {
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM job_runs WHERE repo_id = $1 AND job = $2 \
             AND state = 'succeeded' AND cause <> 'rerun' ORDER BY id DESC LIMIT 1"
        ))
        .bind(repo_id)
        .bind(job)
        .fetch_optional(&self.pool)
        .await
    }

    /// Run `id` starts (or, without `started`, is still alive): its heartbeat.
    pub async fn beat_run(&self, id: i64, started: bool) -> Result<(), sqlx::Error> {
        let at = now();
        let query = match started {
            true => sqlx::query(
                "UPDATE job_runs SET state = 'running', started_at = $2, heartbeat_at = $2 \
                 WHERE id = $1 AND state = 'queued'",
            ),
            false => sqlx::query("UPDATE job_runs SET heartbeat_at = $2 WHERE id = $1"),
        };
        query.bind(id).bind(at).execute(&self.pool).await?;
        Ok(())
    }

    /// The log of running run `id` so far: its last lines and how many it wrote in all.
    pub async fn run_log(&self, id: i64, log: &str, lines: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE job_runs SET log = $2, log_lines = $3 WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .bind(log)
        .bind(lines)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Run `id` ended as `end` says (a run cancelled meanwhile stays cancelled).
    pub async fn end_run(&self, id: i64, end: &RunEnd) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE job_runs SET state = CASE WHEN state = 'cancelled' THEN state ELSE $2 END, \
             exit_code = $3, error = COALESCE(error, $4), log = $5, bytes_in = $6, \
             bytes_out = $7, output_revision = $8, finished_at = $9, log_lines = $10, \
             merge_request = $11 WHERE id = $1",
        )
        .bind(id)
        .bind(&end.state)
        .bind(end.exit_code)
        .bind(end.error.as_deref())
        .bind(&end.log)
        .bind(end.bytes_in)
        .bind(end.bytes_out)
        .bind(end.output_revision.as_deref())
        .bind(now())
        .bind(end.log_lines)
        .bind(end.merge_request)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks run `id` cancelled by `by` if it is queued or running; whether it was.
    pub async fn cancel_run(&self, id: i64, by: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE job_runs SET state = 'cancelled', error = $2 \
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(format!("cancelled by {by}"))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether run `id` was cancelled.
    pub async fn run_cancelled(&self, id: i64) -> Result<bool, sqlx::Error> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM job_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(state.as_deref() == Some("cancelled"))
    }

    /// Records what made `revision` of dataset `repo_id` (a run's commit).
    pub async fn put_provenance(
        &self,
        repo_id: i64,
        revision: &str,
        run_id: i64,
        record: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO provenance (repo_id, revision, run_id, record, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo_id, revision) \
             DO UPDATE SET run_id = excluded.run_id, record = excluded.record",
        )
        .bind(repo_id)
        .bind(revision)
        .bind(run_id)
        .bind(record)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What made `revision` of dataset `repo_id`: the run's id and the record (JSON).
    pub async fn provenance(
        &self,
        repo_id: i64,
        revision: &str,
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        sqlx::query_as("SELECT run_id, record FROM provenance WHERE repo_id = $1 AND revision = $2")
            .bind(repo_id)
            .bind(revision)
            .fetch_optional(&self.pool)
            .await
    }
}

impl Db {
    /// Replaces the jobs dataset `repo_id` declares with `jobs`, declared at `revision` by
    /// `owner_id`.
    pub async fn keep_jobs(
        &self,
        repo_id: i64,
        revision: &str,
        owner_id: Option<i64>,
        jobs: &[KeptJob],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        // A schedule kept as it was keeps when it last fired.
        let fired: Vec<(String, Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT name, schedule, fired_at FROM jobs WHERE repo_id = $1")
                .bind(repo_id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM job_triggers WHERE repo_id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM jobs WHERE repo_id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await?;
        for KeptJob {
            name,
            spec,
            triggers,
            schedule,
        } in jobs
        {
            let kept = fired
                .iter()
                .find(|(n, s, _)| n == name && s == schedule)
                .and_then(|(_, _, at)| *at);
            sqlx::query(
                "INSERT INTO jobs (repo_id, name, spec, revision, owner_id, updated_at, schedule, fired_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(repo_id)
            .bind(name)
            .bind(spec)
            .bind(revision)
            .bind(owner_id)
            .bind(now())
            .bind(schedule)
            .bind(kept.unwrap_or_else(now))
            .execute(&mut *tx)
            .await?;
            for (dataset, branch) in triggers {
                sqlx::query(
                    "INSERT INTO job_triggers (repo_id, name, dataset, branch) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repo_id, name, dataset, branch) DO NOTHING",
                )
                .bind(repo_id)
                .bind(name)
                .bind(dataset)
                .bind(branch)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    }

    /// The jobs a commit to `branch` of `dataset` (`ns/name`, any case) starts.
    pub async fn jobs_on_push(
        &self,
        dataset: &str,
        branch: &str,
    ) -> Result<Vec<JobRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT j.repo_id, j.name, j.spec, j.revision, j.owner_id FROM jobs j \
             JOIN job_triggers t ON t.repo_id = j.repo_id AND t.name = j.name \
             WHERE t.dataset = lower($1) AND t.branch = $2 ORDER BY j.repo_id, j.name",
        )
        .bind(dataset)
        .bind(branch)
        .fetch_all(&self.pool)
        .await
    }

    /// The succeeded runs that read some dataset at `revision` (a full revision id), oldest
    /// first, at most `limit` (the caller checks the dataset).
    pub async fn runs_reading(
        &self,
        revision: &str,
        limit: i64,
    ) -> Result<Vec<RunRow>, sqlx::Error> {
        // The inputs are stored as serde writes them: `"revision":"<id>"`, without spaces.
        let like = format!("%\"revision\":\"{revision}\"%");
        sqlx::query_as(sql!(
            "SELECT {COLUMNS} FROM job_runs WHERE state = 'succeeded' \
             AND output_revision IS NOT NULL AND inputs LIKE $1 ORDER BY id LIMIT $2"
        ))
        .bind(like)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The jobs with a schedule.
    pub async fn scheduled_jobs(&self) -> Result<Vec<ScheduledJob>, sqlx::Error> {
        sqlx::query_as(
            "SELECT repo_id, name, spec, revision, owner_id, schedule, fired_at FROM jobs \
             WHERE schedule IS NOT NULL AND fired_at IS NOT NULL ORDER BY repo_id, name",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Marks job `name` of `repo_id` fired at `at`, if it last fired at `was` (false: another
    /// turn, or a new declaration, got there first).
    pub async fn fire_job(
        &self,
        repo_id: i64,
        name: &str,
        was: i64,
        at: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET fired_at = $1 WHERE repo_id = $2 AND name = $3 AND fired_at = $4",
        )
        .bind(at)
        .bind(repo_id)
        .bind(name)
        .bind(was)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
