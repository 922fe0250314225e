//! A run's log as it grows: what `GET …/runs/{id}/log` sends, and with `follow` keeps sending
//! until the run ends. The runner writes the log down every half second while the process runs
//! (its last lines and how many it wrote in all), so any replica can follow any run; a follower
//! that fell further behind than the kept lines is told how many it missed. A follow lasts at
//! most ten minutes and ends when the server drains; the follower asks again `from` the lines it
//! has (the run's page reloads, `strata jobs` carries on), and its access is checked again.

use std::time::Duration;

use futures_util::Stream;

use crate::auth::Principal;
use crate::datasets::gate;
use crate::db::RunRow;
use crate::error::{Error, Result};
use crate::Core;

/// How often a follower looks for new lines.
const POLL: Duration = Duration::from_millis(400);
/// The longest one follow lasts.
const LIFETIME: Duration = Duration::from_secs(600);

/// The log of run `id` of `ns/name`'s jobs (a writer of it: logs are for writers only), as text
/// in pieces: what was written so far after its first `from` lines and, with `follow`, each new
/// piece until the run ends (or the follow's lifetime does).
pub async fn log(
    core: std::sync::Arc<Core>,
    who: &Principal,
    (ns, name): (&str, &str),
    id: i64,
    (follow, from): (bool, u64),
) -> Result<impl Stream<Item = String> + Send + 'static> {
    let repo = gate::dataset(&core, who, ns, name, crate::auth::Action::Read).await?;
    let row = core
        .db
        .run(repo.id, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("{ns}/{name} has no run {id}")))?;
    if !super::writes(&repo) {
        return Err(Error::forbidden(
            "a run's log is for the writers of its dataset",
        ));
    }
    let until = tokio::time::Instant::now() + LIFETIME;
    let start = Follow {
        until,
        core,
        repo_id: repo.id,
        id,
        row: Some(row),
        sent: i64::try_from(from).unwrap_or(i64::MAX),
        follow,
        done: false,
    };
    Ok(futures_util::stream::unfold(start, |mut f| async move {
        let piece = f.next().await?;
        Some((piece, f))
    }))
}

struct Follow {
    until: tokio::time::Instant,
    core: std::sync::Arc<Core>,
    repo_id: i64,
    id: i64,
    /// The run as last read (taken by `next`).
    row: Option<RunRow>,
    /// How many lines were sent.
    sent: i64,
    follow: bool,
    done: bool,
}

impl Follow {
    /// The next piece of text (never empty); `None` once the run has ended and all is sent.
    async fn next(&mut self) -> Option<String> {
        loop {
            if self.done {
                return None;
            }
            let row = match self.row.take() {
                Some(r) => r,
                None => {
                    tokio::time::sleep(POLL).await;
                    match self.core.db.run(self.repo_id, self.id).await {
                        Ok(Some(r)) => r,
                        // Gone (its dataset deleted) or unreadable: the stream ends.
                        _ => return None,
                    }
                }
            };
            let live = matches!(row.state.as_str(), "queued" | "running");
            let over = tokio::time::Instant::now() >= self.until
                || self
                    .core
                    .draining
                    .load(std::sync::atomic::Ordering::Relaxed);
            self.done = !(self.follow && live) || over;
            if let Some(piece) = unseen(&row, &mut self.sent) {
                return Some(piece);
            }
        }
    }
}

/// The lines of `row`'s log after the first `sent` it wrote, newline-terminated, with a line
/// saying how many were lost when the log no longer keeps them all; `sent` moves on.
fn unseen(row: &RunRow, sent: &mut i64) -> Option<String> {
    let kept: Vec<&str> = match row.log.is_empty() {
        true => Vec::new(),
        false => row.log.split('\n').collect(),
    };
    let kept_n = i64::try_from(kept.len()).unwrap_or(i64::MAX);
    // Runs from before the count was kept have only their lines.
    let total = row.log_lines.max(kept_n);
    let new = total - *sent;
    if new <= 0 {
        return None;
    }
    *sent = total;
    let mut out = String::new();
    if new > kept_n {
        out.push_str(&format!("[{} earlier lines are not kept]\n", new - kept_n));
    }
    let from = kept.len() - usize::try_from(new.min(kept_n)).unwrap_or(0);
    for line in &kept[from..] {
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(log: &str, lines: i64) -> RunRow {
        RunRow {
            id: 1,
            repo_id: 1,
            job: "j".into(),
            state: "running".into(),
            cause: "manual".into(),
            started_by: "alice".into(),
            runs_as: None,
            job_revision: String::new(),
            inputs: "[]".into(),
            inputs_key: String::new(),
            exit_code: None,
            error: None,
            log: log.into(),
            log_lines: lines,
            bytes_in: 0,
            bytes_out: 0,
            output: String::new(),
            output_revision: None,
            merge_request: None,
            created_at: 0,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn sends_each_line_once_and_says_what_was_lost() {
        let mut sent = 0;
        assert_eq!(unseen(&row("", 0), &mut sent), None);
        assert_eq!(
            unseen(&row("a\nb", 2), &mut sent).as_deref(),
            Some("a\nb\n")
        );
        assert_eq!(unseen(&row("a\nb", 2), &mut sent), None);
        assert_eq!(
            unseen(&row("a\nb\nc", 3), &mut sent).as_deref(),
            Some("c\n")
        );
        // Five more lines written, three kept: two lost.
        assert_eq!(
            unseen(&row("f\ng\nh", 8), &mut sent).as_deref(),
            Some("[2 earlier lines are not kept]\nf\ng\nh\n")
        );
        // A run from before the count: its lines are its count.
        let mut sent = 0;
        assert_eq!(
            unseen(&row("x\ny", 0), &mut sent).as_deref(),
            Some("x\ny\n")
        );
    }
}
