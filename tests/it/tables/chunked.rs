//! Table views kept as chunks: a table's Parquet view (written with content-defined pages) is cut
//! by the background chunker like any object of its dataset, its whole copy dropped, and read
//! from the chunks by every route. The view of the next revision, 1 % of its rows changed, shares
//! most of its chunks with the first and stores little. The views' xorbs count toward no usage
//! (views are a cache strata keeps), the tables' do. A collection with no grace keeps both
//! views' chunks; erasing the table takes every xorb its views used, while another table's view
//! is read as before, and erasing a table keeps a view another table was made into as well.

use std::collections::HashSet;

use serde_json::json;
use strata_core::db::Visibility;
use strata_lfs::Oid;

use super::put_resources;
use crate::common::*;

/// A CSV of `rows` rows (id, group, value, note) drawn from `seed`, rows `changed` altered.
fn table(seed: u64, rows: usize, changed: std::ops::Range<usize>) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
    let mut csv = String::from("id,grp,value,note\n");
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut note: String = (0..16)
            .map(|k| (b'a' + ((x >> (k * 4)) & 15) as u8) as char)
            .collect();
        let mut value = x % 1_000_000;
        if changed.contains(&i) {
            note = note.to_uppercase();
            value += 1;
        }
        let id = seed as usize * 1_000_000 + i;
        csv.push_str(&format!("{id},{},{value},{note}\n", i % 97));
    }
    csv.into_bytes()
}

