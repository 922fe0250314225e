//! The forms without script: whom the share form suggests, and the file manager's actions with
//! nothing picked refused in words with what was typed kept.

use super::*;

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
