//! The tabular transform alone, without HTTP: a CSV file read (records only), then read through
//! Fybrik's redaction of three columns as CSV, as an Arrow IPC stream and as Parquet (a view), each
//! into a sink, on one thread and then on every core, in MiB/s of the input. Columns are text
//! unless `TABLE_TYPES` names some (`amount:number,step:integer`); `TABLE_MODES` picks modes.
//!
//! `cargo run --release -p strata-policy --example table_bench <file.csv>`

use std::collections::HashMap;
use std::time::Instant;
use strata_policy::table::{self, FieldType, Hasher, Plan};
use strata_policy::Decision;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let d = Decision::from_rules(&serde_json::json!([{"action": {"name": "RedactAction", "columns": ["nameOrig","oldbalanceOrg","newbalanceOrig"]}}])).unwrap();
    let size = std::fs::metadata(&path).unwrap().len() as f64;
    let threads = table::parallel::threads();
    let types: HashMap<String, FieldType> = std::env::var("TABLE_TYPES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| t.split_once(':'))
        .map(|(n, t)| (n.to_owned(), FieldType::from_frictionless(t)))
        .collect();
    for mode in [
        "read-only",
        "csv",
        "arrow",
        "csv-parallel",
        "arrow-parallel",
        "parquet",
        "parquet-parallel",
    ] {
        if std::env::var("TABLE_MODES").is_ok_and(|m| !m.split(',').any(|x| x == mode)) {
            continue;
        }
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
        let (mut r, header) = table::open(f).unwrap();
        let plan = Plan::new(&header, &types, &d, None, Hasher::new(b"k")).unwrap();
        let mut counted = Counted(0);
        let t = Instant::now();
        match mode {
            "read-only" => while r.next_record().unwrap().is_some() {},
            "csv" => {
                table::write_csv(&mut r, &plan, std::io::sink()).unwrap();
            }
            "csv-parallel" => {
                table::parallel::write_csv(r, &plan, std::io::sink(), threads).unwrap();
            }
            "parquet" => {
                table::write_parquet(r, &plan, &mut counted, 1).unwrap();
            }
            "parquet-parallel" => {
                table::write_parquet(r, &plan, &mut counted, threads).unwrap();
            }
            "arrow-parallel" => {
                table::parallel::write_arrow(r, &plan, std::io::sink(), threads).unwrap();
            }
            _ => {
                table::write_arrow(&mut r, &plan, std::io::sink()).unwrap();
            }
        }
        println!(
            "{mode}: {:.0} MiB/s{}",
            size / 1048576.0 / t.elapsed().as_secs_f64(),
            match counted.0 {
                0 => String::new(),
                n => format!(", {} MiB out", n >> 20),
            }
        );
    }
}

/// A sink that counts what it is given.
struct Counted(u64);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
