//! The Kubernetes runner against an API server emulator (kmock's `KubernetesEmulator`, driven by
//! `tests/it/kube_emulator.py`, which also plays the cluster: it runs the echo app for a
//! Deployment that asks for a replica, reports readiness, gives Services the cluster IP
//! 127.0.0.1 and serves pod logs). What this proves: the objects strata creates and the verbs it
//! uses (create, get, merge-patch, list by label, delete, pod logs), scale 1 ↔ 0, readiness from
//! the Deployment's status, the token in a Secret, culling by recorded traffic. What it cannot:
//! a real scheduler, kubelet, image pulls, Secret volume refreshes, or cluster networking.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{eventually, Lab, ECHO_APP};
use crate::common::*;

const NS: &str = "strata-apps";

struct Emulator {
    url: String,
    child: Child,
}

impl Emulator {
    fn start() -> Emulator {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/kube_emulator.py");
        let mut child = Command::new(python_tool("python"))
            .args(["-u", script, ECHO_APP, NS])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Kubernetes emulator");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("the emulator exited").unwrap();
            if let Some(u) = line.strip_prefix("URL ") {
                break u.to_owned();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Emulator { url, child }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn replicas(&self, name: &str) -> Option<i64> {
        let (s, v) = self
            .get(&format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}"))
            .await;
        (s == 200).then(|| v["spec"]["replicas"].as_i64().unwrap_or(1))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // its cue to stop the apps it runs and exit
        let _ = self.child.wait();
    }
}

/// A pinned image: manifests name digests unless the server allows tags.
const IMAGE: &str =
    "registry.example/echo@sha256:abababababababababababababababababababababababababababababababab";

fn manifest(id: &str, port: u16, health: &str, timeout: u64) -> String {
    manifest_of(id, port, health, timeout, IMAGE)
}

fn manifest_of(id: &str, port: u16, health: &str, timeout: u64, image: &str) -> String {
    format!(
        r#"id = "{id}"
name = "Echo on Kubernetes"
prefix = "strip"
health = "{health}"
start_timeout_secs = {timeout}
idle_timeout_secs = 5
scopes = ["dataset:*:read"]
[runner]
kind = "kubernetes"
image = "{image}"
port = {port}
memory = "256Mi"
"#
    )
}

#[tokio::test]
async fn deployments_scale_between_one_and_zero_with_the_traffic() {
    let emu = tokio::task::spawn_blocking(Emulator::start).await.unwrap();
    let url = emu.url.clone();
    let lab = Lab::start(move |c| {
        c.apps_kube_url = Some(url);
        c.apps_kube_namespace = NS.into();
        c.apps_kube_storage_class = Some("encrypted-gp3".into());
    })
    .await;
    let port = strata_apps::process::free_port().unwrap();
    // A tag is refused: what runs must be what was reviewed.
    let (s, v) = lab
        .add(&manifest_of(
            "tagged",
            port,
            "/health",
            120,
            "registry.example/echo:1",
        ))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("names no digest"),
        "{v}"
    );
    let (s, v) = lab.add(&manifest("web", port, "/health", 120)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["runner"], "kubernetes");
    lab.install(&lab.alice, "web", &["dataset:*:read"]).await;
    let name = strata_apps::kube::object_name("alice", "web");
    assert_eq!(
        emu.replicas(&name).await,
        None,
        "nothing before the first request"
    );

    // The first request creates the objects with one replica and waits for it to be ready.
    let r = lab.get_ready(&lab.alice, "/apps/alice/web/headers").await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["x-strata-user"], "alice");
    assert!(seen.get("authorization").is_none());
    assert_eq!(emu.replicas(&name).await, Some(1));
    let (_, d) = emu
        .get(&format!("/apis/apps/v1/namespaces/{NS}/deployments/{name}"))
        .await;
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "strata"
    );
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], IMAGE);
    // The Apps API shows what runs and its digest.
    let r = lab.get(&lab.alice, "/api/v1/user/apps").await;
    let apps: Value = r.json().await.unwrap();
    assert_eq!(apps[0]["runs"], IMAGE, "{apps}");
    assert_eq!(
        apps[0]["digest"],
        IMAGE.split_once('@').unwrap().1,
        "{apps}"
    );
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    for kind in ["services", "persistentvolumeclaims", "secrets"] {
        let (s, _) = emu
            .get(&format!("/api/v1/namespaces/{NS}/{kind}/{name}"))
            .await;
        assert_eq!(s, 200, "{kind}");
    }
    // Its home volume in the StorageClass the admin named (an encrypted one: private storage).
    let (_, pvc) = emu
        .get(&format!(
            "/api/v1/namespaces/{NS}/persistentvolumeclaims/{name}"
        ))
        .await;
    assert_eq!(pvc["spec"]["storageClassName"], "encrypted-gp3", "{pvc}");
    // Only strata's pods may reach the instance (the proxy is the way in).
    let (s, policy) = emu
        .get(&format!(
            "/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/{name}"
        ))
        .await;
    assert_eq!(s, 200, "{policy}");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["strata.dev/instance"],
        name.as_str()
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            ["app.kubernetes.io/name"],
        "strata"
    );
    // The token in the Secret reads within the consented scopes.
    let (_, secret) = emu
        .get(&format!("/api/v1/namespaces/{NS}/secrets/{name}"))
        .await;
    let token = secret["stringData"]["token"].as_str().unwrap().to_owned();
    let r = lab.get(&token, "/api/v1/datasets").await;
    assert_eq!(r.status(), 200);
    let env: Value = lab
        .get_ready(&lab.alice, "/apps/alice/web/env")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(env["STRATA_TOKEN_FILE"], "/var/run/strata/token");
    assert_eq!(env["STRATA_BASE_URL"], "/apps/alice/web/");

    // Idle past its timeout (no replica saw traffic): scaled to 0, the objects kept.
    eventually("the idle Deployment scaled down", || async {
        emu.replicas(&name).await == Some(0)
    })
    .await;
    // The next request scales it back up.
    let r = lab.get_ready(&lab.alice, "/apps/alice/web/health").await;
    assert_eq!(r.status(), 200);
    assert_eq!(emu.replicas(&name).await, Some(1));

    // Uninstall deletes the objects, and the token dies.
    let r = client()
        .delete(lab.url("/api/v1/user/apps/web"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(emu.replicas(&name).await, None);
    let r = lab.get(&token, "/api/v1/datasets").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_deployment_that_never_gets_ready_shows_its_pod_log() {
    let emu = tokio::task::spawn_blocking(Emulator::start).await.unwrap();
    let url = emu.url.clone();
    let lab = Lab::start(move |c| {
        c.apps_kube_url = Some(url);
        c.apps_kube_namespace = NS.into();
    })
    .await;
    let port = strata_apps::process::free_port().unwrap();
    // Never culled while the test looks at it.
    let m = manifest("stuck", port, "/never-ready", 3)
        .replace("idle_timeout_secs = 5", "idle_timeout_secs = 3600");
    lab.add(&m).await;
    lab.install(&lab.alice, "stuck", &["dataset:*:read"]).await;
    let r = lab.get_ready(&lab.alice, "/apps/alice/stuck/").await;
    let (status, _, v) = body(r).await;
    assert_eq!(status, 502, "{v}");
    assert!(v["message"].as_str().unwrap().contains("no replica"), "{v}");
    // The pod keeps running (however long the app takes to say it is ready); the next start,
    // failing the same way, shows what its log holds by then.
    let name = strata_apps::kube::object_name("alice", "stuck");
    let log_path = format!("/api/v1/namespaces/{NS}/pods/{name}-pod/log");
    eventually("the pod logged its readiness", || async {
        let r = client()
            .get(format!("{}{log_path}", emu.url))
            .send()
            .await
            .unwrap();
        r.status() == 200 && r.text().await.unwrap().contains("echo app ready")
    })
    .await;
    let r = lab.get_ready(&lab.alice, "/apps/alice/stuck/").await;
    let (status, _, v) = body(r).await;
    assert_eq!(status, 502, "{v}");
    assert!(v["message"].as_str().unwrap().contains("no replica"), "{v}");
    assert!(v["log"].to_string().contains("echo app ready"), "{v}");
    // A cluster strata cannot reach: the error says so.
    drop(emu);
    let r = lab.get(&lab.alice, "/apps/alice/stuck/").await;
    let (status, _, v) = body(r).await;
    assert_eq!(status, 502, "{v}");
    assert!(v["message"].as_str().unwrap().contains("Kubernetes"), "{v}");
}
