//! The cases of `refusals.rs`, one table per kind of hostile input, each case with the status
//! the manual gives it (see `refusals.rs` for where each comes from).

use axum::http::Method;
use serde_json::{json, Value};

use super::refusals::{Case, Payload, Site, Who};
use crate::common::api::unique;

/// The endpoints that read a JSON body, each with a body it would take.
fn json_endpoints(s: &Site) -> Vec<(Method, String, Value)> {
    let (owner, head) = (&s.owner, &s.head);
    vec![
        (
            Method::POST,
            "/api/v1/datasets".into(),
            json!({"namespace": owner, "name": "fresh"}),
        ),
        (
            Method::PUT,
            s.ds("d", ""),
            json!({"datapackage": {"resources": []}, "parent": head}),
        ),
        (Method::POST, s.ds("d", "/tags"), json!({"name": "t1"})),
        (
            Method::POST,
            s.ds("d", "/branches"),
            json!({"name": "b1", "revision": head}),
        ),
        (
            Method::POST,
            s.ds("d", "/revert"),
            json!({"to": head, "parent": head}),
        ),
        (
            Method::POST,
            s.ds("d", "/shares"),
            json!({"path": "data", "user": s.bob, "access": "read"}),
        ),
        (
            Method::POST,
            s.ds("d", "/webhooks"),
            json!({"url": "https://hooks.example.com/x"}),
        ),
        (
            Method::POST,
            "/api/v1/orgs".into(),
            json!({"name": unique("org")}),
        ),
        (
            Method::POST,
            "/api/v1/sql".into(),
            json!({"query": "SELECT 1"}),
        ),
    ]
}

