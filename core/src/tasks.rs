//! Tracked background work: every task the server starts (the hourly purge today; upload
//! clean-up, maintenance and app culling later) is spawned here, so that a shutdown can tell them
//! all to stop and wait for them, up to a deadline, instead of dropping them mid-write.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The server's background tasks and their stop signal.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Runs `work` until it finishes or the server stops. `work` gets the stop signal so it can
    /// finish what it is doing first; tasks that ignore it are dropped at the deadline.
    pub fn spawn<F, Fut>(&self, name: &'static str, work: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let fut = work(self.stop.clone());
        self.tracker.spawn(async move {
            fut.await;
            tracing::debug!(task = name, "background task ended");
        });
    }

    /// Runs `job` every `period` (the first time after one period) until the server stops.
    pub fn every<F, Fut>(&self, name: &'static str, period: Duration, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, move |stop| async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tokio::select! {
                    _ = tick.tick() => job().await,
                    () = stop.cancelled() => break,
                }
            }
        });
    }

    /// Tells every task to stop and waits for them, at most `deadline`. Whether all finished.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_stops_and_waits() {
        let tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tasks.spawn("polite", move |stop| async move {
            stop.cancelled().await;
            let _ = tx.send("finished its work");
        });
        tasks.spawn("stubborn", |_| std::future::pending());
        assert!(!tasks.shutdown(Duration::from_millis(100)).await);
        assert_eq!(rx.await.unwrap(), "finished its work");
    }
}
