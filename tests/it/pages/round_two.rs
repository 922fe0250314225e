//! Pages round two in headless Chromium, each check one that failed before: the README is the
//! top of the dataset's page with its front matter as tags, the viewer of its first table below
//! with a chart in every heading and a table picker, "Use this dataset" with this server's
//! addresses; statistics of the filtered rows only, empty text counted as empty; a key offered
//! and declared in one click from the table; search by tag, licence, column and size; the file
//! manager's controls enabled by the pick; a dropped file's upload that ends on its folder with
//! the list kept and Undo; organisations made, datasets renamed (the old address leading to the
//! new) and deleted from pages; the drive's grid of thumbnails, a PDF in the browser's viewer,
//! Starred and Recent.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::common::*;
use crate::sharing::gated::call;

/// Commits `lines` after a header on the head of `main` of `repo` as a browser upload does
/// (`describe`: tables become resources).
async fn commit(server: &TestServer, token: &str, repo: &str, summary: &str, lines: &[Value]) {
    let api = format!("/api/v1/datasets/{repo}");
    let (_, v) = call(server, Method::GET, &api, Some(token), None).await;
    let mut body = vec![json!({"key": "header", "value": {"summary": summary,
        "parent": v["revision"]["id"], "describe": true}})
    .to_string()];
    body.extend(lines.iter().map(Value::to_string));
    let r = client()
        .post(format!("{}{api}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// An LFS file line for `data` uploaded to `repo`.
async fn lfs(server: &TestServer, token: &str, repo: &str, path: &str, data: &[u8]) -> Value {
    let oid = upload(server, repo, token, data).await;
    json!({"key": "lfsFile", "value": {"path": path, "oid": oid.to_string(), "size": data.len()}})
}

async fn type_into(c: &fantoccini::Client, selector: &str, value: &str) {
    let field = c.find(Locator::Css(selector)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Alice, with the tests' password, and her private dataset `alice/{name}`: her token.
async fn alice_with(server: &TestServer, name: &str) -> String {
    let alice = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (status, v) = call(
        server,
        Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(json!({"namespace": "alice", "name": name, "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    alice
}

/// A one-page PDF that says "Hello PDF".
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        {
            let text = "BT /F1 24 Tf 40 100 Td (Hello PDF) Tj ET";
            format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len())
        },
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

fn stations() -> Vec<u8> {
    let mut out = String::from("id,name,region,temp\n");
    for i in 1..=200 {
        let region = if i % 10 == 0 {
            ""
        } else {
            ["north", "south"][i % 2]
        };
        out.push_str(&format!("{i},station {i},{region},{}\n", i % 40));
    }
    out.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_is_the_page_and_the_file_manager_follows_the_pick() {
    let server = TestServer::start().await;
    let alice = alice_with(&server, "weather").await;
    let readme = b"---\nlicense: cc-by-4.0\ntags:\n- climate\nlanguage: [en]\n\
        size_categories: [n<1K]\n---\n# Weather stations\n\nReadings *every hour*.\n";
    let lines = vec![
        lfs(&server, &alice, "alice/weather", "README.md", readme).await,
        lfs(
            &server,
            &alice,
            "alice/weather",
            "stations.csv",
            &stations(),
        )
        .await,
        lfs(&server, &alice, "alice/weather", "other.csv", b"a,b\n1,2\n").await,
        lfs(
            &server,
            &alice,
            "alice/weather",
            "map.png",
            b"\x89PNG\r\n\x1a\nx",
        )
        .await,
    ];
    commit(&server, &alice, "alice/weather", "Upload 4 files", &lines).await;

    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/datasets/alice/weather"))
        .await
        .unwrap();

    // The README first, its front matter as the card's tags; then the viewer, then the files.
    let order = c
        .execute(
            "const at = (s) => { const e = document.querySelector(s); return e ? \
             e.getBoundingClientRect().top + window.scrollY : -1; }; \
             return [at('#readme'), at('#table-viewer'), at('#files')];",
            vec![],
        )
        .await
        .unwrap();
    let order: Vec<f64> = serde_json::from_value(order).unwrap();
    assert!(
        order[0] >= 0.0 && order[0] < order[1] && order[1] < order[2],
        "{order:?}"
    );
    let tags = c
        .find(Locator::Id("card-tags"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for t in [
        "licence: cc-by-4.0",
        "climate",
        "language: en",
        "size: n<1K",
    ] {
        assert!(tags.contains(t), "{t} in {tags}");
    }
    // Only the tables became resources: no image among the tables to pick.
    let picks = c
        .execute(
            "return [...document.querySelectorAll('#table-picker a')].map(a => a.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(picks, json!(["stations", "other"]));
    // A chart in every heading, its bars saying what they count.
    let charts = c
        .execute(
            "return [...document.querySelectorAll('#table-rows thead th')].map(th => \
             th.querySelectorAll('svg.chart rect').length)",
            vec![],
        )
        .await
        .unwrap();
    let charts: Vec<u64> = serde_json::from_value(charts).unwrap();
    assert_eq!(charts.len(), 4);
    assert!(charts.iter().all(|n| *n > 0), "{charts:?}");
    let caption = c
        .execute(
            "return document.querySelectorAll('#table-rows thead th')[2].querySelector('.chart-caption').textContent",
            vec![],
        )
        .await
        .unwrap();
    // region: two values and 20 empty texts, counted as empty.
    assert_eq!(caption, json!("2 values · 20 empty"));
    c.execute("document.getElementById('readme').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&c, "dataset-front").await;

    // Filtered, the statistics are of the rows shown.
    c.goto(&format!(
        "{base}/datasets/alice/weather?filter=region:eq:north&stats=1"
    ))
    .await
    .unwrap();
    let values = c
        .execute(
            "return [...document.querySelectorAll('#table-stats tbody tr')].map(r => \
             [r.querySelector('th').textContent, r.children[2].textContent])",
            vec![],
        )
        .await
        .unwrap();
    // North: the even stations but every tenth (its region is empty).
    assert_eq!(values[0], json!(["id", "80"]), "{values}");

    // "Use this dataset", with this server's addresses.
    c.goto(&format!("{base}/datasets/alice/weather"))
        .await
        .unwrap();
    click(&c, "#use-dataset summary").await;
    let pandas = c
        .find(Locator::Id("use-pandas"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        pandas.contains(&format!(
            "{base}/api/v1/datasets/alice/weather/tables/stations?format=parquet"
        )),
        "{pandas}"
    );
    let git = c
        .find(Locator::Id("use-git"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(git.contains(&format!("git clone {base}/alice/weather.git")));
    // The pandas and Polars snippets run as shown, the token put in: 200 rows.
    for id in ["use-pandas", "use-polars"] {
        let code = c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .prop("textContent")
            .await
            .unwrap()
            .unwrap();
        let code = code.replace("TOKEN = \"…\"", &format!("TOKEN = \"{alice}\""));
        let out = tokio::process::Command::new(python_tool("python"))
            .args(["-c", &format!("{code}\nprint(len(df))")])
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200", "{id}");
    }

    // The table declares no key: id and name could be one; one click declares id.
    let offered = c
        .execute(
            "return [...document.querySelectorAll('#declare-key option')].map(o => o.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(offered, json!(["id", "name"]));
    click(&c, "#declare-key button[type=submit]").await;
    assert!(c.find(Locator::Id("declare-key")).await.is_err());
    let (_, d) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/weather",
        Some(&alice),
        None,
    )
    .await;
    let stations = d["datapackage"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "stations")
        .unwrap()
        .clone();
    assert_eq!(stations["schema"]["primaryKey"], json!(["id"]), "{d}");

    // Search by tag, licence, column and size; what does not match is not listed.
    for (q, found) in [
        ("tag:climate", true),
        ("licence:cc-by-4.0", true),
        ("column:temp", true),
        ("temp", true),
        ("readings", false),
        ("size:>1TB", false),
        ("tag:finance", false),
    ] {
        c.goto(&format!("{base}/?q={}", q.replace('>', "%3E")))
            .await
            .unwrap();
        let listed = text(&c).await.contains("alice/weather");
        assert_eq!(listed, found, "{q}");
    }

    // The file manager: nothing picked, nothing to do; one picked, all of it; two, no rename.
    c.goto(&format!("{base}/datasets/alice/weather"))
        .await
        .unwrap();
    let disabled = |c: &fantoccini::Client| {
        let c = c.clone();
        async move {
            c.execute(
                "return [...document.querySelectorAll('#picked button[data-needs]')].map(b => b.disabled)",
                vec![],
            )
            .await
            .unwrap()
        }
    };
    let none = disabled(&c).await;
    assert!(none.as_array().unwrap().iter().all(|d| d == true), "{none}");
    assert!(c
        .find(Locator::Id("drop-zone"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());
    c.find(Locator::Css("input[type=checkbox][value=\"other.csv\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let one = disabled(&c).await;
    assert!(one.as_array().unwrap().iter().all(|d| d == false), "{one}");
    let count = c
        .find(Locator::Id("picked-count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, "1 picked");
    c.find(Locator::Css("input[type=checkbox][value=\"map.png\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let rename = c
        .execute(
            "return document.querySelector('#picked button[value=rename]').disabled",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(rename, json!(true));

    // A dropped file: the folder's page again, the upload's list kept, and Undo.
    let dropped = server.dir.path().join("readings.csv");
    std::fs::write(&dropped, "id,v\n1,2\n").unwrap();
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    drop_files(&c, "main", &[&dropped]).await;
    wait_until(
        &c,
        "location.search.includes('undo=') && document.readyState === 'complete'",
        "location.href + ' ' + document.getElementById('upload-status').textContent",
    )
    .await;
    let status = c
        .find(Locator::Id("upload-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("Uploaded readings.csv"), "{status}");
    let page = text(&c).await;
    assert!(page.contains("Done: Upload readings.csv."), "{page}");
    click(&c, "form[action$='/revert'] button").await;
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/weather/raw/readings.csv",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404, "undone: the upload and its typing");

    // An organisation made from the settings page, by an engineer (a plain user is told who
    // makes them); a name taken is refused, kept as typed.
    c.goto(&format!("{base}/settings")).await.unwrap();
    assert!(c.find(Locator::Id("no-new-org")).await.is_ok());
    let me = server
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    server.state.db.set_role(me.id, "engineer").await.unwrap();
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(&c, "#org-name", "weatherco").await;
    click(&c, "#new-org button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/orgs/weatherco");
    c.goto(&format!("{base}/settings")).await.unwrap();
    type_into(&c, "#org-name", "alice").await;
    click(&c, "#new-org button[type=submit]").await;
    assert!(text(&c).await.contains("is taken"));
    let kept = c
        .find(Locator::Id("org-name"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("alice"));
    assert!(text(&c).await.contains("weatherco"), "listed as hers");

    // Renamed from its settings page (a drive's name refused in words): the old address leads
    // to the new; renamed back for what follows.
    c.goto(&format!("{base}/datasets/alice/weather/settings"))
        .await
        .unwrap();
    for (to, at) in [
        ("drive", None),
        ("weather-2", Some("/datasets/alice/weather-2/settings")),
    ] {
        c.execute("window.confirm = () => true", vec![])
            .await
            .unwrap();
        fill(&c, "new_name", to).await;
        click(&c, "#rename-dataset button[type=submit]").await;
        match at {
            Some(at) => assert_eq!(c.current_url().await.unwrap().path(), at),
            None => assert!(text(&c).await.contains("name of a person's drive")),
        }
    }
    c.goto(&format!("{base}/datasets/alice/weather?path="))
        .await
        .unwrap();
    let url = c.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.query()),
        ("/datasets/alice/weather-2", Some("path="))
    );
    c.goto(&format!("{base}/datasets/alice/weather-2/settings"))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "new_name", "weather").await;
    click(&c, "#rename-dataset button[type=submit]").await;

    // A dataset deleted from its settings page, only with its name typed again.
    c.goto(&format!("{base}/datasets/alice/weather/settings"))
        .await
        .unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "confirm", "weathe").await;
    click(&c, "#delete-dataset button[type=submit]").await;
    assert!(text(&c).await.contains("type the dataset's name"));
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    fill(&c, "confirm", "weather").await;
    click(&c, "#delete-dataset button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/weather",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // The three refusals asked for above are the only errors.
    let errors = console_errors(&c).await;
    let unexpected: Vec<&String> = errors
        .iter()
        .filter(|e| !e.contains("409 (Conflict)") && !e.contains("422 (Unprocessable"))
        .collect();
    assert!(unexpected.is_empty() && errors.len() == 3, "{errors:?}");
    let _ = c.close().await;
}

/// The drive opens a dropped table in the table viewer and speaks of versions; a writer through a
/// share drops files too (through strata's own form, with its progress), into what is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drive_views_tables_and_a_share_writer_drops_files() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.user("bob").await;
    for who in ["alice", "bob"] {
        strata::cli::admin::set_password(&server.state, who, PASSWORD)
            .await
            .unwrap();
    }
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/drive")).await.unwrap();
    click(&c, "form[action=\"/drive\"] button").await;
    let page = text(&c).await;
    assert!(!page.contains("git push"), "{page}");
    let csv = server.dir.path().join("budget.csv");
    std::fs::write(&csv, "month,amount\njan,10\nfeb,12\nmar,9\n").unwrap();
    drop_files(&c, "main", &[&csv]).await;
    wait_until(
        &c,
        "location.search.includes('undo=') && document.readyState === 'complete'",
        "location.href + ' ' + document.getElementById('upload-status').textContent",
    )
    .await;
    c.goto(&format!("{base}/datasets/alice/drive/files/budget.csv"))
        .await
        .unwrap();
    let headings = c
        .execute(
            "return [...document.querySelectorAll('#table-rows thead th a')].map(a => a.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(headings, json!(["month", "amount"]));
    // A version of the drive: no commit ids, no "main".
    let (_, v) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/drive/revisions?limit=5",
        Some(&alice),
        None,
    )
    .await;
    let first = v["revisions"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.goto(&format!("{base}/datasets/alice/drive/revisions/{first}"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("Bring everything back to this version") && !page.contains(&first),
        "{page}"
    );

    // An image and a PDF dropped in: the grid shows the image's thumbnail and the PDF's kind;
    // the PDF opens in the browser's viewer, in a frame; starred and opened files are listed.
    let photo = server.dir.path().join("photo.png");
    std::fs::copy("docs/screenshots/file.png", &photo).unwrap();
    let report = server.dir.path().join("report.pdf");
    std::fs::write(&report, pdf()).unwrap();
    c.goto(&format!("{base}/datasets/alice/drive"))
        .await
        .unwrap();
    drop_files(&c, "main", &[&photo, &report]).await;
    wait_until(
        &c,
        "location.search.includes('undo=') && document.readyState === 'complete'",
        "location.href + ' ' + document.getElementById('upload-status').textContent",
    )
    .await;
    click(&c, "#view-grid").await;
    wait_until(
        &c,
        "(() => { const i = document.querySelector('#grid img'); return !!i && i.complete && i.naturalWidth === 240; })()",
        "document.querySelector('#grid') && document.querySelector('#grid').innerHTML",
    )
    .await;
    let tiles = c
        .execute(
            "return Object.fromEntries([...document.querySelectorAll('#grid .tile')].map(t => [t.querySelector('.tile-name').textContent, t.querySelector('.badge') ? t.querySelector('.badge').textContent : 'thumbnail']))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tiles["photo.png"], "thumbnail", "{tiles}");
    assert_eq!(
        (&tiles["report.pdf"], &tiles["budget.csv"]),
        (&json!("PDF"), &json!("CSV"))
    );
    c.goto(&format!("{base}/datasets/alice/drive/files/report.pdf"))
        .await
        .unwrap();
    // Served inline as a PDF only (a document that could hold no script even if taken for a
    // page), framed by strata's own pages only.
    let served = c
        .execute_async(
            "const done = arguments[0]; fetch(document.getElementById('pdf-preview').src).then(r => \
             done(['content-type', 'content-disposition', 'x-content-type-options', \
             'content-security-policy'].map(h => r.headers.get(h))))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        served,
        json!([
            "application/pdf",
            "inline; filename=\"report.pdf\"; filename*=UTF-8''report.pdf",
            "nosniff",
            "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"
        ])
    );
    c.enter_frame(0).await.unwrap();
    wait_until(
        &c,
        "document.contentType === 'application/pdf'",
        "document.contentType",
    )
    .await;
    c.enter_parent_frame().await.unwrap();
    click(&c, "#star-file button").await;
    assert!(text(&c).await.contains("Starred"));
    c.goto(&format!("{base}/drive/starred")).await.unwrap();
    let starred = text(&c).await;
    assert!(
        starred.contains("report.pdf") && !starred.contains("budget.csv"),
        "{starred}"
    );
    c.goto(&format!("{base}/drive/recent")).await.unwrap();
    let recent = c
        .execute(
            "return [...document.querySelectorAll('#recent tbody td:first-child')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(recent, json!(["report.pdf", "budget.csv"]));
    // Unstarred from the list.
    c.goto(&format!("{base}/drive/starred")).await.unwrap();
    click(&c, "#starred button").await;
    assert!(text(&c).await.contains("Nothing starred yet"));
    let _ = c.close().await;

    // Bob writes alice's inbox folder through a share: a drop uploads into it.
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets",
        Some(&alice),
        Some(json!({"namespace": "alice", "name": "box", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(
        &server,
        &alice,
        "alice/box",
        "Inbox",
        &[json!({"key": "file", "value": {"path": "inbox/.keep", "content": "", "encoding": "utf-8"}})],
    )
    .await;
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets/alice/box/shares",
        Some(&alice),
        Some(json!({"path": "inbox", "user": "bob", "access": "write"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let c = browser(&driver, &server.dir.path().join("profile-bob")).await;
    sign_in(&c, &base, "bob").await;
    c.goto(&format!("{base}/datasets/alice/box?path=inbox"))
        .await
        .unwrap();
    assert!(c
        .find(Locator::Id("drop-zone"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap());
    let note = server.dir.path().join("note.txt");
    std::fs::write(&note, "from bob\n").unwrap();
    c.execute("window.beforeDrop = true", vec![]).await.unwrap();
    drop_files(&c, "main", &[&note]).await;
    wait_until(
        &c,
        "!window.beforeDrop && document.readyState === 'complete' \
         && document.getElementById('files').textContent.includes('note.txt')",
        "document.getElementById('upload-status').textContent",
    )
    .await;
    let (status, _) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/alice/box/raw/inbox/note.txt",
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = c.close().await;
}

/// The share form's people: of one's organisations by default (no directory of every account),
/// every account with `--people everyone`.
#[tokio::test]
async fn the_share_form_suggests_whom_the_site_allows() {
    use crate::common::forms::Browser;
    for (people, stranger_listed) in [
        (strata_core::config::People::Organisations, false),
        (strata_core::config::People::Everyone, true),
    ] {
        let server = TestServer::start_with(Backend::Local, |c| c.people = people).await;
        alice_with(&server, "box").await;
        server.user("zed").await;
        let mut b = Browser::new(&server.url);
        b.login("alice", PASSWORD).await;
        let page = b.get("/datasets/alice/box/share?path=").await;
        assert_eq!(page.status, 200, "{}", page.text);
        let listed = page.text.contains("<option value=\"zed\">");
        assert_eq!(listed, stranger_listed, "{people:?}");
        assert!(
            !page.text.contains("<option value=\"alice\">"),
            "not oneself"
        );
    }
}

/// Without script, the file manager's actions with nothing picked are refused in words, and the
/// way back fills in what was typed.
#[tokio::test]
async fn nothing_picked_is_refused_in_words_and_the_name_typed_is_kept() {
    use crate::common::forms::Browser;
    let server = TestServer::start().await;
    alice_with(&server, "box").await;
    let mut b = Browser::new(&server.url);
    b.login("alice", PASSWORD).await;
    let page = b.get("/datasets/alice/box").await;
    let csrf = page.hidden("csrf");
    for op in ["rename", "move", "delete", "share"] {
        let form = [
            ("csrf", csrf.as_str()),
            ("folder", ""),
            ("op", op),
            ("to", "q3 report"),
        ];
        let r = b.post("/datasets/alice/box/files", &form).await;
        assert_eq!(r.status, 422, "{op}: {}", r.text);
        assert!(r.text.contains("nothing is picked"), "{op}: {}", r.text);
        assert!(
            r.text.contains("href=\"/datasets/alice/box?to=q3+report\""),
            "{op}: {}",
            r.text
        );
    }
    let back = b.get("/datasets/alice/box?to=q3+report").await;
    assert!(back.text.contains("value=\"q3 report\""), "{}", back.text);
}

/// Starred and Recent as a stranger would try them: nothing starred that the visitor may not
/// read, no way back to another site, and a share taken away takes its items off both lists;
/// a thumbnail is refused as the file's bytes would be, and for bytes that are no image.
#[tokio::test]
async fn starred_and_recent_list_only_what_may_still_be_read() {
    use crate::common::forms::Browser;
    let server = TestServer::start().await;
    let alice = alice_with(&server, "box").await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let png = std::fs::read("docs/screenshots/file.png").unwrap();
    let (photo, fake) = (
        lfs(&server, &alice, "alice/box", "in/photo.png", &png).await,
        lfs(
            &server,
            &alice,
            "alice/box",
            "in/fake.png",
            b"<svg onload=alert(1)>",
        )
        .await,
    );
    commit(&server, &alice, "alice/box", "Files", &[photo, fake]).await;
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let csrf = bob.get("/drive/starred").await.hidden("csrf");
    let star = |dataset: &'static str, path: &'static str, back: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("dataset", dataset.to_owned()),
            ("path", path.to_owned()),
            ("star", "on".to_owned()),
            ("back", back.to_owned()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        serde_urlencoded::to_string(form).unwrap()
    };
    // Not shared with bob yet: refused as missing, nothing starred; no thumbnail either.
    let page = bob
        .send(
            client()
                .post(format!("{}/starred", server.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(post(star("alice/box", "in/photo.png", "/"))),
        )
        .await;
    assert_eq!(page.status, 404, "{}", page.text);
    assert!(page.text.contains("request_id"), "{}", page.text);
    let thumb = bob.get("/datasets/alice/box/thumbnails/in/photo.png").await;
    assert_eq!(thumb.status, 404);
    // Shared: starred (the way back only to this server), opened, listed.
    let (status, v) = call(
        &server,
        Method::POST,
        "/api/v1/datasets/alice/box/shares",
        Some(&alice),
        Some(json!({"path": "in", "user": "bob", "access": "read"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    for back in [
        "//evil.example/x",
        "/\t/evil.example",
        "https://evil.example/",
    ] {
        let page = bob
            .send(
                client()
                    .post(format!("{}/starred", server.url))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(post(star("alice/box", "in/photo.png", back))),
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.text);
        assert_eq!(page.headers["location"], "/drive/starred", "{back:?}");
    }
    let thumb = bob.get("/datasets/alice/box/thumbnails/in/photo.png").await;
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.headers["content-type"], "image/jpeg");
    let fake = bob.get("/datasets/alice/box/thumbnails/in/fake.png").await;
    assert_eq!(fake.status, 422, "{}", fake.text);
    assert!(fake.text.contains("not an image"), "{}", fake.text);
    assert_eq!(
        bob.get("/datasets/alice/box/files/in/photo.png")
            .await
            .status,
        200
    );
    assert!(bob.get("/drive/starred").await.text.contains("photo.png"));
    assert!(bob.get("/drive/recent").await.text.contains("photo.png"));
    // The share taken away: off both lists, and the thumbnail refused again.
    let id = v["id"].as_i64().unwrap();
    let (status, _) = call(
        &server,
        Method::DELETE,
        &format!("/api/v1/datasets/alice/box/shares/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 204);
    for list in ["/drive/starred", "/drive/recent"] {
        let page = bob.get(list).await;
        assert_eq!(page.status, 200);
        assert!(!page.text.contains("photo.png"), "{list}: {}", page.text);
    }
    assert_eq!(
        bob.get("/datasets/alice/box/thumbnails/in/photo.png")
            .await
            .status,
        404
    );
}
