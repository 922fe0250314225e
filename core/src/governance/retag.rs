//! Changes to what the policies read are governed themselves: a dataset's `tags` and
//! `geography`, a resource's own, its columns' tags (`schema.fields[].tags`), and a column or
//! resource whose name a loaded policy names (a string literal of its text, as in
//! `input.resource.metadata.columns[i].name == "ssn"`). Untagging a table is lifting its policy:
//! a writer may make such a change only if the policies let them read what it touches
//! unrestricted already (no Deny, column transform, row filter or aggregates-only in their read
//! decision for each table whose metadata changes; for every table and the dataset itself when
//! the dataset's own tags or geography change), or as an admin of the dataset. Anyone else is
//! refused (403), told what changed.
//!
//! Every write of a datapackage reaches [`check`] once: `super::write::govern` (REST commits and
//! datapackage updates, the file manager and restores, the editor, merges, the S3 gateway, the
//! Hub's commits, CKAN's `package_update`) and `super::moved::moved` (pushes to any branch,
//! reverts).
//!
//! What is compared is what reads see: on the default branch the datapackage itself (it becomes
//! the head), on another branch the datapackage with the head's tags added (as reads of that
//! branch see it, `Catalog::with_head`). Tags set to `false` or `null` count as absent. Removing
//! a resource is no such change (its data leaves the head with it, older revisions keep their
//! own tags, and its objects stay refused raw, `super::index`); but a table made to hold an
//! object a policy keeps from the writer, which its new description would let them read
//! unrestricted, is the same untagging under another name, and is refused as well.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use strata_lfs::Oid;
use strata_policy::{Decision, Tags};

use crate::auth::{Action, On};
use crate::datasets::catalog::{Catalog, Table};
use crate::datasets::gated::Gated;
use crate::datasets::policies::{decide, Surface};
use crate::error::{Error, Result};
use crate::tables::Kind;
use crate::Core;

/// What a write changes of what the policies read.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Of the dataset itself (its tags, its geography): every table's decision reads them.
    pub dataset: Vec<String>,
    /// Per resource (its name before the write): what changed of it.
    pub tables: Vec<(String, Vec<String>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.dataset.is_empty() && self.tables.is_empty()
    }

    /// Whether the decision on `table` (by its name before the write) reads something changed.
    fn touches(&self, table: &str) -> bool {
        !self.dataset.is_empty() || self.tables.iter().any(|(t, _)| t == table)
    }

    /// What changed, for people.
    fn describe(&self) -> String {
        self.dataset
            .iter()
            .chain(self.tables.iter().flat_map(|(_, what)| what))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The tags that count: those set to anything but `false` or `null`.
fn set(tags: &Tags) -> BTreeMap<&str, &Value> {
    tags.iter()
        .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false)))
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

fn same(a: &Tags, b: &Tags) -> bool {
    set(a) == set(b)
}

/// Whether a policy names resource `name` of `dataset` (bare, or as `ns/name/resource`).
fn named(names: &BTreeSet<String>, dataset: &str, name: &str) -> bool {
    names.contains(name) || names.contains(&format!("{dataset}/{name}"))
}

/// What `after` changes of what the policies read in `before` (`names`: the strings the loaded
/// policies name). A resource is the same resource after the write by name, or else by path (a
/// rename), as `Catalog::with_head` matches them; one the write removes changes nothing here.
pub(crate) fn changes(before: &Catalog, after: &Catalog, names: &BTreeSet<String>) -> Changes {
    let mut out = Changes::default();
    if !same(&before.tags, &after.tags) {
        out.dataset.push("the dataset's tags".into());
    }
    if before.geography != after.geography {
        out.dataset.push("the dataset's geography".into());
    }
    let none = Tags::new();
    for t in &before.resources {
        let Some(a) = after.table(&t.name).or_else(|| after.table_at(&t.path)) else {
            continue;
        };
        let mut what = Vec::new();
        if a.name != t.name
            && (named(names, &before.dataset, &t.name) || named(names, &after.dataset, &a.name))
        {
            what.push(format!(
                "the name of resource {:?}, which a policy names",
                t.name
            ));
        }
        if !same(&t.tags, &a.tags) {
            what.push(format!("the tags of resource {:?}", t.name));
        }
        if t.geography != a.geography {
            what.push(format!("the geography of resource {:?}", t.name));
        }
        let columns: BTreeSet<&str> = t
            .columns
            .iter()
            .chain(&a.columns)
            .map(|c| c.name.as_str())
            .collect();
        for c in columns {
            let was = t.columns.iter().find(|x| x.name == c);
            let is = a.columns.iter().find(|x| x.name == c);
            if !same(
                was.map_or(&none, |x| &x.tags),
                is.map_or(&none, |x| &x.tags),
            ) {
                what.push(format!("the tags of column {c:?} of {:?}", t.name));
            } else if was.is_some() != is.is_some() && names.contains(c) {
                what.push(format!(
                    "column {c:?} of {:?}, which a policy names",
                    t.name
                ));
            }
        }
        if !what.is_empty() {
            out.tables.push((t.name.clone(), what));
        }
    }
    out
}

