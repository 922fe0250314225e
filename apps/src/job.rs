//! A job: a command declared in a dataset's `datapackage.json` (its `jobs` object, keyed by the
//! job's name) that runs to completion on fixed revisions of its inputs and commits what it
//! wrote as one revision of its output. Validated here, with each refusal naming the field
//! (`jobs.clean.inputs[0].dataset: …`); run by strata's core.
//!
//! ```json
//! "jobs": {
//!   "clean": {
//!     "inputs": [{"dataset": "alice/raw", "branch": "main", "paths": ["*.csv"], "as": "raw"}],
//!     "run": {"interpreter": "python", "script": "jobs/clean.py", "args": ["{inputs}/raw", "{output}"]},
//!     "params": {"sep": ","},
//!     "output": {"dataset": "alice/clean", "branch": "main", "path": "cleaned", "merge_request": false},
//!     "triggers": ["push"],
//!     "limits": {"timeout_secs": 600, "memory_mb": 1024}
//!   }
//! }
//! ```
//!
//! `script` is a file of the declaring dataset; `interpreter` a name the server allows (its
//! `--jobs-interpreter` list, checked when a run starts). `args` may use `{inputs}` (the folder
//! holding one folder per input, named by its `as`), `{output}` (the folder whose files become
//! the output) and `{script}`; each param reaches the process as `STRATA_PARAM_<NAME>`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// At most this many jobs in one dataset, and inputs in one job.
pub const MOST_JOBS: usize = 16;
pub const MOST_INPUTS: usize = 16;
/// The placeholders of `run.args`.
pub const ARG_PLACEHOLDERS: [&str; 4] = ["inputs", "output", "script", "changes"];
/// The most a run may be given: a day, 64 GiB.
pub const LONGEST_SECS: u64 = 86_400;
pub const MOST_MEMORY_MB: u64 = 65_536;

/// A validated job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Its name: the key in `jobs` (not in the JSON of the job itself).
    #[serde(skip)]
    pub name: String,
    pub inputs: Vec<Input>,
    pub run: Run,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    pub output: Output,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub limits: Limits,
    /// Whether a run is given only what changed since the job's last success (its inputs'
    /// added and modified files, and a list of every change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incremental: bool,
}

/// A dataset the job reads, at a branch, only the files its globs match (every file without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub dataset: String,
    #[serde(default = "main")]
    pub branch: String,
    #[serde(default)]
    pub paths: Vec<String>,
    /// Its folder's name under `{inputs}` (the dataset's name without one).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl Input {
    /// Its folder's name under `{inputs}`.
    pub fn folder(&self) -> &str {
        match &self.alias {
            Some(a) => a,
            None => self.dataset.rsplit('/').next().unwrap_or(&self.dataset),
        }
    }
}

/// What runs: a script of the declaring dataset, by an interpreter the server allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// `process` (the only runner jobs have so far).
    #[serde(default = "process")]
    pub runner: String,
    pub interpreter: String,
    pub script: String,
    #[serde(default)]
    pub args: Vec<String>,
}

/// Where the output goes: the files the run wrote, under `path` of `branch` of `dataset`; with
/// `merge_request`, on a branch of their own (`job-<name>-run-<id>`, made from `branch`'s head)
/// with a merge request into `branch`, for a person to review and merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub dataset: String,
    #[serde(default = "main")]
    pub branch: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge_request: bool,
}

/// What starts a run besides a person asking: a commit to an input's branch (`"push"`), or a
/// cron schedule (`{"schedule": "0 3 * * *"}`: five fields, or six with seconds first; UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Push,
    Manual,
    Schedule(String),
}

/// A schedule's cron expression, read as standard cron: five fields (minute, hour, day of the
/// month, month, day of the week with 0 and 7 for Sunday; a day matches when either day field
/// does), or six with seconds first.
pub fn cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) || expr.contains('@') {
        return Err(format!(
            "{expr:?}: five cron fields (minute hour day month weekday), or six with seconds first"
        ));
    }
    expr.parse().map_err(|e| format!("{expr:?}: {e}"))
}

/// A run's limits (the server's defaults where not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

fn main() -> String {
    "main".into()
}

fn process() -> String {
    "process".into()
}

