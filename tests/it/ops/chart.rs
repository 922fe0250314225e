//! The Helm chart (`deploy/helm/strata`), rendered offline through Helm's own Go SDK
//! (helm-python-sdk: no helm binary, no cluster) with several value sets, linted strictly, and
//! every rendered manifest validated with `kubernetes-validate --strict`. What a cluster would do
//! with them is not proven here: there is no API server on these machines.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::common::python_tool;

fn chart_dir() -> String {
    format!("{}/deploy/helm/strata", env!("CARGO_MANIFEST_DIR"))
}

fn script(mode: Option<&str>, values: &Value) -> Value {
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/chart_render.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .arg(chart_dir());
    if let Some(mode) = mode {
        cmd.arg(mode);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(values.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chart_render.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rendered objects for `values`, all of them valid.
fn render(values: Value) -> Vec<Value> {
    let out = script(None, &values);
    assert!(out["error"].is_null(), "refused {values}: {}", out["error"]);
    assert_eq!(out["invalid"], json!([]), "{values}");
    out["objects"].as_array().unwrap().clone()
}

/// Why the chart refuses `values`.
fn refusal(values: Value) -> String {
    let out = script(None, &values);
    out["error"]
        .as_str()
        .unwrap_or_else(|| panic!("rendered {values}"))
        .to_owned()
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> Option<&'a Value> {
    objects.iter().find(|o| o["kind"] == kind)
}

fn env_of(deployment: &Value) -> Vec<(String, Value)> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn production() -> Value {
    json!({
        "replicaCount": 3,
        "database": {"engine": "postgres", "existingSecret": "strata-db"},
        "storage": {"backend": "s3", "bucket": "lfs", "existingSecret": "strata-s3",
                    "s3": {"endpoint": "https://s3.example.org", "pathStyle": true}},
        "persistence": {"accessMode": "ReadWriteMany", "storageClass": "nfs"},
        "ingress": {"enabled": true, "host": "data.example.org"},
        "podDisruptionBudget": {"enabled": true},
        "metrics": {"serviceMonitor": {"enabled": true}},
        "encryption": {"mode": "on", "existingSecret": "strata-keys"},
        "keys": {"existingSecret": "strata-signing"}
    })
}

#[test]
fn the_chart_renders_valid_manifests() {
    // Defaults: one replica on SQLite and the local disk.
    let objects = render(json!({}));
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "PersistentVolumeClaim",
            "Service",
            "ServiceAccount"
        ]
    );
    let deployment = kind(&objects, "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(pod["terminationGracePeriodSeconds"], 80);
    let env = env_of(deployment);
    let value = |name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e["value"].clone())
    };
    assert_eq!(value("STRATA_STORAGE"), Some(json!("local")));
    assert_eq!(value("STRATA_SHUTDOWN_GRACE_SECS"), Some(json!("60")));
    assert_eq!(value("STRATA_DATABASE_URL"), None);
    assert_eq!(value("STRATA_REFS"), Some(json!("git")));
    let pvc = kind(&objects, "PersistentVolumeClaim").unwrap();
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteOnce"]));

    // Production: three replicas on PostgreSQL and S3, ingress with cert-manager, PDB,
    // ServiceMonitor; secrets by reference only.
    let objects = render(production());
    let deployment = kind(&objects, "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": 1, "maxUnavailable": 0})
    );
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["timeoutSeconds"], 3);
    assert!(container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mountPath"] == "/keys"));
    let env = env_of(deployment);
    let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone());
    assert_eq!(
        get("STRATA_DATABASE_URL").unwrap()["valueFrom"]["secretKeyRef"],
        json!({"name": "strata-db", "key": "database-url"})
    );
    assert_eq!(
        get("STRATA_MASTER_KEY").unwrap()["valueFrom"]["secretKeyRef"]["name"],
        "strata-keys"
    );
    assert_eq!(
        get("STRATA_PUBLIC_URL").unwrap()["value"],
        "https://data.example.org"
    );
    assert_eq!(get("STRATA_REFS").unwrap()["value"], "sql");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"],
        json!([{"secretRef": {"name": "strata-s3"}}])
    );
    let ingress = kind(&objects, "Ingress").unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"],
        "0"
    );
    assert_eq!(
        ingress["spec"]["tls"][0]["hosts"],
        json!(["data.example.org"])
    );
    assert!(kind(&objects, "PodDisruptionBudget").is_some());
    let monitor = kind(&objects, "ServiceMonitor").unwrap();
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        kind(&objects, "PersistentVolumeClaim").unwrap()["spec"]["accessModes"],
        json!(["ReadWriteMany"])
    );

    // Autoscaled: the HPA owns the replica count.
    let mut autoscaled = production();
    autoscaled["autoscaling"] = json!({"enabled": true, "minReplicas": 2, "maxReplicas": 5});
    let objects = render(autoscaled);
    assert!(kind(&objects, "Deployment").unwrap()["spec"]["replicas"].is_null());
    assert_eq!(
        kind(&objects, "HorizontalPodAutoscaler").unwrap()["spec"]["maxReplicas"],
        5
    );

    // Apps on Kubernetes: a Role limited to the apps' namespace, bound to strata's account,
    // whose token the pod mounts only then.
    assert!(kind(&render(production()), "Role").is_none());
    assert!(deployment["spec"]["template"]["spec"]["automountServiceAccountToken"].is_null());
    let mut apps = production();
    apps["apps"] = json!({"kubernetes": {"enabled": true, "namespace": "notebooks",
        "storageClass": "encrypted-gp3"}});
    let objects = render(apps);
    let role = kind(&objects, "Role").unwrap();
    assert_eq!(role["metadata"]["namespace"], "notebooks");
    let rules = role["rules"].to_string();
    assert!(
        rules.contains("deployments") && rules.contains("pods/log"),
        "{rules}"
    );
    assert!(!rules.contains("\"*\""), "no wildcard: {rules}");
    let binding = kind(&objects, "RoleBinding").unwrap();
    assert_eq!(binding["metadata"]["namespace"], "notebooks");
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    let deployment = kind(&objects, "Deployment").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["automountServiceAccountToken"],
        true
    );
    let env = env_of(deployment);
    assert!(env
        .iter()
        .any(|(n, e)| n == "STRATA_APPS_KUBE_NAMESPACE" && e["value"] == "notebooks"));
    // The apps' home volumes in the StorageClass named (an encrypted one).
    assert!(env
        .iter()
        .any(|(n, e)| n == "STRATA_APPS_KUBE_STORAGE_CLASS" && e["value"] == "encrypted-gp3"));
    let labels = env
        .iter()
        .find(|(n, _)| n == "STRATA_APPS_KUBE_PROXY_LABELS")
        .map(|(_, e)| e["value"].as_str().unwrap().to_owned())
        .unwrap();
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for pair in labels.split(',') {
        let (k, v) = pair.split_once('=').unwrap();
        assert_eq!(
            pod_labels[k], v,
            "the NetworkPolicies would not admit strata's pods"
        );
    }
}

