//! Data contracts: a dataset's tables checked against their own Table Schemas ([`rules`]) on
//! every write to a protected default branch (REST commits and datapackage updates, browser
//! uploads and the file manager, reverts, and `git push` through the pre-receive hook),
//! and refused with the resource, rows and column that break them. Each check leaves a
//! [`Report`] stored per revision (`validations`), shown on the revision page and read over REST.
//!
//! The check reads each constrained table through a view with no policy applied (the same views
//! reads use, made once per object), and asks DataFusion one aggregate query per table for every
//! per-row rule at once; uniqueness and keys group (spilling past the memory pool); foreign keys
//! are anti-joins. Only when something breaks does a second, ordered pass find the first rows.
//! A report names rows and columns, never values; a reader whose policies transform, filter or
//! deny a table, or the columns a foreign key refers to, sees only which rule of it broke; and a
//! writer those policies keep from a foreign key's referenced columns is refused the check
//! altogether (`governed.rs`: trying values would tell which are there).

mod governed;
mod rules;
mod sql;

use governed::governed;
pub(crate) use governed::references;

pub use rules::{read, ForeignKey, Rule, TableContract};

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strata_policy::Decision;

use crate::datasets::catalog::Catalog;
use crate::error::{Error, Kind, Result};
use crate::tables::{self, engine_error, store, view, Opened};
use crate::Core;

/// Rows a violation names at most.
pub const ROWS_NAMED: usize = 5;
/// Tables one write may ask to check.
pub const MAX_TABLES: usize = 64;

/// What a check found for one revision.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The revision checked (a commit id).
    pub revision: String,
    pub ok: bool,
    /// The resources checked.
    pub tables: Vec<String>,
    pub violations: Vec<Violation>,
}

/// One rule broken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Violation {
    pub resource: String,
    /// The column (for keys: the columns, comma separated); none for the table as a whole.
    pub column: Option<String>,
    /// `required`, `unique`, `enum`, `minimum`, `maximum`, `pattern`, `minLength`, `maxLength`,
    /// `primaryKey`, `foreignKey`, `type`, `column` (a declared column missing) or `tags`.
    pub rule: String,
    /// Rows that break it, in all.
    pub count: u64,
    /// The first rows that break it (1 is the first row after the header).
    pub rows: Vec<u64>,
    pub message: String,
}

impl Report {
    /// A refusal naming the first violations.
    pub fn refusal(&self) -> Error {
        let shown: Vec<String> = self
            .violations
            .iter()
            .take(5)
            .map(Violation::describe)
            .collect();
        let more = self.violations.len().saturating_sub(5);
        Error::unprocessable(format!(
            "the contract refuses this write: {}{}",
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        ))
        .with_extra(serde_json::json!({ "violations": self.violations }))
    }
}

impl Violation {
    fn describe(&self) -> String {
        let mut s = format!("resource {:?}", self.resource);
        if let Some(r) = self.rows.first() {
            s.push_str(&format!(", row {r}"));
        }
        if let Some(c) = &self.column {
            s.push_str(&format!(", column {c:?}"));
        }
        s.push_str(&format!(": {}", self.message));
        if self.count > 1 {
            s.push_str(&format!(" ({} rows)", self.count));
        }
        s
    }
}

