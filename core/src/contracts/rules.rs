//! A dataset's contract, read from its datapackage: each table's Table Schema constraints
//! (`required`, `unique`, `enum`, `minimum`, `maximum`, `pattern`, `minLength`, `maxLength`), its
//! `primaryKey` and `foreignKeys` (to another resource, or to itself with `resource: ""`), and
//! the package's tag rules (`"rules": [{"tag": "finance", "columns": "tagged"}]`: every column of
//! a table tagged `finance`, by the dataset or the resource, has a tag decision). A contract that
//! cannot be read is an error naming the resource and field, so it is refused when committed.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One rule on one column (or several, for keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Required,
    Unique,
    /// The values allowed, as JSON (text or numbers).
    Enum(Vec<Value>),
    Minimum(Value),
    Maximum(Value),
    /// A regular expression the whole value matches.
    Pattern(String),
    MinLength(u64),
    MaxLength(u64),
}

impl Rule {
    /// The constraint's name in the Table Schema.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Unique => "unique",
            Rule::Enum(_) => "enum",
            Rule::Minimum(_) => "minimum",
            Rule::Maximum(_) => "maximum",
            Rule::Pattern(_) => "pattern",
            Rule::MinLength(_) => "minLength",
            Rule::MaxLength(_) => "maxLength",
        }
    }
}

/// A foreign key: `fields` of this table name rows of `resource` by its `reference` fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignKey {
    pub fields: Vec<String>,
    /// The resource referred to; this one when the schema says `""`.
    pub resource: String,
    pub reference: Vec<String>,
}

/// What one table must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableContract {
    pub resource: String,
    /// Column, its declared Frictionless type, its rules.
    pub columns: Vec<(String, String, Vec<Rule>)>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Columns with no tags while a tag rule asks for them (found from the datapackage alone).
    pub untagged: Vec<(String, String)>,
}

impl TableContract {
    /// Whether anything needs the table's rows.
    pub fn reads_rows(&self) -> bool {
        self.columns.iter().any(|(_, _, r)| !r.is_empty())
            || !self.primary_key.is_empty()
            || !self.foreign_keys.is_empty()
    }
}