/// Whether a read decided so sees the data as it is.
fn unrestricted(d: &Decision) -> bool {
    !d.denied() && !d.transforms() && d.error.is_none()
}

/// Refuses a write by the caller of `repo` that changes what the policies read, from `before`
/// (what reads of the branch written see now) to `after` (what they would see after the write),
/// unless the caller is an admin of the dataset or reads everything it touches unrestricted.
/// Called with policies in force only.
pub(crate) async fn check(
    core: &Core,
    repo: &Gated,
    before: &Catalog,
    after: &Catalog,
) -> Result<()> {
    if repo.allows(On::Dataset, Action::Admin) {
        return Ok(());
    }
    let names = {
        let loaded = core.governance.current(core).await;
        loaded
            .policies
            .as_ref()
            .map(|p| p.names().clone())
            .unwrap_or_default()
    };
    let changes = changes(before, after, &names);
    if !changes.is_empty() {
        let mut kept = Vec::new();
        if !changes.dataset.is_empty() {
            let d = decide(core, repo, before, None, None, Surface::Table).await?;
            if !unrestricted(&d) {
                kept.push(format!("dataset {}", before.dataset));
            }
        }
        for t in before.resources.iter().filter(|t| changes.touches(&t.name)) {
            let d = decide(core, repo, before, Some(t), None, Surface::Table).await?;
            if !unrestricted(&d) {
                kept.push(format!("resource {:?}", t.name));
            }
        }
        if !kept.is_empty() {
            return Err(Error::forbidden(format!(
                "this write changes what the governance policies read ({}), and they do not let \
                 you read {} unrestricted: only an admin of {}, or a writer the policies let \
                 read it unrestricted, may change its tags, geography, or the names a policy \
                 looks for",
                changes.describe(),
                kept.join(", "),
                repo.path()
            )));
        }
    }
    // Tables made to hold another object: not one a policy keeps from the writer, read
    // unrestricted through its new description.
    let repointed: Vec<(&Table, Oid)> = after
        .resources
        .iter()
        .filter(|t| Kind::of(t).is_some())
        .filter_map(|t| {
            let (oid, _) = t.object?;
            let was = before
                .table(&t.name)
                .or_else(|| before.table_at(&t.path))
                .and_then(|w| w.object)
                .map(|(o, _)| o);
            (was != Some(oid)).then_some((t, oid))
        })
        .collect();
    if repointed.is_empty() {
        return Ok(());
    }
    let oids: Vec<Oid> = repointed.iter().map(|(_, oid)| *oid).collect();
    let governed = crate::datasets::policies::governed_among(core, repo, &oids).await?;
    for (t, oid) in repointed {
        if !governed.contains(&oid) {
            continue;
        }
        let d = decide(core, repo, after, Some(t), None, Surface::Table).await?;
        if unrestricted(&d) {
            return Err(Error::forbidden(format!(
                "resource {:?} names an object a policy keeps from you, and as it is described \
                 it would be read unrestricted: only an admin of {} may describe it so",
                t.name,
                repo.path()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(package: Value) -> Catalog {
        Catalog::read("bank/pay", package.as_object().unwrap())
    }

    fn paysim(tags: Value, pii: Value, geography: &str) -> Catalog {
        catalog(json!({
            "tags": tags, "geography": geography,
            "resources": [{"name": "pay", "path": "pay.csv", "schema": {"fields": [
                {"name": "step", "type": "integer", "tags": {"PII": false}},
                {"name": "nameOrig", "type": "string", "tags": pii},
            ]}}]
        }))
    }

    #[test]
    fn tags_and_geography_are_what_policies_read() {
        let none = BTreeSet::new();
        let before = paysim(json!(["finance"]), json!({"PII": true}), "theshire");
        assert!(changes(&before, &before.clone(), &none).is_empty());
        // The same tags spelled as a list or as flags, and flags set to false: no change.
        let same = paysim(
            json!({"finance": true, "x": false}),
            json!(["PII"]),
            "theshire",
        );
        assert!(changes(&before, &same, &none).is_empty());
        // Title and description are not read by policies; a column's type neither.
        let mut retitled = before.clone();
        retitled.title = Some("new".into());
        assert!(changes(&before, &retitled, &none).is_empty());

        let untagged = paysim(json!([]), json!({"PII": true}), "theshire");
        let c = changes(&before, &untagged, &none);
        assert_eq!(c.dataset, ["the dataset's tags"]);
        assert!(c.touches("pay"));
        let moved = paysim(json!(["finance"]), json!({"PII": true}), "mordor");
        assert_eq!(
            changes(&before, &moved, &none).dataset,
            ["the dataset's geography"]
        );
        let column = paysim(json!(["finance"]), json!({}), "theshire");
        let c = changes(&before, &column, &none);
        assert!(c.dataset.is_empty());
        assert_eq!(c.tables.len(), 1);
        assert!(c.describe().contains("nameOrig"), "{c:?}");
        // Adding a tag is a change too (a policy may allow what a tag says).
        let more = paysim(
            json!(["finance", "public"]),
            json!({"PII": true}),
            "theshire",
        );
        assert!(!changes(&before, &more, &none).is_empty());
    }

    #[test]
    fn columns_and_resources_gone_or_renamed() {
        let before = paysim(json!(["finance"]), json!({"PII": true}), "theshire");
        let none = BTreeSet::new();
        // A tagged column dropped from the schema: its tags are gone.
        let dropped = catalog(json!({"tags": ["finance"], "geography": "theshire",
            "resources": [{"name": "pay", "path": "pay.csv", "schema": {"fields": [
                {"name": "step", "type": "integer"}]}}]}));
        assert!(!changes(&before, &dropped, &none).is_empty());
        // An untagged column added or dropped: only when a policy names it.
        let added = catalog(json!({"tags": ["finance"], "geography": "theshire",
            "resources": [{"name": "pay", "path": "pay.csv", "schema": {"fields": [
                {"name": "step", "type": "integer"},
                {"name": "nameOrig", "type": "string", "tags": {"PII": true}},
                {"name": "ssn", "type": "string"}]}}]}));
        assert!(changes(&before, &added, &none).is_empty());
        let ssn: BTreeSet<String> = ["ssn".to_owned()].into();
        let c = changes(&before, &added, &ssn);
        assert!(c.describe().contains("\"ssn\""), "{c:?}");
        // A resource renamed (matched by its path): only when a policy names either name.
        let renamed = catalog(json!({"tags": ["finance"], "geography": "theshire",
            "resources": [{"name": "salaries", "path": "pay.csv", "schema": {"fields": [
                {"name": "step", "type": "integer"},
                {"name": "nameOrig", "type": "string", "tags": {"PII": true}}]}}]}));
        assert!(changes(&before, &renamed, &none).is_empty());
        let pay: BTreeSet<String> = ["bank/pay/pay".to_owned()].into();
        assert!(!changes(&before, &renamed, &pay).is_empty());
        // A resource removed: its data leaves with it.
        let removed = catalog(json!({"tags": ["finance"], "geography": "theshire"}));
        assert!(changes(&before, &removed, &none).is_empty());
    }

    #[test]
    fn on_a_branch_the_heads_tags_stay() {
        let head = paysim(json!(["finance"]), json!({"PII": true}), "theshire");
        let before = head.clone().with_head(&head);
        let untagged = paysim(json!([]), json!({}), "theshire").with_head(&head);
        assert!(changes(&before, &untagged, &BTreeSet::new()).is_empty());
    }
}
