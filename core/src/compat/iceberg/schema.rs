//! A view's columns as Iceberg sees them: Arrow types as Iceberg's (v2), each column and nested
//! field with its kept field id (`crate::db` `iceberg_columns`), and the table's name mapping,
//! which tells readers which Parquet column is which id (strata's views carry names, not ids).
//! A column of a type Iceberg has none for (an unsigned 64-bit integer, a non-UTC time zone,
//! intervals…) is left out of the schema; it keeps its id in the mapping, so readers skip it.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::{json, Value};

/// A field's path as ids are kept by: its names from the top column down, as JSON.
fn key(path: &[&str]) -> String {
    serde_json::to_string(path).unwrap_or_default()
}

/// Every field path of `schema`, parents before their children.
pub fn paths(schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for f in schema.fields() {
        walk(&mut vec![f.name().as_str()], f.data_type(), &mut out);
    }
    out
}

fn walk<'a>(path: &mut Vec<&'a str>, ty: &'a DataType, out: &mut Vec<String>) {
    out.push(key(path));
    for (name, child) in children(ty) {
        path.push(name);
        walk(path, child.data_type(), out);
        path.pop();
    }
}

/// The nested fields of a type, named as Iceberg's name mapping names them.
fn children(ty: &DataType) -> Vec<(&str, &Field)> {
    match ty {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            vec![("element", f.as_ref())]
        }
        DataType::Struct(fields) => fields
            .iter()
            .map(|f| (f.name().as_str(), f.as_ref()))
            .collect(),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                vec![("key", kv[0].as_ref()), ("value", kv[1].as_ref())]
            }
            _ => Vec::new(),
        },
        DataType::Dictionary(_, v) => children(v),
        _ => Vec::new(),
    }
}

/// The Iceberg schema (JSON) of `schema` as schema `schema_id`, with the ids in `ids` (every
/// path of [`paths`] must have one).
pub fn iceberg(schema: &Schema, ids: &HashMap<String, i32>, schema_id: i32) -> Value {
    let fields: Vec<Value> = schema
        .fields()
        .iter()
        .filter_map(|f| field(&mut vec![f.name().as_str()], f, ids))
        .collect();
    json!({"type": "struct", "schema-id": schema_id, "fields": fields})
}

fn field<'a>(path: &mut Vec<&'a str>, f: &'a Field, ids: &HashMap<String, i32>) -> Option<Value> {
    let id = *ids.get(&key(path))?;
    let ty = ty(path, f.data_type(), ids)?;
    Some(json!({
        "id": id,
        "name": path.last().copied().unwrap_or_default(),
        "required": false,
        "type": ty,
    }))
}

/// Iceberg's type for `ty` (nested types with their fields' ids), if it has one.
fn ty<'a>(path: &mut Vec<&'a str>, ty: &'a DataType, ids: &HashMap<String, i32>) -> Option<Value> {
    use DataType as D;
    let name = match ty {
        D::Boolean => "boolean",
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 => "int",
        D::Int64 | D::UInt32 => "long",
        D::Float16 | D::Float32 => "float",
        D::Float64 => "double",
        D::Decimal128(p, s) if *s >= 0 => return Some(json!(format!("decimal({p}, {s})"))),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "string",
        D::Binary | D::LargeBinary | D::BinaryView => "binary",
        D::FixedSizeBinary(n) => return Some(json!(format!("fixed[{n}]"))),
        D::Date32 => "date",
        D::Time64(TimeUnit::Microsecond) => "time",
        D::Timestamp(_, None) => "timestamp",
        // Readers take a zone-aware column whose Arrow zone is UTC; another zone breaks some.
        D::Timestamp(_, Some(tz)) if matches!(tz.as_ref(), "UTC" | "+00:00" | "Etc/UTC" | "Z") => {
            "timestamptz"
        }
        D::Dictionary(_, v) => return self::ty(path, v, ids),
        D::List(_) | D::LargeList(_) | D::FixedSizeList(..) => {
            let [(name, item)] = children(ty)[..] else {
                return None;
            };
            path.push(name);
            let id = ids.get(&key(path)).copied();
            let element = self::ty(path, item.data_type(), ids);
            path.pop();
            return Some(json!({
                "type": "list",
                "element-id": id?,
                "element": element?,
                "element-required": false,
            }));
        }
        D::Map(..) => {
            let [(k, key_field), (v, value_field)] = children(ty)[..] else {
                return None;
            };
            let mut one = |name, f: &'a Field| {
                path.push(name);
                let got = ids
                    .get(&key(path))
                    .copied()
                    .zip(self::ty(path, f.data_type(), ids));
                path.pop();
                got
            };
            let (key_id, key_type) = one(k, key_field)?;
            let (value_id, value_type) = one(v, value_field)?;
            return Some(json!({
                "type": "map",
                "key-id": key_id,
                "key": key_type,
                "value-id": value_id,
                "value": value_type,
                "value-required": false,
            }));
        }
        D::Struct(_) => {
            let mut fields = Vec::new();
            for (name, child) in children(ty) {
                path.push(name);
                fields.extend(field(path, child, ids));
                path.pop();
            }
            return Some(json!({"type": "struct", "fields": fields}));
        }
        _ => return None,
    };
    Some(json!(name))
}

