//! `AppState`: what every handler gets. The domain's [`Core`], shared, plus what only HTTP needs
//! (rate limits on public endpoints, the Prometheus metrics). It dereferences
//! to [`Core`], so a handler passes `&state` wherever the domain asks for `&Core`.

use std::sync::Arc;

use strata_core::config::Config;
use strata_core::{Core, StartError};

use crate::http::limits::Limiter;
use crate::http::metrics::Metrics;

/// Cheap to clone into each request.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    http: Arc<HttpParts>,
}

/// What only the HTTP layer keeps.
pub struct HttpParts {
    /// Requests to share links, per client address.
    pub link_requests: Limiter,
    /// Delta Sharing calls, per client address.
    pub delta_requests: Limiter,
    /// Sign-ins started through identity providers, per client address (each is a row until it
    /// expires).
    pub sso_starts: Limiter,
    /// Prometheus metrics (`/metrics`).
    pub metrics: Metrics,
}

impl std::ops::Deref for AppState {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    /// Builds the [`Core`] from the configuration, and the HTTP layer's parts around it.
    pub async fn build(config: &Config) -> Result<AppState, StartError> {
        let core = Core::build(config).await?;
        let metrics = Metrics::new(
            &format!("{:?}", config.storage).to_ascii_lowercase(),
            core.engine_name(),
        );
        Ok(AppState {
            core,
            http: Arc::new(HttpParts {
                link_requests: Limiter::new(300, 60),
                delta_requests: Limiter::new(1200, 60),
                sso_starts: Limiter::new(60, 60),
                metrics,
            }),
        })
    }

    /// The HTTP layer's own parts.
    pub fn http(&self) -> &HttpParts {
        &self.http
    }
}
