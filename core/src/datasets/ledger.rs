//! `--refs sql`: the SQL ref ledger behind the metastore's compare-and-swap (`RefLedger`), for
//! several replicas on one database and one repositories directory. The metastore runs on the
//! blocking pool, so each call waits for its query there. Pushes reach the same ledger from git's
//! `reference-transaction` hook (`crate::hook`).

use std::sync::Arc;

use strata_metastore::{Error, ObjectId, RefLedger, Result};

use crate::db::{Db, RefEdit, SwapError};
use crate::events::Bell;

/// The ledger in the database.
#[derive(Debug)]
pub struct SqlLedger {
    db: Db,
    runtime: tokio::runtime::Handle,
    bell: Arc<Bell>,
}

impl SqlLedger {
    /// Must be made inside the server's runtime.
    pub fn new(db: Db, bell: Arc<Bell>) -> SqlLedger {
        SqlLedger {
            db,
            runtime: tokio::runtime::Handle::current(),
            bell,
        }
    }

    fn wait<T, E: std::fmt::Display>(
        &self,
        f: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        self.runtime
            .block_on(f)
            .map_err(|e| Error::Git(format!("ref ledger: {e}")))
    }
}

fn parse(rows: Vec<(String, String)>) -> Result<Vec<(String, ObjectId)>> {
    rows.into_iter()
        .map(|(name, oid)| {
            let id = ObjectId::from_hex(oid.as_bytes())
                .map_err(|e| Error::Git(format!("ref ledger: {name}: {e}")))?;
            Ok((name, id))
        })
        .collect()
}

impl RefLedger for SqlLedger {
    fn refs(&self, dataset: &str) -> Result<Option<Vec<(String, ObjectId)>>> {
        match self.wait(self.db.ledger_refs(dataset))? {
            Some(rows) => Ok(Some(parse(rows)?)),
            None => Ok(None),
        }
    }

    fn adopt(&self, dataset: &str, refs: &[(String, ObjectId)]) -> Result<()> {
        let rows: Vec<(String, String)> = refs
            .iter()
            .map(|(n, id)| (n.clone(), id.to_string()))
            .collect();
        self.wait(self.db.ledger_adopt(dataset, &rows))
    }

    fn swap(
        &self,
        dataset: &str,
        name: &str,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    ) -> Result<()> {
        let edit = RefEdit {
            name: name.to_owned(),
            old: old.map(|id| id.to_string()),
            new: new.map(|id| id.to_string()),
        };
        let short = |name: &str| {
            let name = name.strip_prefix("refs/heads/").unwrap_or(name);
            name.strip_prefix("refs/tags/").unwrap_or(name).to_owned()
        };
        // The move's event is recorded with it.
        let edits = [edit];
        let events = crate::events::of_refs(dataset, &edits, crate::context::current().actor());
        match self
            .runtime
            .block_on(self.db.ledger_swap(dataset, &edits, &events))
        {
            Ok(()) => {
                self.bell.ring();
                Ok(())
            }
            Err(SwapError::Moved(_)) => Err(Error::Conflict(match old {
                None => format!("{} exists already", short(name)),
                Some(_) => format!("{} moved while this write was prepared", short(name)),
            })),
            Err(SwapError::Nested(name, other)) => Err(Error::Conflict(format!(
                "{} cannot exist beside {}",
                short(&name),
                short(&other)
            ))),
            Err(SwapError::Db(e)) => Err(Error::Git(format!("ref ledger: {e}"))),
        }
    }

    fn forget(&self, dataset: &str) -> Result<()> {
        self.wait(self.db.ledger_forget(dataset))
    }
}
