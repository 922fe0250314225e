//! The metastore's rules about files: a file never silently turns into a folder (or back), and a
//! file's versions are the revisions that have it.

use strata_metastore::{Error, Op};

mod common;
use common::{meta, person, store, DS};

#[test]
fn a_file_never_silently_becomes_a_folder_or_back() {
    let (_dir, store) = store();
    let bob = person("bob");
    let put = |path: &str| Op::Put {
        path: path.into(),
        data: b"x".to_vec(),
    };
    let del = |path: &str| Op::Delete { path: path.into() };
    let base = store
        .commit(
            DS,
            &meta(None, &bob, "base"),
            &[put("notes.txt"), put("docs/a.md"), put("docs/deep/b.md")],
        )
        .unwrap();
    // Inside a file, over a folder, or both at once: refused, nothing written.
    for (ops, conflict) in [
        (vec![put("notes.txt/inner.txt")], true),
        (vec![put("notes.txt/deeper/inner.txt")], true),
        (vec![put("docs")], true),
        (vec![put("docs/deep")], true),
        // Deleting only some of the folder's files does not make room for a file.
        (vec![del("docs/a.md"), put("docs")], true),
        (vec![put("new"), put("new/inner.txt")], false),
    ] {
        let err = store
            .commit(DS, &meta(Some(base), &bob, "bad"), &ops)
            .unwrap_err();
        match (conflict, &err) {
            (true, Error::Conflict(_)) | (false, Error::Invalid(_)) => {}
            _ => panic!("{ops:?}: {err:?}"),
        }
    }
    assert_eq!(store.resolve(DS, None).unwrap(), base);
    assert_eq!(store.read_file(DS, None, "notes.txt").unwrap(), b"x");
    // Said outright (the file or every file of the folder deleted in the same commit): allowed.
    let one = store
        .commit(
            DS,
            &meta(Some(base), &bob, "notes become a folder"),
            &[del("notes.txt"), put("notes.txt/inner.txt")],
        )
        .unwrap();
    assert_eq!(store.stat(DS, None, "notes.txt").unwrap(), Some(true));
    store
        .commit(
            DS,
            &meta(Some(one), &bob, "docs become a file"),
            &[del("docs/a.md"), del("docs/deep/b.md"), put("docs")],
        )
        .unwrap();
    assert_eq!(store.stat(DS, None, "docs").unwrap(), Some(false));
}

#[test]
fn versions_are_the_revisions_that_have_the_file() {
    let (_dir, store) = store();
    let bob = person("bob");
    let mut parent = None;
    for (message, op) in [
        (
            "one",
            Op::Put {
                path: "a.txt".into(),
                data: b"1".to_vec(),
            },
        ),
        (
            "other",
            Op::Put {
                path: "b.txt".into(),
                data: b"b".to_vec(),
            },
        ),
        (
            "gone",
            Op::Delete {
                path: "a.txt".into(),
            },
        ),
        (
            "back",
            Op::Put {
                path: "a.txt".into(),
                data: b"1".to_vec(),
            },
        ),
        (
            "two",
            Op::Put {
                path: "a.txt".into(),
                data: b"2".to_vec(),
            },
        ),
    ] {
        parent = Some(
            store
                .commit(DS, &meta(parent, &bob, message), &[op])
                .unwrap(),
        );
    }
    let messages = |list: Vec<strata_metastore::Revision>| -> Vec<String> {
        list.into_iter().map(|r| r.message).collect()
    };
    let (all, _) = store.versions(DS, None, None, 10, "a.txt").unwrap();
    assert_eq!(messages(all), ["two", "back", "one"]);
    // Paged like the revisions.
    let (first, next) = store.versions(DS, None, None, 2, "a.txt").unwrap();
    assert_eq!(messages(first), ["two", "back"]);
    let (rest, next) = store
        .versions(DS, None, next.as_deref(), 2, "a.txt")
        .unwrap();
    assert_eq!((messages(rest), next), (vec!["one".to_owned()], None));
    // The history of the path still has the deletion.
    let (touched, _) = store.revisions(DS, None, None, 10, Some("a.txt")).unwrap();
    assert_eq!(messages(touched), ["two", "back", "gone", "one"]);
}

#[test]
fn a_write_that_changes_nothing_makes_no_revision() {
    let (_dir, store) = store();
    let bob = person("bob");
    let put = |path: &str, data: &[u8]| Op::Put {
        path: path.into(),
        data: data.to_vec(),
    };
    let first = store
        .commit(
            DS,
            &meta(None, &bob, "first"),
            &[put("a.txt", b"1"), put("b.txt", b"2")],
        )
        .unwrap();
    // The same content again: the head is the answer, and history is as it was.
    let again = store
        .commit(DS, &meta(Some(first), &bob, "again"), &[put("a.txt", b"1")])
        .unwrap();
    assert_eq!(again, first);
    let reverted = store
        .revert(DS, &meta(Some(first), &bob, "revert"), &first.to_string())
        .unwrap();
    assert_eq!(reverted, first);
    assert_eq!(store.resolve(DS, None).unwrap(), first);
    let (all, _) = store.revisions(DS, None, None, 10, None).unwrap();
    assert_eq!(all.len(), 1);
    // What a write would add to git: the content not at its path already.
    let counts = |_: &str, _: u64, _: &[u8]| true;
    let ops = [
        put("a.txt", b"1"),
        put("b.txt", b"22"),
        put("c.txt", b"333"),
    ];
    assert_eq!(store.added_bytes(DS, Some(first), &ops, counts).unwrap(), 5);
    assert_eq!(store.added_bytes(DS, None, &ops, counts).unwrap(), 6);
    let none = |_: &str, _: u64, _: &[u8]| false;
    assert_eq!(store.added_bytes(DS, None, &ops, none).unwrap(), 0);
}

#[test]
fn a_datapackage_without_bytes_and_hash_takes_them_from_its_pointers() {
    let (_dir, store) = store();
    let bob = person("bob");
    let data = b"x,y\n1,2\n";
    let pointer = strata_lfs::pointer::Pointer {
        oid: strata_lfs::Oid::of(data),
        size: data.len() as u64,
    };
    let package = serde_json::json!({"name": "d", "resources": [{"name": "t", "path": "t.csv"}]});
    store
        .commit(
            DS,
            &meta(None, &bob, "hand-written"),
            &[
                Op::Put {
                    path: "datapackage.json".into(),
                    data: package.to_string().into_bytes(),
                },
                Op::Put {
                    path: "t.csv".into(),
                    data: pointer.encode().into_bytes(),
                },
            ],
        )
        .unwrap();
    let (_, read) = store.fetch(DS, None).unwrap();
    let r = &read.resources[0];
    assert_eq!((r.oid, r.size), (pointer.oid, pointer.size));
    assert_eq!(
        read.json["resources"][0]["hash"],
        format!("sha256:{}", pointer.oid)
    );
    assert_eq!(read.json["resources"][0]["bytes"], data.len());
}
