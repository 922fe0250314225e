//! `strata jobs …`: a dataset's jobs from a terminal, over a server's REST API (as a notebook or
//! CI script would call it): list them, start a run and follow its log, list runs, read one,
//! read or follow a log, cancel. A token comes from `--token` or `STRATA_TOKEN`; errors print the
//! server's message and request id, and the command exits non-zero. `run --follow` exits with 0
//! only when the run succeeded (or was skipped: nothing to do).

use std::io::Write;

use clap::Subcommand;
use serde_json::Value;

/// What `strata jobs` does.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The jobs a dataset declares (on its default branch).
    List {
        /// `{namespace}/{name}`
        dataset: String,
    },
    /// Start a run of a job now. It is skipped when its inputs and job are those of the last
    /// success, unless --force.
    Run {
        /// `{namespace}/{name}`: the dataset that declares the job.
        dataset: String,
        job: String,
        #[arg(long)]
        force: bool,
        /// Print the run's log as it runs, then how it ended; exit 1 unless it succeeded.
        #[arg(long)]
        follow: bool,
    },
    /// The runs of a dataset's jobs, newest first (at most 100).
    Runs {
        /// `{namespace}/{name}`
        dataset: String,
        /// Only this job's runs.
        #[arg(long)]
        job: Option<String>,
    },
    /// One run, as JSON.
    Show {
        /// `{namespace}/{name}`
        dataset: String,
        run: i64,
    },
    /// A run's log (for the dataset's writers).
    Log {
        /// `{namespace}/{name}`
        dataset: String,
        run: i64,
        /// Keep printing new lines until the run ends.
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a queued or running run: nothing it wrote lands.
    Cancel {
        /// `{namespace}/{name}`
        dataset: String,
        run: i64,
    },
}

type Failed = Box<dyn std::error::Error>;

/// A server and who to be there.
struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    json: bool,
}

/// Runs `command` against `server`.
pub async fn run(
    server: &str,
    token: Option<String>,
    json: bool,
    command: JobsCommand,
) -> Result<(), Failed> {
    let api = Api {
        base: server.trim_end_matches('/').to_owned(),
        token: token.filter(|t| !t.is_empty()),
        http: reqwest::Client::builder()
            .user_agent(concat!("strata-cli/", env!("CARGO_PKG_VERSION")))
            .build()?,
        json,
    };
    match command {
        JobsCommand::List { dataset } => {
            let jobs = api
                .call(reqwest::Method::GET, &path(&dataset, "jobs")?)
                .await?;
            api.print_jobs(&jobs)
        }
        JobsCommand::Runs { dataset, job } => {
            let at = match job {
                Some(j) => path(&dataset, &format!("jobs/{}/runs", segment(&j)))?,
                None => path(&dataset, "runs")?,
            };
            let runs = api.call(reqwest::Method::GET, &at).await?;
            api.print_runs(&runs)
        }
        JobsCommand::Show { dataset, run } => {
            let at = path(&dataset, &format!("runs/{run}"))?;
            let one = api.call(reqwest::Method::GET, &at).await?;
            println!("{}", serde_json::to_string_pretty(&one)?);
            Ok(())
        }
        JobsCommand::Log {
            dataset,
            run,
            follow,
        } => api.log(&dataset, run, follow).await,
        JobsCommand::Cancel { dataset, run } => {
            let at = path(&dataset, &format!("runs/{run}/cancel"))?;
            let one = api.call(reqwest::Method::POST, &at).await?;
            api.print_run(&one);
            Ok(())
        }
        JobsCommand::Run {
            dataset,
            job,
            force,
            follow,
        } => {
            let at = path(
                &dataset,
                &format!("jobs/{}/runs?force={force}", segment(&job)),
            )?;
            let started = api.call(reqwest::Method::POST, &at).await?;
            let id = started["id"]
                .as_i64()
                .ok_or("the server answered no run id")?;
            if !follow {
                api.print_run(&started);
                return Ok(());
            }
            if started["state"] != "skipped" {
                api.log(&dataset, id, true).await?;
            }
            let ended = api
                .call(
                    reqwest::Method::GET,
                    &path(&dataset, &format!("runs/{id}"))?,
                )
                .await?;
            api.print_run(&ended);
            match ended["state"].as_str() {
                Some("succeeded" | "skipped") => Ok(()),
                other => Err(format!(
                    "run {id} {}: {}",
                    other.unwrap_or("ended"),
                    ended["error"].as_str().unwrap_or("no reason given")
                )
                .into()),
            }
        }
    }
}

