//! The process runner: one instance is one process group (so the processes it starts die with
//! it), started with a clean environment (only `PATH`, `HOME`, `LANG` and what the caller sets)
//! in its working directory, listening on a port of 127.0.0.1 it was given. Its stdout and stderr
//! lines are kept in a bounded buffer for its owner. With a [`Sandbox`] it runs under Landlock,
//! taken on between fork and exec, so not one instruction of it runs unconfined. It can be paused
//! (SIGSTOP to the group), resumed, and stopped: SIGTERM to the group, then SIGKILL after a
//! grace period.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::sandbox::{self, Sandbox};

/// What to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub command: String,
    pub args: Vec<String>,
    /// Variables beside `PATH`, `HOME` (the working directory) and `LANG`.
    pub env: Vec<(String, String)>,
    /// Its working directory (created if missing); also its `HOME`.
    pub workdir: PathBuf,
    /// How many log lines are kept.
    pub log_lines: usize,
    /// Its address space limit in bytes (`RLIMIT_AS`), if any.
    pub memory: Option<u64>,
    /// What it may not reach; `None` runs it unconfined (`--apps-process-sandbox off`).
    pub sandbox: Option<Sandbox>,
}

/// The last lines an instance wrote, oldest first, with how many it wrote in all.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<(VecDeque<String>, usize, u64)>>);

impl Log {
    fn new(capacity: usize) -> Log {
        Log(Arc::new(Mutex::new((VecDeque::new(), capacity.max(1), 0))))
    }

    fn push(&self, line: String) {
        let mut l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if l.0.len() == l.1 {
            l.0.pop_front();
        }
        l.2 += 1;
        // A line is kept to 4 KiB: one long line cannot take the buffer's memory.
        let mut line = line;
        if line.len() > 4096 {
            let mut cut = 4096;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        l.0.push_back(line);
    }

    /// How many lines were written, the ones no longer kept too.
    pub fn written(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).2
    }

    /// The lines kept and how many were written, read together.
    pub fn snapshot(&self) -> (Vec<String>, u64) {
        let l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (l.0.iter().cloned().collect(), l.2)
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .iter()
            .cloned()
            .collect()
    }
}

/// A running instance.
#[derive(Debug)]
pub struct Instance {
    child: Child,
    group: Pid,
    log: Log,
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Instance {
    /// Starts `launch` in a process group of its own.
    pub fn start(launch: &Launch) -> std::io::Result<Instance> {
        std::fs::create_dir_all(&launch.workdir)?;
        let mut cmd = Command::new(&launch.command);
        cmd.args(&launch.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &launch.workdir)
            .env("LANG", "C.UTF-8")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&launch.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(sandbox) = &launch.sandbox {
            // Made here, taken on in the child: between fork and exec nothing may allocate or
            // lock, and restricting itself is two system calls on a ready ruleset.
            let mut ruleset = Some(sandbox.ruleset().map_err(std::io::Error::other)?);
            // SAFETY: the closure runs in the forked child before exec. It only moves the ruleset
            // out of its Option and makes the prctl and landlock_restrict_self system calls
            // (`sandbox::enforce`); it touches no lock another thread of the parent could hold.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(move || match ruleset.take() {
                    Some(r) => sandbox::enforce(r),
                    None => Err(std::io::Error::other("the sandbox was taken on already")),
                });
            }
        }
        let mut child = cmd.spawn()?;
        let pid = child
            .id()
            .and_then(|id| Pid::from_raw(id as i32))
            .ok_or_else(|| std::io::Error::other("the process ended at once"))?;
        if let Some(bytes) = launch.memory {
            let limit = rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            };
            rustix::process::prlimit(Some(pid), rustix::process::Resource::As, limit)?;
        }
        let log = Log::new(launch.log_lines);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(keep_lines(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(keep_lines(err, log.clone()));
        }
        Ok(Instance {
            child,
            group: pid,
            log,
        })
    }

    /// The process group's id (the first process's id).
    pub fn pid(&self) -> i32 {
        self.group.as_raw_nonzero().get()
    }

    /// Its last log lines.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Freezes every process of the instance (SIGSTOP).
    pub fn pause(&self) -> std::io::Result<()> {
        Ok(kill_process_group(self.group, Signal::STOP)?)
    }

    /// Lets a paused instance run again (SIGCONT).
    pub fn resume(&self) -> std::io::Result<()> {
        Ok(kill_process_group(self.group, Signal::CONT)?)
    }

    /// Stops the instance and every process it started: SIGTERM (and SIGCONT, should it be
    /// paused), then SIGKILL to what is left after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        let _ = kill_process_group(self.group, Signal::TERM);
        let _ = kill_process_group(self.group, Signal::CONT);
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        // The leader may be gone while others of its group are not.
        let _ = kill_process_group(self.group, Signal::KILL);
        let _ = self.child.wait().await;
    }
}

async fn keep_lines(stream: impl AsyncRead + Unpin, log: Log) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.push(line);
    }
}

