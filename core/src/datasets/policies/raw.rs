//! Raw bytes under the policies: the refusal of bytes a decision governs, the whole dataset's
//! decision for clones, the read gate of one file (raw reads, previews, share links), and which
//! objects LFS may hand out raw. An object is refused raw while a policy governs a table that
//! holds it at the head, or that held it on any revision of the default branch
//! ([`super::index`]): an old version of a governed table committed at a path that is no table
//! stays refused.

use std::collections::{HashMap, HashSet};

use strata_lfs::Oid;
use strata_policy::Decision;

use super::{catalog, decide, index, Surface};
use crate::datasets::catalog::{Catalog, Table};
use crate::datasets::gated::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Result};
use crate::Core;

/// The refusal of raw bytes that a decision governs.
pub fn refusal(gated: &Gated, table: Option<&Table>, decision: &Decision) -> Error {
    if decision.error.is_some() {
        return Error::forbidden(
            "the policies could not decide (an evaluation error, a time-out, an action strata \
             does not know, or policies that could not be loaded), so the read is denied; the \
             audit log has the details",
        );
    }
    if let (true, Some(a)) = (decision.deny.is_empty(), decision.aggregate) {
        let path = gated.path();
        let resource = table.map_or("<resource>", |t| t.name.as_str());
        return Error::forbidden(format!(
            "a policy allows only differentially private aggregates of this ({}): ask GET \
             /api/v1/datasets/{path}/tables/{resource}/aggregate (ε = {} each, of a budget of {})",
            decision.policies.join("; "),
            a.epsilon,
            a.budget
        ));
    }
    if decision.denied() {
        return Error::forbidden(format!(
            "a policy denies reading this: {}",
            decision.deny.join("; ")
        ));
    }
    let path = gated.path();
    let how = match table {
        Some(t) => format!("GET /api/v1/datasets/{path}/tables/{}", t.name),
        None => format!(
            "GET /api/v1/datasets/{path}/tables/<resource> (a resource listed in its datapackage)"
        ),
    };
    Error::forbidden(format!(
        "a policy transforms this data ({}), so its raw bytes are not served: read it through {how}, or Arrow Flight",
        decision.policies.join("; ")
    ))
}

/// Which of the objects of `gated` its caller may download raw (LFS, and raw reads of LFS files):
/// `None` when policies govern nothing of the dataset for them. Otherwise only objects of files
/// at the default branch's head that no decision governs: an object of a governed file, one no
/// file at the head holds (an older version, perhaps of a governed table), and one of `asked`
/// that was ever the content of a table a policy governs (wherever it is now) are refused.
pub(crate) async fn raw_objects(
    core: &Core,
    gated: &Gated,
    surface: Surface,
    asked: &[Oid],
) -> Result<Option<HashSet<Oid>>> {
    if !core.governance.in_force(core).await {
        return Ok(None);
    }
    let catalog = catalog(core, gated, None).await?;
    let whole = decide(core, gated, &catalog, None, None, surface).await?;
    let (governed, mut refused) = governed_tables(core, gated, &catalog, surface).await?;
    let mut any = whole.denied() || whole.transforms() || !governed.is_empty();
    for oid in formerly_governed(core, gated, &catalog, &governed, surface, asked).await? {
        refused.insert(oid);
        any = true;
    }
    if !any {
        return Ok(None);
    }
    let whole_governed = whole.denied() || whole.transforms();
    let tree = git_on(core, gated, |ms, ds| ms.tree(ds, None)).await;
    let tree = match tree {
        Ok((_, t)) => t,
        Err(e) if e.kind == crate::error::Kind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut allowed = HashSet::new();
    for e in tree {
        let Some(p) = e.lfs else { continue };
        let is_governed = match catalog.table_at(&e.path) {
            Some(_) => governed.contains(&e.path),
            None => whole_governed,
        };
        if is_governed {
            refused.insert(p.oid);
        } else {
            allowed.insert(p.oid);
        }
    }
    allowed.retain(|o| !refused.contains(o));
    Ok(Some(allowed))
}

/// Of `asked`, the objects a policy governs for the caller: those of the head's tables whose
/// reads it denies or transforms, and those that were ever such a table's content. A write may
/// not name them as the content of another table (its rewrite would be a way to read them).
pub(crate) async fn governed_among(
    core: &Core,
    gated: &Gated,
    asked: &[Oid],
) -> Result<HashSet<Oid>> {
    let catalog = catalog(core, gated, None).await?;
    let (governed, mut out) = governed_tables(core, gated, &catalog, Surface::Raw).await?;
    out.extend(formerly_governed(core, gated, &catalog, &governed, Surface::Raw, asked).await?);
    out.retain(|o| asked.contains(o));
    Ok(out)
}

/// The paths of the head's tables whose reads through `surface` a policy denies or transforms for
/// the caller, and their objects (refused wherever the tree holds them: a rename keeps them).
async fn governed_tables(
    core: &Core,
    gated: &Gated,
    catalog: &Catalog,
    surface: Surface,
) -> Result<(Vec<String>, HashSet<Oid>)> {
    let mut paths = Vec::new();
    let mut objects = HashSet::new();
    for t in &catalog.resources {
        let d = decide(core, gated, catalog, Some(t), None, surface).await?;
        if d.denied() || d.transforms() {
            paths.push(t.path.clone());
            if let Some((oid, _)) = t.object {
                objects.insert(oid);
            }
        }
    }
    Ok((paths, objects))
}

/// Of `asked`, the objects that were the content of a table on the default branch that a policy
/// governs for this caller: the table as the head has it (by name, or else by path, as
/// [`Catalog::with_head`] matches them; `governed` are the paths of the head's governed tables),
/// or for a table gone from the head, as it was at a revision that held it, with the head's tags.
async fn formerly_governed(
    core: &Core,
    gated: &Gated,
    head: &Catalog,
    governed: &[String],
    surface: Surface,
    asked: &[Oid],
) -> Result<Vec<Oid>> {
    let mut out = Vec::new();
    let mut older: HashMap<String, Option<Catalog>> = HashMap::new();
    for o in index::former(core, gated, asked).await? {
        let now = head.table(&o.resource).or_else(|| head.table_at(&o.path));
        let is_governed = match now {
            Some(t) => governed.contains(&t.path),
            None => {
                if !older.contains_key(&o.rev) {
                    let at = match catalog(core, gated, Some(&o.rev)).await {
                        Ok(c) => Some(c),
                        // A revision rewritten away since: nothing says what governed it.
                        Err(e) if e.kind == crate::error::Kind::NotFound => None,
                        Err(e) => return Err(e),
                    };
                    older.insert(o.rev.clone(), at);
                }
                match older[&o.rev]
                    .as_ref()
                    .and_then(|c| Some((c, c.table(&o.resource)?)))
                {
                    Some((c, t)) => {
                        let d = decide(core, gated, c, Some(t), None, surface).await?;
                        d.denied() || d.transforms()
                    }
                    None => true,
                }
            }
        };
        if is_governed {
            out.push(o.oid);
        }
    }
    Ok(out)
}