#[test]
fn the_chart_refuses_unsafe_values_saying_why() {
    let with = |patch: Value| {
        let mut values = production();
        for (k, v) in patch.as_object().unwrap() {
            values[k] = v.clone();
        }
        values
    };
    let cases = [
        (json!({"replicaCount": 2}), "database.engine: postgres"),
        (
            json!({"autoscaling": {"enabled": true}}),
            "database.engine: postgres",
        ),
        (
            with(json!({"persistence": {"accessMode": "ReadWriteOnce"}})),
            "ReadWriteMany",
        ),
        (
            with(json!({"storage": {"backend": "local"}})),
            "needs a bucket",
        ),
        (
            with(json!({"database": {"engine": "postgres"}})),
            "database.existingSecret",
        ),
        (
            with(json!({"encryption": {"mode": "strict"}})),
            "same master key",
        ),
        (
            json!({"storage": {"backend": "s3"}}),
            "needs storage.bucket",
        ),
        (
            with(json!({"keys": {"existingSecret": ""}})),
            "keys.existingSecret",
        ),
        (
            json!({"podDisruptionBudget": {"enabled": true}}),
            "block every node drain",
        ),
        (
            with(json!({"autoscaling": {"enabled": true, "minReplicas": 5, "maxReplicas": 2}})),
            "minReplicas is larger",
        ),
        (
            with(json!({"autoscaling": {"enabled": true, "minReplicas": 1, "maxReplicas": 4}})),
            "must be below autoscaling.minReplicas",
        ),
        (
            json!({"database": {"engine": "mysql"}}),
            "sqlite or postgres",
        ),
    ];
    for (values, why) in cases {
        let refused = refusal(values.clone());
        assert!(refused.contains(why), "{values}: {refused}");
    }
}

#[test]
fn the_chart_lints_clean_and_documents_every_value() {
    let report = script(Some("lint"), &production());
    assert_eq!(report["errors"], json!([]), "{report}");
    let serious: Vec<&Value> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["severity"].as_i64() > Some(1))
        .collect();
    assert!(serious.is_empty(), "{serious:?}");

    // Every value has a line in the chart's README.
    let readme = std::fs::read_to_string(format!("{}/README.md", chart_dir())).unwrap();
    let defaults = script(Some("values"), &json!({}));
    let mut keys = Vec::new();
    // Values passed through to Kubernetes as they are: documented as one value each.
    const OPAQUE: [&str; 6] = [
        "resources",
        "podSecurityContext",
        "securityContext",
        "ingress.annotations",
        "serviceAccount.annotations",
        "metrics.serviceMonitor.labels",
    ];
    fn walk(prefix: &str, v: &Value, keys: &mut Vec<String>) {
        match v.as_object() {
            Some(map) if !map.is_empty() && !OPAQUE.contains(&prefix) => {
                for (k, child) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, child, keys);
                }
            }
            _ => keys.push(prefix.to_owned()),
        }
    }
    walk("", &defaults, &mut keys);
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !readme.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "undocumented values: {missing:?}");
}
