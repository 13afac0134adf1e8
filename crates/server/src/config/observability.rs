//! What the server tells its operators: logs (`log_level`, `log_format`)
//! and traces (`otlp_endpoint`).

use std::fmt;

use super::{ConfigError, LogFormat, err};

/// Where traces go: an OTLP/HTTP receiver's traces URL. `Display` hides any
/// password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(url::Url);

impl OtlpEndpoint {
    /// The URL spans are POSTed to: the base URL the operator gave with
    /// `/v1/traces` appended, unless it already ends so.
    pub fn traces_url(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for OtlpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::write_redacted(f, self.0.as_str())
    }
}

impl fmt::Debug for OtlpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtlpEndpoint({self})")
    }
}

/// The raw settings of logs and traces.
pub(super) struct RawObservability {
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub otlp_endpoint: Option<String>,
}

/// The validated settings of logs and traces.
pub(super) struct Observability {
    pub log_level: String,
    pub log_format: LogFormat,
    pub otlp_endpoint: Option<OtlpEndpoint>,
}

/// Validates the settings of logs and traces; `n` names a setting as the
/// operator wrote it.
pub(super) fn apply(
    raw: RawObservability,
    n: impl Fn(&str) -> String,
) -> Result<Observability, ConfigError> {
    let log_level = raw.log_level.unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&log_level).map_err(|e| {
        err(
            n("log_level"),
            format!("'{log_level}' is not a log filter: {e}"),
        )
    })?;
    let log_format = match raw.log_format.as_deref().unwrap_or("auto") {
        "auto" => LogFormat::Auto,
        "pretty" => LogFormat::Pretty,
        "json" => LogFormat::Json,
        other => {
            return Err(err(
                n("log_format"),
                format!("'{other}' is not auto, pretty or json"),
            ));
        }
    };
    let otlp_endpoint = match raw.otlp_endpoint {
        None => None,
        Some(text) => Some(otlp_endpoint(&text).ok_or_else(|| {
            err(
                n("otlp_endpoint"),
                "must be the http(s) URL of an OTLP/HTTP receiver, such as \
                 http://otel-collector:4318 (OTLP over gRPC is not supported)",
            )
        })?),
    };
    Ok(Observability {
        log_level,
        log_format,
        otlp_endpoint,
    })
}

/// `http(s)://host[:port][/base]` → the traces URL, `.../v1/traces`.
fn otlp_endpoint(text: &str) -> Option<OtlpEndpoint> {
    let mut url = url::Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Some(OtlpEndpoint(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        for (given, traces) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otel.example.com/otlp",
                "https://otel.example.com/otlp/v1/traces",
            ),
            (
                "http://127.0.0.1:4318/v1/traces",
                "http://127.0.0.1:4318/v1/traces",
            ),
        ] {
            let endpoint = otlp_endpoint(given).expect(given);
            assert_eq!(endpoint.traces_url(), traces);
        }
    }

    #[test]
    fn other_schemes_and_malformed_urls_are_refused() {
        for bad in [
            "grpc://collector:4317",
            "collector:4318",
            "",
            "http://",
            "http://h/?a=1",
        ] {
            assert!(otlp_endpoint(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_password_in_the_endpoint_is_not_shown() {
        let endpoint = otlp_endpoint("https://user:s3cret@otel.example.com").expect("valid");
        assert!(!endpoint.to_string().contains("s3cret"), "{endpoint}");
        assert!(!format!("{endpoint:?}").contains("s3cret"));
    }
}