/// Waits until `127.0.0.1:port` answers an HTTP GET of `path` with a status below 500, for at
/// most `timeout`, or until `alive` says the instance ended. True when it answered.
pub async fn wait_healthy(
    port: u16,
    path: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if !alive() {
            return false;
        }
        if let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_secs(2), probe(port, path)).await
        {
            if status < 500 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// One HTTP/1.0 GET: the status code.
async fn probe(port: u16, path: &str) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).await?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(dir: &std::path::Path, script: &str) -> Launch {
        Launch {
            command: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("GREETING".into(), "hello".into())],
            workdir: dir.join("home"),
            log_lines: 3,
            memory: None,
            sandbox: None,
        }
    }

    fn alive(pid: i32) -> bool {
        // A zombie is not alive.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
    }

    #[tokio::test]
    async fn a_clean_environment_a_bounded_log_and_a_stop_that_takes_the_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("STRATA_SECRET_IN_PARENT", "leak");
        let script = "echo $GREETING; echo [$STRATA_SECRET_IN_PARENT]; pwd; echo four; \
                      sleep 300 & echo $! > grandchild; wait";
        let i = Instance::start(&launch(dir.path(), script)).unwrap();
        let pidfile = dir.path().join("home/grandchild");
        // However slowly the lines arrive: the last one, then the grandchild's pid.
        for _ in 0..3000 {
            let lines = i.log().lines();
            let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
            if pid.ends_with('\n') && lines.last().is_some_and(|l| l == "four") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let lines = i.log().lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "[]", "the parent's environment reached the app");
        assert!(lines[1].ends_with("/home"));
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let leader = i.pid();
        assert!(alive(grandchild) && alive(leader));
        i.stop(Duration::from_millis(500)).await;
        // SIGKILL is sent; the kernel takes its moment to end the process.
        for _ in 0..3000 {
            if !alive(grandchild) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(grandchild), "the grandchild outlived its instance");
        assert!(!alive(leader));
    }

    #[tokio::test]
    async fn pause_resume_and_health() {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().unwrap();
        let script = format!("exec python3 -m http.server {port} --bind 127.0.0.1");
        let mut i = Instance::start(&launch(dir.path(), &script)).unwrap();
        assert!(wait_healthy(port, "/", Duration::from_secs(20), || true).await);
        i.pause().unwrap();
        assert!(
            !wait_healthy(port, "/", Duration::from_millis(300), || true).await,
            "a paused app answered"
        );
        i.resume().unwrap();
        assert!(wait_healthy(port, "/", Duration::from_secs(5), || true).await);
        assert!(i.exited().is_none());
        i.stop(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn a_sandboxed_instance_reaches_its_own_and_nothing_it_is_denied() {
        crate::sandbox::check().expect("this test needs a kernel with Landlock");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for (path, text) in [
            ("keys/secret", "s"),
            ("tokens/me/token", "t"),
            ("tokens/other/token", "u"),
            ("apps/other/notes", "n"),
        ] {
            let p = data.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::write(dir.path().join("beside"), "b").unwrap();
        let script = r#"
            for f in "$D/keys/secret" "$D/tokens/other/token" "$D/apps/other/notes" \
                     "$D/tokens/me/token" "$B"; do
                if cat "$f" >/dev/null 2>&1; then echo "read $f"; else echo "refused $f"; fi
            done
            if touch "$D/new" 2>/dev/null; then echo "wrote data"; else echo "refused data"; fi
            if ls "$D" >/dev/null 2>&1; then echo "listed data"; else echo "refused list"; fi
            echo mine > mine && cat mine
        "#;
        let mut launch = launch(dir.path(), script);
        launch.workdir = data.join("apps/me");
        launch.log_lines = 20;
        launch.env = vec![
            ("D".into(), data.display().to_string()),
            ("B".into(), dir.path().join("beside").display().to_string()),
        ];
        launch.sandbox = Some(Sandbox {
            deny: vec![data.clone()],
            read_write: vec![data.join("apps/me")],
            read_only: vec![data.join("tokens/me")],
        });
        std::fs::create_dir_all(&launch.workdir).unwrap();
        let mut i = Instance::start(&launch).unwrap();
        for _ in 0..1200 {
            if i.exited().is_some() && i.log().lines().len() >= 8 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let d = data.display();
        let b = dir.path().join("beside");
        assert_eq!(
            i.log().lines(),
            [
                format!("refused {d}/keys/secret"),
                format!("refused {d}/tokens/other/token"),
                format!("refused {d}/apps/other/notes"),
                format!("read {d}/tokens/me/token"),
                format!("read {}", b.display()),
                "refused data".into(),
                "refused list".into(),
                "mine".into(),
            ]
        );
        assert!(!data.join("new").exists());
    }

    #[tokio::test]
    async fn a_crash_is_seen_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = Instance::start(&launch(dir.path(), "echo boom >&2; exit 3")).unwrap();
        let port = free_port().unwrap();
        let mut ended = None;
        let healthy = wait_healthy(port, "/", Duration::from_secs(5), || {
            ended = i.exited();
            ended.is_none()
        })
        .await;
        assert!(!healthy);
        assert_eq!(ended.and_then(|s| s.code()), Some(3));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(i.log().lines(), ["boom"]);
    }
}
