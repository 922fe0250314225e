//! The dataset's front in Chromium: the README as the top of the page with its front matter as
//! tags, the viewer of its first table with a chart in every heading, "Use this dataset" whose
//! snippets run as shown, a key offered and declared in one click, search by tag, licence,
//! column and size; the file manager's controls enabled by the pick, and a dropped file's
//! upload that ends on its folder with the list kept and Undo.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_is_the_page_and_the_file_manager_follows_the_pick_in_chromium() {
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

    // A right click on a row picks it alone and offers what suits one item; its Rename asks for
    // the name and goes through the toolbar's own form.
    let menu = c
        .execute(
            "const row = document.querySelector('input[type=checkbox][value=\"map.png\"]').closest('tr');
             row.dispatchEvent(new MouseEvent('contextmenu', {bubbles: true, cancelable: true, clientX: 40, clientY: 40}));
             const m = document.getElementById('item-menu');
             return [m.hidden, [...m.querySelectorAll('[role=menuitem]')].map(b => b.textContent),
                     [...document.querySelectorAll('input[form=picked]:checked')].map(b => b.value)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(menu[0], json!(false), "{menu}");
    let labels = menu[1].as_array().unwrap();
    for label in [
        "Open",
        "Rename",
        "Move into folder",
        "Download (zip)",
        "Delete",
    ] {
        assert!(labels.iter().any(|l| l == label), "{label}: {menu}");
    }
    assert_eq!(menu[2], json!(["map.png"]), "picked alone");
    c.execute("window.prompt = () => 'chart.png'", vec![])
        .await
        .unwrap();
    c.execute(
        "[...document.querySelectorAll('#item-menu [role=menuitem]')].find(b => b.textContent === 'Rename').click()",
        vec![],
    )
    .await
    .unwrap();
    wait_until(
        &c,
        "!!document.querySelector('input[type=checkbox][value=\"chart.png\"]')",
        "document.body.innerText.slice(0, 400)",
    )
    .await;
    // Escape closes it.
    let closed = c
        .execute(
            "const row = document.querySelector('input[type=checkbox][value=\"chart.png\"]').closest('tr');
             row.dispatchEvent(new MouseEvent('contextmenu', {bubbles: true, cancelable: true, clientX: 40, clientY: 40}));
             document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));
             return document.getElementById('item-menu').hidden;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(closed, json!(true));
    c.goto(&format!("{base}/datasets/alice/weather"))
        .await
        .unwrap();

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
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    let _ = c.close().await;
}
