//! Zip downloads and what a folder's list and a share link's page say, over HTTP: a folder, the
//! picked items and a share link's folder as one zip (read back with Python's `zipfile`, which
//! checks every CRC), only what the visitor reaches; the folder's Modified column, the shared
//! marker for those who manage sharing; a link copied again from the settings, its page saying
//! who shared it until when, with a preview of a text file and of an image.

use crate::common::*;
use crate::pages::drive::upload_files;
use std::collections::BTreeMap;

/// The files of a zip archive and their bytes, as Python's `zipfile` reads them.
fn unzip(server: &TestServer, bytes: &[u8]) -> BTreeMap<String, String> {
    let path = server.dir.path().join(format!("{}.zip", uuid_like()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             print(json.dumps({n: z.read(n).decode('latin-1') for n in z.namelist()}))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("archive-{}", N.fetch_add(1, Ordering::Relaxed))
}

async fn bytes_of(b: &mut Browser, server: &TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let r = client()
        .get(format!("{}{path}", server.url))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    let kind = r
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), kind, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn zips_links_and_what_a_folder_says() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let csrf = alice.get("/").await.hidden("csrf");
    assert_eq!(alice.post("/drive", &[("csrf", &csrf)]).await.status, 303);
    let url = format!("{}/datasets/alice/drive", server.url);
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";
    for (folder, files) in [
        ("", vec![("top.txt", b"top" as &[u8])]),
        ("docs", vec![("a.txt", b"alpha" as &[u8]), ("dot.png", png)]),
        ("docs/deep", vec![("b.csv", b"x,y\n1,2\n" as &[u8])]),
    ] {
        let done = upload_files(&mut alice, &url, &csrf, folder, &files).await;
        assert_eq!(done.status, 303, "{}", done.text);
    }

    // A folder as a zip: everything under it, named from the folder, LFS bytes included.
    let (status, disposition, zip) =
        bytes_of(&mut alice, &server, "/datasets/alice/drive/zip?path=docs").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));
    assert!(disposition.contains("docs.zip"), "{disposition}");
    let files = unzip(&server, &zip);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["a.txt", "deep/b.csv", "dot.png"]
    );
    assert_eq!(files["a.txt"], "alpha");
    assert_eq!(files["deep/b.csv"], "x,y\n1,2\n");
    // The whole drive leaves out what strata writes itself.
    let (_, _, zip) = bytes_of(&mut alice, &server, "/datasets/alice/drive/zip").await;
    let all = unzip(&server, &zip);
    assert!(all.contains_key("top.txt") && all.contains_key("docs/deep/b.csv"));
    assert!(
        !all.keys()
            .any(|k| k.ends_with(".keep") || k.starts_with(".git") || k == "datapackage.json"),
        "{all:?}"
    );
    // Picked items, posted with the CSRF token: one file and a folder.
    let picked = [
        ("csrf", csrf.as_str()),
        ("folder", ""),
        ("p1", "top.txt"),
        ("p2", "docs/deep"),
    ];
    let r = alice.post("/datasets/alice/drive/zip", &picked).await;
    assert_eq!(r.status, 200);
    let r = client()
        .post(format!("{}/datasets/alice/drive/zip", server.url))
        .header("cookie", alice.cookie_header())
        .form(&picked)
        .send()
        .await
        .unwrap();
    let files = unzip(&server, &r.bytes().await.unwrap());
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["docs/deep/b.csv", "top.txt"]
    );
    // Refused: no picks, a forged token, a missing path, a stranger, a private drive.
    let r = alice
        .post("/datasets/alice/drive/zip", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(r.status, 422);
    let r = alice
        .post(
            "/datasets/alice/drive/zip",
            &[("csrf", "forged"), ("p1", "top.txt")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        bytes_of(
            &mut alice,
            &server,
            "/datasets/alice/drive/zip?path=nowhere"
        )
        .await
        .0,
        404
    );
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    assert_eq!(
        bytes_of(&mut bob, &server, "/datasets/alice/drive/zip")
            .await
            .0,
        404
    );
    let mut stranger = Browser::new(&server.url);
    assert_eq!(
        bytes_of(&mut stranger, &server, "/datasets/alice/drive/zip")
            .await
            .0,
        401
    );

    // Shared with bob: docs/deep. He gets it, and only it.
    let settings = "/datasets/alice/drive/settings";
    let shared = alice
        .post(
            settings,
            &[
                ("csrf", &csrf),
                ("change", "share"),
                ("path", "docs/deep"),
                ("who", "bob"),
                ("access", "read"),
                ("expires", ""),
            ],
        )
        .await;
    assert_eq!(shared.status, 303, "{}", shared.text);
    let (status, _, zip) = bytes_of(
        &mut bob,
        &server,
        "/datasets/alice/drive/zip?path=docs/deep",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(unzip(&server, &zip).keys().collect::<Vec<_>>(), ["b.csv"]);
    let (status, _, body) =
        bytes_of(&mut bob, &server, "/datasets/alice/drive/zip?path=docs").await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));

    // The folder's list: when each item changed, by whom, and (for alice) what is shared.
    let page = alice.get("/datasets/alice/drive?path=docs").await;
    assert!(
        page.text.contains("<th scope=\"col\">Modified</th>"),
        "{}",
        page.text
    );
    assert!(page.text.contains(" by alice</span>"), "{}", page.text);
    assert!(
        page.text.contains("title=\"Shared with bob\""),
        "{}",
        page.text
    );
    assert!(page.text.contains(">me</td>"), "{}", page.text);
    let theirs = bob.get("/datasets/alice/drive?path=docs/deep").await;
    assert!(
        !theirs.text.contains("title=\"Shared with"),
        "{}",
        theirs.text
    );

    // A link to docs: copied again from the settings; its page says who shared it until when.
    let made = alice
        .post(
            settings,
            &[
                ("csrf", &csrf),
                ("change", "link"),
                ("path", "docs"),
                ("password", ""),
                ("expires", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let link = made
        .text
        .split(&format!("{}/s/", server.url))
        .nth(1)
        .unwrap()[..48]
        .to_owned();
    let again = alice.get(&format!("{settings}?path=docs/deep")).await;
    assert!(
        again.text.contains(&format!("/s/{link}</code>")),
        "{}",
        again.text
    );
    assert!(again.text.contains("class=\" here\""), "{}", again.text);
    let mut anyone = Browser::new(&server.url);
    let page = anyone.get(&format!("/s/{link}")).await;
    assert!(
        page.text
            .contains("Shared by <strong>alice</strong> through a link, until 2099-12-31"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(&format!("href=\"/s/{link}/zip\"")),
        "{}",
        page.text
    );
    // Previews: the text, and the image from the link's own download URL.
    let text = anyone.get(&format!("/s/{link}?path=a.txt")).await;
    assert!(
        text.text.contains("<pre id=\"preview\">alpha</pre>"),
        "{}",
        text.text
    );
    let image = anyone.get(&format!("/s/{link}?path=dot.png")).await;
    assert!(
        image.text.contains(&format!(
            "<img id=\"preview\" class=\"preview\" src=\"/s/{link}/raw/dot.png\""
        )),
        "{}",
        image.text
    );
    let raw = client()
        .get(format!("{}/s/{link}/raw/dot.png", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "image/png");
    // Download all: the linked folder, nothing beside it; a folder inside it; nothing outside.
    let (status, _, zip) = bytes_of(&mut anyone, &server, &format!("/s/{link}/zip")).await;
    assert_eq!(status, 200);
    assert_eq!(
        unzip(&server, &zip).keys().collect::<Vec<_>>(),
        ["a.txt", "deep/b.csv", "dot.png"]
    );
    let (_, _, zip) = bytes_of(&mut anyone, &server, &format!("/s/{link}/zip?path=deep")).await;
    assert_eq!(unzip(&server, &zip).keys().collect::<Vec<_>>(), ["b.csv"]);
    for outside in ["?path=..", "?path=..%2Ftop.txt", "?path=%2Ftop.txt"] {
        let (status, _, body) =
            bytes_of(&mut anyone, &server, &format!("/s/{link}/zip{outside}")).await;
        assert!(status == 404 || status == 422, "{outside}: {status}");
        assert!(!body.starts_with(b"PK"), "{outside}");
    }
    // Revoked: the link, its zip and its copy in the settings are gone.
    let id = again
        .text
        .split("name=\"change\" value=\"unlink\">")
        .nth(1)
        .unwrap();
    let id = id
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = alice
        .post(
            settings,
            &[("csrf", &csrf), ("change", "unlink"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        bytes_of(&mut anyone, &server, &format!("/s/{link}/zip"))
            .await
            .0,
        404
    );
    assert!(!alice.get(settings).await.text.contains(&link));
}