/// The contract report of `package` (a datapackage's JSON) at `revision` of dataset `repo_id`
/// (`ns/name`). Its objects must be linked to the dataset (every write checks that first).
pub async fn check(
    core: &Core,
    repo_id: i64,
    dataset: &str,
    package: &Map<String, Value>,
    revision: &str,
) -> Result<Report> {
    let catalog = Catalog::read(dataset, package);
    let is_table = |r: &Map<String, Value>| {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        catalog
            .resources
            .iter()
            .any(|t| t.name == name && tables::Kind::of(t).is_some())
    };
    let contracts = rules::read(package, is_table)?;
    let mut report = Report {
        revision: revision.to_owned(),
        ok: true,
        tables: Vec::new(),
        violations: Vec::new(),
    };
    let constrained: Vec<&TableContract> = contracts
        .iter()
        .filter(|c| c.reads_rows() || !c.untagged.is_empty())
        .collect();
    if constrained.len() > MAX_TABLES {
        return Err(Error::unprocessable(format!(
            "a contract may constrain at most {MAX_TABLES} tables"
        )));
    }
    for c in &constrained {
        for (column, tag) in &c.untagged {
            report.violations.push(Violation {
                resource: c.resource.clone(),
                column: Some(column.clone()),
                rule: "tags".into(),
                count: 0,
                rows: Vec::new(),
                message: format!("a table tagged {tag:?} has a tag decision on every column: this one has no tags"),
            });
        }
    }
    // A write waits for this: the views ahead of time wait for it (`tables::ahead::Priority`).
    let _first = core.tables.priority.foreground();
    // Every table a rule reads, and the tables foreign keys refer to, registered as views.
    let ctx = sql::context(core);
    let ordered = sql::ordered(core);
    let mut registered: Vec<String> = Vec::new();
    for c in constrained.iter().filter(|c| c.reads_rows()) {
        let mut needed = vec![c.resource.clone()];
        needed.extend(c.foreign_keys.iter().map(|fk| fk.resource.clone()));
        let mut readable = true;
        for resource in needed {
            if registered.contains(&resource) {
                continue;
            }
            let n = registered.len();
            match register(core, repo_id, &catalog, [&ctx, &ordered], &resource, n).await? {
                None => registered.push(resource),
                Some(v) => {
                    readable = false;
                    report.violations.push(v);
                    break;
                }
            }
        }
        if !readable {
            continue;
        }
        report.tables.push(c.resource.clone());
        let index = |r: &str| registered.iter().position(|x| x == r).unwrap_or(0);
        report
            .violations
            .extend(sql::violations(&ctx, &ordered, c, &index).await?);
    }
    report.ok = report.violations.is_empty();
    Ok(report)
}

/// Registers the view of `resource` as `t{n}` in both sessions; `Some` when it cannot be read as
/// its schema says (a value not of its column's type, or no stored object).
async fn register(
    core: &Core,
    repo_id: i64,
    catalog: &Catalog,
    sessions: [&SessionContext; 2],
    resource: &str,
    n: usize,
) -> Result<Option<Violation>> {
    let violation =
        |rule: &str, column: Option<String>, rows: Vec<u64>, message: String| Violation {
            resource: resource.to_owned(),
            column,
            rule: rule.into(),
            count: 1,
            rows,
            message,
        };
    let Some(table) = catalog.resources.iter().find(|t| t.name == resource) else {
        return Ok(Some(violation(
            "column",
            None,
            Vec::new(),
            "no such resource".into(),
        )));
    };
    let (Some(kind), Some(object)) = (tables::Kind::of(table), table.object) else {
        return Ok(Some(violation(
            "type",
            None,
            Vec::new(),
            "a table with a contract is stored through Git LFS, with its hash and bytes in the datapackage".into(),
        )));
    };
    let opened = Opened {
        catalog: catalog.clone(),
        table: table.clone(),
        kind,
        object,
        decision: Decision::default(),
    };
    let made = match view::view_in_place(core, repo_id, &opened).await {
        Ok(v) => v,
        Err(e) if e.kind == Kind::Invalid => return Ok(Some(bad_value(resource, table, &e))),
        Err(e) => return Err(e),
    };
    let path = core.tables.know(core, &made);
    for ctx in sessions {
        ctx.register_parquet(
            format!("t{n}"),
            format!("{}{path}", store::URL),
            ParquetReadOptions::default().file_extension(""),
        )
        .await
        .map_err(engine_error)?;
    }
    Ok(None)
}

