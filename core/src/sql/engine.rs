//! Where queries run: a runtime of their own, apart from the one that answers requests, so that
//! a query computing for minutes never keeps `/livez`, an LFS batch or a page waiting.
//!
//! - Its threads run at a lower priority (nice 10): when a request and a query want the same
//!   core, the request gets it.
//! - Its threads' stacks hold the deepest statement [`super::bounds`] lets through many times
//!   over, whatever part of parsing, planning, optimizing or running walks it.
//! - A query's work is a task there, cancelled when its caller goes (the request dropped), at its
//!   deadline, or when the server shuts down ([`Running::stop`]).
//! - The queries running are counted per caller and in all for as long as their work runs, not
//!   only as long as somebody reads their answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::record_batch::RecordBatch;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::LIMITS;
use crate::error::{Error, Kind, Result};

/// The stack of each SQL thread. Reserved, not used: pages are taken as a walk goes deep. The
/// deepest statement the bounds let through needs a small part of it (see `bounds`' tests).
pub const STACK: usize = 256 << 20;

/// How nice the SQL threads are to the rest of the server.
const NICE: i32 = 10;

/// The SQL runtime and the queries running on it, by caller.
#[derive(Default)]
pub struct Running {
    by_caller: Mutex<HashMap<String, usize>>,
    runtime: OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("by_caller", &self.by_caller)
            .field("stopped", &self.stop.is_cancelled())
            .finish()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
        // Never waits for a query: a runtime dropped from async code would panic, and a query's
        // work has nothing to finish.
        if let Some(Ok(runtime)) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A query's place among those running; freed when dropped (its work ended or was cancelled).
pub(super) struct Turn {
    running: Arc<Running>,
    caller: String,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self
            .running
            .by_caller
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.caller);
            }
        }
    }
}

impl Running {
    /// A place for one more query of `caller`, or why not.
    pub(super) fn take(self: &Arc<Running>, caller: &str) -> Result<Turn> {
        if self.stop.is_cancelled() {
            return Err(shutting_down());
        }
        let mut map = self.by_caller.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = map.values().sum();
        let mine = map.get(caller).copied().unwrap_or(0);
        if mine >= LIMITS.per_caller {
            return Err(Error::new(
                Kind::TooMany,
                format!(
                    "you have {} queries running already: wait for one to finish",
                    LIMITS.per_caller
                ),
            ));
        }
        if total >= LIMITS.total {
            return Err(Error::new(
                Kind::Busy,
                "the server is running as many queries as it can: try again shortly",
            ));
        }
        *map.entry(caller.to_owned()).or_default() += 1;
        Ok(Turn {
            running: self.clone(),
            caller: caller.to_owned(),
        })
    }

    /// The queries running now, in all.
    pub fn count(&self) -> usize {
        let map = self.by_caller.lock().unwrap_or_else(|e| e.into_inner());
        map.values().sum()
    }

    /// Cancels every query running and refuses new ones: the server is shutting down.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        self.runtime
            .get_or_init(|| {
                let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .max_blocking_threads(threads * 2)
                    .thread_name("strata-sql")
                    .thread_stack_size(STACK)
                    .on_thread_start(|| {
                        // Per thread on Linux. Should it fail, queries run at the same priority
                        // as requests, on threads of their own all the same.
                        let _ = rustix::process::setpriority_process(None, NICE);
                    })
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::internal(format!("the SQL runtime could not start: {e}")))
    }

