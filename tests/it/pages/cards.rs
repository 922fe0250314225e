//! Dataset cards over HTTP: the landing page's public datasets and search, the home page after
//! sign-in (cards sorted by last change, what was shared lately), a README rendered safely on
//! the dataset page, and the card form (title, description, licence, keywords) with its
//! refusals: a stale form, a bad licence, a reader, a missing CSRF token.

use crate::common::*;
use serde_json::{json, Value};

pub(crate) async fn api(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = client()
        .request(method, format!("{}/api/v1{path}", server.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn send(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub(crate) async fn commit(server: &TestServer, token: &str, repo: &str, files: &[(&str, &str)]) {
    let parent = server.head(token, repo).await;
    let mut body =
        vec![json!({"key": "header", "value": {"summary": "files", "parent": parent}}).to_string()];
    for (path, content) in files {
        body.push(json!({"key": "file", "value": {"path": path, "content": content}}).to_string());
    }
    let r = client()
        .post(format!("{}/api/v1/datasets/{repo}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

const README: &str = "---\nlicense: mit\n---\n# Survey\n\nSee [the data](data/a.csv) and [docs](docs/).\n\n\
<script>alert(1)</script>\n\n[bad](javascript:alert(1)) ![pic](img/p.png) <img src=x onerror=alert(2)>\n\n\
| a | b |\n|---|---|\n| 1 | 2 |\n";

#[tokio::test]
async fn landing_home_readme_and_the_card_form() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    for (name, visibility) in [("survey", "public"), ("secret", "private")] {
        let (status, v) = api(
            &server,
            &token,
            reqwest::Method::POST,
            "/datasets",
            json!({"namespace": "alice", "name": name, "visibility": visibility}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    commit(
        &server,
        &token,
        "alice/secret",
        &[("README.md", "# Hidden plans\n"), ("data/x.csv", "a\n1\n")],
    )
    .await;
    commit(
        &server,
        &token,
        "alice/survey",
        &[("README.md", README), ("data/a.csv", "id\n1\n")],
    )
    .await;

    // Signed out: the public datasets, searchable; never the private one.
    let mut anon = Browser::new(&server.url);
    let landing = anon.get("/").await;
    assert_eq!(landing.status, 200);
    assert!(
        landing.text.contains("/datasets/alice/survey"),
        "{}",
        landing.text
    );
    assert!(!landing.text.contains("alice/secret"));
    assert!(landing.text.contains("Sign in"));
    assert!(anon
        .get("/?q=surv")
        .await
        .text
        .contains("/datasets/alice/survey"));
    let none = anon.get("/?q=secret").await;
    assert!(
        none.text.contains("No public dataset matches")
            && !none.text.contains("/datasets/alice/secret")
    );

    // The README as the dataset's card: Markdown, with nothing from it run.
    let page = anon.get("/datasets/alice/survey").await;
    assert_eq!(page.status, 200);
    let html = &page.text;
    assert!(html.contains("<h2>Survey</h2>"), "{html}");
    assert!(
        html.contains("<table>") && html.contains("<td>2</td>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/datasets/alice/survey/files/data/a.csv\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"/datasets/alice/survey?path=docs\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"/api/v1/datasets/alice/survey/raw/img/p.png\""),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert") && !html.contains("onerror=alert(2)>"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert!(!html.contains("license: mit"), "{html}");
    // Nobody but a writer is offered the card form.
    assert!(!html.contains("action=\"/datasets/alice/survey/card\""));

    // Signed in: home, not Settings; the datasets with their cards.
    let mut alice = Browser::new(&server.url);
    let login = alice.login("alice", PASSWORD).await;
    assert_eq!(login.headers["location"], "/");
    let page = alice.get("/datasets/alice/survey").await;
    assert!(page.text.contains("action=\"/datasets/alice/survey/card\""));
    let csrf = page.hidden("csrf");
    let parent = page.hidden("parent");
    let card = |title: &'static str, licence: &'static str, parent: String, csrf: String| {
        vec![
            ("csrf".to_owned(), csrf),
            ("parent".to_owned(), parent),
            ("title".to_owned(), title.to_owned()),
            (
                "description".to_owned(),
                "<b>Households</b>, 2026".to_owned(),
            ),
            ("licence".to_owned(), licence.to_owned()),
            ("keywords".to_owned(), "census, 2026, ,".to_owned()),
        ]
    };
    let bad = card("Household survey", "CC BY", parent.clone(), csrf.clone());
    let r = alice.post("/datasets/alice/survey/card", &send(&bad)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("identifier"), "{}", r.text);
    // Git keeps seconds: the card's revision is the last change by a second at least.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let good = card(
        "Household survey",
        "CC-BY-4.0",
        parent.clone(),
        csrf.clone(),
    );
    let r = alice
        .post("/datasets/alice/survey/card", &send(&good))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.headers["location"], "/datasets/alice/survey?done=card");
    let page = alice.get("/datasets/alice/survey?done=card").await;
    assert!(page.text.contains("The card is saved."));
    assert!(page.text.contains("licence: CC-BY-4.0"), "{}", page.text);
    assert!(
        page.text
            .contains("<li class=\"tag keyword\"><a href=\"/?q=tag:census\">census</a></li>"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<b>Households</b>"));
    let (_, v) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/survey",
        Value::Null,
    )
    .await;
    let dp = &v["datapackage"];
    assert_eq!(dp["title"], "Household survey", "{v}");
    assert_eq!(dp["licenses"], json!([{"name": "CC-BY-4.0"}]));
    assert_eq!(dp["keywords"], json!(["census", "2026"]));
    // The same form again, on the revision it was made from: the card changed since.
    let stale = card(
        "Someone else's title",
        "CC-BY-4.0",
        parent.clone(),
        csrf.clone(),
    );
    let r = alice
        .post("/datasets/alice/survey/card", &send(&stale))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // No CSRF token, or a reader: refused, nothing written.
    let mut forged = card("Forged", "MIT", parent.clone(), String::new());
    forged.remove(0);
    assert_eq!(
        alice
            .post("/datasets/alice/survey/card", &send(&forged))
            .await
            .status,
        403
    );
    let mut bob = Browser::new(&server.url);
    bob.login("bob", PASSWORD).await;
    let bob_csrf = bob.get("/").await.hidden("csrf");
    let head = server.head(&token, "alice/survey").await.unwrap();
    let theirs = card("Bob's", "MIT", head, bob_csrf);
    let r = bob
        .post("/datasets/alice/survey/card", &send(&theirs))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let (_, v) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/survey",
        Value::Null,
    )
    .await;
    assert_eq!(v["datapackage"]["title"], "Household survey");

    // Home: the last changed first, with its card; bob sees what alice shared with him.
    let home = alice.get("/").await;
    assert_eq!(home.status, 200);
    let (survey, secret) = (
        home.text.find("/datasets/alice/survey\"").unwrap(),
        home.text.find("/datasets/alice/secret\"").unwrap(),
    );
    assert!(survey < secret, "the survey changed last");
    assert!(home.text.contains("Household survey") && home.text.contains("CC-BY-4.0"));
    assert!(
        home.text
            .contains("&#60;b&#62;Households&#60;/b&#62;, 2026"),
        "{}",
        home.text
    );
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/secret/shares",
        json!({"path": "data", "user": "bob"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let home = bob.get("/").await;
    assert!(
        home.text.contains("Shared with you lately"),
        "{}",
        home.text
    );
    assert!(home.text.contains("alice/secret: data"), "{}", home.text);
    // A path share is no dataset in bob's list, and its README stays alice's.
    assert!(!home.text.contains("Hidden plans"));
}

/// The same in Chromium, as a person does it: the README on the dataset's page with its script
/// never run, the card edited in place, home after signing in, the landing page signed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_in_chromium() {
    use crate::common::chromium::*;
    use fantoccini::Locator;

    let server = server_with_alice().await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let made = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "atlas", "visibility": "public",
            "datapackage": {"name": "atlas", "title": "World atlas",
            "description": "Borders and coastlines, 1:10m.",
            "licenses": [{"name": "ODbL-1.0"}], "resources": []}}),
    )
    .await;
    assert_eq!(made.0, 201, "{}", made.1);
    let made = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "people"}),
    )
    .await;
    assert_eq!(made.0, 201, "{}", made.1);
    commit(
        &server,
        &token,
        "alice/people",
        &[
            ("data/people.csv", "id,name\n1,ada\n"),
            (
                "README.md",
                "# People\n\nWho is in [the table](data/people.csv).\n\n<script>alert(3)</script>\n\n\
                 | column | meaning |\n|---|---|\n| name | as they sign |\n",
            ),
        ],
    )
    .await;

    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("chromium-profile")).await;
    c.goto(&server.url).await.unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("World atlas") && page.contains("ODbL-1.0"),
        "{page}"
    );
    assert!(!page.contains("alice/people"), "{page}");
    screenshot(&c, "landing").await;

    // Signing in lands on home: the datasets, the last changed first.
    sign_in(&c, &server.url, "alice").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    let first = c
        .find(Locator::Css("#datasets tbody tr a"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(first, "alice/people");
    click(&c, "a[href=\"/datasets/alice/people\"]").await;
    let readme = c
        .find(Locator::Css("#readme h2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(readme, "People");
    let page = text(&c).await;
    assert!(page.contains("<script>alert(3)</script>"), "{page}");
    let scripts = c
        .execute("return document.querySelectorAll('script').length", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, 1, "the README's script is text");

    // The card edited in place: one revision of the datapackage, a notice after.
    click(&c, "#edit-card summary").await;
    for (name, value) in [
        ("title", "People of the survey"),
        ("licence", "CC-BY-4.0"),
        ("keywords", "people, notes"),
    ] {
        let field = c
            .find(Locator::Css(&format!("#edit-card [name=\"{name}\"]")))
            .await
            .unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    click(&c, "#edit-card button[type=\"submit\"]").await;
    let page = text(&c).await;
    assert!(page.contains("The card is saved."), "{page}");
    assert!(
        page.contains("licence: CC-BY-4.0") && page.contains("People of the survey"),
        "{page}"
    );
    screenshot(&c, "dataset-card").await;
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.goto(&server.url).await.unwrap();
    screenshot(&c, "home").await;

    // The README edited in the browser: Edit on its page, the text changed, a message, Save.
    c.goto(&format!(
        "{}/datasets/alice/people/files/README.md",
        server.url
    ))
    .await
    .unwrap();
    click(&c, "#edit-file").await;
    let area = c.find(Locator::Css("#editor-text")).await.unwrap();
    let before = area.prop("value").await.unwrap().unwrap_or_default();
    assert!(before.starts_with("# People\n"), "{before:?}");
    area.clear().await.unwrap();
    area.send_keys("# People\n\nEdited in the browser.\n")
        .await
        .unwrap();
    fill(&c, "message", "Say where it was edited").await;
    c.execute("window.scrollTo(0, 0); return true", vec![])
        .await
        .unwrap();
    screenshot(&c, "editor").await;
    click(&c, ".editor button[type=\"submit\"]").await;
    let page = text(&c).await;
    assert!(page.contains("Saved as a new revision."), "{page}");
    let saved = client()
        .get(format!(
            "{}/api/v1/datasets/alice/people/raw/README.md",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(saved, "# People\n\nEdited in the browser.\n");
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}
