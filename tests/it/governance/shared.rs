//! Tables through a share of a folder: the caller hears only about what it asked for. A resource
//! outside the share answers as a missing one, over REST and Arrow Flight, and the list of
//! resources an unknown name gets names only those inside the share.

use serde_json::{json, Value};

use super::*;

const OPEN: &[u8] = b"name,age\nann,31\nbea,42\n";
const SECRET: &[u8] = b"name,ssn\nzed,078-05-1120\n";

const FLIGHT_ERRORS: &str = r#"
import json, sys
import pyarrow.flight as fl
client = fl.connect(sys.argv[1])
options = fl.FlightCallOptions(headers=[(b"authorization", ("Bearer " + sys.argv[2]).encode())])
out = {}
for name in sys.argv[3:]:
    try:
        command = json.dumps({"asset": "alice/people/" + name})
        info = client.get_flight_info(fl.FlightDescriptor.for_command(command), options)
        out[name] = {"rows": len(client.do_get(info.endpoints[0].ticket, options).read_pandas())}
    except Exception as e:
        out[name] = {"error": type(e).__name__, "message": str(e)}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_share_hears_only_of_the_tables_inside_it() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let api = format!("{}/api/v1/datasets", server.url);
    let r = client()
        .post(&api)
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "people", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    upload(&server, "alice/people", &alice, OPEN).await;
    upload(&server, "alice/people", &alice, SECRET).await;
    let resource = |name: &str, path: &str, data: &[u8]| {
        json!({"name": name, "path": path, "format": "csv", "bytes": data.len(),
            "hash": format!("sha256:{}", sha256_hex(data))})
    };
    let pkg = json!({"name": "people", "resources": [
        resource("open-people", "open/people.csv", OPEN),
        resource("hidden-people", "secret/people.csv", SECRET),
    ]});
    let head: Value = client()
        .get(format!("{api}/alice/people"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client()
        .put(format!("{api}/alice/people"))
        .bearer_auth(&alice)
        .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = client()
        .post(format!("{api}/alice/people/shares"))
        .bearer_auth(&alice)
        .json(&json!({"path": "open", "user": "bob", "access": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // REST: the shared table reads; the other one and a missing one answer alike.
    let table = |name: &str| {
        let url = format!("{api}/alice/people/tables/{name}");
        let bob = bob.clone();
        async move {
            let r = client().get(url).bearer_auth(bob).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, text) = table("open-people").await;
    assert_eq!((status, text.as_bytes()), (200, OPEN));
    let (hidden_status, hidden) = table("hidden-people").await;
    let (missing_status, missing) = table("no-such").await;
    assert_eq!(hidden_status, 404, "{hidden}");
    assert_eq!(missing_status, 404, "{missing}");
    let message = |text: &str| -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        v["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        message(&hidden).replace("hidden-people", "?"),
        message(&missing).replace("no-such", "?")
    );
    assert!(!hidden.contains("secret"), "{hidden}");
    assert!(
        !missing.contains("secret") && !missing.contains("hidden-people"),
        "{missing}"
    );
    assert!(missing.contains("open-people"), "{missing}");
    // alice, who reaches everything, still hears of every resource.
    let r = client()
        .get(format!("{api}/alice/people/tables/no-such"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("hidden-people"));

    // Arrow Flight, through pyarrow: the same.
    let python = python_tool("python");
    let grpc = server.url.replace("http://", "grpc://");
    let token = bob.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args([
            "-c",
            FLIGHT_ERRORS,
            &grpc,
            &token,
            "open-people",
            "hidden-people",
            "no-such",
        ]))
    })
    .await
    .unwrap();
    let v: Value = serde_json::from_str(json_line(&out)).unwrap();
    assert_eq!(v["open-people"]["rows"], 2, "{v}");
    let (hidden, missing) = (&v["hidden-people"], &v["no-such"]);
    assert_eq!(hidden["error"], missing["error"], "{v}");
    let (h, m) = (
        hidden["message"].as_str().unwrap(),
        missing["message"].as_str().unwrap(),
    );
    assert!(h.contains("has no resource \"hidden-people\""), "{h}");
    assert!(!h.contains("secret"), "{h}");
    assert!(
        !m.contains("secret") && !m.contains("hidden-people") && m.contains("open-people"),
        "{m}"
    );
}
