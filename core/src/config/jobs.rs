//! `--jobs-*`: the settings of the jobs datasets declare (`crate::jobs`): the interpreters their
//! scripts may run with, and each run's limits.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;

/// The jobs' settings, flattened into [`super::Config`].
#[derive(Debug, Clone, Args)]
pub struct JobsConfig {
    /// An interpreter jobs may run their scripts with, `NAME=PATH` (`python=/usr/bin/python3`);
    /// repeat it or separate them with commas. A job names the interpreter by `NAME`. Without
    /// any, jobs are declared and kept but do not run.
    #[arg(
        long = "jobs-interpreter",
        env = "STRATA_JOBS_INTERPRETERS",
        value_delimiter = ','
    )]
    pub jobs_interpreters: Vec<Interpreter>,

    /// The longest a run may take, in seconds (a job may ask for less); then it is stopped and
    /// marked failed.
    #[arg(long, env = "STRATA_JOBS_TIMEOUT_SECS", default_value_t = 3600)]
    pub jobs_timeout_secs: u64,

    /// The most memory (address space) a run's process may take, in MiB (a job may ask for
    /// less).
    #[arg(long, env = "STRATA_JOBS_MEMORY_MB", default_value_t = 4096)]
    pub jobs_memory_mb: u64,

    /// How many runs this server runs at once; the others wait their turn.
    #[arg(long, env = "STRATA_JOBS_MAX_RUNNING", default_value_t = 2)]
    pub jobs_max_running: usize,

    /// The most bytes a run reads from its inputs, and the most it writes, in MiB each.
    #[arg(long, env = "STRATA_JOBS_MAX_MB", default_value_t = 10240)]
    pub jobs_max_mb: u64,

    /// The shortest time between two runs a job's schedule starts, in seconds: a schedule that
    /// fires more often waits this long.
    #[arg(long, env = "STRATA_JOBS_SCHEDULE_MIN_SECS", default_value_t = 60)]
    pub jobs_schedule_min_secs: u64,
}

/// An interpreter jobs may use: its name in a job, and the executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub name: String,
    pub path: PathBuf,
}

impl FromStr for Interpreter {
    type Err = String;

    fn from_str(s: &str) -> Result<Interpreter, String> {
        let Some((name, path)) = s.split_once('=') else {
            return Err(format!(
                "{s:?}: an interpreter is NAME=PATH (python=/usr/bin/python3)"
            ));
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !name_ok {
            return Err(format!(
                "{name:?}: an interpreter's name is letters, digits, '_', '.' and '-'"
            ));
        }
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(format!(
                "{}: the interpreter's path must be absolute",
                path.display()
            ));
        }
        Ok(Interpreter {
            name: name.to_owned(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_are_name_and_absolute_path() {
        let i: Interpreter = "python=/usr/bin/python3".parse().unwrap();
        assert_eq!(
            (i.name.as_str(), i.path.to_str()),
            ("python", Some("/usr/bin/python3"))
        );
        assert!("python".parse::<Interpreter>().is_err());
        assert!("python=python3".parse::<Interpreter>().is_err());
        assert!("py thon=/usr/bin/python3".parse::<Interpreter>().is_err());
    }
}
