//! The three-way merge of what is not rows: the datapackage (by property, resources and schema
//! fields matched by name), `.gitattributes` (by line) and every other file (whole: one side's
//! change is taken, two different changes conflict). Pure functions over values; no git, no I/O.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One step of a location in a datapackage: an object's property, or the element of a list of
/// named objects (`resources`, `schema.fields`) with that `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Named(String),
}

/// A location as people read it: `resources[trips].schema.fields[fare]`.
pub fn shown(at: &[Seg]) -> String {
    let mut out = String::new();
    for s in at {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Named(n) => {
                out.push('[');
                out.push_str(n);
                out.push(']');
            }
        }
    }
    out
}

/// A place both sides changed differently: the three values there (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Clash {
    pub at: Vec<Seg>,
    pub base: Option<Value>,
    pub ours: Option<Value>,
    pub theirs: Option<Value>,
}

/// The merged datapackage, with ours at every clash until it is resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageMerge {
    pub json: Option<Value>,
    pub clashes: Vec<Clash>,
    /// Resources whose data (`hash` and `bytes`) both sides changed: merged row by row where
    /// they are tables, a clash at `resources[name].data` otherwise.
    pub both_data: Vec<String>,
}

/// Merges three datapackages (`None`: not there).
pub fn package(base: Option<&Value>, ours: Option<&Value>, theirs: Option<&Value>) -> PackageMerge {
    let mut out = PackageMerge::default();
    let mut at = Vec::new();
    out.json = merge(&mut at, base, ours, theirs, &mut out);
    out
}

fn merge(
    at: &mut Vec<Seg>,
    b: Option<&Value>,
    o: Option<&Value>,
    t: Option<&Value>,
    out: &mut PackageMerge,
) -> Option<Value> {
    if o == t || t == b {
        return o.cloned();
    }
    if o == b {
        return t.cloned();
    }
    match (o, t) {
        (Some(Value::Object(om)), Some(Value::Object(tm))) => {
            let bm = b.and_then(Value::as_object);
            Some(Value::Object(merge_map(at, bm, om, tm, out)))
        }
        (Some(Value::Array(oa)), Some(Value::Array(ta)))
            if named(oa)
                && named(ta)
                && b.is_none_or(|b| b.as_array().is_some_and(|a| named(a))) =>
        {
            let ba = b
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            Some(Value::Array(merge_named(at, ba, oa, ta, out)))
        }
        _ => {
            out.clashes.push(Clash {
                at: at.clone(),
                base: b.cloned(),
                ours: o.cloned(),
                theirs: t.cloned(),
            });
            o.cloned()
        }
    }
}

/// A resource's stored bytes are named by two properties that change together.
const DATA: [&str; 2] = ["hash", "bytes"];

fn merge_map(
    at: &mut Vec<Seg>,
    b: Option<&Map<String, Value>>,
    o: &Map<String, Value>,
    t: &Map<String, Value>,
    out: &mut PackageMerge,
) -> Map<String, Value> {
    let resource = match at.as_slice() {
        [Seg::Key(k), Seg::Named(n)] if k == "resources" => Some(n.clone()),
        _ => None,
    };
    let mut merged = Map::new();
    let keys: Vec<&String> = o
        .keys()
        .chain(t.keys().filter(|k| !o.contains_key(*k)))
        .collect();
    if let Some(name) = &resource {
        let data = |m: Option<&Map<String, Value>>| DATA.map(|k| m.and_then(|m| m.get(k)).cloned());
        let (bd, od, td) = (data(b), data(Some(o)), data(Some(t)));
        let take = if od == td || td == bd {
            od
        } else if od == bd {
            td
        } else {
            out.both_data.push(name.clone());
            od
        };
        for (k, v) in DATA.iter().zip(take) {
            if let Some(v) = v {
                merged.insert((*k).to_owned(), v);
            }
        }
    }
    for k in keys {
        if resource.is_some() && DATA.contains(&k.as_str()) {
            continue;
        }
        at.push(Seg::Key(k.clone()));
        if let Some(v) = merge(at, b.and_then(|b| b.get(k)), o.get(k), t.get(k), out) {
            merged.insert(k.clone(), v);
        }
        at.pop();
    }
    merged
}

/// A list of objects each with a distinct `name`.
fn named(list: &[Value]) -> bool {
    let mut seen = BTreeSet::new();
    list.iter().all(|v| {
        v.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| seen.insert(n))
    })
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn merge_named(
    at: &mut Vec<Seg>,
    b: &[Value],
    o: &[Value],
    t: &[Value],
    out: &mut PackageMerge,
) -> Vec<Value> {
    let find = |list: &'_ [Value], n: &str| list.iter().find(|v| name_of(v) == n).cloned();
    let mut names: Vec<String> = o.iter().map(|v| name_of(v).to_owned()).collect();
    names.extend(
        t.iter()
            .map(|v| name_of(v).to_owned())
            .filter(|n| !o.iter().any(|v| name_of(v) == n)),
    );
    let mut merged = Vec::new();
    for n in names {
        at.push(Seg::Named(n.clone()));
        let (bv, ov, tv) = (find(b, &n), find(o, &n), find(t, &n));
        if let Some(v) = merge(at, bv.as_ref(), ov.as_ref(), tv.as_ref(), out) {
            merged.push(v);
        }
        at.pop();
    }
    merged
}

