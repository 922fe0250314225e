//! The metastore on real repositories, checked with the `git` CLI where git has an opinion.

use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use strata_lfs::Oid;
use strata_metastore::{DatasetId, Error, FileChangeKind, Metastore, Op, Package, WriteMeta};

mod common;
use common::{meta, person, store, DS};

fn resource(name: &str, path: &str, content: &str) -> Value {
    json!({"name": name, "path": path, "bytes": content.len(), "hash": format!("sha256:{}", Oid::of(content.as_bytes()))})
}

fn package(resources: Vec<Value>) -> Package {
    Package::from_json(json!({"name": "survey", "title": "Survey", "resources": resources}))
        .unwrap()
}

fn git(store_dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(store_dir.join("acme/survey.git"))
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn update_writes_pointers_and_removes_the_dropped_ones() {
    let (dir, store) = store();
    let alice = person("alice");
    let p1 = package(vec![
        resource("a", "data/a.csv", "1,2\n"),
        resource("b", "b.csv", "3\n"),
    ]);
    let lfs = Some("http://h/acme/survey.git/info/lfs");
    let r1 = store
        .update(DS, &meta(None, &alice, "first"), &p1, lfs)
        .unwrap();
    let (rev, fetched) = store.fetch(DS, None).unwrap();
    assert_eq!(rev.id, r1.to_string());
    assert_eq!(rev.author, alice);
    assert_eq!(rev.committer.name, "strata");
    assert_eq!(fetched.resources, p1.resources);

    let (_, tree) = store.tree(DS, None).unwrap();
    let paths: Vec<&str> = tree.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".gitattributes",
            ".lfsconfig",
            "b.csv",
            "data/a.csv",
            "datapackage.json"
        ]
    );
    let a = tree.iter().find(|e| e.path == "data/a.csv").unwrap();
    assert_eq!(a.lfs.unwrap().oid, Oid::of(b"1,2\n"));
    // git agrees: a valid repository, pointer files and attributes where git-lfs expects them.
    git(dir.path(), &["fsck", "--strict"]);
    let pointer = git(dir.path(), &["cat-file", "-p", "main:data/a.csv"]);
    assert!(pointer.starts_with("version https://git-lfs.github.com/spec/v1\noid sha256:"));
    let attrs = git(
        dir.path(),
        &[
            "check-attr",
            "--source",
            "main",
            "filter",
            "--",
            "data/a.csv",
            "other.csv",
        ],
    );
    assert!(
        attrs.contains("data/a.csv: filter: lfs")
            && attrs.contains("other.csv: filter: unspecified"),
        "{attrs}"
    );

    // Dropping resource b removes its pointer (metastore-lib left it behind).
    let p2 = package(vec![resource("a", "data/a.csv", "1,2\n")]);
    let r2 = store
        .update(DS, &meta(Some(r1), &alice, "drop b"), &p2, lfs)
        .unwrap();
    let (_, tree) = store.tree(DS, Some(&r2.to_string())).unwrap();
    assert!(!tree.iter().any(|e| e.path == "b.csv"));
    // The old revision still has it.
    assert!(!store
        .read_file(DS, Some(&r1.to_string()), "b.csv")
        .unwrap()
        .is_empty());
    let log = git(dir.path(), &["log", "--format=%s", "main"]);
    assert_eq!(log, "drop b\nfirst\n");
}

#[test]
fn two_writers_on_one_parent_never_both_win() {
    let (_dir, store) = store();
    let alice = person("alice");
    let base = store
        .update(DS, &meta(None, &alice, "base"), &package(vec![]), None)
        .unwrap();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let who = person(&format!("w{i}"));
                let p = package(vec![resource("r", "r.csv", &format!("{i}\n"))]);
                store.update(DS, &meta(Some(base), &who, "race"), &p, None)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict(_))))
        .count();
    assert_eq!((won, conflicts), (1, 7), "{results:?}");
    let (revs, _) = store.revisions(DS, None, None, 100, None).unwrap();
    assert_eq!(revs.len(), 2);
}

