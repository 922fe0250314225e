//! A commit's NDJSON as anyone with write access may POST it (strata's REST commit and the
//! Hugging Face Hub's `create_commit`): read into operations or refused with a 4xx, never a
//! panic; every LFS line becomes a valid pointer at its path, and no commit holds more than
//! `MAX_OPS` operations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_core::commits::ndjson::{self, MAX_OPS};
use strata_core::error::Kind;
use strata_lfs::pointer::Pointer;
use strata_metastore::Op;

fuzz_target!(|data: &[u8]| {
    match ndjson::parse(data) {
        Ok(commit) => {
            assert!(commit.ops.len() <= MAX_OPS);
            // Each LFS line is a put of a valid pointer at its path (other lines may put there too).
            for path in &commit.lfs_paths {
                let pointed = commit.ops.iter().any(|op| {
                    matches!(op, Op::Put { path: p, data } if p == path && Pointer::parse(data).is_ok())
                });
                assert!(pointed, "{path:?}");
            }
        }
        Err(e) => assert!(
            matches!(e.kind, Kind::Invalid | Kind::TooLarge),
            "{:?}",
            e.kind
        ),
    }
});