/// Puts `value` at `at` in `json` (`None`: removes what is there); named elements missing are
/// appended.
pub fn set_at(json: &mut Value, at: &[Seg], value: Option<Value>) {
    let Some((last, parents)) = at.split_last() else {
        if let Some(v) = value {
            *json = v;
        }
        return;
    };
    let mut here = json;
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => here.as_object_mut().and_then(|m| m.get_mut(k)),
            Seg::Named(n) => here
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|v| name_of(v) == n)),
        };
        match next {
            Some(n) => here = n,
            None => return,
        }
    }
    match (last, value) {
        (Seg::Key(k), Some(v)) => {
            if let Some(m) = here.as_object_mut() {
                m.insert(k.clone(), v);
            }
        }
        (Seg::Key(k), None) => {
            if let Some(m) = here.as_object_mut() {
                m.remove(k);
            }
        }
        (Seg::Named(n), v) => {
            if let Some(a) = here.as_array_mut() {
                let i = a.iter().position(|e| name_of(e) == n);
                match (i, v) {
                    (Some(i), Some(v)) => a[i] = v,
                    (Some(i), None) => {
                        a.remove(i);
                    }
                    (None, Some(v)) => a.push(v),
                    (None, None) => {}
                }
            }
        }
    }
}

/// `.gitattributes` merged as a set of lines: ours, less the lines the source removed, plus the
/// lines it added.
pub fn lines(base: &str, ours: &str, theirs: &str) -> String {
    let (b, t): (BTreeSet<&str>, BTreeSet<&str>) =
        (base.lines().collect(), theirs.lines().collect());
    let o: Vec<&str> = ours.lines().collect();
    let mut out: Vec<&str> = o
        .iter()
        .copied()
        .filter(|l| !b.contains(l) || t.contains(l))
        .collect();
    for l in theirs.lines() {
        if !b.contains(l) && !out.contains(&l) {
            out.push(l);
        }
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_sided_changes_merge_and_two_differing_ones_clash() {
        let b = json!({"title": "a", "resources": [{"name": "r", "path": "r.csv", "hash": "h0", "bytes": 1}]});
        let o = json!({"title": "b", "resources": [{"name": "r", "path": "r.csv", "hash": "h1", "bytes": 2}]});
        let t = json!({"title": "a", "description": "d", "resources": [
            {"name": "r", "path": "r.csv", "hash": "h2", "bytes": 3},
            {"name": "s", "path": "s.csv", "hash": "h3", "bytes": 4}]});
        let m = package(Some(&b), Some(&o), Some(&t));
        let j = m.json.unwrap();
        assert_eq!(j["title"], "b");
        assert_eq!(j["description"], "d");
        assert_eq!(j["resources"].as_array().unwrap().len(), 2);
        assert_eq!(
            j["resources"][0]["hash"], "h1",
            "ours until the rows are merged"
        );
        assert_eq!(m.both_data, vec!["r".to_owned()]);
        assert!(m.clashes.is_empty());

        let t2 = json!({"title": "c", "resources": []});
        let m = package(Some(&b), Some(&o), Some(&t2));
        let shown_at: Vec<String> = m.clashes.iter().map(|c| shown(&c.at)).collect();
        assert_eq!(shown_at, vec!["title", "resources[r]"]);
    }

    #[test]
    fn schema_fields_merge_by_name() {
        let f = |fields: Value| json!({"resources": [{"name": "r", "path": "r.csv", "hash": "h", "bytes": 1, "schema": {"fields": fields}}]});
        let b = f(json!([{"name": "a", "type": "integer"}]));
        let o = f(json!([{"name": "a", "type": "integer"}, {"name": "x"}]));
        let t = f(json!([{"name": "a", "type": "number"}, {"name": "y"}]));
        let m = package(Some(&b), Some(&o), Some(&t));
        assert!(m.clashes.is_empty(), "{:?}", m.clashes);
        let fields = &m.json.unwrap()["resources"][0]["schema"]["fields"];
        assert_eq!(
            fields,
            &json!([{"name": "a", "type": "number"}, {"name": "x"}, {"name": "y"}])
        );
    }

    #[test]
    fn a_resolution_is_put_where_the_clash_was() {
        let mut j = json!({"resources": [{"name": "r", "schema": {"fields": [{"name": "a"}]}}]});
        let at = vec![
            Seg::Key("resources".into()),
            Seg::Named("r".into()),
            Seg::Key("schema".into()),
            Seg::Key("fields".into()),
            Seg::Named("a".into()),
        ];
        set_at(&mut j, &at, Some(json!({"name": "a", "type": "string"})));
        assert_eq!(j["resources"][0]["schema"]["fields"][0]["type"], "string");
        set_at(&mut j, &at[..2], None);
        assert_eq!(j["resources"], json!([]));
        assert_eq!(shown(&at), "resources[r].schema.fields[a]");
    }

    #[test]
    fn attribute_lines_merge_as_sets() {
        assert_eq!(lines("a\nb\n", "a\nb\nc\n", "b\nd\n"), "b\nc\nd\n");
        assert_eq!(lines("", "", ""), "");
    }
}
