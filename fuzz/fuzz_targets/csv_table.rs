//! A CSV table of any dialect (the delimiter a datapackage's `dialect` names) through a policy's
//! plan, as every governed read serves it: the first column redacted, the second hashed, rows
//! filtered on the third. What comes out is well-formed whatever the cells hold (quotes,
//! delimiters, line ends, invalid UTF-8): every row has the header's fields, the redacted column
//! holds only the redaction, and the Arrow read of the same plan has as many rows.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use strata_policy::table::{self, Hasher, Plan};
use strata_policy::Decision;

fuzz_target!(|data: &[u8]| {
    let Some((&dialect, csv)) = data.split_first() else {
        return;
    };
    let delimiter = [b',', b';', b'\t', b'|'][usize::from(dialect) % 4];
    let Ok((mut records, header)) = table::open_with(csv, delimiter) else {
        return;
    };
    let mut rules = vec![json!({"action": {"name": "RedactAction", "columns": [header[0]]}})];
    if let Some(second) = header.get(1).filter(|h| **h != header[0]) {
        rules.push(json!({"action": {"name": "HashAction", "columns": [second]}}));
    }
    if let Some(third) = header.get(2) {
        rules.push(json!({"action": {"name": "FilterAction",
            "filters": [{"column": third, "op": "ne", "value": "x"}]}}));
    }
    let decision = Decision::from_rules(&json!(rules)).unwrap();
    let Ok(plan) = Plan::new(&header, &HashMap::new(), &decision, None, Hasher::new(b"k")) else {
        return;
    };
    let mut out = Vec::new();
    let Ok(rows) = table::write_csv(&mut records, &plan, &mut out) else {
        return;
    };
    let width = plan.schema().fields().len();
    let redacted = plan
        .schema()
        .fields()
        .iter()
        .position(|f| f.name() == &header[0]);
    let (mut again, names) = table::open_with(&out[..], b',').expect("the output has a header");
    assert_eq!(names.len(), width);
    let mut n = 0;
    let mut marks = std::collections::BTreeSet::new();
    while let Some(r) = again.next_record().expect("the output reads back") {
        assert_eq!(r.len(), width, "row {n} of {out:?}");
        if let Some(i) = redacted {
            marks.insert(r.get(i).to_vec());
        }
        n += 1;
    }
    assert_eq!(n, rows);
    assert!(marks.len() <= 1, "redacted cells differ: {marks:?}");
    let (mut records, _) = table::open_with(csv, delimiter).unwrap();
    let mut arrow_rows = 0;
    let read = table::batches(&mut records, &plan, |b| {
        arrow_rows += b.num_rows() as u64;
        Ok(())
    });
    if let Ok(counted) = read {
        assert_eq!((counted, arrow_rows), (rows, rows));
    }
});
