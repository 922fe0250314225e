//! Committing a table's inferred schema: the column types the writer's view shows become the
//! resource's `schema.fields` in the datapackage, in one commit at the head of the default
//! branch (what a publishing flow does after an upload; one commit for all the tables of one
//! upload). Fields the datapackage has keep what
//! they say (a declared type, tags, a description); columns a policy transforms for the writer
//! are not typed from what the writer sees.

use serde::Serialize;
use serde_json::{json, Map, Value};
use strata_metastore::{Op, Package, WriteMeta, DATAPACKAGE};

use super::{open, view, At};
use crate::auth::Principal;
use crate::datasets::gated::Gated;
use crate::datasets::policies::{self, Surface};
use crate::datasets::{author, git_on};
use crate::error::{Error, Result};
use crate::Core;

/// What a schema commit did.
#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    /// The new revision's id, or the head's when nothing changed.
    pub revision: String,
    /// The columns whose type was written (name, type).
    pub typed: Vec<(String, &'static str)>,
}

/// Writes the types `who`'s view of `at.resource` shows into the datapackage at the head.
pub async fn commit_schema(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    at: &At,
) -> Result<Committed> {
    if at.rev.is_some() {
        return Err(Error::unprocessable(
            "a schema is committed at the head of the default branch: leave rev out",
        ));
    }
    let typed = columns_of(core, gated, at).await?;
    commit_types(core, who, gated, vec![typed]).await
}

/// Declares the column `key` the `primaryKey` of the table `at.resource`, in one commit at the
/// head of the default branch, after checking that every row has a value in it and no two rows
/// the same (422 otherwise, naming the column). Checked on `who`'s view, so refused where that
/// view is not the whole table: a column a policy transforms for them, rows a policy filters, a
/// table too large to count exactly (its datapackage says its key then).
pub async fn commit_key(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    at: &At,
    key: &[String],
) -> Result<Committed> {
    if at.rev.is_some() {
        return Err(Error::unprocessable(
            "a key is declared at the head of the default branch: leave rev out",
        ));
    }
    let [k] = key else {
        return Err(Error::unprocessable(
            "a key declared here is one column; several go in the datapackage",
        ));
    };
    let opened = open(core, gated, &at.resource, None, None, Surface::Table).await?;
    if !gated.writes(&opened.table.path) {
        return Err(Error::forbidden(format!(
            "you may read {} but not change its datapackage",
            gated.path()
        )));
    }
    let made = view::view(core, gated.id, &opened).await?;
    let stats = super::stats::stats(core, &made).await?;
    let Some(c) = stats.columns.iter().find(|c| &c.name == k) else {
        return Err(Error::unprocessable(format!(
            "{} has no column {k:?}",
            at.resource
        )));
    };
    if let Some(why) = unchecked(&opened, k) {
        return Err(Error::unprocessable(why));
    }
    if c.distinct_approximate {
        return Err(Error::unprocessable(format!(
            "{} is too large to check here that {k} is a key: declare it in the datapackage",
            at.resource
        )));
    }
    if c.nulls > 0 {
        return Err(Error::unprocessable(format!(
            "{k} is empty in {} rows: a key has a value in every row",
            c.nulls
        )));
    }
    if !super::stats::candidate_keys(&stats).contains(k) {
        return Err(Error::unprocessable(format!(
            "{k} repeats in {}: a key is different in every row",
            at.resource
        )));
    }
    let (resource, key) = (opened.table.name.clone(), vec![k.clone()]);
    let message = format!("Key of {resource}: {k}");
    let (revision, ()) = edit_package(core, who, gated, move |json| {
        let Some(r) = json
            .get_mut("resources")
            .and_then(Value::as_array_mut)
            .and_then(|rs| rs.iter_mut().find(|r| r["name"] == resource.as_str()))
        else {
            return (None, ());
        };
        if !r.get("schema").is_some_and(Value::is_object) {
            r["schema"] = json!({});
        }
        if r["schema"]["primaryKey"] == json!(key) {
            return (None, ());
        }
        r["schema"]["primaryKey"] = json!(key);
        (Some(message), ())
    })
    .await?;
    tracing::debug!(dataset = %gated.path(), "key committed");
    Ok(Committed {
        revision,
        typed: Vec::new(),
    })
}

