//! Instances per (user, app): one start however many requests arrive at once (the others wait on
//! its status), activity that keeps an instance alive, idle instances stopped by [`Supervisor::cull`],
//! a limit of live instances per user, and a failed start that shows its error and log until
//! the next request tries again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::process::Instance;

/// Where an instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    Ready { port: u16 },
    Failed { error: String, log: Vec<String> },
}

/// Why an instance was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{user} already runs {limit} app instances: stop one first")]
pub struct LimitReached {
    pub user: String,
    pub limit: usize,
}

struct Slot {
    status: watch::Sender<Status>,
    instance: Arc<tokio::sync::Mutex<Option<Instance>>>,
    active: Mutex<Instant>,
    idle: Duration,
}

/// The instances of one server.
pub struct Supervisor {
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    per_user: usize,
}

type Key = (String, String);

impl Supervisor {
    /// A supervisor allowing `per_user` live (starting or ready) instances per user.
    pub fn new(per_user: usize) -> Supervisor {
        Supervisor {
            slots: Mutex::new(HashMap::new()),
            per_user: per_user.max(1),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status of `user`'s `app`, if it was ever asked for.
    pub fn status(&self, user: &str, app: &str) -> Option<Status> {
        let key = (user.to_owned(), app.to_owned());
        self.slots().get(&key).map(|s| s.status.borrow().clone())
    }

    /// The instance's status to wait on, starting it with `start` unless it is starting or
    /// ready already (then `start` is not called). Counts as activity.
    pub fn ensure<F, Fut>(
        &self,
        user: &str,
        app: &str,
        idle: Duration,
        start: F,
    ) -> Result<watch::Receiver<Status>, LimitReached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Instance, u16), (String, Vec<String>)>> + Send + 'static,
    {
        let key = (user.to_owned(), app.to_owned());
        let mut slots = self.slots();
        if let Some(slot) = slots.get(&key) {
            if !matches!(*slot.status.borrow(), Status::Failed { .. }) {
                *slot.active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                return Ok(slot.status.subscribe());
            }
        }
        let live = slots
            .iter()
            .filter(|((u, a), s)| {
                u == user && a != app && !matches!(*s.status.borrow(), Status::Failed { .. })
            })
            .count();
        if live >= self.per_user {
            return Err(LimitReached {
                user: user.to_owned(),
                limit: self.per_user,
            });
        }
        let (tx, rx) = watch::channel(Status::Starting);
        let slot = Arc::new(Slot {
            status: tx,
            instance: Arc::new(tokio::sync::Mutex::new(None)),
            active: Mutex::new(Instant::now()),
            idle,
        });
        slots.insert(key, slot.clone());
        drop(slots);
        let starting = start();
        tokio::spawn(async move {
            let status = match starting.await {
                Ok((instance, port)) => {
                    *slot.instance.lock().await = Some(instance);
                    Status::Ready { port }
                }
                Err((error, log)) => Status::Failed { error, log },
            };
            slot.status.send_replace(status);
        });
        Ok(rx)
    }

    /// Records traffic to `user`'s `app` (requests, websocket frames).
    pub fn touch(&self, user: &str, app: &str) {
        let key = (user.to_owned(), app.to_owned());
        if let Some(slot) = self.slots().get(&key) {
            *slot.active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }

    /// Stops the ready instances idle past their timeout; the (user, app) pairs stopped.
    pub async fn cull(&self) -> Vec<Key> {
        let idle: Vec<(Key, Arc<Slot>)> = self
            .slots()
            .iter()
            .filter(|(_, s)| {
                matches!(*s.status.borrow(), Status::Ready { .. })
                    && s.active.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= s.idle
            })
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        for (key, _) in &idle {
            self.stop(&key.0, &key.1).await;
        }
        idle.into_iter().map(|(k, _)| k).collect()
    }

    /// Stops `user`'s `app` (uninstall, idle, shutdown) and forgets it.
    pub async fn stop(&self, user: &str, app: &str) {
        let key = (user.to_owned(), app.to_owned());
        let Some(slot) = self.slots().remove(&key) else {
            return;
        };
        let instance = slot.instance.lock().await.take();
        if let Some(instance) = instance {
            instance.stop(Duration::from_secs(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::process::{free_port, wait_healthy, Launch};

    fn server(
        dir: &std::path::Path,
    ) -> impl Future<Output = Result<(Instance, u16), (String, Vec<String>)>> {
        let port = free_port().unwrap();
        let launch = Launch {
            command: "python3".into(),
            args: vec![
                "-m".into(),
                "http.server".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
            ],
            env: Vec::new(),
            workdir: dir.to_owned(),
            log_lines: 50,
            memory: None,
        };
        async move {
            let mut i = Instance::start(&launch).map_err(|e| (e.to_string(), Vec::new()))?;
            let mut ended = None;
            if wait_healthy(port, "/", Duration::from_secs(20), || {
                ended = i.exited();
                ended.is_none()
            })
            .await
            {
                Ok((i, port))
            } else {
                Err((
                    format!("the app did not start ({ended:?})"),
                    i.log().lines(),
                ))
            }
        }
    }

    async fn ready(mut rx: watch::Receiver<Status>) -> Status {
        rx.wait_for(|s| *s != Status::Starting)
            .await
            .unwrap()
            .clone()
    }

    #[tokio::test]
    async fn concurrent_requests_start_once_idle_stops_and_limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        let sup = Arc::new(Supervisor::new(1));
        let starts = Arc::new(AtomicUsize::new(0));
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (starts, d) = (starts.clone(), dir.path().to_owned());
            let rx = sup
                .ensure("alice", "web", Duration::from_millis(300), move || {
                    starts.fetch_add(1, Ordering::SeqCst);
                    server(&d)
                })
                .unwrap();
            waits.push(tokio::spawn(ready(rx)));
        }
        let mut ports = Vec::new();
        for w in waits {
            match w.await.unwrap() {
                Status::Ready { port } => ports.push(port),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert!(ports.windows(2).all(|p| p[0] == p[1]));
        // One live instance per user here: a second app is refused; another user is not.
        let d = dir.path().to_owned();
        assert!(sup
            .ensure("alice", "other", Duration::from_secs(60), || server(&d))
            .is_err());
        // Activity keeps it; idleness stops it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        sup.touch("alice", "web");
        assert!(sup.cull().await.is_empty());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(sup.cull().await, [("alice".to_owned(), "web".to_owned())]);
        assert!(!wait_healthy(ports[0], "/", Duration::from_millis(300), || true).await);
        assert_eq!(sup.status("alice", "web"), None);
    }

    #[tokio::test]
    async fn a_failed_start_shows_its_log_and_the_next_request_tries_again() {
        let dir = tempfile::tempdir().unwrap();
        let sup = Supervisor::new(2);
        let crash = || async {
            let launch = Launch {
                command: "sh".into(),
                args: vec!["-c".into(), "echo no such module >&2; exit 1".into()],
                env: Vec::new(),
                workdir: std::env::temp_dir(),
                log_lines: 10,
                memory: None,
            };
            let mut i = Instance::start(&launch).map_err(|e| (e.to_string(), Vec::new()))?;
            while i.exited().is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<(Instance, u16), _>(("the app exited".to_owned(), i.log().lines()))
        };
        let rx = sup
            .ensure("bob", "web", Duration::from_secs(60), crash)
            .unwrap();
        match ready(rx).await {
            Status::Failed { log, .. } => assert_eq!(log, ["no such module"]),
            other => panic!("{other:?}"),
        }
        let d = dir.path().to_owned();
        let rx = sup
            .ensure("bob", "web", Duration::from_secs(60), || server(&d))
            .unwrap();
        assert!(matches!(ready(rx).await, Status::Ready { .. }));
        sup.stop("bob", "web").await;
    }
}
