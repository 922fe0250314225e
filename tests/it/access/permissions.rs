//! The permission matrix: roles (admin, engineer, scientist, analyst, viewer) and relations
//! (outsider, organisation member, collaborator, team) x visibility x operation, through every entry
//! point (REST with a token, the browser session, the LFS batch API, git smart HTTP). Each cell
//! is allowed or refused, and the same answer comes from every entry point.

use crate::common::*;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Vis {
    Public,
    Internal,
    Private,
}

/// Who asks, and what they may do to the public, internal and private datasets of `acme`.
struct Subject {
    name: &'static str,
    /// (read, write) for public, internal, private.
    expect: [(bool, bool); 3],
}

const SUBJECTS: &[Subject] = &[
    Subject {
        name: "anonymous",
        expect: [(true, false), (false, false), (false, false)],
    },
    Subject {
        name: "outsider",
        expect: [(true, false), (true, false), (false, false)],
    },
    Subject {
        name: "member",
        expect: [(true, false), (true, false), (true, false)],
    },
    Subject {
        name: "reader",
        expect: [(true, false), (true, false), (true, false)],
    },
    Subject {
        name: "writer",
        expect: [(true, true), (true, true), (true, true)],
    },
    Subject {
        name: "analyst",
        expect: [(true, false), (true, false), (false, false)],
    },
    Subject {
        name: "analystwriter",
        expect: [(true, true), (true, true), (true, true)],
    },
    Subject {
        name: "viewerwriter",
        expect: [(true, false), (true, false), (true, false)],
    },
    Subject {
        name: "teamwriter",
        expect: [(true, true), (true, true), (true, true)],
    },
    Subject {
        name: "owner",
        expect: [(true, true), (true, true), (true, true)],
    },
    Subject {
        name: "siteadmin",
        expect: [(true, true), (true, true), (true, true)],
    },
];

const PASSWORD: &str = "matrix password 1";