#[test]
fn stale_parent_applies_only_when_its_paths_are_untouched() {
    let (_dir, store) = store();
    let bob = person("bob");
    let base = store
        .update(DS, &meta(None, &bob, "base"), &package(vec![]), None)
        .unwrap();
    let put = |path: &str, data: &str| Op::Put {
        path: path.into(),
        data: data.as_bytes().to_vec(),
    };
    let one = store
        .commit(
            DS,
            &meta(Some(base), &bob, "notes"),
            &[put("docs/notes.md", "a")],
        )
        .unwrap();
    // Same parent, another path: applied on top of the new head.
    let two = store
        .commit(
            DS,
            &meta(Some(base), &bob, "readme"),
            &[put("README.md", "b")],
        )
        .unwrap();
    let rev = store.revision(DS, &two.to_string()).unwrap();
    assert_eq!(rev.parents, [one.to_string()]);
    assert_eq!(store.read_file(DS, None, "docs/notes.md").unwrap(), b"a");
    // Same parent, a path that changed since (or a file inside a changed directory): conflict.
    for path in ["docs/notes.md", "README.md"] {
        let err = store
            .commit(DS, &meta(Some(base), &bob, "late"), &[put(path, "c")])
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{path}: {err:?}");
    }
    let err = store
        .commit(DS, &meta(Some(base), &bob, "late"), &[put("docs", "c")])
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // A first commit on a branch that has revisions, and a parent from nowhere.
    assert!(matches!(
        store.commit(DS, &meta(None, &bob, "x"), &[put("x", "1")]),
        Err(Error::Conflict(_))
    ));
    // Bad input changes nothing.
    let head = store.resolve(DS, None).unwrap();
    for ops in [
        vec![put("../escape", "x")],
        vec![put("/abs", "x")],
        vec![put(".git/config", "x")],
        vec![put("a", "1"), put("a", "2")],
        vec![Op::Delete {
            path: "missing".into(),
        }],
    ] {
        let err = store
            .commit(DS, &meta(Some(head), &bob, "bad"), &ops)
            .unwrap_err();
        assert!(
            matches!(err, Error::Invalid(_) | Error::NotFound(_)),
            "{ops:?}: {err:?}"
        );
    }
    assert!(matches!(
        store.commit(DS, &meta(Some(head), &bob, "  "), &[put("x", "1")]),
        Err(Error::Invalid(_))
    ));
    assert_eq!(store.resolve(DS, None).unwrap(), head);
}

