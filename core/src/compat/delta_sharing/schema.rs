//! A view's Arrow schema as Delta writes a table's schema (`schemaString`: Spark's `StructType`
//! as JSON), in the types Delta Sharing clients convert: `long`, `integer`, `short`, `byte`,
//! `float`, `double`, `boolean`, `string`, `binary`, `date`, `timestamp`, `decimal(p,s)`, and
//! arrays, maps and structs of them. A type Delta has no name for is a `string`.

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::{json, Value};

/// The `schemaString` of `schema`.
pub fn schema_string(schema: &Schema) -> String {
    let fields: Vec<Value> = schema.fields().iter().map(|f| field(f)).collect();
    json!({"type": "struct", "fields": fields}).to_string()
}

fn field(f: &Field) -> Value {
    json!({
        "name": f.name(),
        "type": of(f.data_type()),
        "nullable": f.is_nullable(),
        "metadata": {},
    })
}

fn of(t: &DataType) -> Value {
    let name = match t {
        DataType::Int64 | DataType::UInt32 => "long",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int16 | DataType::UInt8 => "short",
        DataType::Int8 => "byte",
        DataType::UInt64 => "decimal(20,0)",
        DataType::Float16 | DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Boolean => "boolean",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary",
        DataType::FixedSizeBinary(_) => "binary",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(..) => "timestamp",
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            return json!(format!("decimal({},{})", (*p).min(38), s))
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            return json!({"type": "array", "elementType": of(f.data_type()), "containsNull": f.is_nullable()})
        }
        DataType::Map(entries, _) => {
            if let DataType::Struct(kv) = entries.data_type() {
                if let [k, v] = &kv[..] {
                    return json!({"type": "map", "keyType": of(k.data_type()),
                        "valueType": of(v.data_type()), "valueContainsNull": v.is_nullable()});
                }
            }
            "string"
        }
        DataType::Struct(fields) => {
            let fields: Vec<Value> = fields.iter().map(|f| field(f)).collect();
            return json!({"type": "struct", "fields": fields});
        }
        DataType::Dictionary(_, v) => return of(v),
        _ => "string",
    };
    json!(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn delta_names_each_type() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(10, 2), true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("name", DataType::Utf8, true),
            Field::new_list("tags", Field::new("item", DataType::Utf8, true), true),
        ]);
        let v: Value = serde_json::from_str(&schema_string(&schema)).unwrap();
        assert_eq!(v["type"], "struct");
        let types: Vec<&Value> = v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["type"])
            .collect();
        assert_eq!(types[0], "long");
        assert_eq!(types[1], "decimal(10,2)");
        assert_eq!(types[2], "timestamp");
        assert_eq!(types[3], "string");
        assert_eq!(types[4]["elementType"], "string");
        assert_eq!(v["fields"][0]["nullable"], false);
        assert_eq!(v["fields"][0]["metadata"], json!({}));
    }
}
