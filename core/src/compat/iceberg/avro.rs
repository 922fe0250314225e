//! The Avro files of an Iceberg snapshot, as the spec (format version 2) writes them: its
//! manifest list, naming one manifest, which names one data file (the caller's view of the table
//! at that revision). Schemas with the spec's field ids, as PyIceberg and Java write them.

use std::sync::OnceLock;

use apache_avro::types::Value;
use apache_avro::{Schema, Writer};

use crate::error::{Error, Result};

const MANIFEST_LIST: &str = r#"{"type":"record","name":"manifest_file","fields":[
 {"name":"manifest_path","type":"string","field-id":500},
 {"name":"manifest_length","type":"long","field-id":501},
 {"name":"partition_spec_id","type":"int","field-id":502},
 {"name":"content","type":"int","field-id":517},
 {"name":"sequence_number","type":"long","field-id":515},
 {"name":"min_sequence_number","type":"long","field-id":516},
 {"name":"added_snapshot_id","type":"long","field-id":503},
 {"name":"added_files_count","type":"int","field-id":504},
 {"name":"existing_files_count","type":"int","field-id":505},
 {"name":"deleted_files_count","type":"int","field-id":506},
 {"name":"added_rows_count","type":"long","field-id":512},
 {"name":"existing_rows_count","type":"long","field-id":513},
 {"name":"deleted_rows_count","type":"long","field-id":514},
 {"name":"partitions","default":null,"field-id":507,"type":["null",{"type":"array","element-id":508,"items":
   {"type":"record","name":"r508","fields":[
    {"name":"contains_null","type":"boolean","field-id":509},
    {"name":"contains_nan","type":["null","boolean"],"default":null,"field-id":518},
    {"name":"lower_bound","type":["null","bytes"],"default":null,"field-id":510},
    {"name":"upper_bound","type":["null","bytes"],"default":null,"field-id":511}]}}]},
 {"name":"key_metadata","type":["null","bytes"],"default":null,"field-id":519}]}"#;

/// A map as Iceberg writes one in Avro: an array of key/value records.
fn map(field: &str, id: u32, value: &str) -> String {
    let (k, v) = match field {
        "column_sizes" => (117, 118),
        "value_counts" => (119, 120),
        "null_value_counts" => (121, 122),
        "lower_bounds" => (126, 127),
        _ => (129, 130),
    };
    format!(
        r#"{{"name":"{field}","field-id":{id},"default":null,"type":["null",{{"type":"array","logicalType":"map","items":
    {{"type":"record","name":"k{k}_v{v}","fields":[{{"name":"key","type":"int","field-id":{k}}},{{"name":"value","type":"{value}","field-id":{v}}}]}}}}]}}"#
    )
}

fn manifest_schema() -> String {
    format!(
        r#"{{"type":"record","name":"manifest_entry","fields":[
 {{"name":"status","type":"int","field-id":0}},
 {{"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1}},
 {{"name":"sequence_number","type":["null","long"],"default":null,"field-id":3}},
 {{"name":"file_sequence_number","type":["null","long"],"default":null,"field-id":4}},
 {{"name":"data_file","field-id":2,"type":{{"type":"record","name":"r2","fields":[
  {{"name":"content","type":"int","field-id":134}},
  {{"name":"file_path","type":"string","field-id":100}},
  {{"name":"file_format","type":"string","field-id":101}},
  {{"name":"partition","field-id":102,"type":{{"type":"record","name":"r102","fields":[]}}}},
  {{"name":"record_count","type":"long","field-id":103}},
  {{"name":"file_size_in_bytes","type":"long","field-id":104}},
  {},
  {},
  {},
  {},
  {},
  {{"name":"key_metadata","type":["null","bytes"],"default":null,"field-id":131}},
  {{"name":"split_offsets","type":["null",{{"type":"array","items":"long","element-id":133}}],"default":null,"field-id":132}},
  {{"name":"sort_order_id","type":["null","int"],"default":null,"field-id":140}}]}}}}]}}"#,
        map("column_sizes", 108, "long"),
        map("value_counts", 109, "long"),
        map("null_value_counts", 110, "long"),
        map("lower_bounds", 125, "bytes"),
        map("upper_bounds", 128, "bytes"),
    )
}