/// `/api/v1/datasets/{ns}/{name}/{rest}`, the dataset checked to be `ns/name`.
fn path(dataset: &str, rest: &str) -> Result<String, Failed> {
    match dataset.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => Ok(
            format!("/api/v1/datasets/{}/{}/{rest}", segment(ns), segment(name)),
        ),
        _ => Err(format!("{dataset:?} is not a dataset: give it as namespace/name").into()),
    }
}

/// What a path segment keeps as it is: letters, digits and `-._~` (RFC 3986's unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` as one path segment of a URL.
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// How many lines of a log were printed: each whole line counts one, and the server's
/// `[N earlier lines are not kept]` counts N.
#[derive(Default)]
struct Seen {
    lines: u64,
    partial: Vec<u8>,
}

impl Seen {
    fn read(&mut self, piece: &[u8]) {
        self.partial.extend_from_slice(piece);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            let lost = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(" earlier lines are not kept]"))
                .and_then(|n| n.parse::<u64>().ok());
            self.lines += lost.unwrap_or(1);
        }
    }
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// The answer to a request, or the server's refusal as an error.
    async fn send(&self, method: reqwest::Method, path: &str) -> Result<reqwest::Response, Failed> {
        let r = self
            .request(method, path)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.base))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("no message");
        Err(match body["request_id"].as_str() {
            Some(id) => format!("{status}: {message} (request {id})"),
            None => format!("{status}: {message}"),
        }
        .into())
    }

    async fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, Failed> {
        Ok(self.send(method, path).await?.json().await?)
    }

    /// Prints run `id`'s log, as it grows with `follow`: a follow the server ends while the run
    /// goes on is taken up again from the lines printed.
    async fn log(&self, dataset: &str, id: i64, follow: bool) -> Result<(), Failed> {
        let mut seen = Seen::default();
        let mut last = !follow;
        loop {
            let at = path(
                dataset,
                &format!("runs/{id}/log?follow={}&from={}", !last, seen.lines),
            )?;
            let mut r = self.send(reqwest::Method::GET, &at).await?;
            while let Some(piece) = r.chunk().await? {
                let mut out = std::io::stdout().lock();
                out.write_all(&piece)?;
                out.flush()?;
                seen.read(&piece);
            }
            if last {
                return Ok(());
            }
            let run = self
                .call(reqwest::Method::GET, &path(dataset, &format!("runs/{id}"))?)
                .await?;
            // Ended: once more, for what it wrote since the follow ended.
            last = !matches!(run["state"].as_str(), Some("queued" | "running"));
        }
    }

    fn print_jobs(&self, jobs: &Value) -> Result<(), Failed> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(jobs)?);
            return Ok(());
        }
        for j in jobs.as_array().into_iter().flatten() {
            let out = &j["output"];
            let triggers: Vec<String> = j["triggers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| match t.as_str() {
                    Some(s) => s.to_owned(),
                    None => t.to_string(),
                })
                .collect();
            println!(
                "{}\t{}@{}\t{}",
                j["name"].as_str().unwrap_or_default(),
                out["dataset"].as_str().unwrap_or_default(),
                out["branch"].as_str().unwrap_or("main"),
                if triggers.is_empty() {
                    "manual".to_owned()
                } else {
                    triggers.join(",")
                }
            );
        }
        Ok(())
    }

    fn print_runs(&self, runs: &Value) -> Result<(), Failed> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(runs)?);
            return Ok(());
        }
        for r in runs.as_array().into_iter().flatten() {
            self.print_run(r);
        }
        Ok(())
    }

    /// One line: id, job, state, cause, who, then the output and revision (and the merge request
    /// it opened) or the error.
    fn print_run(&self, r: &Value) {
        if self.json {
            println!("{r}");
            return;
        }
        let what = match (r["output_revision"].as_str(), r["error"].as_str()) {
            (_, Some(e)) => e.to_owned(),
            (Some(rev), None) => match r["merge_request"].as_i64() {
                Some(n) => format!(
                    "{} {rev} (merge request #{n})",
                    r["output"].as_str().unwrap_or_default()
                ),
                None => format!("{} {rev}", r["output"].as_str().unwrap_or_default()),
            },
            (None, None) => String::new(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{what}",
            r["id"],
            r["job"].as_str().unwrap_or_default(),
            r["state"].as_str().unwrap_or_default(),
            r["cause"].as_str().unwrap_or_default(),
            r["started_by"].as_str().unwrap_or_default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_across_pieces_and_the_lost_ones() {
        let mut seen = Seen::default();
        seen.read(b"[500 earlier lines are not kept]\nline 5");
        seen.read(b"00\nline 501\n");
        assert_eq!(seen.lines, 502);
        assert_eq!(segment("a-b.c_d~e f/g"), "a-b.c_d~e%20f%2Fg");
    }
}
