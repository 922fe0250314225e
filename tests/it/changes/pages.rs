//! The compare, revision and file pages in headless Chromium: revisions, tags and branches picked
//! from the compare form's lists; each changed file with its sizes and changed lines (markup in a
//! line shown as text); renames, binary and too-large files said so; git plumbing left out; a
//! file's versions linking to that file's changes alone.

use fantoccini::Locator;

use super::survey;
use crate::common::chromium::*;
use crate::common::*;

/// The paths of the files the page shows, in order.
async fn shown_paths(c: &fantoccini::Client) -> Vec<String> {
    let mut out = Vec::new();
    for e in c
        .find_all(Locator::Css("#changed-files .file-diff h4 .path"))
        .await
        .unwrap()
    {
        out.push(e.text().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_picks_from_lists_and_shows_changed_lines_in_chromium() {
    let s = survey().await;
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &s.server.dir.path().join("profile")).await;
    sign_in(&c, &s.server.url, "alice").await;

    // The compare form offers the branch, the tag and the revisions by their messages.
    c.goto(&format!("{}/datasets/alice/survey/diff", s.server.url))
        .await
        .unwrap();
    let offered = c
        .execute(
            "return [...document.querySelectorAll('#compare-from optgroup')].map(g => g.label + ': ' + [...g.querySelectorAll('option')].map(o => o.textContent.trim()).join(' | '))",
            vec![],
        )
        .await
        .unwrap();
    let offered = offered.to_string();
    assert!(offered.contains("Branches: main"), "{offered}");
    assert!(offered.contains("Tags: v1"), "{offered}");
    assert!(
        offered.contains("second") && offered.contains("first"),
        "{offered}"
    );
    c.find(Locator::Id("compare-from"))
        .await
        .unwrap()
        .select_by_value("v1")
        .await
        .unwrap();
    c.find(Locator::Id("compare-to"))
        .await
        .unwrap()
        .select_by_value("main")
        .await
        .unwrap();
    click(&c, "#compare button[type=submit]").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.query(), Some("from=v1&to=main"), "{url}");

    // Every changed file but the plumbing, with what changed in it.
    let paths = shown_paths(&c).await;
    for p in [
        "README.md",
        "big.txt",
        "bin/x",
        "data/t.csv",
        "data/u.csv",
        "docs/notes.txt",
        "old.txt",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p}: {paths:?}");
    }
    assert!(
        !paths.iter().any(|x| x.starts_with('.')),
        "plumbing is left out: {paths:?}"
    );
    let readme = c
        .execute(
            "const s = [...document.querySelectorAll('.file-diff')].find(s => s.querySelector('h4').innerText.includes('README.md')); \
             return {added: [...s.querySelectorAll('tr.added td.code')].map(t => t.textContent), \
                     removed: [...s.querySelectorAll('tr.removed td.code')].map(t => t.textContent), \
                     numbers: [...s.querySelectorAll('tr.added td.ln')].map(t => t.textContent), \
                     bold: s.querySelectorAll('table.lines b').length, counts: s.querySelector('.line-counts').innerText}",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        readme["added"],
        serde_json::json!(["line five, <b>edited</b>", "line 11"]),
        "{readme}"
    );
    assert_eq!(readme["removed"], serde_json::json!(["line 5"]), "{readme}");
    assert_eq!(
        readme["numbers"],
        serde_json::json!(["", "5", "", "11"]),
        "{readme}"
    );
    assert_eq!(readme["bold"], 0, "markup in a line is text");
    assert_eq!(readme["counts"], "+2 −1", "{readme}");
    let page = text(&c).await;
    for said in [
        "The same content, under a new name.",
        "Not text",
        "Too large to compare line by line",
        "notes.txt → docs/notes.txt",
    ] {
        assert!(page.contains(said), "{said}: {page}");
    }
    assert!(
        page.contains(&s.oids.0) && page.contains(&s.oids.1),
        "{page}"
    );
    screenshot(&c, "compare").await;

    // The file page's versions link to that file's changes alone.
    c.goto(&format!(
        "{}/datasets/alice/survey/files/README.md",
        s.server.url
    ))
    .await
    .unwrap();
    click(&c, "#versions tbody tr:first-child a.version-changes").await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.path().ends_with(&format!("/revisions/{}", s.second)),
        "{url}"
    );
    assert_eq!(shown_paths(&c).await, ["README.md"]);
    let only = c
        .find(Locator::Id("only-path"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(only.contains("README.md"), "{only}");
    click(&c, "#only-path a").await;
    assert!(shown_paths(&c).await.len() > 1);

    // A moved file's versions go back through the move.
    c.goto(&format!(
        "{}/datasets/alice/survey/files/docs/notes.txt",
        s.server.url
    ))
    .await
    .unwrap();
    let versions = c
        .find_all(Locator::Css("#versions tbody tr"))
        .await
        .unwrap()
        .len();
    assert_eq!(versions, 2, "the move and the first version");

    // A phone's width: the lines scroll inside their box, the page does not.
    c.set_window_size(390, 844).await.unwrap();
    let wide = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wide, false);
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}