#[test]
fn revisions_page_and_filter_by_path() {
    let (_dir, store) = store();
    let alice = person("alice");
    let mut parent = None;
    for i in 0..25 {
        let path = if i % 5 == 0 {
            "special.txt"
        } else {
            "other.txt"
        };
        let op = Op::Put {
            path: path.into(),
            data: format!("{i}").into_bytes(),
        };
        parent = Some(
            store
                .commit(DS, &meta(parent, &alice, &format!("c{i}")), &[op])
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store
            .revisions(DS, None, cursor.as_deref(), 10, None)
            .unwrap();
        seen.extend(page.into_iter().map(|r| r.message));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..25).rev().map(|i| format!("c{i}")).collect();
    assert_eq!(seen, want);
    let (special, next) = store
        .revisions(DS, None, None, 100, Some("special.txt"))
        .unwrap();
    let msgs: Vec<&str> = special.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(msgs, ["c20", "c15", "c10", "c5", "c0"]);
    assert_eq!(next, None);
    assert!(matches!(
        store.revisions(DS, None, Some("zz"), 10, None),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn tags_and_branches() {
    let (dir, store) = store();
    let alice = person("alice");
    let r1 = store
        .update(DS, &meta(None, &alice, "one"), &package(vec![]), None)
        .unwrap();
    let tag = store
        .create_tag(DS, "v1.0", "main", &alice, "first release")
        .unwrap();
    assert_eq!(
        (tag.revision.as_str(), tag.description.as_str()),
        (r1.to_string().as_str(), "first release")
    );
    assert!(matches!(
        store.create_tag(DS, "v1.0", "main", &alice, ""),
        Err(Error::Conflict(_))
    ));
    for bad in ["", "-x", "a..b", "a b", "x.lock", "a/"] {
        assert!(
            matches!(
                store.create_tag(DS, bad, "main", &alice, ""),
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store.create_tag(DS, "v9", "nonexistent", &alice, ""),
        Err(Error::NotFound(_))
    ));
    // git sees an annotated tag.
    assert_eq!(git(dir.path(), &["cat-file", "-t", "v1.0"]), "tag\n");

    let edited = store
        .update_tag(DS, "v1.0", Some("better words"), None)
        .unwrap();
    assert_eq!(edited.description, "better words");
    assert_eq!(edited.created, tag.created);
    let cleared = store.update_tag(DS, "v1.0", Some(""), None).unwrap();
    assert_eq!(cleared.description, "");
    let renamed = store
        .update_tag(DS, "v1.0", None, Some("release-1"))
        .unwrap();
    assert_eq!(renamed.revision, r1.to_string());
    assert!(matches!(store.tag(DS, "v1.0"), Err(Error::NotFound(_))));
    store
        .create_tag(DS, "v2", &r1.to_string(), &alice, "")
        .unwrap();
    let clash = store.update_tag(DS, "release-1", None, Some("v2"));
    assert!(matches!(clash, Err(Error::Conflict(_))), "{clash:?}");
    assert!(
        store.tag(DS, "release-1").is_ok(),
        "a failed rename keeps the tag"
    );
    let names: Vec<String> = store
        .tags(DS)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names.len(), 2);
    store.delete_tag(DS, "v2").unwrap();
    assert!(matches!(
        store.delete_tag(DS, "v2"),
        Err(Error::NotFound(_))
    ));
    // Fetch by tag.
    let (rev, _) = store.fetch(DS, Some("release-1")).unwrap();
    assert_eq!(rev.id, r1.to_string());

    // Branches: create, write to one, list, delete.
    store.create_branch(DS, "draft", "main").unwrap();
    let op = Op::Put {
        path: "draft.txt".into(),
        data: b"wip".to_vec(),
    };
    let d = WriteMeta {
        branch: "draft",
        parent: Some(r1),
        author: &alice,
        message: "wip",
    };
    store.commit(DS, &d, &[op]).unwrap();
    assert!(store.read_file(DS, Some("draft"), "draft.txt").is_ok());
    assert!(matches!(
        store.read_file(DS, None, "draft.txt"),
        Err(Error::NotFound(_))
    ));
    // A branch named after main's head commit id does not stand for that commit: a full id
    // always means its commit (as in git), so an id resolved once can be passed on safely.
    let head = store.resolve(DS, None).unwrap().to_string();
    store.create_branch(DS, &head, "draft").unwrap();
    assert_eq!(store.resolve(DS, Some(&head)).unwrap().to_string(), head);
    assert!(store.read_file(DS, Some(&head), "draft.txt").is_err());
    store.delete_branch(DS, &head).unwrap();
    let branches = store.branches(DS).unwrap();
    assert_eq!(branches[0].0, "main");
    assert_eq!(branches.len(), 2);
    assert!(matches!(
        store.create_branch(DS, "draft", "main"),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        store.delete_branch(DS, "main"),
        Err(Error::Invalid(_))
    ));
    store.delete_branch(DS, "draft").unwrap();
    assert_eq!(store.branches(DS).unwrap().len(), 1);
}

#[test]
fn diff_and_revert() {
    let (_dir, store) = store();
    let alice = person("alice");
    let mut with_schema = resource("a", "a.csv", "x");
    with_schema["schema"] =
        json!({"fields": [{"name": "id", "type": "integer"}, {"name": "age", "type": "integer"}]});
    let p1 = package(vec![
        with_schema,
        resource("b", "b.csv", "y"),
        resource("c", "c.csv", "z"),
    ]);
    let r1 = store
        .update(DS, &meta(None, &alice, "one"), &p1, None)
        .unwrap();

    let mut changed = resource("a", "a.csv", "xx");
    changed["schema"] =
        json!({"fields": [{"name": "id", "type": "integer"}, {"name": "age", "type": "number"}]});
    let mut moved = resource("c", "moved/c.csv", "z");
    moved["description"] = json!("moved");
    let p2 = package(vec![changed, moved, resource("d", "d.csv", "w")]);
    let r2 = store
        .update(DS, &meta(Some(r1), &alice, "two"), &p2, None)
        .unwrap();

    let diff = store.diff(DS, &r1.to_string(), &r2.to_string()).unwrap();
    let summary: Vec<(String, &str, Vec<String>)> = diff
        .resources
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.change,
                r.fields.iter().map(|f| f.field.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "a".into(),
                "changed",
                vec!["bytes".into(), "hash".into(), "schema.fields.age".into()]
            ),
            ("b".into(), "removed", vec![]),
            (
                "c".into(),
                "changed",
                vec!["description".into(), "path".into()]
            ),
            ("d".into(), "added", vec![]),
        ]
    );
    let files: Vec<(FileChangeKind, &str, Option<&str>)> = diff
        .files
        .iter()
        .map(|f| (f.kind, f.path.as_str(), f.old_path.as_deref()))
        .collect();
    assert!(
        files.contains(&(FileChangeKind::Modified, "a.csv", None)),
        "{files:?}"
    );
    assert!(
        files.contains(&(FileChangeKind::Deleted, "b.csv", None)),
        "{files:?}"
    );
    assert!(
        files.contains(&(FileChangeKind::Added, "d.csv", None)),
        "{files:?}"
    );
    assert!(
        files.contains(&(FileChangeKind::Renamed, "moved/c.csv", Some("c.csv"))),
        "{files:?}"
    );

    // Revert to r1: a new commit on top of r2 with r1's tree.
    let r3 = store
        .revert(DS, &meta(Some(r2), &alice, "back to one"), &r1.to_string())
        .unwrap();
    let (rev, package) = store.fetch(DS, None).unwrap();
    assert_eq!(rev.id, r3.to_string());
    assert_eq!(rev.parents, [r2.to_string()]);
    assert_eq!(package.resources, p1.resources);
    assert!(store
        .diff(DS, &r1.to_string(), &r3.to_string())
        .unwrap()
        .files
        .is_empty());
    // A revert on a stale parent is a conflict.
    assert!(matches!(
        store.revert(DS, &meta(Some(r2), &alice, "again"), &r1.to_string()),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn missing_things_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Metastore::new(dir.path(), person("strata"));
    assert!(matches!(store.fetch(DS, None), Err(Error::NotFound(_))));
    store.create(DS).unwrap();
    assert!(matches!(store.create(DS), Err(Error::Conflict(_))));
    assert!(matches!(store.fetch(DS, None), Err(Error::NotFound(_))));
    assert_eq!(
        store.revisions(DS, None, None, 10, None).unwrap().0.len(),
        0
    );
    let bad = DatasetId {
        ns: "..",
        name: "x",
    };
    assert!(matches!(store.create(bad), Err(Error::Invalid(_))));
    store.delete(DS).unwrap();
    assert!(matches!(store.delete(DS), Err(Error::NotFound(_))));
}

#[test]
fn tags_of_non_commits_never_break_the_tag_list() {
    let (dir, store) = store();
    let alice = person("alice");
    let r1 = store
        .update(DS, &meta(None, &alice, "base"), &package(vec![]), None)
        .unwrap();
    store
        .create_tag(DS, "v1", &r1.to_string(), &alice, "first")
        .unwrap();
    // A tag of a blob, as an old push could have made.
    let blob = git(dir.path(), &["rev-parse", "main:datapackage.json"]);
    git(dir.path(), &["tag", "blobtag", blob.trim()]);
    let tags = store.tags(DS).unwrap();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags[0].name, "v1");
    assert!(matches!(store.tag(DS, "blobtag"), Err(Error::NotFound(_))));
}
