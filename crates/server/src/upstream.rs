//! The HTTP transport to upstream identity providers (discovery, JWKS,
//! token and profile requests): reqwest over rustls, no redirects
//! followed (a redirect is an answer, never a hop to another host), a
//! connect timeout and a whole-request timeout, and answers cut off at
//! [`MAX_UPSTREAM_BODY`] bytes.

use std::time::Duration;

use portcullis_oidc::upstream::{HttpFailure, MAX_UPSTREAM_BODY, UpstreamHttp};

/// How long an upstream request may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// [`UpstreamHttp`] over reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestUpstream {
    client: reqwest::Client,
}

impl ReqwestUpstream {
    /// A transport with the default timeouts.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_timeout(TIMEOUT)
    }

    /// A transport whose requests time out after `timeout`.
    pub fn with_timeout(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| anyhow::anyhow!("cannot build the upstream HTTP client"))?;
        Ok(Self { client })
    }
}

fn failure(e: reqwest::Error) -> HttpFailure {
    if e.is_timeout() {
        HttpFailure::Timeout
    } else {
        HttpFailure::Connect(e.without_url().to_string())
    }
}

#[async_trait::async_trait]
impl UpstreamHttp for ReqwestUpstream {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpFailure> {
        let request = reqwest::Request::try_from(request)
            .map_err(|_| HttpFailure::Connect("the request is not valid".to_owned()))?;
        let mut res = self.client.execute(request).await.map_err(failure)?;
        if res
            .content_length()
            .is_some_and(|n| n > MAX_UPSTREAM_BODY as u64)
        {
            return Err(HttpFailure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(failure)? {
            if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
                return Err(HttpFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = http::Response::builder().status(res.status());
        for (name, value) in res.headers() {
            out = out.header(name, value);
        }
        out.body(body)
            .map_err(|_| HttpFailure::Connect("the answer is not valid".to_owned()))
    }
}
