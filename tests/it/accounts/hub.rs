//! JupyterHub 6 signing in through strata with oauthenticator's GenericOAuthenticator (and
//! configurable-http-proxy in front, as deployed). The hub's OAuth client is named by a
//! `jupyterhub` app manifest whose `[roles]` maps strata's platform roles to the hub's (admin →
//! admin, engineer and scientist → user, viewer → none) and lets only admins and engineers
//! install it. The hub reads `app_roles` from strata's userinfo: a site admin becomes a hub admin
//! through the role alone, a scientist signs in as a plain user, a viewer is refused by the hub;
//! only admins and engineers may install the app; no other app may name the hub's client. The
//! consent is asked once per user.

use super::oauth::{consent, PASSWORD};
use crate::common::*;
use serde_json::{json, Value};

use crate::common::cluster::free_port;

/// `name=value` of each cookie a response sets.
fn cookies_of(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A running JupyterHub, stopped when dropped.
struct Hub {
    child: std::process::Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Hub {
    /// Stops the hub; when the test failed, prints what the hub logged, so a failure says why.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            for file in ["hub.err", "hub.log"] {
                let log = std::fs::read_to_string(self._dir.path().join(file)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(80).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                eprintln!(
                    "---- JupyterHub's {file} (last lines) ----\n{}",
                    tail.join("\n")
                );
            }
        }
    }
}

