//! The Kubernetes runner, through the `kube` crate: per (user, app) a Deployment, a Service, a
//! PersistentVolumeClaim for its home, a Secret holding its token and a NetworkPolicy letting only
//! strata's own pods reach it (the proxy is the only way in), all in one namespace and labelled
//! as strata's. An instance starts by scaling the Deployment to 1 (creating the objects
//! the first time) and is ready when the Deployment says a replica is; it stops by scaling to 0,
//! so the next start reuses everything (pod creation is the slow part). Uninstalling deletes
//! them. The proxy reaches the instance at the Service's cluster IP; logs come from its pod.

//!
//! The client lives in `cluster.rs`, built with the `kubernetes` feature (on by default). Without
//! it, `off.rs` stands in: a [`Cluster`] can't be connected to (the error says why), so nothing
//! else of it can run.

use std::future::Future;
use std::pin::Pin;

use crate::lifecycle::Running;

#[cfg(feature = "kubernetes")]
mod cluster;
#[cfg(feature = "kubernetes")]
pub use cluster::Cluster;
#[cfg(not(feature = "kubernetes"))]
mod off;
#[cfg(not(feature = "kubernetes"))]
pub use off::Cluster;

/// The label every object strata makes carries.
pub const MANAGED: (&str, &str) = ("app.kubernetes.io/managed-by", "strata");

/// What to run for one (user, app).
#[derive(Debug, Clone)]
pub struct Spec {
    /// The objects' name (see [`object_name`]).
    pub name: String,
    pub user: String,
    pub app: String,
    pub image: String,
    pub port: u16,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    /// The readiness probe's path.
    pub health: String,
    pub env: Vec<(String, String)>,
    /// The token, written into the Secret mounted at [`TOKEN_DIR`].
    pub token: String,
}

/// Where a pod finds its token file (`token` in it).
pub const TOKEN_DIR: &str = "/var/run/strata";
/// Where a pod's persistent home is mounted.
pub const HOME_DIR: &str = "/home/strata";

/// A name for (user, app) that Kubernetes accepts (lower-case DNS label, at most 63 characters)
/// and no other pair gets: a readable part and a hash of the exact pair.
pub fn object_name(user: &str, app: &str) -> String {
    use sha2::Digest;
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_alphanumeric() {
                    c
                } else {
                    '-'
                }
            })
            .take(18)
            .collect::<String>()
            .trim_matches('-')
            .to_owned()
    };
    let digest = sha2::Sha256::digest(format!("{user}\n{app}"));
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("app-{}-{}-{hash}", clean(user), clean(app))
}

/// A running Deployment: stopping scales it to 0.
pub struct KubeInstance {
    pub cluster: Cluster,
    pub name: String,
}

impl Running for KubeInstance {
    fn ended(&mut self) -> bool {
        false
    }

    fn shared(&self) -> bool {
        true
    }

    fn pause(&self) -> bool {
        false
    }

    fn resume(&self) {}

    fn stop(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            if let Err(x) = self.cluster.scale_down(&self.name).await {
                tracing::warn!(error = %x, "an app instance was not scaled down");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_dns_labels_and_never_shared() {
        let a = object_name("Alice.Smith", "jupyter");
        assert!(
            a.len() <= 63 && a.starts_with("app-alice-smith-jupyter-"),
            "{a}"
        );
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert_ne!(
            object_name("alice_smith", "web"),
            object_name("alice.smith", "web")
        );
        let long = object_name(&"x".repeat(64), &"y".repeat(40));
        assert!(long.len() <= 63, "{long}");
    }
}
