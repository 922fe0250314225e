//! Helpers shared by the metastore's test files: one dataset in a fresh store.

#![allow(dead_code)]

use strata_metastore::{DatasetId, Metastore, Person, WriteMeta};

pub const DS: DatasetId<'static> = DatasetId {
    ns: "acme",
    name: "survey",
};

pub fn person(name: &str) -> Person {
    Person {
        name: name.into(),
        email: format!("{name}@example.com"),
    }
}

pub fn store() -> (tempfile::TempDir, Metastore) {
    let dir = tempfile::tempdir().unwrap();
    let store = Metastore::new(dir.path(), person("strata"));
    store.create(DS).unwrap();
    (dir, store)
}

pub fn meta<'a>(
    parent: Option<gix::ObjectId>,
    author: &'a Person,
    message: &'a str,
) -> WriteMeta<'a> {
    WriteMeta {
        branch: "main",
        parent,
        author,
        message,
    }
}
