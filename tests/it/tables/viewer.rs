//! The table viewer on a file's page in headless Chromium: every row a page at a time, a sort by
//! clicking a column's heading (ascending, descending, off), search, a filter added and removed
//! through the forms, the column statistics, numbers aligned right, the whole page within a
//! phone's width, and no console error (the pages' Content-Security-Policy holds).

use crate::common::chromium::*;
use crate::common::*;
use fantoccini::Locator;

const COUNT: &str = "document.getElementById('table-count').textContent";

async fn count(c: &fantoccini::Client) -> String {
    c.execute(&format!("return {COUNT}"), vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The texts of column `n` (from 1) of the rows shown.
async fn column(c: &fantoccini::Client, n: usize) -> Vec<String> {
    let script = format!(
        "return [...document.querySelectorAll('#table-rows tbody tr td:nth-child({n})')].map(td => td.textContent)"
    );
    let v = c.execute(&script, vec![]).await.unwrap();
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_viewed_sorted_searched_filtered_and_described_in_chromium() {
    let (server, _alice, _api) =
        super::dataset(&[("people", "people.csv", super::people().into_bytes())]).await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile")).await;
    c.goto(&format!("{}/login", server.url)).await.unwrap();
    fill(&c, "username", "alice").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, "form[action=\"/login\"] button").await;
    c.goto(&format!("{}/datasets/alice/t/files/people.csv", server.url))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("Table people"), "{page}");
    assert_eq!(count(&c).await, "Rows 1–50 of 250");
    assert_eq!(column(&c, 1).await[..3], ["1", "2", "3"]);
    let align = c
        .execute(
            "return getComputedStyle(document.querySelector('#table-rows td.num')).textAlign",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(align, "right", "numbers align right");
    let types = text(&c).await;
    assert!(types.contains("integer") && types.contains("date") && types.contains("boolean"));

    // The next page, then a sort by score: ascending, then descending.
    click(&c, "#rows-next").await;
    assert_eq!(count(&c).await, "Rows 51–100 of 250");
    click(&c, "th:nth-child(3) a").await;
    assert_eq!(
        count(&c).await,
        "Rows 1–50 of 250",
        "a new sort starts at the first row"
    );
    assert_eq!(column(&c, 3).await[0], "0.5");
    click(&c, "th:nth-child(3) a").await;
    assert_eq!(column(&c, 3).await[0], "100.5");
    let sorted = c
        .execute(
            "return document.querySelector('th:nth-child(3)').getAttribute('aria-sort')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(sorted, "descending");

    // Search: a percent sign and an underscore are themselves.
    fill(&c, "q", "50%_OFF").await;
    click(&c, "#table-search button").await;
    assert_eq!(count(&c).await, "Rows 1–1 of 1");
    assert_eq!(column(&c, 2).await, ["50%_off"]);
    fill(&c, "q", "").await;
    click(&c, "#table-search button").await;

    // A filter through the form, kept while the sort changes, then removed.
    c.find(Locator::Css("#filter-column option[value=\"active\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css(
        "#table-filter select[name=\"fo\"] option[value=\"eq\"]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    fill(&c, "fv", "true").await;
    click(&c, "#table-filter button").await;
    assert_eq!(count(&c).await, "Rows 1–50 of 83");
    assert!(column(&c, 5).await.iter().all(|v| v == "true"));
    // The chip says what the filter does, not its code.
    let chips = c
        .find(Locator::Css("#table-filters"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chips.contains("active = true"), "{chips}");
    click(&c, "th:nth-child(1) a").await;
    assert_eq!(count(&c).await, "Rows 1–50 of 83", "the filter stays");
    click(&c, "#table-filters a").await;
    assert_eq!(count(&c).await, "Rows 1–50 of 250");

    // A value not of the column's type says so, and the page still stands.
    c.find(Locator::Css("#filter-column option[value=\"id\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&c, "fv", "ten").await;
    click(&c, "#table-filter button").await;
    let error = text(&c).await;
    assert!(error.contains("\"ten\" is not of type integer"), "{error}");

    // Column statistics.
    c.goto(&format!("{}/datasets/alice/t/files/people.csv", server.url))
        .await
        .unwrap();
    click(&c, "#show-stats").await;
    let stats = c
        .find(Locator::Css("#table-stats"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        stats.contains("score") && stats.contains("100.5") && stats.contains("225"),
        "{stats}"
    );
    c.execute(
        "document.getElementById('table-title').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    screenshot(&c, "table-viewer").await;

    // The inferred types saved to the datapackage from the page: the button goes.
    click(&c, "#save-types button").await;
    let saved = c.find(Locator::Css("#save-types")).await;
    assert!(saved.is_err(), "every column's type is declared now");

    // On a phone: the table scrolls inside its box, the page does not.
    c.set_window_size(390, 844).await.unwrap();
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, true, "the page is wider than a phone");
    assert!(
        console_errors(&c).await.is_empty(),
        "{:?}",
        console_errors(&c).await
    );
    c.close().await.unwrap();
}

/// A share link to a table shows the viewer to whoever has the link: pages, sort and filters in
/// the link page's own address; nothing to write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_link_to_a_table_shows_the_viewer() {
    let (server, _alice, _api) =
        super::dataset(&[("people", "people.csv", super::people().into_bytes())]).await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let settings = "/datasets/alice/t/settings";
    let csrf = alice.get(settings).await.hidden("csrf");
    let made = alice
        .post(
            settings,
            &[
                ("csrf", &csrf),
                ("change", "link"),
                ("path", "people.csv"),
                ("password", ""),
                ("expires", ""),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let link = made
        .text
        .split(&format!("{}/s/", server.url))
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let mut stranger = Browser::new(&server.url);
    let page = stranger.get(&format!("/s/{link}")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Rows 1–50 of 250"), "{}", page.text);
    assert!(
        !page.text.contains("save-types"),
        "nothing to write through a link"
    );
    let page = stranger
        .get(&format!("/s/{link}?filter=id:le:3&sort=id:desc"))
        .await;
    assert!(page.text.contains("Rows 1–3 of 3"), "{}", page.text);
    assert!(
        page.text.contains(&format!(
            "href=\"/s/{link}?filter=id%3Ale%3A3&amp;sort=id\""
        )) || page.text.contains("aria-sort=\"descending\"")
    );
    let page = stranger.get(&format!("/s/{link}?filter=nope:eq:1")).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("no column"), "{}", page.text);
}
