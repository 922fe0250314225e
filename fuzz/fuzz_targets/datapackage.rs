//! `datapackage.json` as a push, a commit or an edit stores it: what validates writes back as
//! bytes that validate to the same package, and each resource is at a path a revision may hold,
//! with its pointer among the files the package puts in a revision.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_metastore::{check_path, Package};

fuzz_target!(|data: &[u8]| {
    let Ok(package) = Package::from_bytes(data) else {
        return;
    };
    let again = Package::from_bytes(&package.to_bytes()).expect("written bytes validate");
    assert_eq!(again, package);
    let files = package.files(Some("https://example.org/a/b.git/info/lfs"));
    for r in &package.resources {
        assert_eq!(check_path(&r.path), Ok(()), "{:?}", r.path);
        assert!(files.contains_key(&r.path), "{:?}", r.path);
    }
});
