//! Residency copies. A table's bytes are held in the default store's region (`--storage-region`);
//! this server reads in `--region`. When the two differ, `--region` has a store of its own
//! (`--store`), and the policies let this server read a table only transformed (columns redacted,
//! hashed or removed, rows filtered), the caller's view is written into this region's store
//! ([`super::view`]) and every read of it here comes from there: the REST rows, CSV and Arrow,
//! Arrow Flight, SQL, statistics, the S3 gateway. The raw bytes are read once, in this process,
//! to make the copy; they are never written to the other region's store, and later reads do not
//! touch the source region at all. Each copy is recorded with the revision, object and decision
//! it was derived from (`region_copies`, listed to the dataset's admins) and audited
//! (`governance.copy`).

use strata_policy::Decision;

use crate::datasets::gated::Gated;
use crate::db::RegionCopy;
use crate::error::Result;
use crate::Core;

/// The region store a view for `decision` goes to, if it is a residency copy.
pub fn store_for(core: &Core, decision: &Decision) -> Option<String> {
    if !decision.transforms() {
        return None;
    }
    let here = core.governance.region()?;
    if core.storage.home_region()? == here {
        return None;
    }
    core.storage.store_in(here).map(str::to_owned)
}

/// A residency copy as its dataset's admins see it: the decision as JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copy {
    #[serde(flatten)]
    pub copy: RegionCopy,
    pub decided: serde_json::Value,
}

/// The residency copies of `gated`'s tables (the latest 1,000), newest first; the gate checked
/// that the caller administers the dataset.
pub async fn copies(core: &Core, gated: &Gated) -> Result<Vec<Copy>> {
    Ok(core
        .db
        .region_copies(gated.id, 1000)
        .await?
        .into_iter()
        .map(|copy| Copy {
            decided: serde_json::from_str(&copy.decision).unwrap_or_default(),
            copy,
        })
        .collect())
}