/// Why the caller's view of `opened` cannot tell whether `column` is a key, if it cannot: a
/// policy transforms the column for them, or filters the rows they see.
fn unchecked(opened: &super::Opened, column: &str) -> Option<String> {
    if opened.decision.columns.contains_key(column) {
        return Some(format!(
            "a policy transforms {column} for you: it cannot be offered or declared as the key here"
        ));
    }
    (!opened.decision.filters.is_empty()).then(|| {
        "a policy filters the rows you see: whether a column is a key cannot be told here".into()
    })
}

/// The columns of the table `at.resource` its writer may declare its key from the pages: the
/// candidate keys of `stats` (their view's), none a policy transforms for them, none at all
/// when a policy filters their rows.
pub async fn keys_offered(
    core: &Core,
    gated: &Gated,
    at: &At,
    stats: &super::stats::Stats,
) -> Result<Vec<String>> {
    let opened = open(core, gated, &at.resource, None, None, Surface::Table).await?;
    Ok(super::stats::candidate_keys(stats)
        .into_iter()
        .filter(|c| unchecked(&opened, c).is_none())
        .collect())
}

/// Writes the types of several tables (the resources named) in one commit, as after an upload
/// of many tables; a table that cannot be typed is left out (its readers infer it), and the
/// tables typed are returned in `typed` as `table.column`.
pub async fn commit_schemas(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    resources: &[String],
) -> Result<Committed> {
    let mut all = Vec::new();
    for name in resources {
        let at = At {
            resource: name.clone(),
            rev: None,
            intent: None,
        };
        match columns_of(core, gated, &at).await {
            Ok(typed) => all.push(typed),
            Err(e) => tracing::info!(table = %name, error = %e.message, "a table was not typed"),
        }
    }
    commit_types(core, who, gated, all).await
}

/// The columns (name, type) `gated`'s caller sees in `at.resource`, leaving out the columns a
/// policy transforms for them; with the resource's name.
async fn columns_of(core: &Core, gated: &Gated, at: &At) -> Result<(String, Columns)> {
    let opened = open(
        core,
        gated,
        &at.resource,
        None,
        at.intent.as_deref(),
        Surface::Table,
    )
    .await?;
    if !gated.writes(&opened.table.path) {
        return Err(Error::forbidden(format!(
            "you may read {} but not change its datapackage",
            gated.path()
        )));
    }
    let made = view::view(core, gated.id, &opened).await?;
    let df = core.tables.session(core, &made).await?;
    let columns = super::rows::columns_of(df.schema().as_arrow())
        .into_iter()
        .filter(|c| !opened.decision.columns.contains_key(&c.name))
        .map(|c| (c.name, c.ty))
        .collect();
    Ok((opened.table.name.clone(), columns))
}