/// The views alice/t keeps in its own store, once every one is kept as chunks and not whole.
async fn views_chunked(server: &TestServer, repo_id: i64) -> HashSet<String> {
    let storage = &server.state.storage;
    for _ in 0..600 {
        let views = server.state.db.table_view_oids(repo_id).await.unwrap();
        let mut all = !views.is_empty();
        for oid in &views {
            let oid: Oid = oid.parse().unwrap();
            all &= storage.holds_chunked(repo_id, &oid).await.unwrap()
                && !storage.holds_whole(repo_id, &oid).await.unwrap();
        }
        if all {
            return views;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the views were not kept as chunks within 60 s");
}

/// `GET url` as `token`: status and body.
async fn read(url: &str, token: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client().get(url).bearer_auth(token);
    if let Some(range) = range {
        req = req.header("range", range);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// The xorbs the file dataset `repo_id` checked to be `oid` uses.
async fn xorbs_of(server: &TestServer, repo_id: i64, oid: &str) -> Vec<String> {
    let file = server.state.db.xet_file_of(repo_id, oid).await.unwrap();
    let file = file.unwrap_or_else(|| panic!("{oid} is not kept as chunks"));
    let segments = strata_lfs::xet::shard::parse_segments(&file.segments).unwrap();
    segments.iter().map(|s| s.xorb.hex()).collect()
}

/// Erases `path` from alice/t as the site admin `root`.
async fn erase(server: &TestServer, root: &str, path: &str) {
    let r = client()
        .post(format!(
            "{}/api/v1/admin/datasets/alice/t/erase",
            server.url
        ))
        .bearer_auth(root)
        .json(&json!({"paths": [path], "confirm": "alice/t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_of_successive_revisions_share_their_chunks() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.chunking_interval_secs = 1;
        c.chunking_min_bytes = 64 << 10;
    })
    .await;
    let alice = server.user("alice").await;
    let root = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/t", Visibility::Private).await;
    let api = format!("{}/api/v1/datasets/alice/t", server.url);
    let stored = || async { server.state.db.xet_stored_bytes(repo.id).await.unwrap() };
    let rows = 400_000;
    // (Another table altogether: a view's first chunk leads a dedup look-up to the xorbs of the
    // first file recorded with it.)
    let other = table(7, 20_000, 0..0);
    // And a file read as the same rows as `other` (its notes quoted): its view is the same bytes.
    let twin: Vec<u8> = String::from_utf8(other.clone())
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| match (i, line.rsplit_once(',')) {
            (0, _) | (_, None) => format!("{line}\n"),
            (_, Some((head, note))) => format!("{head},\"{note}\"\n"),
        })
        .collect::<String>()
        .into_bytes();
    assert_ne!(twin, other);

    // Revision one: its view made, then kept as chunks.
    let one = table(0, rows, 0..0);
    let files = [
        ("big", "big.csv", one.clone()),
        ("other", "other.csv", other.clone()),
        ("twin", "twin.csv", twin.clone()),
    ];
    put_resources(&server, &alice, &files, json!({})).await;
    let big = format!("{api}/tables/big?format=parquet");
    let (status, view_one) = read(&big, &alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(&view_one[..4], b"PAR1");
    let (status, view_other) =
        read(&format!("{api}/tables/other?format=parquet"), &alice, None).await;
    assert_eq!(status, 200);
    let first = views_chunked(&server, repo.id).await;
    let oid_one = Oid::of(&view_one).to_string();
    assert!(first.contains(&oid_one), "{first:?}");
    // The twin's view, made once the same bytes are chunks: its whole copy goes too.
    let twin_url = format!("{api}/tables/twin?format=parquet");
    assert_eq!(
        read(&twin_url, &alice, None).await,
        (200, view_other.clone())
    );
    assert_eq!(views_chunked(&server, repo.id).await, first);
    assert_eq!(read(&big, &alice, None).await, (200, view_one.clone()));

    // Revision two, 1 % of the rows changed in the middle: its view stores little.
    let mid = rows / 2;
    let two = table(0, rows, mid..mid + rows / 100);
    upload(&server, "alice/t", &alice, &two).await;
    let resources = [
        ("big", "big.csv", &two),
        ("other", "other.csv", &other),
        ("twin", "twin.csv", &twin),
    ]
    .map(|(n, p, d)| {
        json!({"name": n, "path": p, "bytes": d.len(), "hash": format!("sha256:{}", sha256_hex(d))})
    });
    super::put_datapackage(&server, &alice, resources.to_vec()).await;
    let (status, view_two) = read(&big, &alice, None).await;
    assert_eq!(status, 200);
    assert_ne!(view_two, view_one);
    let second = views_chunked(&server, repo.id).await;
    let oid_two = Oid::of(&view_two).to_string();
    assert!(second.contains(&oid_two), "{second:?}");
    // What the second view stored: the xorbs it uses that the first does not.
    let shared: HashSet<String> = xorbs_of(&server, repo.id, &oid_one)
        .await
        .into_iter()
        .collect();
    let (mut added, mut common) = (0, 0);
    let used: HashSet<String> = xorbs_of(&server, repo.id, &oid_two)
        .await
        .into_iter()
        .collect();
    for hash in used {
        let size = server
            .state
            .db
            .xet_xorb(repo.id, &hash)
            .await
            .unwrap()
            .unwrap()
            .size;
        match shared.contains(&hash) {
            true => common += size,
            false => added += size,
        }
    }
    assert!(common > 0, "the views share no xorb");
    assert!(
        added > 0 && added * 3 < view_two.len() as i64,
        "the second view ({} bytes) stored {added} more bytes",
        view_two.len()
    );

    // Read from the chunks by every route: whole, the footer as a Parquet reader asks, a page
    // of rows, and SQL.
    assert_eq!(read(&big, &alice, None).await, (200, view_two.clone()));
    let n = view_two.len();
    assert_eq!(
        read(&big, &alice, Some("bytes=-8")).await,
        (206, view_two[n - 8..].to_vec())
    );
    let (status, page) =
        super::get(&format!("{api}/tables/big/rows?limit=3&sort=id"), &alice).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["rows"].as_array().map(Vec::len), Some(3), "{page}");
    let sql = json!({"query": r#"SELECT count(*) AS n FROM "alice/t"."big""#});
    let r = client()
        .post(format!("{}/api/v1/sql", server.url))
        .bearer_auth(&alice)
        .json(&sql)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"], json!([[rows]]), "{v}");

    // Views are a cache strata keeps: their xorbs count toward no usage, the tables' do.
    let mut xorbs = HashSet::new();
    for oid in &second {
        xorbs.extend(xorbs_of(&server, repo.id, oid).await);
    }
    let mut views = 0;
    for hash in &xorbs {
        views += server
            .state
            .db
            .xet_xorb(repo.id, hash)
            .await
            .unwrap()
            .unwrap()
            .size;
    }
    let (status, usage) = super::get(
        &format!("{}/api/v1/namespaces/alice/usage", server.url),
        &alice,
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    let (used, tables) = (usage["used"].as_i64().unwrap(), stored().await - views);
    assert!(
        views > 0 && (tables..tables + 100_000).contains(&used),
        "used {used}: the tables' xorbs are {tables} bytes, the views' {views}"
    );

    // A collection with no grace keeps the views' chunks.
    let r = client()
        .post(format!("{}/api/v1/admin/gc", server.url))
        .bearer_auth(&root)
        .json(&json!({"grace_secs": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(read(&big, &alice, None).await, (200, view_two.clone()));

    // Erasing the table takes every xorb its views used; the other table reads as before.
    let mut used = Vec::new();
    for oid in [&oid_one, &oid_two] {
        for hash in xorbs_of(&server, repo.id, oid).await {
            let row = server
                .state
                .db
                .xet_xorb(repo.id, &hash)
                .await
                .unwrap()
                .unwrap();
            used.push((hash, row.oid.parse::<Oid>().unwrap()));
        }
    }
    erase(&server, &root, "big.csv").await;
    let storage = &server.state.storage;
    for (hash, oid) in &used {
        let row = server.state.db.xet_xorb(repo.id, hash).await.unwrap();
        assert!(
            row.is_none(),
            "xorb {hash} of an erased view is still recorded"
        );
        assert!(
            !storage.holds_whole(repo.id, oid).await.unwrap(),
            "xorb {hash} is stored"
        );
    }
    for oid in [&oid_one, &oid_two] {
        let parsed: Oid = oid.parse().unwrap();
        assert!(
            !storage.holds(repo.id, &parsed).await.unwrap(),
            "view {oid} is still held"
        );
    }
    assert_eq!(
        read(&format!("{api}/tables/other?format=parquet"), &alice, None).await,
        (200, view_other.clone())
    );

    // Erasing `other` keeps the view its twin was made into too: it reads as before, from its
    // chunks or whole.
    erase(&server, &root, "other.csv").await;
    let oid_other = Oid::of(&view_other);
    assert!(storage.holds(repo.id, &oid_other).await.unwrap());
    assert_eq!(read(&twin_url, &alice, None).await, (200, view_other));
}