/// Parses a schema, giving back what parsing drops: arrays of key/value records are Iceberg's
/// maps (`"logicalType": "map"`), which readers need to be told.
fn parse(text: &str) -> Schema {
    fn restore(s: &mut Schema) {
        match s {
            Schema::Array(a) => {
                if let Schema::Record(r) = a.items.as_ref() {
                    let names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
                    if names == ["key", "value"] {
                        a.attributes.insert("logicalType".into(), "map".into());
                    }
                }
                restore(&mut a.items);
            }
            Schema::Union(u) => {
                let mut variants = u.variants().to_vec();
                variants.iter_mut().for_each(restore);
                if let Ok(v) = apache_avro::schema::UnionSchema::new(variants) {
                    *u = v;
                }
            }
            Schema::Record(r) => r.fields.iter_mut().for_each(|f| restore(&mut f.schema)),
            _ => {}
        }
    }
    let mut schema = Schema::parse_str(text).expect("the spec's Avro schema");
    restore(&mut schema);
    schema
}

fn schemas() -> &'static (Schema, Schema) {
    static SCHEMAS: OnceLock<(Schema, Schema)> = OnceLock::new();
    SCHEMAS.get_or_init(|| (parse(MANIFEST_LIST), parse(&manifest_schema())))
}

/// One data file: the caller's view of a table at one revision.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: String,
    pub rows: u64,
    pub size: u64,
    /// Per field id: the bytes of its column, its values, its nulls, and its bounds in
    /// Iceberg's single-value form.
    pub stats: Vec<ColumnStats>,
}

#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    pub id: i32,
    pub size: u64,
    pub values: u64,
    /// `None` when a row group does not say.
    pub nulls: Option<u64>,
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

/// A snapshot's place: its id, sequence number and schema (JSON, with its id).
pub struct Snapshot<'a> {
    pub id: i64,
    pub sequence: i64,
    pub schema: &'a serde_json::Value,
}

/// Deflate, which every reader takes (PyIceberg takes a file naming no codec for gzip).
fn codec() -> apache_avro::Codec {
    apache_avro::Codec::Deflate(apache_avro::DeflateSettings::default())
}

fn avro_error(e: apache_avro::Error) -> Error {
    Error::internal(format!("writing an Iceberg manifest: {e}"))
}

fn long(v: u64) -> Value {
    Value::Long(i64::try_from(v).unwrap_or(i64::MAX))
}