type Columns = Vec<(String, &'static str)>;

/// One commit at the head of the default branch typing each table's columns where its fields
/// say none; the head's id when nothing needed typing.
async fn commit_types(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    tables: Vec<(String, Columns)>,
) -> Result<Committed> {
    let (revision, typed) = edit_package(core, who, gated, move |json| {
        let mut typed = Vec::new();
        let mut names = Vec::new();
        for (resource, columns) in &tables {
            let now = set_types(json, resource, columns);
            if !now.is_empty() {
                names.push(resource.clone());
            }
            let one = tables.len() == 1;
            typed.extend(now.into_iter().map(|(c, ty)| match one {
                true => (c, ty),
                false => (format!("{resource}.{c}"), ty),
            }));
        }
        let message = match names.as_slice() {
            [] => None,
            [one] => Some(format!("Types of {one}'s columns")),
            many => Some(format!("Types of the columns of {} tables", many.len())),
        };
        (message, typed)
    })
    .await?;
    tracing::debug!(dataset = %gated.path(), columns = typed.len(), "schema committed");
    Ok(Committed { revision, typed })
}

/// One commit at the head of the default branch of the datapackage as `edit` changes it, with
/// the message `edit` gives (`None`: nothing to write, and the head's id is the revision); what
/// `edit` returns beside it. Only the datapackage changes: the files, their pointers and
/// `.gitattributes` stay as they are (a file the datapackage does not describe keeps its LFS
/// line).
async fn edit_package<T, F>(
    core: &Core,
    who: &Principal,
    gated: &Gated,
    edit: F,
) -> Result<(String, T)>
where
    T: Send + 'static,
    F: FnOnce(&mut Map<String, Value>) -> (Option<String>, T) + Send + 'static,
{
    let who_wrote = author(who);
    let written = git_on(core, gated, move |ms, ds| {
        let (head, package) = ms.fetch(ds, None)?;
        let mut json = package.json.clone();
        let (message, out) = edit(&mut json);
        let Some(message) = message else {
            return Ok((head.id, out));
        };
        let package = Package::from_json(Value::Object(json))?;
        let meta = WriteMeta {
            branch: strata_metastore::DEFAULT_BRANCH,
            parent: Some(ms.resolve(ds, Some(&head.id))?),
            author: &who_wrote,
            message: &message,
        };
        let ops = [Op::Put {
            path: DATAPACKAGE.to_owned(),
            data: package.to_bytes(),
        }];
        Ok((ms.commit(ds, &meta, &ops)?.to_string(), out))
    })
    .await?;
    policies::written(core, gated).await;
    Ok(written)
}

/// Types `columns` of `resource` in a datapackage's JSON where its fields say none (adding the
/// fields it lacks, in the table's order); the columns typed.
fn set_types(
    json: &mut Map<String, Value>,
    resource: &str,
    columns: &[(String, &'static str)],
) -> Vec<(String, &'static str)> {
    let Some(r) = json
        .get_mut("resources")
        .and_then(Value::as_array_mut)
        .and_then(|rs| rs.iter_mut().find(|r| r["name"] == resource))
    else {
        return Vec::new();
    };
    if !r.get("schema").is_some_and(Value::is_object) {
        r["schema"] = json!({});
    }
    if !r["schema"].get("fields").is_some_and(Value::is_array) {
        r["schema"]["fields"] = json!([]);
    }
    let fields = r["schema"]["fields"].as_array_mut().expect("an array");
    let mut typed = Vec::new();
    for (name, ty) in columns {
        match fields.iter_mut().find(|f| f["name"] == name.as_str()) {
            Some(f) if f.get("type").is_some() => {}
            Some(f) => {
                f["type"] = json!(ty);
                typed.push((name.clone(), *ty));
            }
            None => {
                fields.push(json!({"name": name, "type": ty}));
                typed.push((name.clone(), *ty));
            }
        }
    }
    typed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_fields_keep_what_they_say() {
        let mut pkg = json!({"resources": [{"name": "t", "schema": {"fields": [
            {"name": "id", "type": "string", "tags": {"PII": true}},
            {"name": "n", "description": "a count"}]}}]});
        let cols = [
            ("id".to_owned(), "integer"),
            ("n".to_owned(), "integer"),
            ("x".to_owned(), "date"),
        ];
        let typed = set_types(pkg.as_object_mut().unwrap(), "t", &cols);
        assert_eq!(
            typed,
            [("n".to_owned(), "integer"), ("x".to_owned(), "date")]
        );
        assert_eq!(
            pkg["resources"][0]["schema"]["fields"],
            json!([{"name": "id", "type": "string", "tags": {"PII": true}},
                {"name": "n", "description": "a count", "type": "integer"},
                {"name": "x", "type": "date"}])
        );
        assert!(set_types(pkg.as_object_mut().unwrap(), "t", &cols).is_empty());
    }
}