/// The table's name mapping (`schema.name-mapping.default`): every field it ever had, by name.
pub fn name_mapping(ids: &HashMap<String, i32>) -> String {
    #[derive(Default)]
    struct Node {
        id: Option<i32>,
        children: BTreeMap<String, Node>,
    }
    fn out(nodes: &BTreeMap<String, Node>) -> Vec<Value> {
        let mut all: Vec<(i32, Value)> = nodes
            .iter()
            .filter_map(|(name, n)| {
                let id = n.id?;
                let mut v = json!({"field-id": id, "names": [name]});
                if !n.children.is_empty() {
                    v["fields"] = Value::Array(out(&n.children));
                }
                Some((id, v))
            })
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, v)| v).collect()
    }
    let mut root = BTreeMap::<String, Node>::new();
    for (path, id) in ids {
        let Ok(names) = serde_json::from_str::<Vec<String>>(path) else {
            continue;
        };
        let mut level = &mut root;
        let last = names.len().saturating_sub(1);
        for (i, name) in names.into_iter().enumerate() {
            let n = level.entry(name).or_default();
            if i == last {
                n.id = Some(*id);
            }
            level = &mut n.children;
        }
    }
    Value::Array(out(&root)).to_string()
}

/// The highest id of `ids` (Iceberg's `last-column-id`).
pub fn last_id(ids: &HashMap<String, i32>) -> i32 {
    ids.values().copied().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ids(schema: &Schema) -> HashMap<String, i32> {
        paths(schema).into_iter().zip(1..).collect()
    }

    #[test]
    fn columns_and_nested_fields_have_their_ids_and_odd_types_are_left_out() {
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("tags", DataType::List(item), true),
            Field::new("big", DataType::UInt64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Paris".into())),
                true,
            ),
        ]);
        let ids = ids(&schema);
        assert_eq!(ids.len(), 6);
        let s = iceberg(&schema, &ids, 3);
        assert_eq!(s["schema-id"], 3);
        let fields = s["fields"].as_array().unwrap();
        let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["id", "name", "tags"]);
        assert_eq!(fields[0]["type"], "long");
        assert_eq!(fields[2]["type"]["type"], "list");
        assert_eq!(fields[2]["type"]["element-id"], 4);
        assert_eq!(last_id(&ids), 6);
        // The mapping names every field, those left out of the schema too.
        let mapping: Value = serde_json::from_str(&name_mapping(&ids)).unwrap();
        let top: Vec<&str> = mapping
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["names"][0].as_str().unwrap())
            .collect();
        assert_eq!(top, ["id", "name", "tags", "big", "at"]);
        assert_eq!(mapping[2]["fields"][0]["names"][0], "element");
        assert_eq!(mapping[2]["fields"][0]["field-id"], 4);
    }
}
