//! Committing a table's inferred schema: the column types the writer's view shows become the
//! resource's `schema.fields` in the datapackage, in one commit at the head of the default
//! branch (what a publishing flow does after an upload). Fields the datapackage has keep what
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
    let columns: Vec<(String, &'static str)> = super::rows::columns_of(df.schema().as_arrow())
        .into_iter()
        .filter(|c| !opened.decision.columns.contains_key(&c.name))
        .map(|c| (c.name, c.ty))
        .collect();
    let (resource, path) = (opened.table.name.clone(), gated.path());
    let who_wrote = author(who);
    let (revision, typed) = git_on(core, gated, move |ms, ds| {
        let (head, package) = ms.fetch(ds, None)?;
        let mut json = package.json.clone();
        let typed = set_types(&mut json, &resource, &columns);
        if typed.is_empty() {
            return Ok((head.id, typed));
        }
        let package = Package::from_json(Value::Object(json))?;
        let message = format!("Types of {resource}'s columns");
        let meta = WriteMeta {
            branch: strata_metastore::DEFAULT_BRANCH,
            parent: Some(ms.resolve(ds, Some(&head.id))?),
            author: &who_wrote,
            message: &message,
        };
        // Only the datapackage changes: the files, their pointers and `.gitattributes` stay as
        // they are (a file the datapackage does not describe keeps its LFS line).
        let ops = [Op::Put {
            path: DATAPACKAGE.to_owned(),
            data: package.to_bytes(),
        }];
        let id = ms.commit(ds, &meta, &ops)?;
        Ok((id.to_string(), typed))
    })
    .await?;
    tracing::debug!(dataset = %path, columns = typed.len(), "schema committed");
    policies::written(core, gated).await;
    Ok(Committed { revision, typed })
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