/// The contracts of a datapackage's table resources (`is_table` says which), in its order.
pub fn read(
    package: &Map<String, Value>,
    is_table: impl Fn(&Map<String, Value>) -> bool,
) -> Result<Vec<TableContract>> {
    let tag_rules = tag_rules(package)?;
    let dataset_tags = tag_names(package.get("tags"));
    let resources: Vec<&Map<String, Value>> = package
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect();
    let names: Vec<&str> = resources
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str))
        .collect();
    let mut out = Vec::new();
    for r in resources.iter().filter(|r| is_table(r)) {
        let resource = r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let bad = |what: String| Error::unprocessable(format!("resource {resource:?}: {what}"));
        let schema = r.get("schema").and_then(Value::as_object);
        let fields: Vec<&Map<String, Value>> = schema
            .and_then(|s| s.get("fields"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .collect();
        let field_names: Vec<&str> = fields
            .iter()
            .filter_map(|f| f.get("name").and_then(Value::as_str))
            .collect();
        let mut contract = TableContract {
            resource: resource.clone(),
            ..TableContract::default()
        };
        for f in &fields {
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            let ty = f.get("type").and_then(Value::as_str).unwrap_or("string");
            let rules = match f.get("constraints") {
                None => Vec::new(),
                Some(Value::Object(c)) => {
                    constraints(c, ty).map_err(|e| bad(format!("field {name:?}: {e}")))?
                }
                Some(_) => {
                    return Err(bad(format!(
                        "field {name:?}: constraints must be an object"
                    )))
                }
            };
            contract
                .columns
                .push((name.to_owned(), ty.to_owned(), rules));
        }
        let key_list = |v: &Value, what: &str| -> Result<Vec<String>> {
            match v {
                Value::String(s) => Ok(vec![s.clone()]),
                Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => Ok(a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()),
                _ => Err(bad(format!(
                    "{what} must be a field name or a list of them"
                ))),
            }
        };
        // Without declared fields (types inferred from the data), keys name the data's columns:
        // one the table lacks is found when it is read.
        let declared = |k: &String| field_names.is_empty() || field_names.contains(&k.as_str());
        if let Some(pk) = schema.and_then(|s| s.get("primaryKey")) {
            contract.primary_key = key_list(pk, "primaryKey")?;
            if let Some(k) = contract.primary_key.iter().find(|k| !declared(k)) {
                return Err(bad(format!(
                    "primaryKey names {k:?}, which is not one of its fields"
                )));
            }
        }
        match schema.and_then(|s| s.get("foreignKeys")) {
            None => {}
            Some(Value::Array(fks)) => {
                for fk in fks {
                    let fk = fk
                        .as_object()
                        .ok_or_else(|| bad("each of foreignKeys must be an object".into()))?;
                    let fields = key_list(
                        fk.get("fields").unwrap_or(&Value::Null),
                        "a foreign key's fields",
                    )?;
                    let reference =
                        fk.get("reference")
                            .and_then(Value::as_object)
                            .ok_or_else(|| {
                                bad("a foreign key needs a reference {resource, fields}".into())
                            })?;
                    let to = match reference.get("resource").and_then(Value::as_str) {
                        Some("") | None => resource.clone(),
                        Some(other) => other.to_owned(),
                    };
                    if !names.contains(&to.as_str()) {
                        return Err(bad(format!("a foreign key refers to resource {to:?}, which the package does not have")));
                    }
                    let refs = key_list(
                        reference.get("fields").unwrap_or(&Value::Null),
                        "a foreign key's reference fields",
                    )?;
                    if refs.len() != fields.len() {
                        return Err(bad(
                            "a foreign key names as many reference fields as fields".into(),
                        ));
                    }
                    if let Some(k) = fields.iter().find(|k| !declared(k)) {
                        return Err(bad(format!(
                            "a foreign key names {k:?}, which is not one of its fields"
                        )));
                    }
                    contract.foreign_keys.push(ForeignKey {
                        fields,
                        resource: to,
                        reference: refs,
                    });
                }
            }
            Some(_) => return Err(bad("foreignKeys must be a list".into())),
        }
        // Tag rules: a tagged dataset or resource has a tag decision on every column.
        let tags: Vec<String> = dataset_tags
            .iter()
            .cloned()
            .chain(tag_names(r.get("tags")))
            .collect();
        if tag_rules.iter().any(|t| tags.contains(t)) {
            for f in &fields {
                let decided = f.get("tags").is_some_and(|t| match t {
                    Value::Object(o) => !o.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    _ => false,
                });
                if !decided {
                    let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                    let rule = tag_rules
                        .iter()
                        .find(|t| tags.contains(t))
                        .cloned()
                        .unwrap_or_default();
                    contract.untagged.push((name.to_owned(), rule));
                }
            }
        }
        out.push(contract);
    }
    // A foreign key's reference fields must exist in the resource referred to.
    for c in &out {
        for fk in &c.foreign_keys {
            if let Some(target) = out.iter().find(|t| t.resource == fk.resource) {
                let known = |k: &&String| {
                    target.columns.is_empty() || target.columns.iter().any(|(n, _, _)| n == *k)
                };
                if let Some(k) = fk.reference.iter().find(|k| !known(k)) {
                    return Err(Error::unprocessable(format!(
                        "resource {:?}: a foreign key refers to {:?}.{k:?}, which is not one of its fields",
                        c.resource, fk.resource
                    )));
                }
            } else {
                return Err(Error::unprocessable(format!(
                    "resource {:?}: a foreign key refers to resource {:?}, which is no table",
                    c.resource, fk.resource
                )));
            }
        }
    }
    Ok(out)
}

/// The tags a dataset or resource carries: names of a list, or keys set to `true`.
fn tag_names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Object(o)) => o
            .iter()
            .filter(|(_, v)| v.as_bool() != Some(false))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// The tags whose tables must tag every column (`"rules": [{"tag": …, "columns": "tagged"}]`).