async fn ok(resp: reqwest::Result<reqwest::Response>) -> bool {
    let resp = resp.unwrap();
    let status = resp.status().as_u16();
    assert!(
        status < 300 || [401, 403, 404].contains(&status),
        "unexpected {status}: {}",
        resp.text().await.unwrap()
    );
    status < 300
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_visibility_and_operations_through_every_entry_point() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let state = &server.state;
    let admin_token = server.user_with("siteadmin", true, "*").await;
    let mut tokens = std::collections::HashMap::new();
    tokens.insert("siteadmin", admin_token.clone());
    for s in SUBJECTS
        .iter()
        .filter(|s| !["anonymous", "siteadmin"].contains(&s.name))
    {
        tokens.insert(s.name, server.user(s.name).await);
    }
    for s in SUBJECTS.iter().filter(|s| s.name != "anonymous") {
        strata::cli::admin::set_password(state, s.name, PASSWORD)
            .await
            .unwrap();
    }
    let api = |path: &str| format!("{url}/api/v1{path}");
    let put = |path: String, token: String, body: serde_json::Value| async move {
        let r = client()
            .put(path)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    };
    // The owner is an engineer and builds the organisation.
    put(
        api("/users/owner/role"),
        admin_token.clone(),
        json!({"role": "engineer"}),
    )
    .await;
    for analyst in ["analyst", "analystwriter"] {
        put(
            api(&format!("/users/{analyst}/role")),
            admin_token.clone(),
            json!({"role": "analyst"}),
        )
        .await;
    }
    put(
        api("/users/viewerwriter/role"),
        admin_token.clone(),
        json!({"role": "viewer"}),
    )
    .await;
    let owner = tokens["owner"].clone();
    let r = client()
        .post(api("/orgs"))
        .bearer_auth(&owner)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    put(
        api("/orgs/acme/members/member"),
        owner.clone(),
        json!({"role": "member"}),
    )
    .await;
    put(
        api("/orgs/acme/members/teamwriter"),
        owner.clone(),
        json!({"role": "member"}),
    )
    .await;
    let r = client()
        .post(api("/orgs/acme/teams"))
        .bearer_auth(&owner)
        .json(&json!({"name": "eng"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    put(
        api("/orgs/acme/teams/eng/members/teamwriter"),
        owner.clone(),
        json!({}),
    )
    .await;
    for (name, vis) in [("pub", "public"), ("int", "internal"), ("priv", "private")] {
        let r = client()
            .post(api("/datasets"))
            .bearer_auth(&owner)
            .json(&json!({"namespace": "acme", "name": name, "visibility": vis}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let ds = format!("/datasets/acme/{name}");
        put(
            api(&format!("{ds}/collaborators/reader")),
            owner.clone(),
            json!({"permission": "read"}),
        )
        .await;
        put(
            api(&format!("{ds}/collaborators/writer")),
            owner.clone(),
            json!({"permission": "write"}),
        )
        .await;
        put(
            api(&format!("{ds}/collaborators/analystwriter")),
            owner.clone(),
            json!({"permission": "write"}),
        )
        .await;
        put(
            api(&format!("{ds}/collaborators/viewerwriter")),
            owner.clone(),
            json!({"permission": "write"}),
        )
        .await;
        put(
            api(&format!("{ds}/collaborators/team:eng")),
            owner.clone(),
            json!({"permission": "write"}),
        )
        .await;
    }

    let mut cells = 0;
    for subject in SUBJECTS {
        let token = tokens.get(subject.name).cloned();
        let sess = if subject.name == "anonymous" {
            None
        } else {
            Some(browser_session(&url, subject.name, PASSWORD).await)
        };
        for (i, (name, vis)) in [
            ("pub", Vis::Public),
            ("int", Vis::Internal),
            ("priv", Vis::Private),
        ]
        .iter()
        .enumerate()
        {
            let (want_read, want_write) = subject.expect[i];
            let ds = format!("{url}/api/v1/datasets/acme/{name}");
            let bearer = |req: reqwest::RequestBuilder| match &token {
                Some(t) => req.basic_auth("x", Some(t)),
                None => req,
            };
            let branch = format!("b-{}-{name}", subject.name);
            let oid = sha256_hex(format!("{}{name}", subject.name).as_bytes());
            let batch = |op: &str| {
                bearer(client().post(format!("{url}/acme/{name}.git/info/lfs/objects/batch")))
                    .header("content-type", LFS)
                    .header("accept", LFS)
                    .body(
                        json!({"operation": op, "objects": [{"oid": oid, "size": 3}]}).to_string(),
                    )
            };
            let refs = |service: &str| {
                bearer(client().get(format!("{url}/acme/{name}.git/info/refs?service={service}")))
            };
            let rest_read = ok(bearer(client().get(&ds)).send().await).await;
            let rest_write = ok(bearer(
                client()
                    .post(format!("{ds}/branches"))
                    .json(&json!({"name": format!("{branch}-rest")})),
            )
            .send()
            .await)
            .await;
            let lfs_read = ok(batch("download").send().await).await;
            let lfs_write = ok(batch("upload").send().await).await;
            let git_read = ok(refs("git-upload-pack").send().await).await;
            let git_write = ok(refs("git-receive-pack").send().await).await;
            let mut results = vec![
                ("rest read", rest_read, want_read),
                ("rest write", rest_write, want_write),
                ("lfs read", lfs_read, want_read),
                ("lfs write", lfs_write, want_write),
                ("git read", git_read, want_read),
                ("git write", git_write, want_write),
            ];
            if let Some((cookie, csrf)) = &sess {
                let ui_read = ok(client().get(&ds).header("cookie", cookie).send().await).await;
                let ui_write = ok(client()
                    .post(format!("{ds}/branches"))
                    .header("cookie", cookie)
                    .header("x-csrf-token", csrf)
                    .json(&json!({"name": format!("{branch}-ui")}))
                    .send()
                    .await)
                .await;
                results.push(("ui read", ui_read, want_read));
                results.push(("ui write", ui_write, want_write));
            }
            for (entry, got, want) in results {
                assert_eq!(got, want, "{} {entry} on {vis:?} acme/{name}", subject.name);
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 3 * (6 + 10 * 8));
}
