//! A minimal form-driving browser for page tests over HTTP (cookies kept by hand, redirects not
//! followed), and the server with a site admin alice who has a password.

use std::collections::BTreeMap;

use super::*;

/// A minimal browser: keeps cookies, does not follow redirects.
pub struct Browser {
    base: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    /// The value of the hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let at = self
            .text
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {}", self.text))
            + key.len();
        self.text[at..].split('"').next().unwrap().to_owned()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let resp = req
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let page = Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        };
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let url = format!("{}{path}", self.base);
        self.send(client().get(url)).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        let url = format!("{}{path}", self.base);
        let req = client()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.hidden("csrf");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

pub const PASSWORD: &str = "correct horse battery";

pub async fn server_with_alice() -> TestServer {
    let server = TestServer::start().await;
    server.user_with("alice", true, "*").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    server
}