fn tag_rules(package: &Map<String, Value>) -> Result<Vec<String>> {
    let Some(rules) = package.get("rules") else {
        return Ok(Vec::new());
    };
    let bad = || {
        Error::unprocessable("rules must be a list of {\"tag\": \"…\", \"columns\": \"tagged\"}")
    };
    let mut out = Vec::new();
    for r in rules.as_array().ok_or_else(bad)? {
        let r = r.as_object().ok_or_else(bad)?;
        match (
            r.get("tag").and_then(Value::as_str),
            r.get("columns").and_then(Value::as_str),
        ) {
            (Some(tag), Some("tagged")) if !tag.is_empty() && r.len() == 2 => {
                out.push(tag.to_owned())
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Whether `s` is a `ty` (`date`, `datetime` or `time`) in ISO 8601.
fn is_temporal(ty: &str, s: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
    match ty {
        "date" => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "time" => NaiveTime::parse_from_str(s, "%H:%M:%S%.f").is_ok(),
        _ => {
            DateTime::parse_from_rfc3339(s).is_ok()
                || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
                || NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        }
    }
}

/// The rules of one field's `constraints` object, checked against its type.
fn constraints(c: &Map<String, Value>, ty: &str) -> std::result::Result<Vec<Rule>, String> {
    let numeric = matches!(ty, "integer" | "number" | "year");
    let temporal = matches!(ty, "date" | "datetime" | "time");
    let mut rules = Vec::new();
    for (k, v) in c {
        let flag = || {
            v.as_bool()
                .ok_or_else(|| format!("{k} must be true or false"))
        };
        let count = || {
            v.as_u64()
                .filter(|n| *n <= u64::from(u32::MAX))
                .ok_or_else(|| format!("{k} must be a whole number of characters"))
        };
        let bound = || match v {
            Value::Number(_) if numeric => Ok(v.clone()),
            Value::String(s) if temporal && is_temporal(ty, s) => Ok(v.clone()),
            _ if numeric => Err(format!("{k} of a {ty} field must be a number")),
            _ if temporal => Err(format!("{k} of a {ty} field must be a {ty} in ISO 8601")),
            _ => Err(format!(
                "{k} applies to numbers, dates and times, not to a {ty} field"
            )),
        };
        match k.as_str() {
            "required" => {
                if flag()? {
                    rules.push(Rule::Required)
                }
            }
            "unique" => {
                if flag()? {
                    rules.push(Rule::Unique)
                }
            }
            "enum" => {
                let list = v
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or("enum must be a list of values")?;
                if list.iter().any(|x| !(x.is_string() || x.is_number())) {
                    return Err("enum lists text or numbers".into());
                }
                let fits = |x: &Value| match x {
                    Value::Number(_) => !temporal,
                    Value::String(s) => !numeric && (!temporal || is_temporal(ty, s)),
                    _ => false,
                };
                if let Some(x) = list.iter().find(|x| !fits(x)) {
                    return Err(format!("enum value {x} is not a {ty}"));
                }
                rules.push(Rule::Enum(list.clone()));
            }
            "minimum" => rules.push(Rule::Minimum(bound()?)),
            "maximum" => rules.push(Rule::Maximum(bound()?)),
            "pattern" => {
                let p = v.as_str().ok_or("pattern must be a regular expression")?;
                // Compiled alone: `a)|(b` compiles only once wrapped in `^(?:…)$`, and would
                // then match otherwise than the whole value.
                regex::Regex::new(p).map_err(|e| format!("pattern does not compile: {e}"))?;
                rules.push(Rule::Pattern(p.to_owned()));
            }
            "minLength" => rules.push(Rule::MinLength(count()?)),
            "maxLength" => rules.push(Rule::MaxLength(count()?)),
            other => return Err(format!("{other:?} is not a constraint strata checks")),
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn package(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn constraints_keys_and_tag_rules_are_read() {
        let p = package(json!({
            "tags": ["finance"],
            "rules": [{"tag": "finance", "columns": "tagged"}],
            "resources": [
                {"name": "people", "path": "p.csv", "schema": {
                    "primaryKey": "id",
                    "fields": [
                        {"name": "id", "type": "integer", "tags": {"PII": false}},
                        {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 150, "required": true}},
                        {"name": "code", "type": "string", "constraints": {"pattern": "[A-Z]{2}", "enum": ["AB", "CD"]}, "tags": ["x"]},
                        {"name": "team", "type": "integer"}
                    ],
                    "foreignKeys": [{"fields": "team", "reference": {"resource": "teams", "fields": "id"}}]
                }},
                {"name": "teams", "path": "t.csv", "schema": {"fields": [{"name": "id", "type": "integer", "tags": {"PII": false}}]}}
            ]
        }));
        let c = read(&p, |_| true).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].primary_key, ["id"]);
        let mut rules: Vec<&str> = c[0].columns[1].2.iter().map(Rule::name).collect();
        rules.sort_unstable();
        assert_eq!(rules, ["maximum", "minimum", "required"]);
        assert!(c[0].columns[1].2.contains(&Rule::Maximum(json!(150))));
        assert_eq!(c[0].foreign_keys[0].resource, "teams");
        assert_eq!(
            c[0].untagged,
            vec![
                ("age".to_owned(), "finance".to_owned()),
                ("team".to_owned(), "finance".to_owned())
            ]
        );
        assert!(c[1].untagged.is_empty());
        assert!(c[0].reads_rows() && !c[1].reads_rows());
    }

    #[test]
    fn a_contract_that_cannot_be_read_is_refused_with_its_place() {
        let bad = [
            (
                json!({"name": "a", "type": "integer", "constraints": {"minimum": "zero"}}),
                "minimum",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"pattern": "("}}),
                "pattern does not compile",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"enum": []}}),
                "enum",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"maximum": 3}}),
                "applies to numbers",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"required": "yes"}}),
                "true or false",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"unknown": 1}}),
                "not a constraint",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"minLength": -1}}),
                "whole number",
            ),
            (
                json!({"name": "a", "type": "date", "constraints": {"minimum": "x' OR 1=1"}}),
                "ISO 8601",
            ),
            (
                json!({"name": "a", "type": "date", "constraints": {"maximum": "2024-13-45"}}),
                "ISO 8601",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"pattern": "a)|(b"}}),
                "pattern does not compile",
            ),
            (
                json!({"name": "a", "type": "string", "constraints": {"maxLength": 18446744073709551615u64}}),
                "whole number",
            ),
            (
                json!({"name": "a", "type": "integer", "constraints": {"enum": [1, "two"]}}),
                "is not a integer",
            ),
        ];
        for (field, says) in bad {
            let p = package(json!({"resources": [{"name": "t", "schema": {"fields": [field]}}]}));
            let e = read(&p, |_| true).unwrap_err();
            assert!(
                e.message.contains(says)
                    && e.message.contains("\"t\"")
                    && e.message.contains("\"a\""),
                "{says}: {}",
                e.message
            );
        }
        let keys = [
            json!({"fields": [{"name": "a"}], "primaryKey": "b"}),
            json!({"fields": [{"name": "a"}], "primaryKey": 3}),
            json!({"fields": [{"name": "a"}], "foreignKeys": [{"fields": "a", "reference": {"resource": "nope", "fields": "x"}}]}),
            json!({"fields": [{"name": "a"}], "foreignKeys": [{"fields": "a", "reference": {"resource": "", "fields": "zz"}}]}),
            json!({"fields": [{"name": "a"}], "foreignKeys": [{"fields": ["a"], "reference": {"resource": "", "fields": ["a", "a"]}}]}),
            json!({"fields": [{"name": "a"}], "foreignKeys": {}}),
        ];
        for schema in keys {
            let p = package(json!({"resources": [{"name": "t", "schema": schema}]}));
            assert!(read(&p, |_| true).is_err(), "{schema}");
        }
        let p = package(json!({"rules": [{"tag": "finance"}], "resources": []}));
        assert!(read(&p, |_| true).is_err());
    }
}
