//! What strangers send, generated: schemathesis over every operation of the OpenAPI document,
//! anonymous and signed in. The parsers' own fuzzers are `cargo fuzz` targets under `fuzz/`
//! (`scripts/fuzz.sh`).

mod operations;
