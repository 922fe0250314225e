//! The tabular transform alone, without HTTP: a CSV file read (records only), then read through
//! Fybrik's redaction of three columns as CSV and as an Arrow IPC stream, each into a sink, on one
//! thread and then on every core, in MiB/s of the input.
//!
//! `cargo run --release -p strata-policy --example table_bench <file.csv>`

use std::collections::HashMap;
use std::time::Instant;
use strata_policy::table::{self, Hasher, Plan};
use strata_policy::Decision;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let d = Decision::from_rules(&serde_json::json!([{"action": {"name": "RedactAction", "columns": ["nameOrig","oldbalanceOrg","newbalanceOrig"]}}])).unwrap();
    let size = std::fs::metadata(&path).unwrap().len() as f64;
    let threads = table::parallel::threads();
    for mode in [
        "read-only",
        "csv",
        "arrow",
        "csv-parallel",
        "arrow-parallel",
    ] {
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
        let (mut r, header) = table::open(f).unwrap();
        let plan = Plan::new(&header, &HashMap::new(), &d, None, Hasher::new(b"k")).unwrap();
        let t = Instant::now();
        match mode {
            "read-only" => while r.next_record().unwrap().is_some() {},
            "csv" => {
                table::write_csv(&mut r, &plan, std::io::sink()).unwrap();
            }
            "csv-parallel" => {
                table::parallel::write_csv(r, &plan, std::io::sink(), threads).unwrap();
            }
            "arrow-parallel" => {
                table::parallel::write_arrow(r, &plan, std::io::sink(), threads).unwrap();
            }
            _ => {
                table::write_arrow(&mut r, &plan, std::io::sink()).unwrap();
            }
        }
        println!(
            "{mode}: {:.0} MiB/s",
            size / 1048576.0 / t.elapsed().as_secs_f64()
        );
    }
}
