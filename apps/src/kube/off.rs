//! Without the `kubernetes` feature: no cluster can be connected to, and the error says so. The
//! type has no values, so none of its other methods can ever run (the compiler knows it).

use std::net::SocketAddr;
use std::time::Duration;

use super::Spec;

/// A cluster, in a build that has no Kubernetes client: there is none.
#[derive(Clone)]
pub enum Cluster {}

/// What `connect` answers in this build.
pub const NOT_BUILT: &str = "Kubernetes: this strata was built without the `kubernetes` feature, \
                             so apps with kind = \"kubernetes\" can't run";

impl Cluster {
    pub async fn connect(
        _url: Option<&str>,
        _namespace: &str,
        _proxy_labels: &str,
        _storage_class: Option<&str>,
    ) -> Result<Cluster, String> {
        Err(NOT_BUILT.to_owned())
    }

    pub async fn start(&self, _spec: &Spec, _timeout: Duration) -> Result<SocketAddr, String> {
        match *self {}
    }

    pub async fn put_token(&self, _name: &str, _token: &str) -> Result<(), String> {
        match *self {}
    }

    pub async fn scale_down(&self, _name: &str) -> Result<(), String> {
        match *self {}
    }

    pub async fn replicas(&self, _name: &str) -> Result<Option<i32>, String> {
        match *self {}
    }

    pub async fn deployments(&self) -> Result<Vec<(String, String, String, bool)>, String> {
        match *self {}
    }

    pub async fn remove(&self, _name: &str) -> Result<(), String> {
        match *self {}
    }

    pub async fn logs(&self, _name: &str) -> Vec<String> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn connecting_says_the_build_has_no_kubernetes() {
        // `Ok` holds a value of a type that has none: only `Err` can come back.
        let Err(err) = super::Cluster::connect(None, "apps", "", None).await;
        assert!(err.contains("without the `kubernetes` feature"), "{err}");
    }
}