/// Malformed JSON, another media type and a body past 4 MiB on every JSON endpoint.
pub fn body_cases(s: &Site) -> Vec<Case> {
    let mut cases = Vec::new();
    let big = "x".repeat(5 * 1024 * 1024);
    for (method, path, good) in json_endpoints(s) {
        let mut padded = good.clone();
        padded["pad"] = json!(big);
        for (what, payload, want) in [
            (
                "malformed JSON",
                Payload::Raw("application/json", br#"{"name": "#.to_vec()),
                422,
            ),
            (
                "not JSON at all",
                Payload::Raw("application/json", b"name=x".to_vec()),
                422,
            ),
            (
                "JSON sent as text/plain",
                Payload::Raw("text/plain", good.to_string().into_bytes()),
                415,
            ),
            (
                "JSON sent as a form",
                Payload::Raw(
                    "application/x-www-form-urlencoded",
                    good.to_string().into_bytes(),
                ),
                415,
            ),
            ("a body past 4 MiB", Payload::Json(padded.clone()), 413),
        ] {
            // Organisations are made by engineers and admins only.
            let who = if path == "/api/v1/orgs" {
                Who::Admin
            } else {
                Who::Owner
            };
            cases.push(Case {
                what: what.into(),
                method: method.clone(),
                path: path.clone(),
                who,
                payload,
                want,
            });
        }
    }
    cases
}

/// Names too long: a namespace, dataset or organisation name past 64 characters (the namespace
/// rules) is refused (422) and names nothing in a path (404); a tag or branch name of 300
/// characters is a bad ref name (422) in a body and in a path alike.
pub fn name_cases(s: &Site) -> Vec<Case> {
    let owner = s.owner.as_str();
    let mut cases = Vec::new();
    let mut add = |what: String, method: Method, path: String, who: Who, payload, want| {
        cases.push(Case {
            what,
            method,
            path,
            who,
            payload,
            want,
        })
    };
    for name in ["n".repeat(65), "n".repeat(300)] {
        let what = format!("a name of {} characters", name.len());
        let body = json!({"namespace": owner, "name": name});
        let post = Payload::Json(body);
        add(
            what.clone(),
            Method::POST,
            "/api/v1/datasets".into(),
            Who::Owner,
            post,
            422,
        );
        let org = Payload::Json(json!({"name": name}));
        add(
            what.clone(),
            Method::POST,
            "/api/v1/orgs".into(),
            Who::Admin,
            org,
            422,
        );
        for path in [
            s.ds(&name, ""),
            s.ds(&name, "/tree"),
            format!("/api/v1/datasets/{name}/d"),
        ] {
            add(
                format!("{what} in the path"),
                Method::GET,
                path,
                Who::Owner,
                Payload::Empty,
                404,
            );
        }
    }
    let name = "r".repeat(300);
    let what = format!("a ref name of {} characters", name.len());
    for (path, body) in [
        (s.ds("d", "/tags"), json!({"name": name})),
        (
            s.ds("d", "/branches"),
            json!({"name": name, "revision": s.head}),
        ),
    ] {
        add(
            what.clone(),
            Method::POST,
            path,
            Who::Owner,
            Payload::Json(body),
            422,
        );
    }
    for (method, tail) in [
        (Method::GET, format!("/tags/{name}")),
        (Method::DELETE, format!("/tags/{name}")),
        (Method::DELETE, format!("/branches/{name}")),
    ] {
        let path = s.ds("d", &tail);
        add(
            format!("{what} in the path"),
            method,
            path,
            Who::Owner,
            Payload::Empty,
            422,
        );
    }
    cases
}

/// Dot segments where a file's path goes (sent as written, as a hostile client would).
pub fn traversal_cases(s: &Site) -> Vec<Case> {
    let mut cases = Vec::new();
    for tail in [
        "/raw/../../../../etc/passwd",
        "/raw/data/../../d/raw/x",
        "/raw/..%2F..%2Fkeys%2Fjwt-rs256.pem",
        "/raw/data%2F..%2F..%2Fx",
        "/tree?path=../x",
        "/tree?path=data/../../x",
        "/revisions?path=../x",
        "/revisions?path=..%2F..%2Fetc",
    ] {
        cases.push(Case {
            what: "dot segments in a path".into(),
            method: Method::GET,
            path: s.ds("d", tail),
            who: Who::Owner,
            payload: Payload::Empty,
            want: 422,
        });
    }
    cases
}

/// A dataset or namespace that does not exist, asked by a signed-in user: 404 on every route.
pub fn unknown_cases(s: &Site) -> Vec<Case> {
    let nobody = unique("nobody");
    let mut cases = Vec::new();
    for (method, path, payload) in [
        (Method::GET, s.ds("nope", ""), Payload::Empty),
        (Method::GET, s.ds("nope", "/tree"), Payload::Empty),
        (Method::GET, s.ds("nope", "/revisions"), Payload::Empty),
        (Method::GET, s.ds("nope", "/raw/a.csv"), Payload::Empty),
        (Method::GET, s.ds("nope", "/tags"), Payload::Empty),
        (Method::GET, s.ds("nope", "/branches"), Payload::Empty),
        (Method::GET, s.ds("nope", "/shares"), Payload::Empty),
        (Method::GET, s.ds("nope", "/webhooks"), Payload::Empty),
        (
            Method::GET,
            s.ds("nope", "/diff?from=a&to=b"),
            Payload::Empty,
        ),
        (
            Method::PUT,
            s.ds("nope", ""),
            Payload::Json(json!({"datapackage": {"resources": []}})),
        ),
        (
            Method::POST,
            s.ds("nope", "/tags"),
            Payload::Json(json!({"name": "t"})),
        ),
        (Method::DELETE, s.ds("nope", ""), Payload::Empty),
        (
            Method::GET,
            format!("/api/v1/datasets/{nobody}/d"),
            Payload::Empty,
        ),
        (
            Method::GET,
            format!("/api/v1/orgs/{nobody}"),
            Payload::Empty,
        ),
    ] {
        cases.push(Case {
            what: "an unknown dataset".into(),
            method,
            path,
            who: Who::Owner,
            payload,
            want: 404,
        });
    }
    cases
}

/// No token, and tokens that are not tokens, on the private dataset, the public one (bad
/// credentials are refused, never read as anonymous) and the account routes: 401.
pub fn credential_cases(s: &Site) -> Vec<Case> {
    let mut cases = Vec::new();
    let private = [
        (Method::GET, s.ds("d", ""), Payload::Empty),
        (Method::GET, s.ds("d", "/tree"), Payload::Empty),
        (Method::GET, s.ds("d", "/revisions"), Payload::Empty),
        (
            Method::PUT,
            s.ds("d", ""),
            Payload::Json(json!({"datapackage": {"resources": []}})),
        ),
        (
            Method::POST,
            s.ds("d", "/tags"),
            Payload::Json(json!({"name": "t"})),
        ),
        (Method::DELETE, s.ds("d", ""), Payload::Empty),
        (
            Method::POST,
            "/api/v1/datasets".into(),
            Payload::Json(json!({"namespace": s.owner, "name": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/orgs".into(),
            Payload::Json(json!({"name": unique("org")})),
        ),
        (Method::GET, "/api/v1/shared-with-me".into(), Payload::Empty),
    ];
    let public = [
        (Method::GET, s.ds("pub", ""), Payload::Empty),
        (Method::GET, s.ds("pub", "/tree"), Payload::Empty),
        (Method::GET, "/api/v1/datasets".into(), Payload::Empty),
    ];
    for (who, what) in [
        (Who::Anonymous, "no token"),
        (Who::Header("Bearer nonsense"), "a garbage bearer token"),
        (
            Who::Header("Bearer stp_0000000000000000"),
            "an unknown token",
        ),
        (Who::Header("Basic !!!"), "garbage Basic credentials"),
        (Who::Header("Digest x"), "an unknown scheme"),
    ] {
        let anonymous = matches!(who, Who::Anonymous);
        for (method, path, payload) in private.iter().chain(public.iter().filter(|_| !anonymous)) {
            cases.push(Case {
                what: what.into(),
                method: method.clone(),
                path: path.clone(),
                who,
                payload: payload.clone(),
                want: 401,
            });
        }
    }
    cases
}
