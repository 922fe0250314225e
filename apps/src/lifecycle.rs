//! Instances per (user, app): one start however many requests arrive at once (the others wait on
//! its status), activity that keeps an instance alive, idle instances stopped (or paused) by
//! [`Supervisor::cull`], a limit of live instances per user, and a failed start that shows its
//! error and log to the next request, after which the one after that tries again.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::process::{Instance, Log};

/// Where an instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Starting,
    /// It answers at `addr` (127.0.0.1 for a process, the Service's address on Kubernetes).
    Ready {
        addr: SocketAddr,
    },
    Failed {
        error: String,
        log: Vec<String>,
    },
}

/// A started instance, whatever runs it: a process group here ([`Instance`]) or a Deployment
/// (`crate::kube`).
pub trait Running: Send + 'static {
    /// Whether it ended by itself (a crashed process).
    fn ended(&mut self) -> bool;
    /// Freezes it; false if this runner cannot (then an idle instance is stopped instead).
    fn pause(&self) -> bool;
    fn resume(&self);
    /// Stops it, and everything it started.
    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// Whether other replicas may be serving it too (a Deployment): then an instance idle here
    /// is only forgotten here, and whoever sees the traffic of all replicas stops it.
    fn shared(&self) -> bool {
        false
    }
}

impl Running for Instance {
    fn ended(&mut self) -> bool {
        self.exited().is_some()
    }

    fn pause(&self) -> bool {
        Instance::pause(self).is_ok()
    }

    fn resume(&self) {
        let _ = Instance::resume(self);
    }

    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(Instance::stop(*self, Duration::from_secs(5)))
    }
}

/// What an idle instance becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnIdle {
    /// Stopped: its processes end; the next request starts it again.
    #[default]
    Stop,
    /// Paused (SIGSTOP): it keeps its memory and resumes at once on the next request; stopped
    /// after it stayed paused for ten idle timeouts.
    Pause,
}

/// Why an instance was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{user} already runs {limit} app instances: stop one first")]
pub struct LimitReached {
    pub user: String,
    pub limit: usize,
}

/// Where a starting instance puts its log as soon as its process runs, so that the starting
/// page can show the lines before it is ready.
#[derive(Debug, Clone, Default)]
pub struct LogSlot(Arc<Mutex<Option<Log>>>);

impl LogSlot {
    pub fn set(&self, log: Log) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(log);
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Log::lines)
            .unwrap_or_default()
    }
}

/// What a start gives back: the running instance and its address, or the error and its log.
pub type Started = Result<(Box<dyn Running>, SocketAddr), (String, Vec<String>)>;

struct Slot {
    status: watch::Sender<Status>,
    instance: Arc<tokio::sync::Mutex<Option<Box<dyn Running>>>>,
    log: LogSlot,
    active: Mutex<Instant>,
    since: Instant,
    idle: Duration,
    on_idle: OnIdle,
    paused: AtomicBool,
    /// A failure is shown to one request; the next one starts again.
    failure_shown: AtomicBool,
    /// Stopped while it was starting: the start, once done, stops what it started.
    cancelled: AtomicBool,
}

impl Slot {
    fn touch(&self) {
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    fn failed(&self) -> bool {
        matches!(*self.status.borrow(), Status::Failed { .. })
    }
}

/// One instance as listed (metrics, the owner's apps page).
#[derive(Debug, Clone)]
pub struct Listed {
    pub user: String,
    pub app: String,
    pub status: Status,
    pub paused: bool,
    pub up_for: Duration,
    pub idle_for: Duration,
}

/// The instances of one server.
pub struct Supervisor {
    slots: Mutex<HashMap<(String, String), Arc<Slot>>>,
    per_user: usize,
}

type Key = (String, String);

impl Supervisor {
    /// A supervisor allowing `per_user` live (starting, ready or paused) instances per user.
    pub fn new(per_user: usize) -> Supervisor {
        Supervisor {
            slots: Mutex::new(HashMap::new()),
            per_user: per_user.max(1),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, user: &str, app: &str) -> Option<Arc<Slot>> {
        self.slots()
            .get(&(user.to_owned(), app.to_owned()))
            .cloned()
    }

    /// The status of `user`'s `app`, if it was asked for since it last stopped.
    pub fn status(&self, user: &str, app: &str) -> Option<Status> {
        self.slot(user, app).map(|s| s.status.borrow().clone())
    }

    /// The log lines of `user`'s `app` (while it starts, runs, or after it failed).
    pub fn log(&self, user: &str, app: &str) -> Option<Vec<String>> {
        let slot = self.slot(user, app)?;
        let failed = match &*slot.status.borrow() {
            Status::Failed { log, .. } => Some(log.clone()),
            _ => None,
        };
        Some(failed.unwrap_or_else(|| slot.log.lines()))
    }

    /// Every instance, sorted by user and app.
    pub fn list(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = self
            .slots()
            .iter()
            .map(|((user, app), s)| Listed {
                user: user.clone(),
                app: app.clone(),
                status: s.status.borrow().clone(),
                paused: s.paused.load(Ordering::SeqCst),
                up_for: s.since.elapsed(),
                idle_for: s.idle_for(),
            })
            .collect();
        out.sort_by(|a, b| (&a.user, &a.app).cmp(&(&b.user, &b.app)));
        out
    }

    /// The instance's status to wait on, starting it with `start` unless it is starting or
    /// ready already (then `start` is not called), and resuming it if it is paused. Counts as
    /// activity. A failed start is answered once with its failure; the next call starts again.
    pub async fn ensure<F, Fut>(
        &self,
        user: &str,
        app: &str,
        idle: Duration,
        on_idle: OnIdle,
        start: F,
    ) -> Result<watch::Receiver<Status>, LimitReached>
    where
        F: FnOnce(LogSlot) -> Fut,
        Fut: Future<Output = Started> + Send + 'static,
    {
        let key = (user.to_owned(), app.to_owned());
        let existing = self.slots().get(&key).cloned();
        if let Some(slot) = existing {
            let retry = slot.failed() && slot.failure_shown.swap(true, Ordering::SeqCst);
            if !retry {
                slot.touch();
                if slot.paused.swap(false, Ordering::SeqCst) {
                    if let Some(i) = slot.instance.lock().await.as_ref() {
                        i.resume();
                    }
                }
                return Ok(slot.status.subscribe());
            }
        }
        let mut slots = self.slots();
        // Another call may have started it meanwhile.
        if let Some(slot) = slots.get(&key) {
            if !slot.failed() {
                return Ok(slot.status.subscribe());
            }
        }
        let live = slots
            .iter()
            .filter(|((u, a), s)| u == user && a != app && !s.failed())
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
            log: LogSlot::default(),
            active: Mutex::new(Instant::now()),
            since: Instant::now(),
            idle,
            on_idle,
            paused: AtomicBool::new(false),
            failure_shown: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        });
        slots.insert(key, slot.clone());
        drop(slots);
        let starting = start(slot.log.clone());
        tokio::spawn(async move {
            let status = match starting.await {
                Ok((instance, _)) if slot.cancelled.load(Ordering::SeqCst) => {
                    instance.stop().await;
                    Status::Failed {
                        error: "stopped while it was starting".into(),
                        log: Vec::new(),
                    }
                }
                Ok((instance, addr)) => {
                    let mut held = slot.instance.lock().await;
                    // A stop may have come in while the lock was taken.
                    if slot.cancelled.load(Ordering::SeqCst) {
                        drop(held);
                        instance.stop().await;
                        Status::Failed {
                            error: "stopped while it was starting".into(),
                            log: Vec::new(),
                        }
                    } else {
                        *held = Some(instance);
                        Status::Ready { addr }
                    }
                }
                Err((error, log)) => Status::Failed { error, log },
            };
            slot.status.send_replace(status);
        });
        Ok(rx)
    }

