//! State shared by every handler.

use metrics_exporter_prometheus::PrometheusHandle;
use portcullis_core::Portcullis;

/// What handlers can reach: the domain and the metrics registry.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The domain services.
    pub core: Portcullis,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The client of upstream identity providers.
    pub upstream: portcullis_oidc::upstream::Upstream,
}

impl AppState {
    /// State over a domain, a metrics handle and the upstream client.
    pub fn new(
        core: Portcullis,
        metrics: PrometheusHandle,
        upstream: portcullis_oidc::upstream::Upstream,
    ) -> Self {
        Self {
            core,
            metrics,
            upstream,
        }
    }
}
