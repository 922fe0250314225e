//! The command line: one clap tree for `strata serve`, the `strata admin …` commands, the
//! `strata jobs …` commands (a client of a running server) and the `strata hook …` commands git
//! runs. `main.rs` parses it and dispatches.

use clap::{Parser, Subcommand};

use strata_core::config::Config;

pub mod admin;
pub mod jobs;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Git-LFS-backed versioned storage server"
)]
pub struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one object per line, with
    /// the request id) for a log pipeline.
    #[arg(
        long,
        env = "STRATA_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Config),
    /// Bring the database schema up to date and exit (`serve` does it too, under the database's
    /// migration lock); refuses a schema newer than this strata knows.
    Migrate(Config),
    /// Bootstrap and manage users, repositories and tokens without the web UI.
    Admin {
        #[command(flatten)]
        config: Config,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// A dataset's jobs on a running server, over its REST API: list, run (and follow), runs,
    /// show, log, cancel.
    Jobs {
        /// The server's URL.
        #[arg(long, env = "STRATA_URL", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// A personal access token (`strata admin token`, or the settings page); without one,
        /// anonymous.
        #[arg(long, env = "STRATA_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Print what the server answered as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: jobs::JobsCommand,
    },
    /// git hooks that strata installs for pushes (not for direct use).
    #[command(hide = true)]
    Hook {
        #[command(subcommand)]
        hook: HookCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Refuse a push whose LFS pointers name objects not uploaded to the dataset.
    PreReceive,
    /// With `--refs sql`: move the pushed refs in the ledger (git's `reference-transaction`).
    ReferenceTransaction { state: String },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (their username is also their namespace).
    CreateUser {
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Site administrator: may do anything to any repository.
        #[arg(long)]
        admin: bool,
    },
    /// Delete an account: its app instances stop and their storage is destroyed, datasets it
    /// made in organisations pass to another owner. Refused while it owns datasets of its own,
    /// owns an organisation alone, or is the last site admin.
    DeleteUser {
        username: String,
        /// The username typed again.
        #[arg(long)]
        confirm: String,
    },
    /// Print a namespace's stored bytes (unique objects), its quota and each dataset's bytes.
    Usage { namespace: String },
    /// Set a namespace's storage quota in bytes (`--default`: back to --quota-bytes).
    Quota {
        namespace: String,
        #[arg(long, conflicts_with = "default", required_unless_present = "default")]
        bytes: Option<u64>,
        #[arg(long)]
        default: bool,
    },
    /// Collect garbage: delete the objects no ref reaches within each dataset's retention
    /// (`--dry-run`: only print what would go and why).
    Gc {
        #[arg(long)]
        dry_run: bool,
        /// Seconds between marking an object and deleting it (default: --gc-grace-secs); 0
        /// deletes what is unreachable now.
        #[arg(long)]
        grace_secs: Option<u64>,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
        /// How gently it runs: after each piece of work it waits this many times as long as the
        /// work took (0: flat out, as in a maintenance window).
        #[arg(long, default_value_t = 3.0)]
        pace: f64,
    },
    /// Erase files or folders from a dataset's whole history (cannot be undone): prints the
    /// report (revisions rewritten, refs moved, objects removed, key versions destroyed).
    Erase {
        /// `{namespace}/{name}`
        dataset: String,
        /// A file or folder to erase (repeat for more).
        #[arg(long = "path", required_unless_present = "resource")]
        paths: Vec<String>,
        /// Erase rows of this table (a CSV resource with a primaryKey) instead of files.
        #[arg(long, conflicts_with = "paths", requires = "keys")]
        resource: Option<String>,
        /// A row's primary key as JSON, e.g. '{"id": 7}' (repeat for more).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// The dataset's `{namespace}/{name}` typed again.
        #[arg(long)]
        confirm: String,
    },
    /// Create a repository `{ns}/{name}` owned by the user `ns` (or by --owner).
    CreateRepo {
        /// `{namespace}/{name}`
        path: String,
        /// public (anyone may read) or private.
        #[arg(long, default_value = "private")]
        visibility: String,
        /// Owner username (default: the namespace).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Print a new personal access token for a user, or with --jwt a signed JWT.
    Token {
        /// The user the personal access token belongs to (not needed with --jwt).
        #[arg(long)]
        user: Option<String>,
        /// Name of the personal access token, for revoking it later (default: `cli-` and a
        /// random suffix). A user's live tokens have distinct names.
        #[arg(long)]
        name: Option<String>,
        /// Space-separated scopes, e.g. "obj:acme/survey/*:read" ("*": all the user's rights).
        #[arg(long, default_value = "*")]
        scopes: String,
        /// Days until a personal access token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
        /// Issue an RS256 JWT instead of a personal access token.
        #[arg(long)]
        jwt: bool,
        /// `sub` of the JWT (default: the --user, or "admin-cli").
        #[arg(long)]
        sub: Option<String>,
        /// Lifetime of the JWT in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Revoke a user's personal access token by name.
    RevokeToken {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
    /// Set a user's password for the browser login (read from standard input).
    SetPassword { username: String },
    /// Encryption at rest: a new version of a dataset's data key, which new objects are sealed
    /// with; --reseal also re-seals every object sealed before (resumable).
    RotateDataKey {
        /// The dataset, `namespace/name`.
        dataset: String,
        #[arg(long)]
        reseal: bool,
    },
    /// Encryption at rest: wrap every data key under a new master key (generated into the file
    /// when it does not exist). No object is touched; then restart strata with that key.
    RotateMasterKey {
        /// The new master key's file (64 hex digits).
        #[arg(long)]
        new_key_file: std::path::PathBuf,
    },
    /// Print a one-time invitation code for `--signup invite`.
    Invite {
        /// The administrator the invitation comes from.
        #[arg(long)]
        by: String,
        /// Days until the code expires.
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
}

impl Cli {
    #[cfg(test)]
    fn serve_config(self) -> Option<Config> {
        match self.command {
            Command::Serve(c) => Some(c),
            Command::Migrate(_)
            | Command::Admin { .. }
            | Command::Jobs { .. }
            | Command::Hook { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser};
    use strata_core::config::StorageBackend;

    /// `deploy/strata.env.example` only names real settings, with values the server accepts.
    #[test]
    fn example_env_file_is_valid() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve");
        let mut args = vec!["strata".to_owned(), "serve".to_owned()];
        let text = include_str!("../../deploy/strata.env.example");
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').expect("KEY=value");
            if key == "STRATA_LOG" {
                continue; // read by the log filter, not by clap
            }
            let arg = serve
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == key))
                .unwrap_or_else(|| panic!("{key} is not a setting of `strata serve`"));
            let long = arg.get_long().expect("long flag");
            if arg.get_action().takes_values() {
                args.push(format!("--{long}={value}"));
            } else if ["true", "1", "yes", "on"].contains(&value) {
                args.push(format!("--{long}"));
            } else {
                assert!(
                    ["false", "0", "no", "off"].contains(&value),
                    "{key}={value}"
                );
            }
        }
        let parsed = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let config = parsed.serve_config().expect("serve");
        assert_eq!(config.storage, StorageBackend::S3);
        assert!(config.s3_path_style && config.s3_checksum_pinning);
        assert!(config.database_url.unwrap().starts_with("postgres://"));
    }
}
