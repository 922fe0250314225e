//! Contracts under the policies. A check reads every table raw, so what it tells must not say
//! more than its caller may read. A report's violations of a table the caller's policies
//! transform, filter or deny keep the resource and rule only ([`governed`]). A foreign key's
//! check says, row by row, whether a value is among the referenced columns' values: a writer
//! who may not read those columns raw would learn them by trying values (one accepted is there,
//! one refused "refers to no row" is not). So a check made for a writer whose policies deny the
//! referenced table, filter its rows or transform a referenced column is refused before it runs
//! (403, naming the key and the governed column: [`references`]), on every write to a protected
//! default branch (`crate::governance::write::govern` for commits, datapackage
//! updates and merges; `crate::governance::moved` for reverts and pushes) and for a
//! report made on demand; and the foreign-key violations of a stored report are cut for a
//! reader the same policies keep from the referenced columns.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};
use strata_policy::Decision;

use super::{rules, ForeignKey, Report};
use crate::auth::{Action, On};
use crate::datasets::catalog::Catalog;
use crate::datasets::gated::Gated;
use crate::datasets::policies::{self, Surface};
use crate::error::{Error, Result};
use crate::Core;

/// Whether `decision` (a read of the table `fk` refers to) keeps its referenced values from the
/// caller: the table denied or aggregates only, rows filtered, or a referenced column
/// transformed.
fn hides(decision: &Decision, fk: &ForeignKey) -> bool {
    decision.denied()
        || decision.error.is_some()
        || !decision.filters.is_empty()
        || fk
            .reference
            .iter()
            .any(|c| decision.columns.contains_key(c))
}

/// The table contracts of `package` (a datapackage's JSON) as `catalog` reads its tables.
fn contracts_of(
    catalog: &Catalog,
    package: &Map<String, Value>,
) -> Result<Vec<rules::TableContract>> {
    rules::read(package, |r| {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        catalog
            .resources
            .iter()
            .any(|t| t.name == name && crate::tables::Kind::of(t).is_some())
    })
}

/// Refuses a contract check of `package` made for the caller of `gated` when one of its foreign
/// keys refers to values the caller's policies keep from them: as `package` says when it
/// `becomes_head` (a write to the default branch, whose changes of tags are governed already:
/// `crate::governance::retag`), else with the head's tags added, as reads of its
/// revision see it. A contract that cannot be read is left to the check, which refuses it with
/// its own words.
pub(crate) async fn references(
    core: &Core,
    gated: &Gated,
    package: &Map<String, Value>,
    becomes_head: bool,
) -> Result<()> {
    // An admin of the dataset may take its tags off (`retag`): nothing is hidden from them.
    if gated.allows(On::Dataset, Action::Admin) || !core.governance.in_force(core).await {
        return Ok(());
    }
    let own = Catalog::read(&gated.path(), package);
    let Ok(contracts) = contracts_of(&own, package) else {
        return Ok(());
    };
    if contracts.iter().all(|c| c.foreign_keys.is_empty()) {
        return Ok(());
    }
    let catalog = match becomes_head {
        true => own,
        // The head's tags govern every revision (`Catalog::with_head`).
        false => own.with_head(&policies::catalog(core, gated, None).await?),
    };
    let mut decided: HashMap<String, Decision> = HashMap::new();
    for c in &contracts {
        for fk in &c.foreign_keys {
            let Some(table) = catalog.table(&fk.resource) else {
                continue;
            };
            if !decided.contains_key(&fk.resource) {
                let d = policies::decide(core, gated, &catalog, Some(table), None, Surface::Table)
                    .await?;
                decided.insert(fk.resource.clone(), d);
            }
            let Some(d) = decided.get(&fk.resource) else {
                continue;
            };
            if hides(d, fk) {
                let by = match d.policies.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", d.policies.join("; ")),
                };
                return Err(Error::forbidden(format!(
                    "resource {:?}: its contract's foreign key ({}) refers to {:?} ({}), which a \
                     policy keeps from you{by}: checking values against a governed column would \
                     tell whether they are in it, so only a writer who reads it raw may write \
                     under this contract",
                    c.resource,
                    fk.fields.join(", "),
                    fk.resource,
                    fk.reference.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `report` as the caller of `gated` may read it: the violations of a table their policies
/// transform, filter or deny keep the resource and rule, not the rows, counts or column; and so
/// do those of a foreign key into columns the policies keep from them.
pub(super) async fn governed(core: &Core, gated: &Gated, mut report: Report) -> Result<Report> {
    if report.violations.is_empty() || !core.governance.in_force(core).await {
        return Ok(report);
    }
    let catalog = policies::catalog(core, gated, Some(&report.revision)).await?;
    let mut hidden = BTreeSet::new();
    let mut decided: HashMap<String, Decision> = HashMap::new();
    for t in &catalog.resources {
        let d = policies::decide(core, gated, &catalog, Some(t), None, Surface::Table).await?;
        if d.denied() || d.transforms() || !d.filters.is_empty() {
            hidden.insert(t.name.clone());
        }
        decided.insert(t.name.clone(), d);
    }
    // Foreign keys into what the caller may not read: found from the revision's contract (one
    // that cannot be read any more hides them all).
    let keyed = report
        .violations
        .iter()
        .any(|v| v.rule == "foreignKey" && !hidden.contains(&v.resource));
    let mut keys_hidden: BTreeSet<(String, String)> = BTreeSet::new();
    if keyed {
        let revision = report.revision.clone();
        let package = crate::datasets::git_on(core, gated, move |ms, ds| {
            crate::datasets::packaged::at(ms, ds, &revision)
        })
        .await?;
        let contracts = match package {
            Some(Ok(p)) => contracts_of(&catalog, &p).ok(),
            _ => None,
        };
        for v in report
            .violations
            .iter()
            .filter(|v| v.rule == "foreignKey" && !hidden.contains(&v.resource))
        {
            let column = v.column.clone().unwrap_or_default();
            let fk = contracts.as_ref().and_then(|cs| {
                cs.iter()
                    .filter(|c| c.resource == v.resource)
                    .flat_map(|c| &c.foreign_keys)
                    .find(|fk| fk.fields.join(", ") == column)
            });
            let hide = match fk {
                Some(fk) => decided.get(&fk.resource).is_none_or(|d| hides(d, fk)),
                None => true,
            };
            if hide {
                keys_hidden.insert((v.resource.clone(), column));
            }
        }
    }
    for v in report.violations.iter_mut().filter(|v| {
        hidden.contains(&v.resource)
            || (v.rule == "foreignKey"
                && keys_hidden
                    .contains(&(v.resource.clone(), v.column.clone().unwrap_or_default())))
    }) {
        v.rows.clear();
        v.count = 0;
        v.column = None;
        v.message =
            "a rule of the contract is broken (its policies keep the details from you)".into();
    }
    Ok(report)
}