    /// Runs `work` on the SQL runtime until `deadline` and answers what it returns. The work is
    /// cancelled when the returned future is dropped (the caller went away), at the deadline,
    /// and at shutdown; a panic in it is an error, never the server's end.
    pub(super) async fn apart<T: Send + 'static>(
        &self,
        deadline: Instant,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let stop = self.stop.clone();
        let task = self.runtime()?.spawn(async move {
            tokio::select! {
                biased;
                () = stop.cancelled() => Err(shutting_down()),
                done = tokio::time::timeout_at(deadline, work) => {
                    done.unwrap_or_else(|_| Err(past_deadline()))
                }
            }
        });
        match AbortOnDropHandle::new(task).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "a query's work panicked");
                Err(Error::internal("the query failed inside the server"))
            }
            Err(_) => Err(shutting_down()),
        }
    }

    /// Hands `batches`, made on the SQL runtime (the caller runs there), over through a channel:
    /// their work goes on there, and stops when the receiver is dropped, at shutdown, when they
    /// end, and at `deadline`, also while a reader that does not read holds a batch back.
    pub(super) fn forward(
        &self,
        mut batches: BoxStream<'static, Result<RecordBatch>>,
        deadline: Instant,
    ) -> BoxStream<'static, Result<RecordBatch>> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let (cut_tx, cut_rx) = tokio::sync::oneshot::channel();
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    () = tx.closed() => None,
                    () = stop.cancelled() => Some(Err(shutting_down())),
                    next = batches.next() => next,
                };
                let Some(next) = next else { break };
                let last = next.is_err();
                let sent = tokio::select! {
                    biased;
                    () = stop.cancelled() => Err(shutting_down()),
                    () = tokio::time::sleep_until(deadline) => Err(past_deadline()),
                    sent = tx.send(next) => Ok(sent.is_ok()),
                };
                match sent {
                    // The reader is told why its answer ends here: never silently short.
                    Err(why) => {
                        let _ = cut_tx.send(why);
                        break;
                    }
                    Ok(false) => break,
                    Ok(true) if last => break,
                    Ok(true) => {}
                }
            }
        });
        futures_util::stream::unfold((rx, Some(cut_rx)), |(mut rx, cut)| async move {
            match rx.recv().await {
                Some(next) => Some((next, (rx, cut))),
                None => match cut?.try_recv() {
                    Ok(why) => Some((Err(why), (rx, None))),
                    Err(_) => None,
                },
            }
        })
        .boxed()
    }
}

fn shutting_down() -> Error {
    Error::new(
        Kind::Busy,
        "the server is shutting down: the query was stopped; try again shortly",
    )
}

/// The error of a query whose time is up.
pub(super) fn past_deadline() -> Error {
    Error::new(
        Kind::Busy,
        format!(
            "the query ran past its time limit ({} s): ask for less",
            LIMITS.time.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_at_once_are_limited_per_caller_and_in_all_and_freed_when_done() {
        let running = Arc::new(Running::default());
        let a1 = running.take("ann").unwrap();
        let _a2 = running.take("ann").unwrap();
        let e = running.take("ann").err().unwrap();
        assert_eq!(e.kind, Kind::TooMany);
        let _b1 = running.take("bea").unwrap();
        let e = running.take("cid").err().unwrap();
        assert_eq!(e.kind, Kind::Busy);
        drop(a1);
        let _c1 = running.take("cid").unwrap();
        assert_eq!(running.take("ann").err().unwrap().kind, Kind::Busy);
    }

    #[tokio::test]
    async fn work_stops_when_its_caller_goes_at_its_deadline_and_at_shutdown() {
        let running = Arc::new(Running::default());
        // The caller goes: the work's turn is freed although the work never ends by itself.
        let turn = running.take("ann").unwrap();
        let forever = async move {
            let _turn = turn;
            std::future::pending::<()>().await;
            Ok(())
        };
        let far = Instant::now() + std::time::Duration::from_secs(3600);
        let call = running.apart(far, forever);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), call)
                .await
                .is_err()
        );
        wait_until(|| running.count() == 0).await;
        // The deadline.
        let turn = running.take("ann").unwrap();
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        let e = running
            .apart(soon, async move {
                let _turn = turn;
                std::future::pending::<Result<()>>().await
            })
            .await
            .unwrap_err();
        assert!(e.message.contains("time limit"), "{}", e.message);
        assert_eq!(running.count(), 0);
        // A panic is an error.
        let e = running
            .apart(far, async { panic!("boom") as Result<()> })
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::Internal);
        // Shutdown.
        let turn = running.take("ann").unwrap();
        let waiting = {
            let running = running.clone();
            tokio::spawn(async move {
                running
                    .apart(far, async move {
                        let _turn = turn;
                        std::future::pending::<Result<()>>().await
                    })
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        running.stop();
        let e = waiting.await.unwrap().unwrap_err();
        assert!(e.message.contains("shutting down"), "{}", e.message);
        wait_until(|| running.count() == 0).await;
        assert!(running.take("ann").is_err());
    }

    async fn wait_until(done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("never happened");
    }
}
