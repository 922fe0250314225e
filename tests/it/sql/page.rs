//! The SQL page in headless Chromium, on Fybrik's sample policy: the tables one may query listed
//! beside the box, a query run from the list and typed into the box, its result a page at a time
//! and sorted by clicking a heading, the redaction shown in the cells and under "Tables read",
//! CSV and Parquet downloads, the page's address as a link that works for whoever opens it, a
//! syntax error with its place, a phone's width and no console error. Then the hostile inputs
//! through plain requests: bad paging, markup in a query or a column name, a private table.

use fantoccini::Locator;
use serde_json::Value;

use crate::common::chromium::*;
use crate::common::*;
use crate::governance::Gov;

const COUNT: &str = "document.getElementById('table-count').textContent";

async fn js(c: &fantoccini::Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// The texts of column `n` (from 1) of the rows shown.
async fn column(c: &fantoccini::Client, n: usize) -> Vec<String> {
    let v = js(
        c,
        &format!(
            "return [...document.querySelectorAll('#table-rows tbody tr td:nth-child({n})')].map(td => td.textContent)"
        ),
    )
    .await;
    serde_json::from_value(v).unwrap()
}

/// Types `query` into the box and runs it.
async fn run_query(c: &fantoccini::Client, query: &str) {
    c.execute(
        "document.getElementById('sql-q').value = arguments[0]",
        vec![Value::String(query.to_owned())],
    )
    .await
    .unwrap();
    click(c, "#sql-form button[type=submit]").await;
}

/// alice's private dataset `alice/t` with a table `secret`, which nobody else may read.
async fn private_table(gov: &Gov) {
    gov.create("alice", "t", &gov.alice.clone(), "private")
        .await;
    let files = [("secret", "secret.csv", b"a,b\n1,2\n".to_vec())];
    crate::tables::put_resources(&gov.server, &gov.alice, &files, serde_json::json!({})).await;
}

/// Types `query` into the box key by key and runs it with Ctrl+Enter.
async fn type_and_run(c: &fantoccini::Client, query: &str) {
    let before = text(c).await;
    let box_ = c.find(Locator::Id("sql-q")).await.unwrap();
    box_.clear().await.unwrap();
    box_.send_keys(query).await.unwrap();
    // WebDriver's Control and Enter keys, pressed together.
    box_.send_keys("\u{E009}\u{E007}\u{E000}").await.unwrap();
    for _ in 0..200 {
        if text(c).await != before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("Ctrl+Enter ran nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_run_paged_sorted_downloaded_and_shared_from_the_sql_page_in_chromium() {
    let gov = Gov::start().await;
    private_table(&gov).await;
    strata::cli::admin::set_password(&gov.server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &gov.server.dir.path().join("profile")).await;
    sign_in(&c, &gov.server.url, "bob").await;
    click(&c, "nav a[href=\"/sql\"]").await;

    // The tables bob may read are listed; alice's private one is not.
    let listed = c
        .find(Locator::Css("#sql-tables"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(r#""alice/paysim"."paysim-csv""#),
        "{listed}"
    );
    assert!(!listed.contains("alice/t"), "{listed}");

    // A table's first rows from the list: a page at a time, the PII redacted.
    click(&c, "#sql-tables a.mono").await;
    assert_eq!(
        js(&c, &format!("return {COUNT}")).await,
        "Rows 1–50, more follow"
    );
    let headings = js(
        &c,
        "return [...document.querySelectorAll('#table-rows th a')].map(a => a.textContent)",
    )
    .await;
    let names: Vec<String> = serde_json::from_value(headings).unwrap();
    let name_orig = names.iter().position(|n| n == "nameOrig").unwrap() + 1;
    let amount = names.iter().position(|n| n == "amount").unwrap() + 1;
    assert!(column(&c, name_orig)
        .await
        .iter()
        .all(|v| v == "XXXXXXXXXX"));
    click(&c, "#rows-next").await;
    assert_eq!(js(&c, &format!("return {COUNT}")).await, "Rows 51–100");
    assert!(c.find(Locator::Css("#rows-next")).await.is_err());

    // Sorted by clicking a heading: the result's own rows, back at the first page.
    click(&c, &format!("#table-rows th:nth-child({amount}) a")).await;
    click(&c, &format!("#table-rows th:nth-child({amount}) a")).await;
    let amounts: Vec<f64> = column(&c, amount)
        .await
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(amounts.len(), 50);
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    let read = c
        .find(Locator::Css("#sql-read"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(read.contains("nameOrig: redacted"), "{read}");

    // A query typed into the box, and what it downloads as.
    run_query(
        &c,
        r#"SELECT "type", count(*) AS n, max("nameOrig") AS who
FROM "alice/paysim"."paysim-csv" GROUP BY "type" ORDER BY n DESC"#,
    )
    .await;
    assert_eq!(column(&c, 1).await[0], "PAYMENT");
    assert_eq!(
        js(
            &c,
            "return getComputedStyle(document.querySelector('#table-rows td.num')).textAlign"
        )
        .await,
        "right"
    );
    c.set_window_size(1200, 1000).await.unwrap();
    screenshot(&c, "sql").await;
    let csv = js(
        &c,
        "return fetch(document.getElementById('sql-csv').href).then(r => r.text())",
    )
    .await;
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("type,n,who\nPAYMENT,"), "{csv}");
    assert!(
        csv.contains("XXXXXXXXXX") && !csv.contains("C1231006815"),
        "{csv}"
    );
    let parquet = js(
        &c,
        "return fetch(document.getElementById('sql-parquet').href).then(r => r.arrayBuffer()).then(b => { const u = new Uint8Array(b); return [u.length, String.fromCharCode(...u.slice(0, 4)), String.fromCharCode(...u.slice(-4))]; })",
    )
    .await;
    assert_eq!(parquet[1], "PAR1", "{parquet}");
    assert_eq!(parquet[2], "PAR1", "{parquet}");

    // The page's address is the query: a visitor who is not signed in gets the same result.
    let here = c.current_url().await.unwrap();
    let page = client().get(here.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("PAYMENT") && html.contains("XXXXXXXXXX"),
        "{html}"
    );

    // A syntax error (typed, run with Ctrl+Enter) names its place; the query stays to fix.
    type_and_run(
        &c,
        "SELECT count(*) FROM \"alice/paysim\".\"paysim-csv\"\nWHERE",
    )
    .await;
    let error = c
        .find(Locator::Css("[role=alert]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("Line: 2"), "{error}");
    assert_eq!(
        js(&c, "return document.getElementById('sql-q').value").await,
        "SELECT count(*) FROM \"alice/paysim\".\"paysim-csv\"\nWHERE"
    );

    // The page answered with the error's status, which the console notes; nothing else.
    let errors = console_errors(&c).await;
    assert!(
        errors.len() == 1 && errors[0].contains("status of 400"),
        "{errors:?}"
    );

    // On a phone: the result scrolls inside its box, the page does not.
    click(&c, "#sql-tables a.mono").await;
    c.set_window_size(390, 844).await.unwrap();
    let fits = js(
        &c,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert_eq!(fits, true, "the page is wider than a phone");
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_page_answers_bad_input_with_its_status_and_escapes_what_it_shows() {
    let gov = Gov::start().await;
    private_table(&gov).await;
    let base = gov.server.url.clone();
    let get = |pairs: Vec<(&'static str, String)>| {
        let url = format!(
            "{base}/sql?{}",
            serde_urlencoded::to_string(&pairs).unwrap()
        );
        async move {
            let r = client().get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let id = r.headers().get("x-request-id").cloned();
            let html = r.text().await.unwrap();
            assert!(id.is_some());
            assert!(html.contains("request <span class=\"mono\">"), "{html}");
            (status, html)
        }
    };
    let t = r#"SELECT "step" FROM "alice/paysim"."paysim-csv""#.to_owned();

    // No query: the box and the public tables.
    let (status, html) = get(vec![]).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("&#34;alice/paysim&#34;") || html.contains("&quot;alice/paysim&quot;"),
        "{html}"
    );
    assert!(!html.contains("alice/t&"), "{html}");

    for (pairs, want, says) in [
        (vec![("q", "SELEC 1".to_owned())], 400, "Line: 1, Column: 1"),
        (
            vec![("q", t.clone()), ("offset", "x".into())],
            422,
            "offset must be a whole number",
        ),
        (
            vec![("q", t.clone()), ("limit", "100000".into())],
            422,
            "1 to 500 rows",
        ),
        (
            vec![("q", t.clone()), ("limit", "0".into())],
            422,
            "1 to 500 rows",
        ),
        (
            vec![("q", t.clone()), ("sort", "nope".into())],
            422,
            "no column",
        ),
        (
            vec![("q", r#"SELECT * FROM "alice/t"."secret""#.into())],
            404,
            "no table",
        ),
        (
            vec![("q", "DROP TABLE x".into())],
            400,
            "only queries run here",
        ),
    ] {
        let (status, html) = get(pairs.clone()).await;
        assert_eq!(status, want, "{pairs:?}: {html}");
        assert!(html.contains(says), "{pairs:?}: {html}");
        assert!(html.contains("role=\"alert\""), "{pairs:?}");
    }

    // Markup in a value, a column name or the query text is text.
    let (status, html) = get(vec![(
        "q",
        r#"SELECT '<script>alert(1)</script>' AS "<img src=x onerror=alert(2)>""#.into(),
    )])
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("<td>&#60;script&#62;alert(1)&#60;/script&#62;</td>"),
        "{html}"
    );

    // Offsets past the end show no rows, not an error; a huge one is no overflow.
    for offset in ["1000", &u64::MAX.to_string()] {
        let (status, html) = get(vec![("q", t.clone()), ("offset", offset.to_owned())]).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("No rows"), "{html}");
    }
}
