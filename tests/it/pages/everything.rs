//! Every task of a person who has only a browser, in one headless Chromium session (and a second
//! profile for the person they share with), each checked from what the page shows, or through
//! the REST API where no page shows it, with a screenshot of each (`task-*.png`, kept as
//! `docs/screenshots/` when `STRATA_SCREENSHOTS` names it): sign up; make a dataset from the home
//! page; drop a table, a README with front matter and a folder onto it; read its card; view the
//! table with a chart in every heading; query it on the SQL page; edit a file in the editor; make
//! a branch and change the table on it; compare the branch with main by key, declaring the key
//! from the row changes' "Compare by"; open a merge request, comment on it and merge it; share
//! the dataset with a person and make a share link, which the recipient opens before signing in,
//! then finds the dataset under Shared with me; start the drive, drop an image, see its
//! thumbnail in the grid and its preview on its page; rename a file, open its version from before
//! the rename and restore it. No console error on the way, in either browser.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::chromium::*;
use crate::common::*;
use crate::sharing::gated::call;

const STATIONS: &str = "id,name,region,temp\n1,Aberdeen,north,8\n2,Bristol,south,12\n\
    3,Cardiff,south,12\n4,Dundee,north,7\n5,Exeter,south,13\n6,Fort William,north,8\n";
/// The table on the branch: Bristol warmer, Cardiff gone, Glasgow new.
const ON_DRAFT: &str = "id,name,region,temp\n1,Aberdeen,north,8\n2,Bristol,south,14\n\
    4,Dundee,north,7\n5,Exeter,south,13\n6,Fort William,north,8\n7,Glasgow,north,9\n";
const README: &str = "---\nlicense: cc-by-4.0\ntags:\n- climate\n---\n# Weather stations\n\n\
    Six stations, read *every hour*.\n";
const FIRST: &str = "Field notes, first draft.\n";
const SECOND: &str = "Field notes, second draft: one station closes in May.\n";

/// The drop zone is shown once the page's script runs.
const DROP_READY: &str = "!document.getElementById('drop-zone').hidden";
/// A drop's upload is committed and the folder's page is back, naming the revision for Undo.
const UPLOADED: &str = "location.search.includes('undo=') && document.readyState === 'complete'";
const STATUS: &str = "location.href + ' ' + document.getElementById('upload-status').textContent";

