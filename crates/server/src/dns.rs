//! DNS look-ups with hickory's resolver: the system's configuration, or
//! one configured server (`dns_resolver`); TXT records for organizations'
//! domain verification.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use portcullis_core::ports::TxtResolver;

/// Longest wait for one look-up.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// A resolver asking `server` (UDP, then TCP), or the system's
/// configuration (`/etc/resolv.conf`) when `None`.
pub fn resolver(server: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
    resolver_with(server, true)
}

/// [`resolver`], with or without its answer cache.
fn resolver_with(server: Option<SocketAddr>, cache: bool) -> anyhow::Result<TokioResolver> {
    let mut builder = match server {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| anyhow::anyhow!("cannot read the system's DNS configuration: {e}"))?,
    };
    if !cache {
        builder.options_mut().cache_size = 0;
    }
    Ok(builder.build())
}

/// TXT look-ups.
pub struct DnsTxtResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsTxtResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsTxtResolver")
    }
}

impl DnsTxtResolver {
    /// Look-ups through `server`, or the system's resolver. Nothing is
    /// cached: an administrator who just published the record and asks
    /// again must not get the earlier "no such record".
    pub fn new(server: Option<SocketAddr>) -> anyhow::Result<Self> {
        Ok(Self {
            resolver: resolver_with(server, false)?,
        })
    }
}

#[async_trait]
impl TxtResolver for DnsTxtResolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match tokio::time::timeout(DNS_TIMEOUT, self.resolver.txt_lookup(fqdn)).await {
            Err(_) => Err("timed out".to_owned()),
            Ok(Ok(lookup)) => Ok(lookup
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect()),
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Ok(Err(e)) => Err(e.to_string()),
        }
    }
}
