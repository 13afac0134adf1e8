//! Discovery documents and JWKS of upstream OpenID Providers, cached per
//! provider (and dropped when its settings change). Metadata lives an
//! hour; the JWKS is fetched again when a token names a key it does not
//! hold, by one request at a time per provider and at most once every
//! [`JWKS_MIN_REFRESH`], so a flood of tokens with unknown keys costs one
//! fetch, not one per token.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use portcullis_core::clock::Tick;
use portcullis_core::federation::IdentityProvider;
use time::OffsetDateTime;
use uuid::Uuid;

use super::presets::{IssuerCheck, Resolved};
use super::{Upstream, UpstreamError};

/// How long a discovery document is trusted.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of one provider's JWKS.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);

/// A provider's endpoints and keys as last fetched.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub jwks: CoreJsonWebKeySet,
    /// The issuer the discovery document named, if discovery was used.
    pub issuer: Option<String>,
    /// The provider version these were fetched for.
    version: OffsetDateTime,
    fetched: Tick,
    jwks_fetched: Tick,
}

/// The cache.
#[derive(Debug, Default)]
pub struct Discovery {
    known: DashMap<Uuid, Arc<Known>>,
    locks: DashMap<Uuid, Arc<tokio::sync::Mutex<()>>>,
}

impl Discovery {
    fn lock(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.entry(id).or_default().clone()
    }
}

fn bad(msg: impl Into<String>) -> UpstreamError {
    UpstreamError::BadResponse(msg.into())
}

impl Upstream {
    /// The endpoints and keys of an OpenID Provider: cached, or fetched.
    pub(crate) async fn known(
        &self,
        provider: &IdentityProvider,
        r: &Resolved,
    ) -> Result<Arc<Known>, UpstreamError> {
        let now = self.clock.tick();
        if let Some(k) = self.discovery.known.get(&provider.id)
            && k.version == provider.updated_at
            && now.since(k.fetched) < METADATA_TTL
        {
            return Ok(k.clone());
        }
        let lock = self.discovery.lock(provider.id);
        let _held = lock.lock().await;
        if let Some(k) = self.discovery.known.get(&provider.id)
            && k.version == provider.updated_at
            && now.since(k.fetched) < METADATA_TTL
        {
            return Ok(k.clone());
        }
        let known = Arc::new(self.fetch(provider, r).await?);
        self.discovery.known.insert(provider.id, known.clone());
        Ok(known)
    }

    /// The keys again after a token named one `seen` did not hold: one
    /// fetch at a time, and none if the keys are younger than
    /// [`JWKS_MIN_REFRESH`] (the answer is then the cached keys).
    pub(crate) async fn refresh_keys(
        &self,
        provider: &IdentityProvider,
        seen: &Known,
    ) -> Result<Arc<Known>, UpstreamError> {
        let lock = self.discovery.lock(provider.id);
        let _held = lock.lock().await;
        let current = self.discovery.known.get(&provider.id).map(|k| k.clone());
        if let Some(k) = &current
            && (k.jwks_fetched != seen.jwks_fetched
                || self.clock.tick().since(k.jwks_fetched) < JWKS_MIN_REFRESH)
        {
            return Ok(k.clone());
        }
        let base = current.unwrap_or_else(|| Arc::new(seen.clone()));
        let Some(uri) = &base.jwks_uri else {
            return Ok(base);
        };
        let jwks = self.fetch_jwks(uri).await?;
        metrics::counter!("portcullis_federation_jwks_fetches_total", "reason" => "unknown_key")
            .increment(1);
        let known = Arc::new(Known {
            jwks,
            jwks_fetched: self.clock.tick(),
            ..(*base).clone()
        });
        self.discovery.known.insert(provider.id, known.clone());
        Ok(known)
    }

    async fn fetch(
        &self,
        provider: &IdentityProvider,
        r: &Resolved,
    ) -> Result<Known, UpstreamError> {
        let mut named = None;
        let (authorization, token, userinfo, jwks_uri) = match &r.discovery_issuer {
            Some(issuer) => {
                let meta = self.fetch_metadata(issuer, &r.issuer).await?;
                named = Some(meta.issuer().as_str().to_owned());
                let userinfo = meta.userinfo_endpoint().map(|u| u.url().to_string());
                (
                    r.authorization_endpoint
                        .clone()
                        .unwrap_or_else(|| meta.authorization_endpoint().url().to_string()),
                    r.token_endpoint
                        .clone()
                        .or_else(|| meta.token_endpoint().map(|t| t.url().to_string()))
                        .ok_or_else(|| bad("the discovery document names no token endpoint"))?,
                    r.userinfo_endpoint.clone().or(userinfo),
                    Some(
                        r.jwks_uri
                            .clone()
                            .unwrap_or_else(|| meta.jwks_uri().url().to_string()),
                    ),
                )
            }
            None => (
                r.authorization_endpoint
                    .clone()
                    .ok_or(UpstreamError::Misconfigured("no authorization endpoint"))?,
                r.token_endpoint
                    .clone()
                    .ok_or(UpstreamError::Misconfigured("no token endpoint"))?,
                r.userinfo_endpoint.clone(),
                r.jwks_uri.clone(),
            ),
        };
        let jwks = match &jwks_uri {
            Some(uri) => self.fetch_jwks(uri).await?,
            None => CoreJsonWebKeySet::new(Vec::new()),
        };
        let now = self.clock.tick();
        metrics::counter!("portcullis_federation_jwks_fetches_total", "reason" => "discovery")
            .increment(1);
        Ok(Known {
            authorization_endpoint: authorization,
            token_endpoint: token,
            userinfo_endpoint: userinfo,
            jwks_uri,
            jwks,
            issuer: named,
            version: provider.updated_at,
            fetched: now,
            jwks_fetched: now,
        })
    }

    async fn fetch_metadata(
        &self,
        issuer: &str,
        check: &IssuerCheck,
    ) -> Result<CoreProviderMetadata, UpstreamError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&url, None).await?;
        let meta: CoreProviderMetadata = serde_json::from_value(doc)
            .map_err(|e| bad(format!("the discovery document is not valid: {e}")))?;
        let named = meta.issuer().as_str();
        let expected = match check {
            IssuerCheck::Exact(i) => i.clone(),
            // Microsoft's multi-tenant documents name a template.
            IssuerCheck::MicrosoftTenant { authority } => format!("{authority}/{{tenantid}}/v2.0"),
            // A tenant named by domain: its id, whatever it is.
            IssuerCheck::MicrosoftDomain { authority } => {
                let id = named
                    .strip_prefix(&format!("{authority}/"))
                    .and_then(|rest| rest.strip_suffix("/v2.0"))
                    .filter(|id| super::presets::is_guid(id));
                match id {
                    Some(_) => named.to_owned(),
                    None => format!("{authority}/{{tenant id}}/v2.0"),
                }
            }
            IssuerCheck::None => issuer.to_owned(),
        };
        if named != expected {
            return Err(bad(format!(
                "the discovery document names the issuer {named}, not {expected}"
            )));
        }
        Ok(meta)
    }

    async fn fetch_jwks(&self, uri: &str) -> Result<CoreJsonWebKeySet, UpstreamError> {
        let doc = self.get_json(uri, None).await?;
        serde_json::from_value(doc).map_err(|e| bad(format!("the JWKS is not valid: {e}")))
    }
}