    /// Records traffic to `user`'s `app` (requests, websocket frames).
    pub fn touch(&self, user: &str, app: &str) {
        if let Some(slot) = self.slot(user, app) {
            slot.touch();
        }
    }

    /// Pauses or stops the ready instances idle past their timeout, stops the ones paused for
    /// ten timeouts and the ones whose process ended; the (user, app) pairs stopped. Shared
    /// instances idle here are forgotten, not stopped ([`Running::shared`]).
    pub async fn cull(&self) -> Vec<Key> {
        let slots: Vec<(Key, Arc<Slot>)> = self
            .slots()
            .iter()
            .filter(|(_, s)| matches!(*s.status.borrow(), Status::Ready { .. }))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        let mut stopped = Vec::new();
        for (key, slot) in slots {
            let idle = slot.idle_for();
            let (ended, shared) = match slot.instance.lock().await.as_mut() {
                Some(i) => (i.ended(), i.shared()),
                None => (false, false),
            };
            if shared {
                if idle >= slot.idle {
                    self.forget(&key.0, &key.1);
                }
                continue;
            }
            let paused = slot.paused.load(Ordering::SeqCst);
            let mut stop = ended
                || (idle >= slot.idle && slot.on_idle == OnIdle::Stop)
                || (paused && idle >= slot.idle * 10);
            if !stop && idle >= slot.idle && !paused {
                // Marked first, so a request arriving now resumes it; checked again after, so
                // a request that came in between is not left waiting on a frozen process.
                slot.paused.store(true, Ordering::SeqCst);
                let held = slot.instance.lock().await;
                let froze = held.as_ref().is_some_and(|i| i.pause());
                if !froze {
                    slot.paused.store(false, Ordering::SeqCst);
                    stop = true; // a runner that cannot pause stops
                } else if slot.idle_for() < slot.idle {
                    slot.paused.store(false, Ordering::SeqCst);
                    if let Some(i) = held.as_ref() {
                        i.resume();
                    }
                }
            }
            if stop {
                self.stop(&key.0, &key.1).await;
                stopped.push(key);
            }
        }
        stopped
    }

    /// Stops `user`'s `app` (uninstall, idle, shutdown) and forgets it.
    pub async fn stop(&self, user: &str, app: &str) {
        let key = (user.to_owned(), app.to_owned());
        let Some(slot) = self.slots().remove(&key) else {
            return;
        };
        slot.cancelled.store(true, Ordering::SeqCst);
        let instance = slot.instance.lock().await.take();
        if let Some(instance) = instance {
            instance.stop().await;
        }
    }

    /// Records that a request showed the failure of `user`'s `app`: the next one starts again.
    pub fn failure_shown(&self, user: &str, app: &str) {
        if let Some(slot) = self.slot(user, app) {
            if slot.failed() {
                slot.failure_shown.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Forgets `user`'s `app` without stopping it (another replica may be serving it, or it is
    /// gone already): the next request starts or finds it again.
    pub fn forget(&self, user: &str, app: &str) {
        self.slots().remove(&(user.to_owned(), app.to_owned()));
    }

    /// Stops every instance (the server is shutting down).
    pub async fn stop_all(&self) {
        let keys: Vec<Key> = self.slots().keys().cloned().collect();
        for (user, app) in keys {
            self.stop(&user, &app).await;
        }
    }
}

#[cfg(test)]
mod tests;
