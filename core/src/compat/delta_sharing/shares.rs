//! Shares, as a namespace's admins make them (`crate::sharing::recipients::managed`): a name,
//! and tables of the namespace's datasets, each under a schema and a name of its own, read at a
//! branch or a tag (default: the default branch), with the columns it shares (default: all the
//! policies leave), row filters of its own (as policies write them) and the first version
//! recipients may read. Adding a table needs the dataset's admin right, and the table, its
//! columns and its filters' columns must exist there.

use serde_json::{json, Value};
use strata_policy::Filter;

use crate::auth::{Action, Principal};
use crate::datasets::gate;
use crate::db::{DeltaShare, DeltaTable, NewDeltaTable};
use crate::error::{Error, Kind, Result};
use crate::sharing::recipients::{check_name, managed};
use crate::tables;
use crate::Core;

/// Shares a namespace has at most, and tables a share names at most.
const SHARES: usize = 1000;
const TABLES: usize = 1000;

/// A share and its tables.
#[derive(Debug, Clone)]
pub struct Listed {
    pub share: DeltaShare,
    pub tables: Vec<DeltaTable>,
}

/// A table to add to a share.
#[derive(Debug, Clone, Default)]
pub struct TableInput {
    pub schema: String,
    pub name: String,
    /// A dataset of the share's namespace (its name without the namespace).
    pub dataset: String,
    /// The table's resource in the dataset's datapackage.
    pub resource: String,
    /// A branch or a tag (default: the default branch).
    pub at: Option<String>,
    pub columns: Option<Vec<String>>,
    pub filters: Option<Vec<Value>>,
    pub start_version: Option<i64>,
}

/// Makes a share of namespace `ns`.
pub async fn create(
    core: &Core,
    who: &Principal,
    ns: &str,
    name: &str,
    comment: &str,
) -> Result<Listed> {
    let (ns, by) = managed(core, who, ns).await?;
    let name = check_name("share", name)?;
    if comment.chars().count() > 1000 {
        return Err(Error::unprocessable("a comment is at most 1000 characters"));
    }
    if core.db.delta_shares(&ns).await?.len() >= SHARES {
        return Err(Error::unprocessable(format!(
            "{ns} has {SHARES} shares, the most a namespace has"
        )));
    }
    let Some(share) = core
        .db
        .put_delta_share(&ns, &name, comment, Some(by.id))
        .await?
    else {
        return Err(Error::conflict(format!("{ns} has a share named {name}")));
    };
    crate::audit::by(
        core,
        "delta_sharing.share.create",
        &by,
        &ns,
        json!({"share": name}),
    )
    .await?;
    Ok(Listed {
        share,
        tables: Vec::new(),
    })
}

/// A namespace's shares.
pub async fn list(core: &Core, who: &Principal, ns: &str) -> Result<Vec<Listed>> {
    let (ns, _) = managed(core, who, ns).await?;
    let mut out = Vec::new();
    for share in core.db.delta_shares(&ns).await? {
        let tables = core.db.delta_tables(share.id).await?;
        out.push(Listed { share, tables });
    }
    Ok(out)
}

async fn one(core: &Core, ns: &str, name: &str) -> Result<DeltaShare> {
    core.db
        .delta_share(ns, &name.to_ascii_lowercase())
        .await?
        .ok_or_else(|| Error::not_found(format!("{ns} has no share named {name}")))
}