fn some(v: Value) -> Value {
    Value::Union(1, Box::new(v))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

/// A map of [`ColumnStats`] as Avro: `Some` entries of `pick`, or null when there are none.
fn stats_map(stats: &[ColumnStats], pick: impl Fn(&ColumnStats) -> Option<Value>) -> Value {
    let entries: Vec<Value> = stats
        .iter()
        .filter_map(|s| {
            pick(s)
                .map(|v| Value::Record(vec![("key".into(), Value::Int(s.id)), ("value".into(), v)]))
        })
        .collect();
    if entries.is_empty() {
        none()
    } else {
        some(Value::Array(entries))
    }
}

/// The manifest naming `file` as added by `snap`.
pub fn manifest(snap: &Snapshot<'_>, file: &DataFile) -> Result<Vec<u8>> {
    let schema_id = snap.schema["schema-id"].as_i64().unwrap_or(0);
    let header = [
        ("schema", snap.schema.to_string()),
        ("schema-id", schema_id.to_string()),
        ("partition-spec", "[]".to_owned()),
        ("partition-spec-id", "0".to_owned()),
        ("format-version", "2".to_owned()),
        ("content", "data".to_owned()),
    ];
    let s = &file.stats;
    let data_file = Value::Record(vec![
        ("content".into(), Value::Int(0)),
        ("file_path".into(), Value::String(file.path.clone())),
        ("file_format".into(), Value::String("PARQUET".into())),
        ("partition".into(), Value::Record(Vec::new())),
        ("record_count".into(), long(file.rows)),
        ("file_size_in_bytes".into(), long(file.size)),
        ("column_sizes".into(), stats_map(s, |c| Some(long(c.size)))),
        (
            "value_counts".into(),
            stats_map(s, |c| Some(long(c.values))),
        ),
        (
            "null_value_counts".into(),
            stats_map(s, |c| c.nulls.map(long)),
        ),
        (
            "lower_bounds".into(),
            stats_map(s, |c| c.lower.clone().map(Value::Bytes)),
        ),
        (
            "upper_bounds".into(),
            stats_map(s, |c| c.upper.clone().map(Value::Bytes)),
        ),
        ("key_metadata".into(), none()),
        ("split_offsets".into(), none()),
        ("sort_order_id".into(), none()),
    ]);
    let entry = Value::Record(vec![
        ("status".into(), Value::Int(1)),
        ("snapshot_id".into(), some(Value::Long(snap.id))),
        // Inherited from the manifest list's entry, as for any file a snapshot adds.
        ("sequence_number".into(), none()),
        ("file_sequence_number".into(), none()),
        ("data_file".into(), data_file),
    ]);
    one_entry(&schemas().1, marker(snap.id, 1), &header, entry)
}

/// The manifest list of `snap`: the one manifest at `path`, `length` bytes, adding `rows`.
pub fn manifest_list(snap: &Snapshot<'_>, path: &str, length: u64, rows: u64) -> Result<Vec<u8>> {
    let header = [
        ("snapshot-id", snap.id.to_string()),
        ("parent-snapshot-id", "null".to_owned()),
        ("sequence-number", snap.sequence.to_string()),
        ("format-version", "2".to_owned()),
    ];
    let entry = Value::Record(vec![
        ("manifest_path".into(), Value::String(path.to_owned())),
        ("manifest_length".into(), long(length)),
        ("partition_spec_id".into(), Value::Int(0)),
        ("content".into(), Value::Int(0)),
        ("sequence_number".into(), Value::Long(snap.sequence)),
        ("min_sequence_number".into(), Value::Long(snap.sequence)),
        ("added_snapshot_id".into(), Value::Long(snap.id)),
        ("added_files_count".into(), Value::Int(1)),
        ("existing_files_count".into(), Value::Int(0)),
        ("deleted_files_count".into(), Value::Int(0)),
        ("added_rows_count".into(), long(rows)),
        ("existing_rows_count".into(), Value::Long(0)),
        ("deleted_rows_count".into(), Value::Long(0)),
        ("partitions".into(), some(Value::Array(Vec::new()))),
        ("key_metadata".into(), none()),
    ]);
    one_entry(&schemas().0, marker(snap.id, 2), &header, entry)
}

/// An Avro file of `schema` holding `entry`, its header carrying `header` too.
fn one_entry(
    schema: &Schema,
    marker: [u8; 16],
    header: &[(&str, String)],
    entry: Value,
) -> Result<Vec<u8>> {
    let mut w = Writer::builder()
        .schema(schema)
        .writer(Vec::new())
        .codec(codec())
        .marker(marker)
        .build()
        .map_err(avro_error)?;
    for (k, v) in header {
        w.add_user_metadata((*k).to_owned(), v)
            .map_err(avro_error)?;
    }
    w.append_value(entry).map_err(avro_error)?;
    w.into_inner().map_err(avro_error)
}

/// A file's sync marker, from what it is (the same file is the same bytes, made again).
fn marker(snapshot: i64, which: u8) -> [u8; 16] {
    let mut m = [which; 16];
    m[..8].copy_from_slice(&snapshot.to_le_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_and_its_list_read_back_with_their_maps_marked() {
        let schema = serde_json::json!({"type": "struct", "schema-id": 0, "fields": []});
        let snap = Snapshot {
            id: 42,
            sequence: 3,
            schema: &schema,
        };
        let file = DataFile {
            path: "s3://a.b/.iceberg/t/data/x.parquet".into(),
            rows: 10,
            size: 1234,
            stats: vec![ColumnStats {
                id: 1,
                size: 80,
                values: 10,
                nulls: Some(0),
                lower: Some(1i64.to_le_bytes().to_vec()),
                upper: Some(10i64.to_le_bytes().to_vec()),
            }],
        };
        let m = manifest(&snap, &file).unwrap();
        // Made again: the same bytes (a manifest list states its manifest's length).
        assert_eq!(manifest(&snap, &file).unwrap().len(), m.len());
        let reader = apache_avro::Reader::new(&m[..]).unwrap();
        let header = String::from_utf8_lossy(&m[..m.len().min(4000)]).to_string();
        assert!(header.contains(r#""logicalType":"map""#), "{header}");
        assert!(header.contains("partition-spec-id"));
        let entries: Vec<Value> = reader.map(|v| v.unwrap()).collect();
        assert_eq!(entries.len(), 1);
        let list = manifest_list(&snap, "s3://a.b/m.avro", m.len() as u64, 10).unwrap();
        let read: Vec<Value> = apache_avro::Reader::new(&list[..])
            .unwrap()
            .map(|v| v.unwrap())
            .collect();
        let Value::Record(fields) = &read[0] else {
            panic!("{read:?}")
        };
        assert_eq!(
            fields[1],
            ("manifest_length".into(), Value::Long(m.len() as i64))
        );
    }
}
