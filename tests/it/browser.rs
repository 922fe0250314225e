//! The account pages in headless Chromium (Debian's `chromium` and `chromium-driver`, driven over
//! WebDriver with fantoccini): sign up, make a token and use it, register an OAuth application,
//! log out, log in, change the password. This is what a person does, clicks and all.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use fantoccini::{ClientBuilder, Locator};

/// chromedriver on `127.0.0.1:0`, killed on drop.
struct Driver {
    url: String,
    child: Child,
}

impl Driver {
    fn start() -> Driver {
        let mut child = Command::new("chromedriver")
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run scripts/test.sh (apt-get install chromium chromium-driver)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("chromedriver exited").unwrap();
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Driver {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> fantoccini::Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let caps = serde_json::json!({
        "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
    });
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session")
}

async fn fill(c: &fantoccini::Client, name: &str, value: &str) {
    let field = c
        .find(Locator::Css(&format!("input[name=\"{name}\"]")))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// The text of the page once it has loaded (asked in script, so a page being replaced is no error).
async fn text(c: &fantoccini::Client) -> String {
    let script = "return document.readyState === 'complete' && document.body ? document.body.innerText : null";
    for _ in 0..200 {
        if let Ok(serde_json::Value::String(t)) = c.execute(script, vec![]).await {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page did not load");
}

/// Clicks a form's button and waits for the next page: every page ends with its own request id,
/// so the text always changes.
async fn click(c: &fantoccini::Client, selector: &str) {
    let before = text(c).await;
    c.find(Locator::Css(selector))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..200 {
        if text(c).await != before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no new page after clicking {selector}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_chromium() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata::config::Signup::Open;
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
    let body = text(&c).await;
    let url = c.current_url().await.unwrap();
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