/// A value that is not of its declared type, from the view's error (`record N, column "c": …`),
/// naming the row and column but not the value.
fn bad_value(resource: &str, table: &crate::datasets::catalog::Table, e: &Error) -> Violation {
    let m = &e.message;
    let record: Option<u64> = m
        .strip_prefix("record ")
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok());
    let column = m
        .split_once(", column \"")
        .and_then(|(_, rest)| rest.split_once("\":"))
        .map(|(c, _)| c.replace("\\\"", "\""));
    let ty = column
        .as_ref()
        .and_then(|c| table.types.get(c))
        .map(|t| t.frictionless())
        .unwrap_or("its declared type");
    Violation {
        resource: resource.to_owned(),
        rule: "type".into(),
        count: 1,
        // Record 1 is the header.
        rows: record.map(|r| r.saturating_sub(1)).into_iter().collect(),
        message: match &column {
            Some(_) => format!("a value is not of the column's type ({ty})"),
            None => "the table cannot be read as its schema says".into(),
        },
        column,
    }
}

/// Checks `package` at `revision` of `repo` when the dataset protects its default branch, and
/// records a passing report; a failing one refuses the write (422, the violations in the body).
pub async fn enforce(
    core: &Core,
    repo: &crate::db::Repo,
    package: &Map<String, Value>,
    revision: &str,
) -> Result<Option<Report>> {
    if repo.protect_default_branch == 0 {
        return Ok(None);
    }
    let report = check(core, repo.id, &repo.path(), package, revision).await?;
    if !report.ok {
        // Where, never a value: subscribers may be readers a policy keeps from the rows.
        let broken: Vec<Value> = report
            .violations
            .iter()
            .map(|v| {
                serde_json::json!({"resource": v.resource, "column": v.column,
                "rule": v.rule, "count": v.count})
            })
            .collect();
        let data = serde_json::json!({"branch": strata_metastore::DEFAULT_BRANCH,
            "revision": revision, "violations": broken});
        crate::events::record(core, None, "contract.failed", &repo.path(), data).await;
        return Err(report.refusal());
    }
    store(core, repo.id, &report).await?;
    Ok(Some(report))
}

async fn store(core: &Core, repo_id: i64, report: &Report) -> Result<()> {
    let json = serde_json::to_string(report).map_err(Error::internal)?;
    core.db
        .put_validation(repo_id, &report.revision, report.ok, &json)
        .await?;
    Ok(())
}

/// The contract report of revision `rev` (a branch, tag or id) for a reader of `gated`: the
/// stored one; a writer may have one made now (a check reads whole tables, so readers may not
/// start one). What it says of a table the caller's policies transform, filter or deny is cut to
/// the rule broken: rows and counts of data they may not read are not theirs to learn.
pub async fn report(
    core: &Core,
    gated: &crate::datasets::gated::Gated,
    rev: &str,
) -> Result<Report> {
    let report = made(core, gated, rev).await?;
    governed(core, gated, report).await
}

async fn made(core: &Core, gated: &crate::datasets::gated::Gated, rev: &str) -> Result<Report> {
    gated.check_rev(Some(rev))?;
    let wanted = rev.to_owned();
    let (revision, package) = crate::datasets::git_on(core, gated, move |ms, ds| {
        let id = ms.resolve(ds, Some(&wanted))?.to_string();
        let package = crate::datasets::packaged::at(ms, ds, &id)?;
        Ok((id, package))
    })
    .await?;
    if let Some(stored) = core.db.validation(gated.id, &revision).await? {
        return serde_json::from_str(&stored).map_err(Error::internal);
    }
    if !gated.allows(crate::auth::On::Dataset, crate::auth::Action::Write) {
        return Err(Error::not_found(format!(
            "revision {revision} was never checked against its contract: a writer of {} can have it checked",
            gated.path()
        )));
    }
    let package = match package {
        Some(p) => p.map_err(Error::unprocessable)?,
        None => Map::new(),
    };
    // Not a way to learn values a policy keeps from this writer (foreign keys into them).
    references(core, gated, &package, false).await?;
    let report = check(core, gated.id, &gated.path(), &package, &revision).await?;
    store(core, gated.id, &report).await?;
    Ok(report)
}