impl Hub {
    /// A hub behind configurable-http-proxy on `proxy`, signing in through `strata`.
    async fn start_on(proxy: u16, strata: &str, client_id: &str, secret: &str) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let (hub, api) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{proxy}");
        let token = "probe-token-0123456789abcdef".to_owned();
        let chp = python_tool("python")
            .parent()
            .unwrap()
            .join("../../node_modules/.bin/configurable-http-proxy");
        assert!(
            chp.exists(),
            "{} is missing: run scripts/test.sh",
            chp.display()
        );
        let d = dir.path().display();
        let config = format!(
            r#"c = get_config()  # noqa
c.JupyterHub.bind_url = "{url}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api}"
c.ConfigurableHTTPProxy.command = ["{chp}"]
c.JupyterHub.db_url = "sqlite:///{d}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{d}/cookie_secret"
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = "{client_id}"
c.GenericOAuthenticator.client_secret = "{secret}"
c.GenericOAuthenticator.oauth_callback_url = "{url}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = "{strata}/oauth/authorize"
c.GenericOAuthenticator.token_url = "{strata}/oauth/token"
c.GenericOAuthenticator.userdata_url = "{strata}/oauth/userinfo"
c.GenericOAuthenticator.scope = ["openid", "profile"]
c.GenericOAuthenticator.http_request_kwargs = {{"request_timeout": 120, "connect_timeout": 60}}
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.manage_groups = True
c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.app_roles"
c.GenericOAuthenticator.allowed_groups = {{"user", "admin"}}
c.GenericOAuthenticator.admin_groups = {{"admin"}}
c.JupyterHub.services = [{{"name": "probe", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "probe", "scopes": ["read:users"], "services": ["probe"]}}]
"#,
            chp = chp.display()
        );
        std::fs::write(dir.path().join("jupyterhub_config.py"), config).unwrap();
        let path = format!(
            "{}:{}",
            python_tool("python").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = std::process::Command::new(python_tool("jupyterhub"))
            .args(["-f", "jupyterhub_config.py"])
            .current_dir(dir.path())
            .env("PATH", path)
            .stdout(std::fs::File::create(dir.path().join("hub.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("hub.err")).unwrap())
            .spawn()
            .unwrap();
        let hub = Hub {
            child,
            url,
            token,
            _dir: dir,
        };
        for _ in 0..600 {
            if let Ok(r) = client().get(format!("{}/hub/api", hub.url)).send().await {
                if r.status() == 200 {
                    return hub;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let err = std::fs::read_to_string(hub._dir.path().join("hub.err")).unwrap_or_default();
        panic!("JupyterHub did not start:\n{err}");
    }

    /// Signs `user` in through strata: the hub's answer to its OAuth callback, and whether strata
    /// showed its consent page.
    async fn sign_in(&self, strata: &str, user: &str) -> (u16, bool) {
        let session = browser_session(strata, user, PASSWORD).await;
        let r = client()
            .get(format!("{}/hub/oauth_login", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let hub_cookies = cookies_of(&r).join("; ");
        let authorize = location(&r);
        assert!(
            authorize.starts_with(&format!("{strata}/oauth/authorize?")),
            "{authorize}"
        );
        let r = client()
            .get(&authorize)
            .header("cookie", &session.0)
            .send()
            .await
            .unwrap();
        let (callback, asked) = if r.status() == 200 {
            let query = authorize.split_once('?').unwrap().1;
            let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = consent(strata, &session, &params, None).await;
            assert_eq!(r.status(), 303);
            (location(&r), true)
        } else {
            assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
            (location(&r), false)
        };
        assert!(
            callback.starts_with(&format!("{}/hub/oauth_callback?", self.url)),
            "{callback}"
        );
        let r = client()
            .get(&callback)
            .header("cookie", hub_cookies)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status != 302 {
            // Shown only if the test fails: what the hub answered.
            eprintln!(
                "{user}'s callback: {status} {}",
                r.text().await.unwrap_or_default()
            );
        }
        (status, asked)
    }

    /// The hub's record of `user`.
    async fn user(&self, user: &str) -> Value {
        let r = client()
            .get(format!("{}/hub/api/users/{user}", self.url))
            .header("authorization", format!("token {}", self.token))
            .send()
            .await
            .unwrap();
        let (_, _, v) = body(r).await;
        v
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyterhub_takes_its_admins_and_users_from_strata_roles_and_refuses_viewers() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let steward = server.user_with("root", true, "*").await;
    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [
        ("sam", "scientist"),
        ("vera", "viewer"),
        ("eve", "engineer"),
    ] {
        tokens.insert(name, server.user(name).await);
        let u = server.state.db.user_by_name(name).await.unwrap().unwrap();
        server.state.db.set_role(u.id, role).await.unwrap();
    }
    for name in ["root", "sam", "vera", "eve"] {
        strata::cli::admin::set_password(&server.state, name, PASSWORD)
            .await
            .unwrap();
    }
    // The hub's OAuth client (a confidential one: it keeps its secret), named by the app
    // manifest with the role mapping and who may install it; then the hub.
    let (hub, client_id) = start_registered(&server, &steward).await;
    // Another app may not name the hub's client to hand out its own roles there.
    let hijack = format!(
        "id = \"aaa\"\nname = \"Mine\"\nscopes = [\"openid\"]\n[runner]\nkind = \"kubernetes\"\n\
         image = \"example/app@sha256:{}\"\nport = 8080\n[roles]\nmap = {{ viewer = \"admin\" }}\n\
         client = \"{client_id}\"\n",
        "ef".repeat(32)
    );
    let r = client()
        .post(format!("{url}/api/v1/apps"))
        .bearer_auth(&tokens["eve"])
        .header("content-type", "application/toml")
        .body(hijack.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let r = client()
        .post(format!("{url}/api/v1/apps"))
        .bearer_auth(&steward)
        .header("content-type", "application/toml")
        .body(hijack)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        409,
        "one app names a client: {}",
        r.text().await.unwrap()
    );

    // Installs: admins and engineers only.
    for (token, allowed) in [
        (&tokens["eve"], true),
        (&tokens["sam"], false),
        (&tokens["vera"], false),
    ] {
        let r = client()
            .put(format!("{url}/api/v1/user/apps/jupyterhub"))
            .bearer_auth(token)
            .json(&json!({ "scopes": ["openid"] }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if allowed {
            assert!((200..300).contains(&status), "{text}");
        } else {
            assert_eq!(status, 403, "{text}");
            assert!(text.contains("may not install jupyterhub"), "{text}");
        }
    }

    // The site admin: a hub admin through the role alone; asked to consent once.
    let (status, asked) = hub.sign_in(&url, "root").await;
    assert_eq!(status, 302, "root signs in");
    assert!(asked);
    assert_eq!(hub.user("root").await["admin"], true);
    let (status, asked) = hub.sign_in(&url, "root").await;
    assert_eq!((status, asked), (302, false), "the consent is remembered");
    // A scientist: a plain user.
    let (status, _) = hub.sign_in(&url, "sam").await;
    assert_eq!(status, 302, "sam signs in");
    assert_eq!(hub.user("sam").await["admin"], false);
    // A viewer: no role in the hub, refused by it.
    let (status, _) = hub.sign_in(&url, "vera").await;
    assert_eq!(status, 403, "vera is refused");
    assert!(hub.user("vera").await["name"].is_null());
}

/// Registers the hub's OAuth client for a hub on ports picked now, names it in the `jupyterhub`
/// manifest, and starts the hub.
async fn start_registered(server: &TestServer, steward: &str) -> (Hub, String) {
    let url = &server.url;
    let proxy = free_port();
    let redirect = format!("http://127.0.0.1:{proxy}/hub/oauth_callback");
    let r = client()
        .post(format!("{url}/api/v1/oauth/clients"))
        .bearer_auth(steward)
        .json(&json!({"name": "JupyterHub", "redirect_uris": [redirect], "confidential": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    let manifest = format!(
        r#"id = "jupyterhub"
name = "JupyterHub"
scopes = ["openid"]

[runner]
kind = "process"
command = "jupyterhub"

[roles]
map = {{ admin = "admin", engineer = "user", scientist = "user" }}
install = ["admin", "engineer"]
client = "{id}"
"#
    );
    let r = client()
        .post(format!("{url}/api/v1/apps"))
        .bearer_auth(steward)
        .header("content-type", "application/toml")
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    (Hub::start_on(proxy, url, id, secret).await, id.to_owned())
}
