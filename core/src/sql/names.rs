//! How a query names a table: `"ns/name"."resource"` at the default branch's head, or
//! `"ns/name@rev"."resource"` at a branch, tag or revision id, optionally under the catalog
//! `strata`.

use std::fmt;

use datafusion::common::TableReference;

use crate::error::{Error, Result};

/// A table a query names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub ns: String,
    pub name: String,
    pub rev: Option<String>,
    pub resource: String,
}

const HOW: &str = "name tables as \"ns/name\".\"resource\", or \"ns/name@rev\".\"resource\" for a \
                   branch, tag or revision";

impl Name {
    /// The table `reference` names.
    pub fn of(reference: &TableReference) -> Result<Name> {
        let (schema, table) = match reference {
            TableReference::Partial { schema, table } => (schema, table),
            TableReference::Full {
                catalog,
                schema,
                table,
            } if catalog.as_ref() == "strata" => (schema, table),
            TableReference::Full { catalog, .. } => {
                return Err(Error::not_found(format!(
                    "no catalog {catalog:?}: the one catalog is \"strata\" ({HOW})"
                )))
            }
            TableReference::Bare { table } => {
                return Err(Error::not_found(format!("no table {table:?}: {HOW}")))
            }
        };
        let (dataset, rev) = match schema.split_once('@') {
            Some((d, r)) if !r.is_empty() => (d, Some(r.to_owned())),
            Some(_) => {
                return Err(Error::bad_request(format!(
                    "{schema:?} names no revision after @: {HOW}"
                )))
            }
            None => (schema.as_ref(), None),
        };
        let Some((ns, name)) = dataset.split_once('/') else {
            return Err(Error::not_found(format!("no dataset {dataset:?}: {HOW}")));
        };
        Ok(Name {
            ns: ns.to_owned(),
            name: name.to_owned(),
            rev,
            resource: table.to_string(),
        })
    }

    /// The schema part, as written: `ns/name` or `ns/name@rev`.
    pub fn schema(&self) -> String {
        match &self.rev {
            None => format!("{}/{}", self.ns, self.name),
            Some(r) => format!("{}/{}@{r}", self.ns, self.name),
        }
    }

    /// The reference the session registers the table under.
    pub fn reference(&self) -> TableReference {
        TableReference::partial(self.schema(), self.resource.clone())
    }

    /// One key per table, however the query spelled it.
    pub fn key(&self) -> String {
        format!("{}\u{0}{}", self.schema(), self.resource)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        write!(f, "{}.{}", quote(&self.schema()), quote(&self.resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = Name::of(&TableReference::partial("alice/paysim@v1", "t")).unwrap();
        assert_eq!(
            (n.ns.as_str(), n.name.as_str(), n.rev.as_deref()),
            ("alice", "paysim", Some("v1"))
        );
        assert_eq!(n.to_string(), "\"alice/paysim@v1\".\"t\"");
        let n = Name::of(&TableReference::full("strata", "a/b@feature/x", "t")).unwrap();
        assert_eq!(n.rev.as_deref(), Some("feature/x"));
        assert!(Name::of(&TableReference::bare("t")).is_err());
        assert!(Name::of(&TableReference::partial("public", "t")).is_err());
        assert!(Name::of(&TableReference::partial("a/b@", "t")).is_err());
        assert!(Name::of(&TableReference::full("datafusion", "a/b", "t")).is_err());
    }
}
