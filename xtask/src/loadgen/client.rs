//! One keep-alive HTTP/1.1 connection to the server under test (hyper's
//! low-level client: no pool, no TLS, no redirects, nothing in the way).

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The future that drives one connection (ends when it closes).
pub type Driver = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// A connection that sends requests one after another.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Connects to `addr` (which the caller has checked is loopback); the
    /// connection is driven by a task of its own.
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let (conn, driver) = Self::connect_driven(addr).await?;
        // Drives the connection; ends when the sender is dropped or it fails.
        tokio::spawn(driver);
        Ok(conn)
    }

    /// Connects to `addr`, returning the future that drives the connection
    /// for the caller to poll, in the same task as its requests: a request
    /// then costs no wake-ups between tasks of the load generator.
    pub async fn connect_driven(addr: SocketAddr) -> Result<(Self, Driver)> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
        let (sender, driver) = http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP/1.1 handshake")?;
        let host = HeaderValue::from_str(&addr.to_string()).context("Host header")?;
        Ok((Self { sender, host }, driver))
    }

    /// POSTs a JSON body; returns the status and the whole response body.
    pub async fn post_json(&mut self, path: &str, body: Bytes) -> Result<(u16, Bytes)> {
        self.post_json_as(path, body, None).await
    }

    /// POSTs a JSON body with an `Authorization` header value, if any.
    pub async fn post_json_as(
        &mut self,
        path: &str,
        body: Bytes,
        authorization: Option<&HeaderValue>,
    ) -> Result<(u16, Bytes)> {
        let json = HeaderValue::from_static("application/json");
        self.post(path, json, body, authorization).await
    }

    /// POSTs `body` of `content_type`; returns the status and the whole
    /// response body.
    async fn post(
        &mut self,
        path: &str,
        content_type: HeaderValue,
        body: Bytes,
        authorization: Option<&HeaderValue>,
    ) -> Result<(u16, Bytes)> {
        self.sender.ready().await.context("connection closed")?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, content_type);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let request = request
            .body(Full::new(body))
            .context("building the request")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the response to POST {path}"))?
            .to_bytes();
        Ok((status, body))
    }
}
