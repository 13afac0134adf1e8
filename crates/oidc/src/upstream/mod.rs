//! The relying-party side of federation: Portcullis signing users in
//! through an upstream OpenID Provider or OAuth 2.0 server.
//!
//! - `presets`: what each provider kind speaks (Google's issuer, GitHub's
//!   URLs, Apple's `form_post`), merged with the provider's settings.
//! - `discovery`: discovery documents and JWKS, fetched with the
//!   transport's timeouts and cached; a key the cache does not know
//!   triggers one refresh per provider, not one per request.
//! - `exchange`: the authorization request (state, nonce, PKCE S256), the
//!   code exchange (client secret, `private_key_jwt`, Apple's signed
//!   secret) and the identity: a fully validated ID token (`openidconnect`:
//!   signature against the upstream JWKS, `iss`, `aud`, `azp`, `exp`,
//!   `iat`, `nonce`, an algorithm from the provider's asymmetric
//!   allow-list), or a profile read with the access token and a field map.
//! - `flow`: the steps of a sign-in over core's federation service: start,
//!   callback, the pending link, the API client's exchange.
//!
//! HTTP goes through [`UpstreamHttp`], which the server implements (no
//! redirects followed, timeouts, a size limit on answers).

mod discovery;
mod exchange;
pub mod flow;
pub mod presets;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use portcullis_core::SharedClock;

pub use discovery::Discovery;

/// Largest answer read from an upstream (discovery, JWKS, tokens,
/// profiles).
pub const MAX_UPSTREAM_BODY: usize = 1 << 20;

/// Why an upstream request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// No answer in time.
    Timeout,
    /// The answer was larger than [`MAX_UPSTREAM_BODY`].
    TooLarge,
    /// No connection, or a broken one.
    Connect(String),
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("the provider did not answer in time"),
            Self::TooLarge => f.write_str("the provider's answer was too large"),
            Self::Connect(e) => write!(f, "the provider could not be reached: {e}"),
        }
    }
}

impl std::error::Error for HttpFailure {}

/// The HTTP transport to upstream providers. Implementations follow no
/// redirects, time out, and refuse answers over [`MAX_UPSTREAM_BODY`].
#[async_trait::async_trait]
pub trait UpstreamHttp: Send + Sync + 'static {
    /// Sends `request`; the answer whatever its status.
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpFailure>;
}

/// Why an upstream sign-in failed. Shown to the user as a page, or to the
/// client as an RFC 6749 error; never a 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The user cancelled or the provider refused (`access_denied` and the
    /// provider's other errors), with its description.
    Denied(String),
    /// The provider could not be reached or answered with something that is
    /// not what the protocol says (garbage, a failed token request).
    BadResponse(String),
    /// The provider's ID token failed validation: the reason.
    InvalidToken(String),
    /// The provider is configured wrongly (no secret, a bad key).
    Misconfigured(&'static str),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(d) => write!(f, "the provider refused the sign-in: {d}"),
            Self::BadResponse(d) => write!(f, "the provider's answer could not be used: {d}"),
            Self::InvalidToken(d) => write!(f, "the provider's ID token is not valid: {d}"),
            Self::Misconfigured(d) => write!(f, "the identity provider is misconfigured: {d}"),
        }
    }
}

/// The upstream client: the transport, the clock, and the discovery cache.
/// One per process, shared by every request.
#[derive(Clone)]
pub struct Upstream {
    pub(crate) http: Arc<dyn UpstreamHttp>,
    pub(crate) clock: SharedClock,
    pub(crate) discovery: Arc<Discovery>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Upstream {
    /// An upstream client over `http`, reading time from `clock`.
    pub fn new(http: Arc<dyn UpstreamHttp>, clock: SharedClock) -> Self {
        Self {
            http,
            clock,
            discovery: Arc::new(Discovery::default()),
        }
    }

    /// The transport as `openidconnect`'s asynchronous HTTP client.
    pub(crate) fn client(&self) -> Client {
        Client(self.http.clone())
    }

    /// GET `url` with `Accept: application/json` (and a bearer token):
    /// the JSON of a 2xx answer.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<serde_json::Value, UpstreamError> {
        let mut req = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "Portcullis");
        if let Some(token) = bearer {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req
            .body(Vec::new())
            .map_err(|_| UpstreamError::Misconfigured("an endpoint URL is not valid"))?;
        let res = self
            .http
            .send(req)
            .await
            .map_err(|e| UpstreamError::BadResponse(e.to_string()))?;
        if !res.status().is_success() {
            return Err(UpstreamError::BadResponse(format!(
                "{url} answered {}",
                res.status().as_u16()
            )));
        }
        serde_json::from_slice(res.body())
            .map_err(|_| UpstreamError::BadResponse(format!("{url} did not answer JSON")))
    }
}

/// [`UpstreamHttp`] as `openidconnect`'s asynchronous HTTP client.
pub(crate) struct Client(Arc<dyn UpstreamHttp>);

type Answer<'c> =
    Pin<Box<dyn Future<Output = Result<http::Response<Vec<u8>>, HttpFailure>> + Send + 'c>>;

impl<'c> openidconnect::AsyncHttpClient<'c> for Client {
    type Error = HttpFailure;
    type Future = Answer<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        self.0.send(request)
    }
}
