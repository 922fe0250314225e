//! The context of the request being handled, for the whole task that serves it: its id (in every
//! log line and error body), the client's address (throttling, the audit log) and whether it is an
//! LFS endpoint, and who made it once known (the events of its changes name them). The HTTP
//! layer sets it (`crate::http::ctx`); domain code reads it, on the blocking pool too
//! ([`blocking`]).

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: String,
    pub lfs: bool,
    /// The peer's address (for throttling and the audit log).
    pub ip: String,
    /// Who made the request, once authenticated (shared by every copy of the context).
    pub actor: Arc<OnceLock<String>>,
    /// The refs this work moves are a history rewrite (an erasure): their events say so and
    /// list no changed paths.
    pub rewriting: bool,
}

impl RequestCtx {
    /// Who made the request, if known.
    pub fn actor(&self) -> Option<String> {
        self.actor.get().cloned()
    }
}

tokio::task_local! {
    static CTX: RequestCtx;
}

thread_local! {
    static BLOCKING: RefCell<Option<RequestCtx>> = const { RefCell::new(None) };
}

/// The context of the request being handled (empty outside of one).
pub fn current() -> RequestCtx {
    CTX.try_with(Clone::clone)
        .ok()
        .or_else(|| BLOCKING.with(|b| b.borrow().clone()))
        .unwrap_or_default()
}

/// Records who makes the current request (the first caller named wins).
pub fn set_actor(name: &str) {
    let _ = current().actor.set(name.to_owned());
}

/// Runs `f` (on a blocking thread) with `ctx` as the current context.
pub fn blocking<T>(ctx: RequestCtx, f: impl FnOnce() -> T) -> T {
    /// Puts the thread's previous context back, even when `f` panics (the thread is reused).
    struct Restore(Option<RequestCtx>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            BLOCKING.with(|b| *b.borrow_mut() = before);
        }
    }
    let _restore = Restore(BLOCKING.with(|b| b.replace(Some(ctx))));
    f()
}

/// Runs `fut` with `ctx` as the current context.
pub async fn scope<F: Future>(ctx: RequestCtx, fut: F) -> F::Output {
    CTX.scope(ctx, fut).await
}