impl Job {
    /// The cron expressions of its schedules.
    pub fn schedules(&self) -> impl Iterator<Item = &str> {
        self.triggers.iter().filter_map(|t| match t {
            Trigger::Schedule(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// Whether a commit to `branch` of `dataset` starts it.
    pub fn on_push(&self, dataset: &str, branch: &str) -> Option<&Input> {
        if !self.triggers.contains(&Trigger::Push) {
            return None;
        }
        self.inputs
            .iter()
            .find(|i| i.dataset.eq_ignore_ascii_case(dataset) && i.branch == branch)
    }
}

/// The jobs a datapackage (its JSON object) declares: none without a `jobs` key; a refusal that
/// names the field when one is wrong.
pub fn declared(package: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<Job>, String> {
    let Some(jobs) = package.get("jobs") else {
        return Ok(Vec::new());
    };
    let Some(jobs) = jobs.as_object() else {
        return Err("jobs: must be an object of jobs by name".into());
    };
    if jobs.len() > MOST_JOBS {
        return Err(format!("jobs: at most {MOST_JOBS} jobs in a dataset"));
    }
    let mut out = Vec::with_capacity(jobs.len());
    for (name, value) in jobs {
        check_job_name(name).map_err(|e| format!("jobs.{name}: {e}"))?;
        let mut job: Job =
            serde_json::from_value(value.clone()).map_err(|e| format!("jobs.{name}: {e}"))?;
        job.name = name.clone();
        check(&job)?;
        out.push(job);
    }
    Ok(out)
}

fn check_job_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !name.starts_with('-');
    match ok {
        true => Ok(()),
        false => Err("a job's name is 1 to 40 of a-z, 0-9, '_' and '-'".into()),
    }
}

fn check(job: &Job) -> Result<(), String> {
    let at = |field: &str| format!("jobs.{}.{field}", job.name);
    // An incremental run builds on the last one's output: a proposal nobody merged would lose it.
    if job.incremental && job.output.merge_request {
        return Err(format!(
            "{}: an incremental job writes its output, it cannot propose it",
            at("output.merge_request")
        ));
    }
    if job.inputs.is_empty() || job.inputs.len() > MOST_INPUTS {
        return Err(format!("{}: 1 to {MOST_INPUTS} inputs", at("inputs")));
    }
    let mut folders = BTreeSet::new();
    for (i, input) in job.inputs.iter().enumerate() {
        let field = |f: &str| at(&format!("inputs[{i}].{f}"));
        check_dataset(&input.dataset).map_err(|e| format!("{}: {e}", field("dataset")))?;
        check_branch(&input.branch).map_err(|e| format!("{}: {e}", field("branch")))?;
        if input.paths.len() > 64 {
            return Err(format!("{}: at most 64 globs", field("paths")));
        }
        for g in &input.paths {
            glob::Pattern::new(g).map_err(|e| format!("{}: {g:?}: {e}", field("paths")))?;
        }
        if let Some(a) = &input.alias {
            check_job_name(a)
                .map_err(|_| format!("{}: 1 to 40 of a-z, 0-9, '_' and '-'", field("as")))?;
        }
        if !folders.insert(input.folder().to_ascii_lowercase()) {
            return Err(format!(
                "{}: two inputs share the folder {:?}: name them apart with \"as\"",
                field("as"),
                input.folder()
            ));
        }
    }
    if job.run.runner != "process" {
        return Err(format!(
            "{}: {:?} is not a runner for jobs (only \"process\")",
            at("run.runner"),
            job.run.runner
        ));
    }
    let interpreter_ok = !job.run.interpreter.is_empty()
        && job.run.interpreter.len() <= 64
        && job
            .run
            .interpreter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !interpreter_ok {
        return Err(format!(
            "{}: the name of an interpreter the server allows (python, duckdb, …), not a path",
            at("run.interpreter")
        ));
    }
    check_path(&job.run.script).map_err(|e| format!("{}: {e}", at("run.script")))?;
    if job.run.args.len() > 64 {
        return Err(format!("{}: at most 64 arguments", at("run.args")));
    }
    for a in &job.run.args {
        if a.len() > 4096 || a.contains('\0') {
            return Err(format!(
                "{}: an argument is at most 4096 bytes, without NUL",
                at("run.args")
            ));
        }
        crate::manifest::check_names(a, &ARG_PLACEHOLDERS)
            .map_err(|e| format!("{}: {}", at("run.args"), e.0))?;
        if a.contains("{changes}") && !job.incremental {
            return Err(format!(
                "{}: {{changes}} is given to incremental jobs only (\"incremental\": true)",
                at("run.args")
            ));
        }
    }
    if job.params.len() > 64 {
        return Err(format!("{}: at most 64 params", at("params")));
    }
    for (k, v) in &job.params {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return Err(format!(
                "{}: a param's name is 1 to 64 of A-Z, a-z, 0-9 and '_'",
                at(&format!("params.{k}"))
            ));
        }
        if v.len() > 4096 || v.contains('\0') {
            return Err(format!(
                "{}: at most 4096 bytes, without NUL",
                at(&format!("params.{k}"))
            ));
        }
    }
    check_dataset(&job.output.dataset).map_err(|e| format!("{}: {e}", at("output.dataset")))?;
    check_branch(&job.output.branch).map_err(|e| format!("{}: {e}", at("output.branch")))?;
    if !job.output.path.is_empty() {
        check_path(&job.output.path).map_err(|e| format!("{}: {e}", at("output.path")))?;
    }
    // A job whose output is one of its inputs would start itself again on every run.
    if let Some(i) = job.on_push(&job.output.dataset, &job.output.branch) {
        return Err(format!(
            "{}: {}@{} is also an input it runs on: each run would start the next",
            at("output"),
            i.dataset,
            i.branch
        ));
    }
    if job.schedules().count() > 1 {
        return Err(format!("{}: one schedule per job", at("triggers")));
    }
    for (i, t) in job.triggers.iter().enumerate() {
        if let Trigger::Schedule(expr) = t {
            if expr.len() > 200 {
                return Err(format!(
                    "{}: at most 200 bytes",
                    at(&format!("triggers[{i}].schedule"))
                ));
            }
            let schedule = cron(expr)
                .map_err(|e| format!("{}: {e}", at(&format!("triggers[{i}].schedule"))))?;
            if schedule
                .find_next_occurrence(&chrono::Utc::now(), false)
                .is_err()
            {
                return Err(format!(
                    "{}: {expr:?} never fires",
                    at(&format!("triggers[{i}].schedule"))
                ));
            }
        }
    }
    if let Some(t) = job.limits.timeout_secs {
        if t == 0 || t > LONGEST_SECS {
            return Err(format!(
                "{}: 1 to {LONGEST_SECS} seconds",
                at("limits.timeout_secs")
            ));
        }
    }
    if let Some(m) = job.limits.memory_mb {
        if !(16..=MOST_MEMORY_MB).contains(&m) {
            return Err(format!(
                "{}: 16 to {MOST_MEMORY_MB} MiB",
                at("limits.memory_mb")
            ));
        }
    }
    Ok(())
}

/// `namespace/name`, each a name datasets may have.
fn check_dataset(s: &str) -> Result<(), String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !n.starts_with(['.', '-'])
    };
    match s.split_once('/') {
        Some((ns, name)) if name_ok(ns) && name_ok(name) => Ok(()),
        _ => Err(format!("{s:?} is not a dataset: namespace/name")),
    }
}

/// A branch name git takes (the refs checks run again when the run starts).
fn check_branch(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("//")
        && !s.contains("@{")
        && !s
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    match ok {
        true => Ok(()),
        false => Err(format!("{s:?} is not a branch name")),
    }
}

/// A file's path in a dataset: relative, `/`-separated, no `.` or `..` segments, not `.git`.
fn check_path(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && p.len() <= 1024
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
        && p.split('/')
            .all(|s| !matches!(s, "" | "." | "..") && !s.eq_ignore_ascii_case(".git"));
    match ok {
        true => Ok(()),
        false => Err(format!("{p:?} is not a path in a dataset")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn package(jobs: Value) -> serde_json::Map<String, Value> {
        json!({"name": "p", "resources": [], "jobs": jobs})
            .as_object()
            .unwrap()
            .clone()
    }

    fn clean() -> Value {
        json!({
            "inputs": [{"dataset": "alice/raw", "paths": ["*.csv"]}],
            "run": {"interpreter": "python", "script": "jobs/clean.py", "args": ["{inputs}/raw", "{output}"]},
            "params": {"sep": ","},
            "output": {"dataset": "alice/clean", "path": "cleaned"},
            "triggers": ["push"],
        })
    }

    #[test]
    fn a_job_is_read_with_its_defaults() {
        let jobs = declared(&package(json!({ "clean": clean() }))).unwrap();
        assert_eq!(jobs.len(), 1);
        let j = &jobs[0];
        assert_eq!(j.name, "clean");
        assert_eq!(j.inputs[0].branch, "main");
        assert_eq!(j.inputs[0].folder(), "raw");
        assert_eq!(j.run.runner, "process");
        assert!(j.on_push("Alice/Raw", "main").is_some());
        assert!(j.on_push("alice/raw", "dev").is_none());
        assert!(declared(&package(json!({}))).unwrap().is_empty());
        let none = json!({"name": "p"}).as_object().unwrap().clone();
        assert!(declared(&none).unwrap().is_empty());
    }

    #[test]
    fn each_refusal_names_its_field() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("inputs", json!([]), "jobs.clean.inputs:"),
            (
                "inputs",
                json!([{"dataset": "raw"}]),
                "jobs.clean.inputs[0].dataset:",
            ),
            (
                "inputs",
                json!([{"dataset": "a/b", "branch": "x..y"}]),
                "jobs.clean.inputs[0].branch:",
            ),
            (
                "inputs",
                json!([{"dataset": "a/b", "paths": ["[z"]}]),
                "jobs.clean.inputs[0].paths:",
            ),
            (
                "inputs",
                json!([{"dataset": "a/b"}, {"dataset": "c/b"}]),
                "jobs.clean.inputs[1].as:",
            ),
            (
                "run",
                json!({"interpreter": "/bin/sh", "script": "x.py"}),
                "jobs.clean.run.interpreter:",
            ),
            (
                "run",
                json!({"interpreter": "python", "script": "../x.py"}),
                "jobs.clean.run.script:",
            ),
            (
                "run",
                json!({"interpreter": "python", "script": "x.py", "args": ["{home}"]}),
                "jobs.clean.run.args:",
            ),
            (
                "run",
                json!({"runner": "kubernetes", "interpreter": "python", "script": "x.py"}),
                "jobs.clean.run.runner:",
            ),
            (
                "run",
                json!({"interpreter": "python"}),
                "jobs.clean: missing field `script`",
            ),
            ("params", json!({"a b": "1"}), "jobs.clean.params.a b:"),
            (
                "output",
                json!({"dataset": "alice/raw"}),
                "jobs.clean.output:",
            ),
            (
                "output",
                json!({"dataset": "alice/clean", "path": "/etc"}),
                "jobs.clean.output.path:",
            ),
            (
                "limits",
                json!({"timeout_secs": 0}),
                "jobs.clean.limits.timeout_secs:",
            ),
            (
                "limits",
                json!({"memory_mb": 1}),
                "jobs.clean.limits.memory_mb:",
            ),
            ("triggers", json!(["cron"]), "jobs.clean: unknown variant"),
            (
                "triggers",
                json!([{"schedule": "61 * * * *"}]),
                "jobs.clean.triggers[0].schedule:",
            ),
            (
                "triggers",
                json!([{"schedule": "* * *"}]),
                "jobs.clean.triggers[0].schedule:",
            ),
            (
                "triggers",
                json!([{"schedule": "0 0 30 2 *"}]),
                "jobs.clean.triggers[0].schedule:",
            ),
            (
                "triggers",
                json!([{"schedule": "0 3 * * *"}, {"schedule": "0 4 * * *"}]),
                "jobs.clean.triggers: one schedule",
            ),
            ("incremental", json!("yes"), "jobs.clean: invalid type"),
            (
                "run",
                json!({"interpreter": "python", "script": "x.py", "args": ["{changes}"]}),
                "jobs.clean.run.args: {changes}",
            ),
            ("surprise", json!(1), "jobs.clean: unknown field `surprise`"),
        ];
        for (field, value, expected) in cases {
            let mut job = clean();
            job[field] = value;
            let err = declared(&package(json!({ "clean": job }))).unwrap_err();
            assert!(err.starts_with(expected), "{field}: {err}");
        }
        // Standard cron's weekdays: 0 and 7 are Sunday, 1 Monday (2026-11-29 is a Sunday).
        let sunday = chrono::DateTime::parse_from_rfc3339("2026-11-29T00:00:00Z").unwrap();
        for (expr, next) in [
            ("0 3 * * 1", "2026-11-30T03:00:00+00:00"),
            ("0 3 * * 0", "2026-11-29T03:00:00+00:00"),
            ("0 3 * * 7", "2026-11-29T03:00:00+00:00"),
            ("30 0 1 * 1", "2026-11-30T00:30:00+00:00"),
        ] {
            let at = cron(expr)
                .unwrap()
                .find_next_occurrence(&sunday, false)
                .unwrap();
            assert_eq!(at.to_rfc3339(), next, "{expr}");
        }
        // Five fields are cron's, six have seconds first.
        for ok in ["0 3 * * *", "*/2 * * * * *", "0 0 * * MON-FRI"] {
            let mut job = clean();
            job["triggers"] = json!(["push", {"schedule": ok}]);
            let jobs = declared(&package(json!({ "clean": job }))).unwrap();
            assert_eq!(jobs[0].schedules().collect::<Vec<_>>(), [ok]);
        }
        let err = declared(&package(json!({"Clean!": clean()}))).unwrap_err();
        assert!(err.starts_with("jobs.Clean!:"), "{err}");
        let err = declared(&package(json!([1]))).unwrap_err();
        assert!(err.starts_with("jobs:"), "{err}");
        let many: serde_json::Map<String, Value> = (0..=MOST_JOBS)
            .map(|i| (format!("j{i}"), clean()))
            .collect();
        assert!(declared(&package(Value::Object(many))).is_err());
    }
}
