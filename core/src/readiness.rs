//! Whether this replica should get work: the database and the object store answer, governance is
//! not failing closed, and no shutdown began. `/readyz` reports it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Core;

/// The checks behind readiness, each as it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// A shutdown began.
    pub draining: bool,
    pub database: bool,
    pub storage: bool,
    /// Why governed reads are denied (fail closed), if they are.
    pub governance: Option<String>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        !self.draining && self.database && self.storage && self.governance.is_none()
    }
}

impl Core {
    /// Runs the checks at once, each waiting at most `timeout`.
    pub async fn readiness(&self, timeout: Duration) -> Readiness {
        let draining = self.draining.load(Ordering::Relaxed);
        let (database, storage, governance) = tokio::join!(
            self.db.ping(timeout),
            self.storage.ping(timeout),
            tokio::time::timeout(timeout, self.governance.failing(self)),
        );
        Readiness {
            draining,
            database,
            storage,
            governance: governance
                .unwrap_or_else(|_| Some("the policy dataset did not answer in time".into())),
        }
    }

    /// The database pool's connections, for the metrics: (open, idle, most allowed).
    pub fn pool_stats(&self) -> (u32, u32, u32) {
        self.db.pool_stats()
    }
}
