//! The Kubernetes client (the `kubernetes` feature): the objects of each (user, app) made, scaled,
//! read and deleted through the `kube` crate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{Spec, HOME_DIR, MANAGED, TOKEN_DIR};

/// A namespace of a cluster.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    namespace: String,
    /// The labels of strata's pods: the only ones an instance's NetworkPolicy admits.
    proxy_labels: BTreeMap<String, String>,
    /// The StorageClass of the instances' home volumes (an encrypted one keeps them private).
    storage_class: Option<String>,
}

/// The object `name`, or `None` when the API server answers 404 (whatever its `reason` says).
async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(x) => Err(x),
    }
}

fn e(what: &str, err: impl std::fmt::Display) -> String {
    format!("Kubernetes: {what}: {err}")
}

impl Cluster {
    /// A client for `url` (an API server reachable without credentials: tests and `kubectl
    /// proxy`), or from the environment (in-cluster service account, or `KUBECONFIG`).
    pub async fn connect(
        url: Option<&str>,
        namespace: &str,
        proxy_labels: &str,
        storage_class: Option<&str>,
    ) -> Result<Cluster, String> {
        let mut labels = BTreeMap::new();
        for pair in proxy_labels.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                format!("Kubernetes: the proxy's labels: {pair:?} is not key=value")
            })?;
            labels.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        if labels.is_empty() {
            return Err(
                "Kubernetes: the proxy's labels are empty: every pod could reach the apps".into(),
            );
        }
        let config = match url {
            Some(u) => kube::Config::new(u.parse().map_err(|x| e("the API server URL", x))?),
            None => kube::Config::infer()
                .await
                .map_err(|x| e("no cluster configuration found", x))?,
        };
        let client = kube::Client::try_from(config).map_err(|x| e("client", x))?;
        Ok(Cluster {
            client,
            namespace: namespace.to_owned(),
            proxy_labels: labels,
            storage_class: storage_class.map(str::to_owned),
        })
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Scales `spec`'s Deployment to 1 (creating its objects the first time, updating its token)
    /// and waits, at most `timeout`, for a ready replica: the Service's address.
    pub async fn start(&self, spec: &Spec, timeout: Duration) -> Result<SocketAddr, String> {
        self.put_token(&spec.name, &spec.token).await?;
        let pvcs: Api<PersistentVolumeClaim> = self.api();
        if get_opt(&pvcs, &spec.name)
            .await
            .map_err(|x| e("PVC", x))?
            .is_none()
        {
            let mut pvc = json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": spec.name, "labels": labels(spec)},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            });
            if let Some(class) = &self.storage_class {
                pvc["spec"]["storageClassName"] = json!(class);
            }
            let pvc: PersistentVolumeClaim =
                serde_json::from_value(pvc).map_err(|x| e("PVC", x))?;
            pvcs.create(&PostParams::default(), &pvc)
                .await
                .map_err(|x| e("creating the PVC", x))?;
        }
        let policies: Api<NetworkPolicy> = self.api();
        if get_opt(&policies, &spec.name)
            .await
            .map_err(|x| e("NetworkPolicy", x))?
            .is_none()
        {
            let policy = json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": spec.name, "labels": labels(spec)},
                "spec": {
                    "podSelector": {"matchLabels": selector(spec)},
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": self.proxy_labels}}],
                        "ports": [{"protocol": "TCP", "port": spec.port}]
                    }]
                }
            });
            let policy: NetworkPolicy =
                serde_json::from_value(policy).map_err(|x| e("NetworkPolicy", x))?;
            policies
                .create(&PostParams::default(), &policy)
                .await
                .map_err(|x| e("creating the NetworkPolicy", x))?;
        }
        let services: Api<Service> = self.api();
        if get_opt(&services, &spec.name)
            .await
            .map_err(|x| e("Service", x))?
            .is_none()
        {
            let svc = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": spec.name, "labels": labels(spec)},
                "spec": {"selector": selector(spec), "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}]}
            });
            let svc: Service = serde_json::from_value(svc).map_err(|x| e("Service", x))?;
            services
                .create(&PostParams::default(), &svc)
                .await
                .map_err(|x| e("creating the Service", x))?;
        }
        let deployments: Api<Deployment> = self.api();
        match get_opt(&deployments, &spec.name)
            .await
            .map_err(|x| e("Deployment", x))?
        {
            None => {
                deployments
                    .create(&PostParams::default(), &deployment(spec)?)
                    .await
                    .map_err(|x| e("creating the Deployment", x))?;
            }
            Some(_) => {
                // The same objects, scaled up: the pod template follows the manifest.
                let patch = serde_json::to_value(deployment(spec)?).map_err(|x| e("patch", x))?;
                deployments
                    .patch(&spec.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|x| e("scaling the Deployment up", x))?;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let d = deployments
                .get(&spec.name)
                .await
                .map_err(|x| e("Deployment", x))?;
            let ready = d
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            if ready >= 1 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "Kubernetes: no replica of {} was ready within {} s",
                    spec.name,
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let svc = services
            .get(&spec.name)
            .await
            .map_err(|x| e("Service", x))?;
        let ip = svc
            .spec
            .and_then(|s| s.cluster_ip)
            .filter(|ip| ip != "None")
            .ok_or_else(|| format!("Kubernetes: the Service {} has no cluster IP", spec.name))?;
        let ip: std::net::IpAddr = ip.parse().map_err(|x| e("the Service's cluster IP", x))?;
        Ok(SocketAddr::new(ip, spec.port))
    }

    /// Writes the token the pod reads from its mounted Secret (kubelet refreshes the file).
    pub async fn put_token(&self, name: &str, token: &str) -> Result<(), String> {
        let secrets: Api<Secret> = self.api();
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "labels": {MANAGED.0: MANAGED.1}},
            "type": "Opaque",
            "stringData": {"token": token}
        });
        if get_opt(&secrets, name)
            .await
            .map_err(|x| e("Secret", x))?
            .is_some()
        {
            secrets
                .patch(name, &PatchParams::default(), &Patch::Merge(&secret))
                .await
                .map_err(|x| e("updating the token", x))?;
        } else {
            let secret: Secret = serde_json::from_value(secret).map_err(|x| e("Secret", x))?;
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map_err(|x| e("creating the token", x))?;
        }
        Ok(())
    }

    /// Scales `name`'s Deployment to 0 (its pod goes; the objects stay for the next start).
    pub async fn scale_down(&self, name: &str) -> Result<(), String> {
        let deployments: Api<Deployment> = self.api();
        deployments
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": 0}})),
            )
            .await
            .map_err(|x| e("scaling the Deployment down", x))?;
        Ok(())
    }

    /// The replicas `name`'s Deployment asks for, if it exists.
    pub async fn replicas(&self, name: &str) -> Result<Option<i32>, String> {
        let deployments: Api<Deployment> = self.api();
        Ok(get_opt(&deployments, name)
            .await
            .map_err(|x| e("Deployment", x))?
            .map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1)))
    }

    /// strata's Deployments: (name, user, app, whether it asks for a replica).
    pub async fn deployments(&self) -> Result<Vec<(String, String, String, bool)>, String> {
        let deployments: Api<Deployment> = self.api();
        let selector = format!("{}={}", MANAGED.0, MANAGED.1);
        let list = deployments
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|x| e("listing Deployments", x))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|d| {
                let up = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) > 0;
                let a = d.metadata.annotations.unwrap_or_default();
                Some((
                    d.metadata.name?,
                    a.get("strata.dev/user")?.clone(),
                    a.get("strata.dev/app")?.clone(),
                    up,
                ))
            })
            .collect())
    }

    /// Deletes `name`'s objects (uninstall); the ones already gone are no error.
    pub async fn remove(&self, name: &str) -> Result<(), String> {
        let dp = DeleteParams::default();
        let gone = |r: Result<_, kube::Error>| match r {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(x) => Err(e("deleting", x)),
        };
        gone(self.api::<Deployment>().delete(name, &dp).await.map(|_| ()))?;
        gone(self.api::<Service>().delete(name, &dp).await.map(|_| ()))?;
        gone(self.api::<Secret>().delete(name, &dp).await.map(|_| ()))?;
        gone(
            self.api::<NetworkPolicy>()
                .delete(name, &dp)
                .await
                .map(|_| ()),
        )?;
        gone(
            self.api::<PersistentVolumeClaim>()
                .delete(name, &dp)
                .await
                .map(|_| ()),
        )?;
        Ok(())
    }

    /// The last log lines of `name`'s pod, if it has one.
    pub async fn logs(&self, name: &str) -> Vec<String> {
        let pods: Api<Pod> = self.api();
        let selector = format!("strata.dev/instance={name}");
        let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await else {
            return Vec::new();
        };
        let Some(pod) = list.items.into_iter().next().and_then(|p| p.metadata.name) else {
            return Vec::new();
        };
        let params = LogParams {
            tail_lines: Some(200),
            ..LogParams::default()
        };
        match pods.logs(&pod, &params).await {
            Ok(text) => text.lines().map(str::to_owned).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn labels(spec: &Spec) -> serde_json::Value {
    json!({
        MANAGED.0: MANAGED.1,
        "app.kubernetes.io/name": label_value(&spec.app),
        "strata.dev/instance": spec.name,
        "strata.dev/user": label_value(&spec.user),
    })
}

fn selector(spec: &Spec) -> serde_json::Value {
    json!({"strata.dev/instance": spec.name})
}

/// A label value: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

fn deployment(spec: &Spec) -> Result<Deployment, String> {
    let mut env: Vec<serde_json::Value> = spec
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    env.push(json!({"name": "STRATA_TOKEN_FILE", "value": format!("{TOKEN_DIR}/token")}));
    env.push(json!({"name": "HOME", "value": HOME_DIR}));
    let mut limits = BTreeMap::new();
    if let Some(cpu) = &spec.cpu {
        limits.insert("cpu", cpu.clone());
    }
    if let Some(memory) = &spec.memory {
        limits.insert("memory", memory.clone());
    }
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": spec.name, "labels": labels(spec),
            "annotations": {"strata.dev/user": spec.user, "strata.dev/app": spec.app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(spec)},
            "template": {
                "metadata": {"labels": labels(spec)},
                "spec": {
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "app",
                        "image": spec.image,
                        "ports": [{"containerPort": spec.port, "name": "http"}],
                        "env": env,
                        "resources": {"limits": limits, "requests": limits},
                        "readinessProbe": {"httpGet": {"path": spec.health, "port": spec.port}, "periodSeconds": 2},
                        "volumeMounts": [
                            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": true},
                            {"name": "home", "mountPath": HOME_DIR}
                        ]
                    }],
                    "volumes": [
                        {"name": "token", "secret": {"secretName": spec.name}},
                        {"name": "home", "persistentVolumeClaim": {"claimName": spec.name}}
                    ]
                }
            }
        }
    });
    serde_json::from_value(d).map_err(|x| e("Deployment", x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_keep_what_kubernetes_accepts() {
        assert_eq!(label_value("Alice.Smith!"), "Alice.Smith");
    }
}
