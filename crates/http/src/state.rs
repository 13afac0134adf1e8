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
}

impl AppState {
    /// State over a domain and a metrics handle.
    pub fn new(core: Portcullis, metrics: PrometheusHandle) -> Self {
        Self { core, metrics }
    }
}
