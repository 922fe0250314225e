//! Text edited in the browser and writes on branches, over HTTP: the editor opens a text file of
//! a branch, saves it as one revision (a browser's CRLF kept as the file's LF, an LFS file kept
//! in LFS), keeps the typed text when it is refused (a stale editor, nothing changed), makes new
//! files; uploads, folders, moves and deletes land on the branch the page shows and nowhere
//! else. Hostile: readers, tags, unknown branches, binary and reserved files, a forged branch.

use super::cards::{api, commit, send};
use super::drive::upload_files;
use crate::common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

async fn raw(server: &TestServer, token: &str, path: &str, rev: &str) -> (u16, String) {
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/notes/raw/{path}?rev={rev}",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn tree(server: &TestServer, token: &str, rev: &str) -> Value {
    api(
        server,
        token,
        reqwest::Method::GET,
        &format!("/datasets/alice/notes/tree?rev={rev}"),
        Value::Null,
    )
    .await
    .1
}

fn has(tree: &Value, path: &str) -> bool {
    tree["files"]
        .as_array()
        .unwrap_or_else(|| panic!("{tree}"))
        .iter()
        .any(|f| f["path"] == path)
}

#[tokio::test]
async fn text_files_are_edited_in_the_browser_and_branches_are_written() {
    let server = server_with_alice().await;
    let bob_token = server.user("bob").await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "notes", "visibility": "public"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(
        &server,
        &token,
        "alice/notes",
        &[
            ("docs/plan.md", "# Plan\n\nfirst\n"),
            ("bin.dat", "\u{0}\u{1}"),
            ("lead.txt", "\nstarts blank\n"),
        ],
    )
    .await;
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/notes/branches",
        json!({"name": "draft"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/notes/tags",
        json!({"name": "v1"}),
    )
    .await;
    assert!(status == 201 || status == 200, "{v}");

    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let file = alice.get("/datasets/alice/notes/files/docs/plan.md").await;
    assert!(
        file.text
            .contains("href=\"/datasets/alice/notes/edit/docs/plan.md\""),
        "{}",
        file.text
    );
    // A binary file offers no editor, and refuses one.
    let bin = alice.get("/datasets/alice/notes/files/bin.dat").await;
    assert!(!bin.text.contains("/edit/bin.dat"), "{}", bin.text);
    assert_eq!(
        alice.get("/datasets/alice/notes/edit/bin.dat").await.status,
        422
    );

    // The editor: the text as it is (a leading newline kept by the one the template adds).
    let editor = alice.get("/datasets/alice/notes/edit/docs/plan.md").await;
    assert_eq!(editor.status, 200, "{}", editor.text);
    assert!(
        editor
            .text
            .contains("class=\"mono\">\n# Plan\n\nfirst\n</textarea>"),
        "{}",
        editor.text
    );
    let csrf = editor.hidden("csrf");
    let parent = editor.hidden("parent");
    // Saved as the browser sends it (CRLF): the file keeps its LF.
    let form = [
        ("csrf", csrf.as_str()),
        ("path", "docs/plan.md"),
        ("branch", ""),
        ("parent", parent.as_str()),
        ("text", "# Plan\r\n\r\nsecond\r\n"),
        ("message", "Second draft"),
    ];
    let r = alice.post("/datasets/alice/notes/edit", &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.headers["location"],
        "/datasets/alice/notes/files/docs/plan.md?done=saved"
    );
    assert_eq!(
        raw(&server, &token, "docs/plan.md", "main").await.1,
        "# Plan\n\nsecond\n"
    );
    let (_, history) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/notes/revisions",
        Value::Null,
    )
    .await;
    assert_eq!(
        history["revisions"][0]["message"], "Second draft",
        "{history}"
    );
    // A text that starts with a blank line keeps it (the text area's first newline is the
    // template's); a file kept in LFS stays in LFS, with its new bytes.
    let lead = alice.get("/datasets/alice/notes/edit/lead.txt").await;
    assert!(
        lead.text
            .contains("class=\"mono\">\n\nstarts blank\n</textarea>"),
        "{}",
        lead.text
    );
    let form = [
        ("csrf", csrf.as_str()),
        ("path", "lead.txt"),
        ("parent", &lead.hidden("parent")),
        ("text", "\r\nstarts blank\r\nmore\r\n"),
    ];
    assert_eq!(
        alice.post("/datasets/alice/notes/edit", &form).await.status,
        303
    );
    assert_eq!(
        raw(&server, &token, "lead.txt", "main").await.1,
        "\nstarts blank\nmore\n"
    );
    let main_page = alice.get("/datasets/alice/notes").await;
    let up = upload_files(
        &mut alice,
        &format!("{}/datasets/alice/notes", server.url),
        &main_page.hidden("csrf"),
        "",
        &[("big.csv", b"kept,in LFS\n")],
    )
    .await;
    assert_eq!(up.status, 303, "{}", up.text);
    let big = alice.get("/datasets/alice/notes/edit/big.csv").await;
    assert_eq!(big.status, 200, "{}", big.text);
    let form = [
        ("csrf", csrf.as_str()),
        ("path", "big.csv"),
        ("parent", &big.hidden("parent")),
        ("text", "still,in LFS\r\n"),
    ];
    assert_eq!(
        alice.post("/datasets/alice/notes/edit", &form).await.status,
        303
    );
    assert_eq!(
        raw(&server, &token, "big.csv", "main").await.1,
        "still,in LFS\n"
    );
    let entry = tree(&server, &token, "main").await["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "big.csv")
        .cloned()
        .unwrap();
    assert_eq!(entry["type"], "lfs", "{entry}");
    // It is a resource (a table uploaded in the browser), and its resource follows the edit.
    let (_, pkg) = raw(&server, &token, "datapackage.json", "main").await;
    let pkg: Value = serde_json::from_str(&pkg).unwrap();
    let big_resource = pkg["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "big.csv")
        .cloned()
        .unwrap_or_else(|| panic!("{pkg}"));
    assert_eq!(
        big_resource["hash"],
        format!("sha256:{}", entry["oid"].as_str().unwrap()),
        "{pkg}"
    );
    assert!(alice
        .get("/datasets/alice/notes/files/docs/plan.md?done=saved")
        .await
        .text
        .contains("Saved as a new revision."));
    // The same editor again (its parent is stale, the file changed since): refused, and the
    // typed text is on the page still.
    let stale = [
        ("csrf", csrf.as_str()),
        ("path", "docs/plan.md"),
        ("parent", parent.as_str()),
        ("text", "my <b>own</b> words"),
    ];
    let r = alice.post("/datasets/alice/notes/edit", &stale).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.text.contains("my &#60;b&#62;own&#60;/b&#62; words")
            && r.text.contains("quote it when asking"),
        "{}",
        r.text
    );
    // Nothing changed: said, no revision made.
    let fresh = alice.get("/datasets/alice/notes/edit/docs/plan.md").await;
    let same = [
        ("csrf", csrf.as_str()),
        ("path", "docs/plan.md"),
        ("parent", &fresh.hidden("parent")),
        ("text", "# Plan\r\n\r\nsecond\r\n"),
    ];
    let r = alice.post("/datasets/alice/notes/edit", &same).await;
    assert_eq!(r.status, 422, "{}", r.text);
    // A forged CSRF token, and bob (a reader of the public dataset): refused, nothing written.
    let mut forged = same;
    forged[0].1 = "forged";
    assert_eq!(
        alice
            .post("/datasets/alice/notes/edit", &forged)
            .await
            .status,
        403
    );
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let page = bob.get("/datasets/alice/notes/files/docs/plan.md").await;
    assert!(!page.text.contains("/edit/"), "{}", page.text);
    assert_eq!(
        bob.get("/datasets/alice/notes/edit/docs/plan.md")
            .await
            .status,
        403
    );
    let bob_page = bob.get("/datasets/alice/notes").await;
    let bobs = [
        ("csrf", bob_page.hidden("csrf")),
        ("path", "docs/plan.md".to_owned()),
        ("parent", fresh.hidden("parent")),
        ("text", "bob was here".to_owned()),
    ];
    let bobs: Vec<(&str, &str)> = bobs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        bob.post("/datasets/alice/notes/edit", &bobs).await.status,
        403
    );
    assert_eq!(
        raw(&server, &bob_token, "docs/plan.md", "main").await.1,
        "# Plan\n\nsecond\n"
    );

    // On the branch: the editor writes there, main keeps its text.
    let editor = alice
        .get("/datasets/alice/notes/edit/docs/plan.md?rev=draft")
        .await;
    assert_eq!(editor.hidden("branch"), "draft");
    let form = [
        ("csrf", csrf.as_str()),
        ("path", "docs/plan.md"),
        ("branch", "draft"),
        ("parent", &editor.hidden("parent")),
        ("text", "# Plan\n\ndraft\n"),
    ];
    let r = alice.post("/datasets/alice/notes/edit", &form).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.headers["location"],
        "/datasets/alice/notes/files/docs/plan.md?rev=draft&done=saved"
    );
    assert_eq!(
        raw(&server, &token, "docs/plan.md", "draft").await.1,
        "# Plan\n\ndraft\n"
    );
    assert_eq!(
        raw(&server, &token, "docs/plan.md", "main").await.1,
        "# Plan\n\nsecond\n"
    );
    // A tag, a branch that is not there, a commit id: no editor, no write.
    assert_eq!(
        alice
            .get("/datasets/alice/notes/edit/docs/plan.md?rev=v1")
            .await
            .status,
        404
    );
    let mut on_tag = form;
    on_tag[2].1 = "v1";
    assert_eq!(
        alice
            .post("/datasets/alice/notes/edit", &on_tag)
            .await
            .status,
        404
    );
    let mut nowhere = form;
    nowhere[2].1 = "nowhere";
    assert_eq!(
        alice
            .post("/datasets/alice/notes/edit", &nowhere)
            .await
            .status,
        404
    );
    let (_, branches) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/notes/branches",
        Value::Null,
    )
    .await;
    assert!(!branches.to_string().contains("nowhere"), "{branches}");
    // A commit id is no branch either, for the editor or a save.
    let id = editor.hidden("parent");
    assert_eq!(
        alice
            .get(&format!("/datasets/alice/notes/edit/docs/plan.md?rev={id}"))
            .await
            .status,
        404
    );
    let mut on_commit = form;
    on_commit[2].1 = &id;
    assert_eq!(
        alice
            .post("/datasets/alice/notes/edit", &on_commit)
            .await
            .status,
        404
    );

    // A new file, on the branch; a name taken, or strata's own, is refused with the text kept.
    let new = alice
        .get("/datasets/alice/notes/new?path=docs&rev=draft")
        .await;
    assert_eq!(new.status, 200, "{}", new.text);
    let parent = new.hidden("parent");
    let make = |name: &'static str, text: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("path", "docs".to_owned()),
            ("name", name.to_owned()),
            ("branch", "draft".to_owned()),
            ("parent", parent.clone()),
            ("text", text.to_owned()),
        ]
    };
    let r = alice
        .post(
            "/datasets/alice/notes/edit",
            &send(&pairs(make("ideas.txt", "one\r\ntwo\r\n"))),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        raw(&server, &token, "docs/ideas.txt", "draft").await.1,
        "one\ntwo\n"
    );
    assert_eq!(raw(&server, &token, "docs/ideas.txt", "main").await.0, 404);
    let r = alice
        .post(
            "/datasets/alice/notes/edit",
            &send(&pairs(make("plan.md", "mine"))),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains(">\nmine</textarea>"), "{}", r.text);
    let root = vec![
        ("csrf", csrf.clone()),
        ("path", String::new()),
        ("name", "datapackage.json".to_owned()),
        ("parent", parent.clone()),
        ("text", "{}".to_owned()),
    ];
    let r = alice
        .post("/datasets/alice/notes/edit", &send(&pairs(root)))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // The folder page of the branch: its forms write there; a tag's page has none.
    let page = alice.get("/datasets/alice/notes?rev=draft&path=docs").await;
    assert!(
        page.text.contains("name=\"branch\" value=\"draft\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("id=\"new-file\""), "{}", page.text);
    let tag_page = alice.get("/datasets/alice/notes?rev=v1").await;
    assert!(
        !tag_page.text.contains("id=\"picked\""),
        "{}",
        tag_page.text
    );
    let url = "/datasets/alice/notes";
    let form = Form::new()
        .text("csrf", csrf.clone())
        .text("folder", "docs")
        .text("branch", "draft")
        .part(
            "file",
            Part::bytes(b"x,y\n1,2\n".to_vec()).file_name("table.csv"),
        );
    let r = alice
        .send(
            client()
                .post(format!("{}{url}/upload", server.url))
                .multipart(form),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.headers["location"],
        "/datasets/alice/notes?path=docs&rev=draft"
    );
    assert!(has(&tree(&server, &token, "draft").await, "docs/table.csv"));
    assert!(!has(&tree(&server, &token, "main").await, "docs/table.csv"));
    // A branch named after the files: refused, nothing committed.
    let late = Form::new()
        .text("csrf", csrf.clone())
        .text("folder", "docs")
        .part("file", Part::bytes(b"z".to_vec()).file_name("late.txt"))
        .text("branch", "draft");
    let r = alice
        .send(
            client()
                .post(format!("{}{url}/upload", server.url))
                .multipart(late),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    // Delete on the branch, as picked there.
    let picks = [
        ("csrf", csrf.as_str()),
        ("folder", "docs"),
        ("branch", "draft"),
        ("op", "delete"),
        ("p1", "docs/ideas.txt"),
    ];
    let r = alice.post("/datasets/alice/notes/files", &picks).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/datasets/alice/notes?path=docs&rev=draft&undo="));
    assert!(!has(
        &tree(&server, &token, "draft").await,
        "docs/ideas.txt"
    ));
    // A plain upload to main still works (the drive's tests cover the rest).
    let main = alice.get(url).await;
    let r = upload_files(
        &mut alice,
        &format!("{}{url}", server.url),
        &main.hidden("csrf"),
        "",
        &[("top.txt", b"top")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(has(&tree(&server, &token, "main").await, "top.txt"));

    // Browser uploads became datapackage resources, on the branch they went to; a table on the
    // default branch gets its inferred column types too.
    let r = upload_files(
        &mut alice,
        &format!("{}{url}", server.url),
        &main.hidden("csrf"),
        "",
        &[(
            "Numbers 2026.csv",
            b"n,label
1,a
2,b
",
        )],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let package = |rev: &'static str| {
        let (server, token) = (&server, &token);
        async move {
            let (status, text) = raw(server, token, "datapackage.json", rev).await;
            assert_eq!(status, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let draft = package("draft").await;
    let named = |p: &Value, name: &str| {
        p["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {p}"))
    };
    let table = named(&draft, "table");
    assert_eq!(
        (table["path"].as_str(), table["format"].as_str()),
        (Some("docs/table.csv"), Some("csv"))
    );
    assert!(table["hash"].as_str().unwrap().starts_with("sha256:"));
    let main_pkg = package("main").await;
    assert!(main_pkg["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["name"] != "table"));
    // Only tables become resources: a text file stays a plain file.
    assert!(
        main_pkg["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["path"] != "top.txt"),
        "{main_pkg}"
    );
    let numbers = named(&main_pkg, "numbers-2026");
    assert_eq!(numbers["schema"]["fields"][0]["name"], "n", "{numbers}");
    assert_eq!(
        numbers["schema"]["fields"][0]["type"], "integer",
        "{numbers}"
    );
    // The typing changed the datapackage only: every LFS file keeps its line.
    let attributes = raw(&server, &token, ".gitattributes", "main").await.1;
    assert!(
        attributes.contains("big.csv") && attributes.contains("top.txt"),
        "{attributes}"
    );

    // Resources follow their files: renamed, then deleted; a later upload brings nothing back.
    let csrf = main.hidden("csrf");
    let picks = [
        ("csrf", csrf.as_str()),
        ("folder", ""),
        ("op", "rename"),
        ("to", "renamed.csv"),
        ("p1", "Numbers 2026.csv"),
    ];
    assert_eq!(
        alice
            .post("/datasets/alice/notes/files", &picks)
            .await
            .status,
        303
    );
    let r = upload_files(
        &mut alice,
        &format!("{}{url}", server.url),
        &csrf,
        "",
        &[("later.csv", b"a\n1\n")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let main_tree = tree(&server, &token, "main").await;
    assert!(!has(&main_tree, "Numbers 2026.csv") && has(&main_tree, "renamed.csv"));
    let pkg = package("main").await;
    assert_eq!(named(&pkg, "numbers-2026")["path"], "renamed.csv", "{pkg}");
    let before_delete = pkg.clone();
    assert!(
        named(&before_delete, "numbers-2026")["schema"].is_object(),
        "{before_delete}"
    );
    let picks = [
        ("csrf", csrf.as_str()),
        ("folder", ""),
        ("op", "delete"),
        ("p1", "renamed.csv"),
    ];
    assert_eq!(
        alice
            .post("/datasets/alice/notes/files", &picks)
            .await
            .status,
        303
    );
    let pkg = package("main").await;
    assert!(
        pkg["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "numbers-2026"),
        "{pkg}"
    );
    assert!(!has(&tree(&server, &token, "main").await, "renamed.csv"));
    let schema = named(&before_delete, "numbers-2026")["schema"].clone();

    // Restored from Recently deleted, it brings its resource back, schema and all.
    let trash = alice.get("/datasets/alice/notes/trash").await;
    let rev = trash
        .text
        .split("name=\"path\" value=\"renamed.csv\"")
        .nth(1)
        .and_then(|rest| rest.split("name=\"rev\" value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{}", trash.text))
        .to_owned();
    let back = [
        ("csrf", csrf.as_str()),
        ("op", "restore"),
        ("from", "trash"),
        ("path", "renamed.csv"),
        ("rev", rev.as_str()),
    ];
    let r = alice.post("/datasets/alice/notes/files", &back).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let pkg = package("main").await;
    let resource = named(&pkg, "numbers-2026");
    assert_eq!(resource["path"], "renamed.csv", "{pkg}");
    assert_eq!(resource["schema"], schema, "{pkg}");
    assert!(has(&tree(&server, &token, "main").await, "renamed.csv"));
}

fn pairs(v: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
