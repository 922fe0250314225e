//! The merge request pages in headless Chromium.

use super::*;
use crate::common::*;

/// The pages in headless Chromium: a merge request opened from the list's form (branches from
/// lists), its conflict shown with the three values and resolved with the cell's form, then
/// merged with the button; the list shows it merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_request_is_opened_resolved_and_merged_in_chromium() {
    use crate::common::chromium::*;
    use fantoccini::Locator;

    let s = setup(true).await;
    let ours = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,21", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    s.write("main", package(&ours, "M", true, &[]), &ours).await;
    let theirs = csv(
        "id,name,score",
        &[
            "1,ann,10",
            "2,bo,<b>22</b>",
            "3,cy,30",
            "4,di,40",
            "5,ed,50",
        ],
    );
    s.write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &s.server.dir.path().join("profile")).await;
    sign_in(&c, &s.server.url, "alice").await;

    c.goto(&format!("{}/datasets/alice/m", s.server.url))
        .await
        .unwrap();
    click(&c, "a[href='/datasets/alice/m/merge-requests']").await;
    assert!(text(&c).await.contains("No merge requests yet"));
    c.find(Locator::Css("select[name=source]"))
        .await
        .unwrap()
        .select_by_value("feature")
        .await
        .unwrap();
    fill(&c, "title", "Scores from the field").await;
    click(&c, "form[action$='/merge-requests'] button[type=submit]").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/datasets/alice/m/merge-requests/1");
    let page = text(&c).await;
    assert!(page.contains("Not ready to merge"), "{page}");
    assert!(page.contains("1 conflict(s) are not resolved"), "{page}");
    // The source's changes since it left main, as the compare page shows them.
    assert!(page.contains("changed t"), "{page}");
    assert!(c.find(Locator::Css("#changed-files")).await.is_ok());
    // The three values, markup shown as text.
    let cells = c
        .execute(
            "return [...document.querySelectorAll('#conflicts tbody td.mono')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cells, serde_json::json!(["20", "21", "<b>22</b>"]));
    assert!(c
        .find(Locator::Css("#merge"))
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap()
        .is_some());
    screenshot(&c, "merge-request").await;

    // Resolved with a value of its own, then merged.
    c.find(Locator::Css("#conflicts select[name=take]"))
        .await
        .unwrap()
        .select_by_value("value")
        .await
        .unwrap();
    fill(&c, "value", "23").await;
    click(&c, "#conflicts button[type=submit]").await;
    let page = text(&c).await;
    assert!(page.contains("Ready to merge"), "{page}");
    assert!(page.contains("value: 23 (alice)"), "{page}");
    click(&c, "#merge").await;
    assert_eq!(
        c.find(Locator::Id("state"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "merged"
    );
    assert_eq!(
        s.table("main").await,
        "id,name,score\n1,ann,10\n2,bo,23\n3,cy,30\n4,di,40\n5,ed,50\n"
    );
    // The merged request keeps its record: what it merged (it said "No file differs" once the
    // target held the source), even after main moves on.
    let later = csv(
        "id,name,score",
        &[
            "1,ann,10", "2,bo,23", "3,cy,30", "4,di,40", "5,ed,50", "6,fi,60",
        ],
    );
    s.write("main", package(&later, "M later", true, &[]), &later)
        .await;
    c.refresh().await.unwrap();
    let page = text(&c).await;
    assert!(page.contains("What was merged"), "{page}");
    assert!(c.find(Locator::Id("merged-record")).await.is_ok());
    let paths = c
        .execute(
            "return [...document.querySelectorAll('#paths tbody td.mono')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        paths.as_array().unwrap().iter().any(|p| p == "t.csv"),
        "{paths}"
    );
    assert!(!page.contains("No file differs"), "{page}");

    // Comments: on the request, and on a row of a file; a row without its file is refused with
    // the text kept.
    let body = c.find(Locator::Id("comment-body")).await.unwrap();
    body.send_keys("Looks right to me.").await.unwrap();
    click(&c, "#comment-form button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().fragment(), Some("comments"));
    c.find(Locator::Css("#comment-form input[name=row]"))
        .await
        .unwrap()
        .send_keys("2")
        .await
        .unwrap();
    let body = c.find(Locator::Id("comment-body")).await.unwrap();
    body.send_keys("Why 23 and not 22?").await.unwrap();
    click(&c, "#comment-form button[type=submit]").await;
    let page = text(&c).await;
    assert!(page.contains("a comment is about the request"), "{page}");
    let kept = c
        .find(Locator::Id("comment-body"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Why 23 and not 22?"));
    c.find(Locator::Css("#comment-form select[name=path]"))
        .await
        .unwrap()
        .select_by_value("t.csv")
        .await
        .unwrap();
    c.find(Locator::Css("#comment-form input[name=row]"))
        .await
        .unwrap()
        .send_keys("2")
        .await
        .unwrap();
    click(&c, "#comment-form button[type=submit]").await;
    let listed = c
        .execute(
            "return [...document.querySelectorAll('#comment-list li')].map(l => l.textContent.replace(/\\s+/g, ' ').trim())",
            vec![],
        )
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0].as_str().unwrap().contains("Looks right to me."));
    assert!(
        listed[1].as_str().unwrap().contains("on t.csv, row 2")
            && listed[1].as_str().unwrap().contains("Why 23 and not 22?"),
        "{listed:?}"
    );
    // Over the API too: another writer's comment, listed after hers.
    let (st, v) = s
        .call(
            &s.bob,
            reqwest::Method::POST,
            "/merge-requests/1/comments",
            Some(serde_json::json!({"body": "Agreed."})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, all) = s
        .call(
            &s.alice,
            reqwest::Method::GET,
            "/merge-requests/1/comments",
            None,
        )
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert_eq!(all[2]["author"], "bob");
    c.goto(&format!("{}/datasets/alice/m/merge-requests", s.server.url))
        .await
        .unwrap();
    assert!(text(&c).await.contains("Scores from the field"));
    // The refused comment above is the only error.
    let errors = console_errors(&c).await;
    assert!(
        errors.len() == 1 && errors[0].contains("/comment") && errors[0].contains("422"),
        "{errors:?}"
    );
    c.close().await.unwrap();
}
