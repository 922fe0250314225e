//! The child processes strata starts for a request or a background job (`git http-backend` and
//! what it runs in turn, `git gc`). Each starts in a process group of its own, so that the
//! processes it starts (receive-pack, index-pack, the push hooks) end with it:
//!
//! - a [`Group`] dropped before its leader was reaped (the request is over: the client went
//!   away, its body failed, the response was dropped) kills the whole group (SIGKILL), and the
//!   leader is reaped in the background;
//! - a [`Killer`] ends a group from elsewhere (the task feeding a request body into it);
//! - at shutdown, [`Children::shut`] kills every group whose leader is still running and refuses
//!   new ones.
//!
//! A group is only signalled while its leader is not yet reaped: until then its id cannot be
//! given to another process.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// The process groups started and not yet reaped; shared by the whole server.
#[derive(Debug, Clone, Default)]
pub struct Children(Arc<Mutex<Registry>>);

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    running: HashMap<u64, Pid>,
    /// Set at shutdown: nothing new starts.
    shut: bool,
}

impl Children {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `cmd` as the leader of a new process group.
    pub fn spawn(&self, cmd: &mut Command) -> std::io::Result<Group> {
        cmd.process_group(0).kill_on_drop(true);
        // Under the lock: a shutdown cannot miss a group starting meanwhile.
        let mut registry = self.registry();
        if registry.shut {
            return Err(std::io::Error::other("the server is shutting down"));
        }
        let child = cmd.spawn()?;
        let pid = child
            .id()
            .and_then(|id| Pid::from_raw(id as i32))
            .ok_or_else(|| std::io::Error::other("the process has no id"))?;
        let key = registry.next;
        registry.next += 1;
        registry.running.insert(key, pid);
        Ok(Group {
            child,
            killer: Killer {
                children: self.clone(),
                key,
            },
            reaped: false,
        })
    }

    /// Kills every group still running and refuses new ones (shutdown). How many were killed.
    pub fn shut(&self) -> usize {
        let mut registry = self.registry();
        registry.shut = true;
        for pid in registry.running.values() {
            let _ = kill_process_group(*pid, Signal::KILL);
        }
        registry.running.len()
    }

    /// How many groups are running.
    pub fn running(&self) -> usize {
        self.registry().running.len()
    }
}

/// Ends one group from anywhere; does nothing once its leader was reaped.
#[derive(Debug, Clone)]
pub struct Killer {
    children: Children,
    key: u64,
}

impl Killer {
    pub fn kill(&self) {
        if let Some(pid) = self.children.registry().running.get(&self.key) {
            let _ = kill_process_group(*pid, Signal::KILL);
        }
    }

    fn forget(&self) {
        self.children.registry().running.remove(&self.key);
    }
}

/// A running process group: its leader's pipes, its end. Dropped before [`Group::wait`] saw the
/// leader end, the group is killed.
#[derive(Debug)]
pub struct Group {
    child: Child,
    killer: Killer,
    reaped: bool,
}

impl Group {
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    pub fn killer(&self) -> Killer {
        self.killer.clone()
    }

    /// Waits for the leader to end, and reaps it.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.reaped = true;
            self.killer.forget();
        }
        status
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            self.killer.kill();
        }
        self.killer.forget();
        // The leader itself goes with `kill_on_drop`: tokio reaps it in the background.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether process `pid` exists (a zombie counts).
    fn exists(pid: i32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    async fn gone(pid: i32) -> bool {
        for _ in 0..400 {
            if !exists(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// A shell leading a new group, with a grandchild: the group, the two pids.
    async fn shell(children: &Children) -> (Group, i32, i32) {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 600 & echo $!; wait"])
            .stdout(std::process::Stdio::piped());
        let mut group = children.spawn(&mut cmd).unwrap();
        let leader = group.child.id().unwrap() as i32;
        let mut line = String::new();
        tokio::io::BufReader::new(group.stdout().unwrap())
            .read_line(&mut line)
            .await
            .unwrap();
        (group, leader, line.trim().parse().unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_group_dies_whole_and_is_reaped() {
        let children = Children::default();
        let (group, leader, grandchild) = shell(&children).await;
        assert_eq!(children.running(), 1);
        drop(group);
        assert!(
            gone(leader).await,
            "the leader {leader} was not killed and reaped"
        );
        assert!(
            gone(grandchild).await,
            "the grandchild {grandchild} outlived its group"
        );
        assert_eq!(children.running(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shut_kills_every_group_and_refuses_new_ones() {
        let children = Children::default();
        let (mut group, leader, grandchild) = shell(&children).await;
        assert_eq!(children.shut(), 1);
        assert!(!group.wait().await.unwrap().success());
        assert!(gone(leader).await && gone(grandchild).await);
        let refused = children.spawn(&mut Command::new("true"));
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn a_finished_group_is_not_signalled() {
        let children = Children::default();
        let mut group = children.spawn(&mut Command::new("true")).unwrap();
        assert!(group.wait().await.unwrap().success());
        assert_eq!(children.running(), 0);
        drop(group);
    }
}
