//! Git LFS pointer files, as a push or a commit hands them to strata: what parses is a pointer
//! that encodes back to itself, and the lenient reader never finds one the strict one refuses
//! with a different oid or size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_lfs::pointer::{self, Pointer};

fuzz_target!(|data: &[u8]| {
    let strict = Pointer::parse(data);
    if let Ok(p) = &strict {
        let again = Pointer::parse(p.encode().as_bytes()).expect("an encoded pointer parses");
        assert_eq!(&again, p);
        assert_eq!(
            pointer::lenient(data),
            Some(*p),
            "lenient disagrees with strict"
        );
    }
    if let Some(p) = pointer::lenient(data) {
        assert_eq!(Pointer::parse(p.encode().as_bytes()), Ok(p));
    }
});