/// One share of a namespace.
pub async fn get(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<Listed> {
    let (ns, _) = managed(core, who, ns).await?;
    let share = one(core, &ns, name).await?;
    let tables = core.db.delta_tables(share.id).await?;
    Ok(Listed { share, tables })
}

/// Removes a share: its recipients read nothing of it from the next call on.
pub async fn delete(core: &Core, who: &Principal, ns: &str, name: &str) -> Result<()> {
    let (ns, by) = managed(core, who, ns).await?;
    let share = one(core, &ns, name).await?;
    core.db.drop_delta_share(share.id).await?;
    crate::audit::by(
        core,
        "delta_sharing.share.delete",
        &by,
        &ns,
        json!({"share": share.name}),
    )
    .await?;
    Ok(())
}

/// Adds a table to a share.
pub async fn add_table(
    core: &Core,
    who: &Principal,
    ns: &str,
    share: &str,
    input: TableInput,
) -> Result<DeltaTable> {
    let (ns, by) = managed(core, who, ns).await?;
    let share = one(core, &ns, share).await?;
    let schema = check_name("schema", &input.schema)?;
    let name = check_name("table", &input.name)?;
    if core.db.delta_tables(share.id).await?.len() >= TABLES {
        return Err(Error::unprocessable(format!(
            "share {} has {TABLES} tables, the most a share has",
            share.name
        )));
    }
    let gated = gate::dataset(core, who, &ns, &input.dataset, Action::Admin).await?;
    let at = input.at.as_deref().filter(|a| !a.is_empty());
    let listed = tables::list(
        core,
        &gated,
        Some(at.unwrap_or(strata_metastore::DEFAULT_BRANCH)),
    )
    .await
    .map_err(|e| match e.kind {
        Kind::NotFound => Error::unprocessable(format!(
            "{}/{} has no branch or tag {:?}",
            ns,
            input.dataset,
            at.unwrap_or(strata_metastore::DEFAULT_BRANCH)
        )),
        _ => e,
    })?;
    let table = listed
        .1
        .into_iter()
        .find(|t| t.name == input.resource)
        .ok_or_else(|| {
            Error::unprocessable(format!(
                "{}/{} has no table {:?} there",
                ns, input.dataset, input.resource
            ))
        })?;
    let known = |c: &str| table.columns.iter().any(|x| x.name == c);
    if let Some(cols) = &input.columns {
        if cols.is_empty() {
            return Err(Error::unprocessable("share at least one column"));
        }
        if let Some(c) = cols.iter().find(|c| !known(c)) {
            return Err(Error::unprocessable(format!(
                "table {:?} has no column {c:?}",
                input.resource
            )));
        }
    }
    if let Some(filters) = &input.filters {
        for f in filters {
            let parsed = Filter::parse(f).map_err(Error::unprocessable)?;
            if !known(&parsed.column) {
                return Err(Error::unprocessable(format!(
                    "a filter names column {:?}, which table {:?} does not have",
                    parsed.column, input.resource
                )));
            }
        }
    }
    let start_version = input.start_version.unwrap_or(0);
    if start_version < 0 {
        return Err(Error::unprocessable("the start version is 0 or more"));
    }
    let new = NewDeltaTable {
        schema_name: &schema,
        name: &name,
        repo_id: gated.id,
        resource: &input.resource,
        at_ref: at,
        columns: input.columns.as_ref().map(|c| json!(c).to_string()),
        filters: input.filters.as_ref().map(|f| json!(f).to_string()),
        start_version,
    };
    let Some(id) = core.db.put_delta_table(share.id, &new).await? else {
        return Err(Error::conflict(format!(
            "share {} has a table {schema}.{name}",
            share.name
        )));
    };
    let detail = json!({"share": share.name, "table": format!("{schema}.{name}"),
        "dataset": gated.path(), "resource": input.resource, "at": at,
        "columns": input.columns, "filters": input.filters});
    crate::audit::by(core, "delta_sharing.table.add", &by, &ns, detail).await?;
    core.db
        .delta_table(id)
        .await?
        .ok_or_else(|| Error::internal("a share's table went missing as it was added"))
}

/// Removes a table from a share.
pub async fn remove_table(
    core: &Core,
    who: &Principal,
    ns: &str,
    share: &str,
    schema: &str,
    table: &str,
) -> Result<()> {
    let (ns, by) = managed(core, who, ns).await?;
    let share = one(core, &ns, share).await?;
    let (schema, table) = (schema.to_ascii_lowercase(), table.to_ascii_lowercase());
    if !core.db.drop_delta_table(share.id, &schema, &table).await? {
        return Err(Error::not_found(format!(
            "share {} has no table {schema}.{table}",
            share.name
        )));
    }
    let detail = json!({"share": share.name, "table": format!("{schema}.{table}")});
    crate::audit::by(core, "delta_sharing.table.remove", &by, &ns, detail).await?;
    Ok(())
}
