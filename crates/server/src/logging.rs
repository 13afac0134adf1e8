//! Log output: pretty on a terminal, JSON otherwise, filtered by `log_level`;
//! and, with `otlp_endpoint`, traces (see [`crate::telemetry`]).
//! Logs go to stderr, whatever the command: stdout is for output meant for
//! people (the first-start guide, the admin commands' tables), so it can be
//! piped without log lines in it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{Config, LogFormat};
use crate::telemetry::{self, Telemetry};

/// Installs the global subscriber: logs to stderr, and the trace exporter
/// when `otlp_endpoint` is set. Keep what it returns and
/// [`Telemetry::shutdown`] it before exiting, so the last spans are sent.
pub fn init(config: &Config) -> Telemetry {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .compact()
            .with_filter(filter)
            .boxed()
    };
    let (traces, telemetry) = match &config.otlp_endpoint {
        None => (None, Telemetry::off()),
        Some(endpoint) => match telemetry::start(endpoint) {
            Ok((tracer, telemetry)) => (
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(filter_fn(telemetry::exported)),
                ),
                telemetry,
            ),
            Err(e) => {
                eprintln!("traces are off: cannot export to {endpoint}: {e:#}");
                (None, Telemetry::off())
            }
        },
    };
    if tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_err()
    {
        eprintln!("a log subscriber was already installed");
    }
    telemetry.link_requests();
    telemetry
}