async fn js(c: &fantoccini::Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// The text of the element `selector`.
async fn inner(c: &fantoccini::Client, selector: &str) -> String {
    c.find(Locator::Css(selector))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clears the field `selector` and types `value` into it.
async fn type_into(c: &fantoccini::Client, selector: &str, value: &str) {
    let field = c.find(Locator::Css(selector)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Puts `value` in the text area `selector` at once, as a paste does (typed key by key, a table
/// takes long).
async fn paste(c: &fantoccini::Client, selector: &str, value: &str) {
    c.execute(
        "document.querySelector(arguments[0]).value = arguments[1]",
        vec![json!(selector), json!(value)],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_does_every_task_in_chromium() {
    // Open sign-up: the account is made on the sign-up page.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata_core::config::Signup::Open;
    })
    .await;
    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-dana")).await;
    c.set_window_size(1200, 900).await.unwrap();

    // 1. Sign up: the new account lands on its home page, signed in.
    c.goto(&format!("{base}/signup")).await.unwrap();
    fill(&c, "username", "dana").await;
    fill(&c, "email", "dana@example.com").await;
    fill(&c, "password", PASSWORD).await;
    fill(&c, "password2", PASSWORD).await;
    screenshot(&c, "task-signup").await;
    click(&c, "form[action=\"/signup\"] button").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    assert!(text(&c).await.contains("Sign out (dana)"));
    // For what no page shows.
    let dana = strata::cli::admin::create_token(&server.state, "dana", "checks", "*", None)
        .await
        .unwrap();

    // 2. A dataset from the home page's form (private, the form's first choice).
    fill(&c, "name", "weather").await;
    click(&c, "form[action=\"/datasets\"] button").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/datasets/dana/weather"
    );
    assert!(text(&c).await.contains("datapackage.json"));
    screenshot(&c, "task-new-dataset").await;

    // 3. A table, a README and a folder dropped onto the page: one upload, one revision, the
    // folder's file under its folder.
    let desk = server.dir.path().join("desk");
    std::fs::create_dir_all(desk.join("notes")).unwrap();
    let (csv, readme, notes) = (
        desk.join("stations.csv"),
        desk.join("README.md"),
        desk.join("notes"),
    );
    std::fs::write(&csv, STATIONS).unwrap();
    std::fs::write(&readme, README).unwrap();
    std::fs::write(notes.join("field.txt"), FIRST).unwrap();
    wait_until(&c, DROP_READY, "'no drop zone'").await;
    drop_files(&c, "main", &[&csv, &readme, &notes]).await;
    wait_until(&c, UPLOADED, STATUS).await;
    let status = inner(&c, "#upload-status").await;
    assert!(
        status.contains("Uploaded 3 files.") && status.contains("notes/field.txt"),
        "{status}"
    );
    let page = text(&c).await;
    assert!(page.contains("Done: Upload 3 files."), "{page}");
    let files = inner(&c, "#files").await;
    for f in ["notes/", "README.md", "stations.csv"] {
        assert!(files.contains(f), "{f}: {files}");
    }
    screenshot(&c, "task-drop").await;

    // 4. The card: the README at the top, its front matter as the licence and the tags.
    let card = inner(&c, "#readme").await;
    assert!(
        card.contains("Weather stations") && card.contains("Six stations, read every hour."),
        "{card}"
    );
    assert!(c.find(Locator::Css("#readme em")).await.is_ok(), "Markdown");
    let tags = inner(&c, "#card-tags").await;
    assert!(
        tags.contains("licence: cc-by-4.0") && tags.contains("climate"),
        "{tags}"
    );
    c.execute("document.getElementById('readme').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&c, "task-card").await;

    // 5. The table in the viewer below the card, a chart in every heading.
    assert!(inner(&c, "#table-title").await.contains("stations"));
    assert_eq!(inner(&c, "#table-count").await, "Rows 1–6 of 6");
    let charts = js(
        &c,
        "return [...document.querySelectorAll('#table-rows thead th')].map(th => \
         th.querySelectorAll('svg.chart rect').length)",
    )
    .await;
    let charts: Vec<u64> = serde_json::from_value(charts).unwrap();
    assert!(
        charts.len() == 4 && charts.iter().all(|n| *n > 0),
        "{charts:?}"
    );
    c.execute(
        "document.getElementById('table-viewer').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&c, "task-viewer").await;

    // 6. Queried on the SQL page, the table listed beside the box.
    c.goto(&format!("{base}/sql")).await.unwrap();
    let listed = inner(&c, "#sql-tables").await;
    assert!(listed.contains(r#""dana/weather"."stations""#), "{listed}");
    paste(
        &c,
        "#sql-q",
        r#"SELECT "region", count(*) AS n FROM "dana/weather"."stations" GROUP BY "region" ORDER BY "region""#,
    )
    .await;
    click(&c, "#sql-form button[type=submit]").await;
    let rows = js(
        &c,
        "return [...document.querySelectorAll('#table-rows tbody tr')].map(r => \
         [...r.children].map(td => td.textContent))",
    )
    .await;
    assert_eq!(rows, json!([["north", "3"], ["south", "3"]]));
    screenshot(&c, "task-sql").await;

    // 7. A file edited in the browser: saved as a new revision, its page showing the new text.
    c.goto(&format!(
        "{base}/datasets/dana/weather/files/notes/field.txt"
    ))
    .await
    .unwrap();
    click(&c, "#edit-file").await;
    paste(&c, "#editor-text", SECOND).await;
    type_into(&c, "form.editor input[name=message]", "Second draft").await;
    screenshot(&c, "task-edit").await;
    click(&c, "form.editor button[type=submit]").await;
    assert!(text(&c).await.contains("Saved as a new revision."));
    assert!(inner(&c, "#preview").await.contains("second draft"));

    // 8. A branch from the switcher's "New branch", and the table changed on it alone.
    c.goto(&format!("{base}/datasets/dana/weather"))
        .await
        .unwrap();
    c.find(Locator::Css("#switcher summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, "#new-branch-link").await;
    type_into(&c, "form[action$='/branches'] input[name=name]", "draft").await;
    click(&c, "form[action$='/branches'] button[type=submit]").await;
    assert!(inner(&c, "#branches").await.contains("draft"));
    c.goto(&format!(
        "{base}/datasets/dana/weather/files/stations.csv?rev=draft"
    ))
    .await
    .unwrap();
    click(&c, "#edit-file").await;
    assert!(text(&c).await.contains("on branch draft"));
    paste(&c, "#editor-text", ON_DRAFT).await;
    type_into(&c, "form.editor input[name=message]", "Readings of May").await;
    click(&c, "form.editor button[type=submit]").await;
    let page = text(&c).await;
    assert!(
        page.contains("Saved as a new revision.") && page.contains("Glasgow"),
        "{page}"
    );
    screenshot(&c, "task-branch").await;
    c.goto(&format!("{base}/datasets/dana/weather/files/stations.csv"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("Cardiff") && !page.contains("Glasgow"),
        "main as it was: {page}"
    );

    // 9. main and draft compared: the table's rows matched on a key (inferred: id), each changed
    // cell old → new; "Compare by" declares id the key, on main.
    c.goto(&format!("{base}/datasets/dana/weather/diff"))
        .await
        .unwrap();
    for (id, value) in [("compare-from", "main"), ("compare-to", "draft")] {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }
    click(&c, "#compare button[type=submit]").await;
    let page = text(&c).await;
    assert!(
        page.contains("rows: 1 added, 1 removed, 1 changed"),
        "{page}"
    );
    click(&c, "a.row-changes").await;
    assert_eq!(
        inner(&c, "#diff-counts").await,
        "1 added 1 removed 1 changed"
    );
    assert!(inner(&c, "#key-inferred")
        .await
        .contains("rows matched on id"));
    let rows = inner(&c, "#diff-rows").await;
    assert!(
        rows.contains("12 → 14") && rows.contains("Cardiff") && rows.contains("Glasgow"),
        "{rows}"
    );
    c.find(Locator::Id("key-column"))
        .await
        .unwrap()
        .select_by_value("id")
        .await
        .unwrap();
    screenshot(&c, "task-compare").await;
    click(&c, "#declare-key button[type=submit]").await;
    let (_, d) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/dana/weather",
        Some(&dana),
        None,
    )
    .await;
    let stations = d["datapackage"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "stations")
        .cloned()
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(stations["schema"]["primaryKey"], json!(["id"]), "{d}");
    // Declared on main: the rows are matched on it, no longer inferred nor offered.
    c.goto(&format!(
        "{base}/datasets/dana/weather/tables/stations/diff?from=main&to=draft"
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(page.contains("rows matched on id"), "{page}");
    assert_eq!(
        inner(&c, "#diff-counts").await,
        "1 added 1 removed 1 changed"
    );
    assert!(c.find(Locator::Id("key-inferred")).await.is_err(), "{page}");
    assert!(c.find(Locator::Id("declare-key")).await.is_err(), "{page}");

    // 10. A merge request from draft into main: opened, commented on, merged.
    c.goto(&format!("{base}/datasets/dana/weather"))
        .await
        .unwrap();
    click(&c, "a[href='/datasets/dana/weather/merge-requests']").await;
    c.find(Locator::Css("select[name=source]"))
        .await
        .unwrap()
        .select_by_value("draft")
        .await
        .unwrap();
    type_into(
        &c,
        "form[action$='/merge-requests'] input[name=title]",
        "Stations as of May",
    )
    .await;
    click(&c, "form[action$='/merge-requests'] button[type=submit]").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/datasets/dana/weather/merge-requests/1"
    );
    let page = text(&c).await;
    assert!(page.contains("Ready to merge"), "{page}");
    c.find(Locator::Id("comment-body"))
        .await
        .unwrap()
        .send_keys("Checked against the station log.")
        .await
        .unwrap();
    click(&c, "#comment-form button[type=submit]").await;
    let comments = inner(&c, "#comment-list").await;
    assert!(
        comments.contains("Checked against the station log."),
        "{comments}"
    );
    screenshot(&c, "task-merge-request").await;
    click(&c, "#merge").await;
    assert_eq!(inner(&c, "#state").await, "merged");
    c.goto(&format!("{base}/datasets/dana/weather/files/stations.csv"))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("Glasgow") && !page.contains("Cardiff"),
        "main has the branch's table: {page}"
    );

    // 11. Shared with a person from the dataset's Share dialog; a link to the notes folder made
    // on its settings page.
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    c.goto(&format!("{base}/datasets/dana/weather"))
        .await
        .unwrap();
    click(&c, "a.share-here").await;
    fill(&c, "who", "bob").await;
    click(&c, "#share-form button").await;
    let page = text(&c).await;
    assert!(
        page.contains("Shared: they find it under Shared with me."),
        "{page}"
    );
    assert!(inner(&c, "#who-has-access").await.contains("bob"));
    screenshot(&c, "task-share").await;
    c.goto(&format!("{base}/datasets/dana/weather/settings"))
        .await
        .unwrap();
    let link_form = "form:has(input[value=\"link\"])";
    type_into(&c, &format!("{link_form} input[name=path]"), "notes").await;
    click(&c, &format!("{link_form} button")).await;
    let link = inner(&c, "#new-link").await;
    assert!(link.contains("/s/"), "{link}");
    screenshot(&c, "task-share-link").await;

    // 12. The recipient, in a browser of their own: the link opens without an account; signed
    // in, the dataset is under Shared with me and opens.
    let b = browser(&driver, &server.dir.path().join("profile-bob")).await;
    b.set_window_size(1200, 900).await.unwrap();
    b.goto(&link).await.unwrap();
    assert!(inner(&b, "#shared-by").await.contains("Shared by dana"));
    assert!(inner(&b, "#files").await.contains("field.txt"));
    click(&b, "#files td a").await;
    assert!(inner(&b, "#preview").await.contains("second draft"));
    sign_in(&b, &base, "bob").await;
    b.goto(&format!("{base}/shared")).await.unwrap();
    let shared = inner(&b, "#shared-with-me").await;
    assert!(shared.contains("dana/weather"), "{shared}");
    screenshot(&b, "task-shared-with-me").await;
    click(&b, "#shared-with-me a").await;
    assert_eq!(
        b.current_url().await.unwrap().path(),
        "/datasets/dana/weather"
    );
    assert!(inner(&b, "#files").await.contains("stations.csv"));

    // 13. The drive: started, an image dropped; the grid shows its thumbnail, its page the image.
    c.goto(&format!("{base}/drive")).await.unwrap();
    click(&c, "form[action=\"/drive\"] button").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/datasets/dana/drive"
    );
    let photo = desk.join("photo.png");
    std::fs::copy("docs/screenshots/file.png", &photo).unwrap();
    wait_until(&c, DROP_READY, "'no drop zone'").await;
    drop_files(&c, "main", &[&photo]).await;
    wait_until(&c, UPLOADED, STATUS).await;
    click(&c, "#view-grid").await;
    wait_until(
        &c,
        "(() => { const i = document.querySelector('#grid img'); \
         return !!i && i.complete && i.naturalWidth === 240; })()",
        "document.getElementById('grid') && document.getElementById('grid').innerHTML",
    )
    .await;
    c.execute("document.getElementById('grid').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(&c, "task-drive-grid").await;
    click(&c, "#grid a[href$='/files/photo.png']").await;
    wait_until(
        &c,
        "(() => { const i = document.getElementById('image-preview'); \
         return !!i && i.complete && i.naturalWidth > 0; })()",
        "location.href",
    )
    .await;
    screenshot(&c, "task-drive-preview").await;

    // 14. A file renamed with the file manager; its version from before the rename opens under
    // the name it had, and is restored as the renamed file.
    c.goto(&format!("{base}/datasets/dana/weather?path=notes"))
        .await
        .unwrap();
    c.find(Locator::Css(
        "input[type=checkbox][value=\"notes/field.txt\"]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    type_into(&c, "#pick-to", "observations.txt").await;
    click(&c, "#picked button[value=rename]").await;
    let page = text(&c).await;
    assert!(
        page.contains("Done: Move notes/field.txt to notes/observations.txt."),
        "{page}"
    );
    let files = inner(&c, "#files").await;
    assert!(
        files.contains("observations.txt") && !files.contains("field.txt"),
        "{files}"
    );
    screenshot(&c, "task-rename").await;
    let renamed = format!("{base}/datasets/dana/weather/files/notes/observations.txt");
    c.goto(&renamed).await.unwrap();
    let page = text(&c).await;
    assert!(page.contains("(then notes/field.txt)"), "{page}");
    let versions = c
        .find_all(Locator::Css("#versions tbody tr"))
        .await
        .unwrap();
    // The rename, the edit, the drop.
    assert_eq!(versions.len(), 3, "{page}");
    let oldest = versions
        .last()
        .unwrap()
        .find(Locator::Css("td a.mono"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(oldest.contains("/files/notes/field.txt?rev="), "{oldest}");
    c.goto(&format!("{base}{oldest}")).await.unwrap();
    assert!(inner(&c, "#preview").await.contains("first draft"));
    c.goto(&renamed).await.unwrap();
    c.execute("window.confirm = () => true", vec![])
        .await
        .unwrap();
    click(&c, "#versions tbody tr:last-child form button").await;
    let page = text(&c).await;
    assert!(
        page.contains("Done: Restore notes/observations.txt"),
        "{page}"
    );
    assert!(inner(&c, "#preview").await.contains("first draft"));
    let (status, now) = call(
        &server,
        Method::GET,
        "/api/v1/datasets/dana/weather/raw/notes/observations.txt",
        Some(&dana),
        None,
    )
    .await;
    assert_eq!((status, now), (200, json!(FIRST)));
    screenshot(&c, "task-restore").await;

    // Nothing went wrong in either browser: no refusal was asked for.
    for (who, br) in [("dana", &c), ("bob", &b)] {
        let errors = console_errors(br).await;
        assert!(errors.is_empty(), "{who}: {errors:?}");
    }
    for br in [c, b] {
        br.close().await.unwrap();
    }
}
