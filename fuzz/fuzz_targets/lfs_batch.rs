//! A Git LFS batch request's JSON, as any client may POST it: each object checked (a valid one
//! is a sha256 oid and a size within the limit, an invalid one answers its own error code) and a
//! transfer adapter chosen, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_lfs::wire::{BatchRequest, Operation};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<BatchRequest>(data) else {
        return;
    };
    let max = 1 << 20;
    let checked = req.checked(max);
    assert_eq!(checked.len(), req.objects.len());
    for c in &checked {
        match c {
            Ok((oid, size)) => {
                assert_eq!(oid.to_string().len(), 64);
                assert!(req.operation == Operation::Download || *size <= max);
            }
            Err(e) => assert!(e.code == 409 || e.code == 422, "{}", e.code),
        }
    }
    for multipart in [false, true] {
        if let Ok(t) = req.transfer(multipart) {
            assert!(t == "basic" || (multipart && t == "multipart-basic"));
        }
    }
});
