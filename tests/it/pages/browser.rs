//! The account pages in headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver with fantoccini): sign up, make a token and use it, register an OAuth application,
//! log out, log in, change the password. This is what a person does, clicks and all.

use crate::common::chromium::*;
use crate::common::*;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_chromium() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata_core::config::Signup::Open;
    })
    .await;
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let profile = server.dir.path().join("chromium-profile");
    let c = browser(&driver, &profile).await;
    let password = "a long enough passphrase";

    // Sign up.
    c.goto(&format!("{}/signup", server.url)).await.unwrap();
    fill(&c, "username", "dana").await;
    fill(&c, "email", "dana@example.com").await;
    fill(&c, "password", password).await;
    fill(&c, "password2", password).await;
    click(&c, "form[action=\"/signup\"] button").await;
    // A new account lands on its home page, then opens Settings.
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/", "{url}");
    assert!(text(&c).await.contains("Sign out (dana)"));
    c.goto(&format!("{}/settings", server.url)).await.unwrap();
    let body = text(&c).await;
    assert!(body.contains("Signed in as dana"), "{url}: {body}");

    // Make a token in the page and use it against the API.
    fill(&c, "name", "ci").await;
    click(&c, "form[action=\"/settings/tokens\"] button").await;
    let token = c
        .find(Locator::Id("new-token"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(token.starts_with("stp_"), "{token}");
    let me = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"namespace": "dana", "name": "first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 201);

    // Register an OAuth application in the page.
    c.find(Locator::Css(
        "form[action=\"/settings/apps\"] input[name=\"name\"]",
    ))
    .await
    .unwrap()
    .send_keys("Notebook")
    .await
    .unwrap();
    c.find(Locator::Css("textarea[name=\"redirect_uris\"]"))
        .await
        .unwrap()
        .send_keys("http://127.0.0.1/callback")
        .await
        .unwrap();
    click(&c, "form[action=\"/settings/apps\"] button").await;
    let client_id = c
        .find(Locator::Id("client-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(client_id.starts_with("sc_"), "{client_id}");
    assert!(server.state.db.client(&client_id).await.unwrap().is_some());

    // Log out, fail once, log in.
    click(&c, "form[action=\"/logout\"] button").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    fill(&c, "username", "dana").await;
    fill(&c, "password", "not the password").await;
    click(&c, "form[action=\"/login\"] button").await;
    assert!(text(&c).await.contains("Wrong username or password."));
    fill(&c, "username", "dana").await;
    fill(&c, "password", password).await;
    click(&c, "form[action=\"/login\"] button").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    c.goto(&format!("{}/settings", server.url)).await.unwrap();
    assert!(text(&c).await.contains("Signed in as dana"));

    // Change the password.
    let new = "an even longer passphrase";
    fill(&c, "current", password).await;
    fill(&c, "new", new).await;
    fill(&c, "new2", new).await;
    click(&c, "form[action=\"/settings/password\"] button").await;
    assert!(text(&c).await.contains("Password changed"));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_a_dataset_in_chromium() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata_core::config::Signup::Open;
    })
    .await;
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let profile = server.dir.path().join("chromium-profile");
    let c = browser(&driver, &profile).await;
    c.set_window_size(1200, 900).await.unwrap();

    // Erin signs up; a dataset with hostile text in its title, commit message and cells.
    c.goto(&format!("{}/signup", server.url)).await.unwrap();
    let password = "a long enough passphrase";
    fill(&c, "username", "erin").await;
    fill(&c, "email", "erin@example.com").await;
    fill(&c, "password", password).await;
    fill(&c, "password2", password).await;
    click(&c, "form[action=\"/signup\"] button").await;
    // The home page's form makes a dataset (through the REST API's domain function); a bad
    // name is refused where it was typed, the form kept.
    assert!(text(&c).await.contains("Sign out (erin)"));
    c.goto(&server.url).await.unwrap();
    fill(&c, "name", "bad name<script>").await;
    click(&c, "form[action=\"/datasets\"] button").await;
    let page = text(&c).await;
    assert!(page.contains("dataset name"), "{page}");
    let kept = c
        .find(Locator::Css(
            "form[action=\"/datasets\"] input[name=\"name\"]",
        ))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("bad name<script>"));
    fill(&c, "name", "notes").await;
    click(&c, "form[action=\"/datasets\"] button").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/datasets/erin/notes"));
    assert!(text(&c).await.contains("datapackage.json"));
    assert!(server
        .state
        .db
        .repo_by_path("erin", "notes")
        .await
        .unwrap()
        .is_some());

    let token = strata::cli::admin::create_token(&server.state, "erin", "seed", "*", None)
        .await
        .unwrap();
    let api = format!("{}/api/v1/datasets", server.url);
    let made = client()
        .post(&api)
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"namespace": "erin", "name": "survey", "datapackage": {
            "name": "survey", "title": "<script>alert(1)</script> survey", "resources": []}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let head: serde_json::Value = made.json().await.unwrap();
    let parent = head["revision"]["id"].as_str().unwrap().to_owned();
    let csv =
        "id,name,note\n1,ada,\"<script>alert(2)</script>\"\n2,grace,\"hopper, rear admiral\"\n";
    let body = [
        serde_json::json!({"key": "header", "value": {"summary": "<b>add</b> people", "parent": parent}}),
        serde_json::json!({"key": "file", "value": {"path": "data/people.csv", "content": csv}}),
        serde_json::json!({"key": "file", "value": {"path": "data/raw/notes.txt", "content": "hello"}}),
    ]
    .iter()
    .map(|l| l.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let committed = client()
        .post(format!("{api}/erin/survey/commit"))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        committed.status(),
        200,
        "{}",
        committed.text().await.unwrap()
    );

    // Home lists it; its page shows the title as text, the folder, the clone URL.
    c.goto(&server.url).await.unwrap();
    assert!(text(&c).await.contains("erin/survey"));
    click(&c, "a[href=\"/datasets/erin/survey\"]").await;
    let page = text(&c).await;
    assert!(page.contains("<script>alert(1)</script> survey"), "{page}");
    assert!(
        page.contains("data/") && page.contains("<b>add</b> people"),
        "{page}"
    );
    assert!(page.contains(&format!("git clone {}/erin/survey.git", server.url)));
    screenshot(&c, "dataset").await;
    let scripts = c
        .execute("return document.querySelectorAll('script').length", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, 1, "only strata's own module script is on the page");
    // The upload's Cancel button shows only while an upload runs.
    let cancel = c
        .execute(
            "return getComputedStyle(document.querySelector('[data-cancel]')).display",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cancel, "none");

    // Into the folder, then the CSV: its first rows as a table, the hostile cell as text.
    click(&c, "a[href^=\"/datasets/erin/survey?path=data\"]").await;
    let page = text(&c).await;
    assert!(
        page.contains("raw/") && page.contains("people.csv"),
        "{page}"
    );
    click(
        &c,
        "a[href=\"/datasets/erin/survey/files/data/people.csv\"]",
    )
    .await;
    let cells: Vec<String> = {
        let mut out = Vec::new();
        for cell in c.find_all(Locator::Css("#preview td")).await.unwrap() {
            out.push(cell.text().await.unwrap());
        }
        out
    };
    assert_eq!(
        cells,
        [
            "1",
            "ada",
            "<script>alert(2)</script>",
            "2",
            "grace",
            "hopper, rear admiral"
        ]
    );
    screenshot(&c, "file").await;
    let scripts = c
        .execute("return document.querySelectorAll('script').length", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, 1);
    // The download link serves the bytes to the session.
    let href = c
        .find(Locator::Css("a[download]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, "/api/v1/datasets/erin/survey/raw/data/people.csv");

    // History: both revisions, the message as text; the older one has no data folder.
    c.goto(&format!("{}/datasets/erin/survey/history", server.url))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("<b>add</b> people"), "{page}");
    screenshot(&c, "history").await;
    let links = c.find_all(Locator::Css("#revisions a")).await.unwrap();
    assert_eq!(links.len(), 2);
    // The newest revision's page: its message, and what it changed against its parent.
    click(&c, "#revisions tbody tr:first-child a").await;
    let page = text(&c).await;
    assert!(page.contains("<b>add</b> people"), "{page}");
    let changed = c
        .execute(
            "return [...document.querySelectorAll('#changed-files .file-diff h4')].map(h => h.querySelector('.tag').textContent + ' ' + h.querySelector('.path').textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        changed,
        serde_json::json!(["added data/people.csv", "added data/raw/notes.txt"]),
        "{changed:?}"
    );
    screenshot(&c, "revision").await;
    // Its parent, the first revision: nothing to compare; its files have no data folder.
    click(&c, "a[href^=\"/datasets/erin/survey/revisions/\"]").await;
    assert!(text(&c).await.contains("The first revision"));
    click(&c, "a[href^=\"/datasets/erin/survey?rev=\"]").await;
    let page = text(&c).await;
    assert!(
        page.contains("Revision") && !page.contains("data/"),
        "{page}"
    );

    // Any two revisions compared; a revision that does not exist is an error on the page.
    let first = c
        .current_url()
        .await
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "rev")
        .unwrap()
        .1
        .into_owned();
    c.goto(&format!(
        "{}/datasets/erin/survey/diff?from={first}&to=main",
        server.url
    ))
    .await
    .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("data/people.csv") && page.contains("added"),
        "{page}"
    );
    c.goto(&format!(
        "{}/datasets/erin/survey/diff?from=nope&to=main",
        server.url
    ))
    .await
    .unwrap();
    let alert = c
        .find(Locator::Css("[role=alert]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(alert.contains("nope"), "{alert}");

    // The history of one file only.
    c.goto(&format!(
        "{}/datasets/erin/survey/history?path=data/raw",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(
        c.find_all(Locator::Css("#revisions a"))
            .await
            .unwrap()
            .len(),
        1
    );

    // On a phone-width screen no page scrolls sideways (wide tables scroll inside themselves),
    // and no page breaks its own policy (the console has no CSP violation, nothing failed to load).
    console_errors(&c).await; // the error pages above logged their status
    c.set_window_size(390, 844).await.unwrap();
    for path in [
        "/",
        "/datasets/erin/survey",
        "/datasets/erin/survey/files/data/people.csv",
        "/datasets/erin/survey/history",
        "/datasets/erin/survey/tags",
        "/datasets/erin/survey/settings",
        "/shared",
        "/settings",
    ] {
        c.goto(&format!("{}{path}", server.url)).await.unwrap();
        text(&c).await;
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, true, "{path} is wider than a phone");
        let errors = console_errors(&c).await;
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }
    // A mistyped address is a page saying so, not JSON.
    c.goto(&format!("{}/datasets/erin", server.url))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("There is no page at /datasets/erin") && page.contains("request "),
        "{page}"
    );
    c.close().await.unwrap();

    // Strangers: signed out, sent to sign in and back; a missing file or revision is a page
    // with the error, not a JSON body.
    let anon = client()
        .get(format!("{}/datasets/erin/survey", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 303);
    assert_eq!(
        anon.headers()["location"],
        "/login?next=%2Fdatasets%2Ferin%2Fsurvey"
    );
}

#[tokio::test]
async fn pages_share_one_policy_and_hashed_assets() {
    let server = TestServer::start().await;
    let home = client().get(&server.url).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = home.text().await.unwrap();
    assert!(
        !html.contains("<style") && !html.contains("style=\""),
        "no inline style"
    );
    let css = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .unwrap()
        .to_owned();
    assert!(css.starts_with("/static/strata.") && css.len() > "/static/strata..css".len());
    let asset = client()
        .get(format!("{}{css}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(asset.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    // Only the current hashed names exist.
    for stale in [
        "/static/strata.css",
        "/static/strata.0000.css",
        "/static/..%2FCargo.toml",
    ] {
        let r = client()
            .get(format!("{}{stale}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{stale}");
    }
    // A favicon, linked from every page and served like the other assets.
    let icon = html
        .split("<link rel=\"icon\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a favicon link")
        .to_owned();
    let r = client()
        .get(format!("{}{icon}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{icon}");
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    // No template styles inline (the policy would block it).
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/templates")).unwrap() {
        let path = entry.unwrap().path();
        let template = std::fs::read_to_string(&path).unwrap();
        assert!(
            !template.contains("style=") && !template.contains("<style"),
            "{}",
            path.display()
        );
    }
    // An unknown address: a page for browsers (404, the request id), JSON for API clients and
    // under /api/ whoever asks.
    let page = client()
        .get(format!("{}/no/such/page", server.url))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["content-security-policy"], csp.as_str());
    let id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    let shown = page.text().await.unwrap();
    assert!(
        shown.contains("There is no page at /no/such/page") && shown.contains(&id),
        "{shown}"
    );
    for (path, accept) in [
        ("/no/such/page", "*/*"),
        ("/no/such/page", "application/json"),
        ("/api/v1/nothing", "text/html"),
    ] {
        let r = client()
            .get(format!("{}{path}", server.url))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let (status, _, json) = body(r).await;
        assert_eq!(status, 404, "{path} {accept}");
        assert_eq!(json["message"], "no such endpoint", "{path} {accept}");
    }
    // Every page carries the same policy, error pages too.
    for path in ["/login", "/signup"] {
        let r = client()
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()
                .get("content-security-policy")
                .map(|v| v.to_str().unwrap()),
            Some(csp.as_str()),
            "{path}"
        );
    }
}
