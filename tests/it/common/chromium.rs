//! Headless Chromium for page tests: Debian's `chromium` driven by its `chromedriver` over
//! WebDriver (fantoccini), with helpers to fill fields, click and wait for the next page, read the
//! console, and save screenshots for the README.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fantoccini::{ClientBuilder, Locator};

/// chromedriver on `127.0.0.1:0`, killed on drop.
pub struct Driver {
    url: String,
    child: Child,
}

impl Driver {
    pub fn start() -> Driver {
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

pub async fn browser(driver: &Driver, profile: &std::path::Path) -> fantoccini::Client {
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
        "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        // The console, for `console_errors`.
        "goog:loggingPrefs": {"browser": "ALL"}
    });
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session")
}

pub async fn fill(c: &fantoccini::Client, name: &str, value: &str) {
    let field = c
        .find(Locator::Css(&format!("input[name=\"{name}\"]")))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// The text of the page once it has loaded (asked in script, so a page being replaced is no error).
pub async fn text(c: &fantoccini::Client) -> String {
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
pub async fn click(c: &fantoccini::Client, selector: &str) {
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

/// Saves a screenshot of the page for the README when `STRATA_SCREENSHOTS` names a directory.
pub async fn screenshot(c: &fantoccini::Client, name: &str) {
    if let Some(dir) = std::env::var_os("STRATA_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits until `script` (a JavaScript expression) is true on the page; panics after a minute,
/// showing `status` (another expression) to say why.
pub async fn wait_until(c: &fantoccini::Client, script: &str, status: &str) {
    wait_for(c, script, status, 60).await
}

/// [`wait_until`] for up to `secs` seconds (a large upload).
pub async fn wait_for(c: &fantoccini::Client, script: &str, status: &str, secs: u64) {
    let check = format!("try {{ return !!({script}); }} catch (e) {{ return false; }}");
    for _ in 0..secs * 10 {
        if let Ok(serde_json::Value::Bool(true)) = c.execute(&check, vec![]).await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let why = c
        .execute(
            &format!("try {{ return String({status}); }} catch (e) {{ return String(e); }}"),
            vec![],
        )
        .await
        .unwrap_or_default();
    panic!("waited {secs} s for {script}; {status}: {why}");
}

/// chromedriver's log of the browser console (`POST /session/{id}/se/log`), which fantoccini
/// has no call for.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type": "browser"}"#.to_owned()),
        )
    }
}

/// The errors on the browser console since the last call: Content-Security-Policy violations,
/// resources that failed to load, uncaught script errors.
pub async fn console_errors(c: &fantoccini::Client) -> Vec<String> {
    let log = c
        .issue_cmd(BrowserLog)
        .await
        .expect("the browser's console log");
    log.as_array()
        .expect("the log is a list")
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({"cmd": self.0, "params": self.1});
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Drags the files at `paths` from outside the browser and drops them at the middle of the
/// element `selector`, as a person does (DevTools' `Input.dispatchDragEvent`: enter, over,
/// drop).
pub async fn drop_files(c: &fantoccini::Client, selector: &str, paths: &[&std::path::Path]) {
    let at = c
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect();\
             return [r.x + r.width / 2, r.y + Math.min(r.height / 2, 20)];",
            vec![serde_json::json!(selector)],
        )
        .await
        .unwrap();
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let data = serde_json::json!({"items": [], "files": files, "dragOperationsMask": 1});
    for kind in ["dragEnter", "dragOver", "drop"] {
        c.issue_cmd(Cdp(
            "Input.dispatchDragEvent",
            serde_json::json!({"type": kind, "x": x, "y": y, "data": data}),
        ))
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

/// Signs `user` in with the tests' password through the login form at `base`.
pub async fn sign_in(c: &fantoccini::Client, base: &str, user: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "username", user).await;
    fill(c, "password", super::PASSWORD).await;
    click(c, "form[action=\"/login\"] button").await;
}