/// The contract check of every write to a protected default branch made through the metastore
/// (REST commits and datapackage updates, the file manager, reverts): asked before the branch
/// moves, while the metastore holds the dataset's write lock (writes to one protected dataset
/// wait for each other's checks), and the only place the default branch's protection is decided
/// for those writes (merges only, [`enforce`]). It holds the [`Core`] weakly (the core holds it),
/// attached as the core is built (`Core::build`); a write it cannot check is refused.
#[derive(Debug, Default)]
pub struct OnWrite {
    core: std::sync::OnceLock<std::sync::Weak<Core>>,
}

impl OnWrite {
    pub fn attach(&self, core: &std::sync::Arc<Core>) {
        let _ = self.core.set(std::sync::Arc::downgrade(core));
    }
}

impl strata_metastore::HeadCheck for OnWrite {
    fn check(
        &self,
        ms: &strata_metastore::Metastore,
        ds: strata_metastore::DatasetId<'_>,
        commit: strata_metastore::ObjectId,
        how: strata_metastore::Write,
    ) -> strata_metastore::Result<()> {
        // Fail closed: a default branch never moves without its protection and contract checked.
        let unchecked = |why: &str| {
            Err(strata_metastore::Error::Git(format!(
                "the default branch of {ds} cannot move: its protection cannot be checked ({why})"
            )))
        };
        let Some(core) = self.core.get().and_then(std::sync::Weak::upgrade) else {
            return unchecked("the server is shutting down");
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return unchecked("no runtime");
        };
        let revision = commit.to_string();
        let (ns, name) = (ds.ns.to_owned(), ds.name.to_owned());
        // The metastore runs on the blocking pool (gix is synchronous): waiting here is allowed.
        let found = handle.block_on(core.db.repo_by_path(&ns, &name));
        let repo = match found {
            Ok(Some(repo)) if repo.protect_default_branch != 0 => repo,
            Ok(_) => return Ok(()),
            Err(e) => {
                return Err(strata_metastore::Error::Git(format!(
                    "checking the contract: {e}"
                )))
            }
        };
        if repo.require_merge_request != 0 && how != strata_metastore::Write::Merge {
            return Err(strata_metastore::Error::Forbidden(format!(
                "{} of {} takes changes through merge requests only: write to a branch and open \
                 a merge request",
                strata_metastore::DEFAULT_BRANCH,
                repo.path()
            )));
        }
        let Some(package) = crate::datasets::packaged::at(ms, ds, &revision)? else {
            return Ok(());
        };
        let checked = handle.block_on(async move {
            let package = package.map_err(Error::unprocessable)?;
            enforce(&core, &repo, &package, &revision).await.map(drop)
        });
        checked.map_err(|e| match e.kind {
            Kind::Invalid | Kind::BadRequest => match e.extra {
                Some(details) => strata_metastore::Error::Refused {
                    message: e.message,
                    details,
                },
                None => strata_metastore::Error::Invalid(e.message),
            },
            Kind::Conflict => strata_metastore::Error::Conflict(e.message),
            Kind::NotFound => strata_metastore::Error::NotFound(e.message),
            Kind::TooLarge | Kind::Forbidden => strata_metastore::Error::Invalid(e.message),
            Kind::Busy | Kind::TooMany => strata_metastore::Error::Busy(e.message),
            _ => strata_metastore::Error::Git(format!("checking the contract: {}", e.message)),
        })
    }
}

/// The stored report of revision `revision` (a commit id) of `gated`, if it was checked, as its
/// caller may read it.
pub async fn stored(
    core: &Core,
    gated: &crate::datasets::gated::Gated,
    revision: &str,
) -> Result<Option<Report>> {
    match core.db.validation(gated.id, revision).await? {
        Some(json) => {
            let report = serde_json::from_str(&json).map_err(Error::internal)?;
            Ok(Some(governed(core, gated, report).await?))
        }
        None => Ok(None),
    }
}
