//! The edge: what every request passes before it is routed.
//!
//! 1. The client address: the socket's, or the one a trusted proxy names
//!    (`client_ip`).
//! 2. The request's limiter group and realm, from its path (`classify`).
//!    Discovery, JWKS, health and metrics are never limited.
//! 3. Blocks and the address's limiters ([`portcullis_core::edge::Edge::admit`]):
//!    a blocked address or client, or an exhausted limiter, is answered
//!    here with 429, `Retry-After` and the `RateLimit` headers.
//! 4. Once the handler's extractor has verified a bearer token (or the
//!    refresh cookie of cookie mode, `crate::cookie_mode`), the
//!    account's or client's own limiter by its tier
//!    ([`crate::extract::Authenticated`] calls [`admit_principal`]).
//!
//! Allowed answers of limited groups carry `RateLimit-Policy` and
//! `RateLimit` (draft-ietf-httpapi-ratelimit-headers) for the tightest
//! limiter the request passed.

pub(crate) mod classify;
pub(crate) mod client_ip;

use std::borrow::Cow;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::edge::{Admission, Group, Limited, Refusal};
use portcullis_core::{Error, Principal};
use tower::{Layer, Service};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::RealmCtx;
use crate::state::AppState;

/// The header of an HMAC-signed request's signature (a `HeaderName`: a
/// `&str` would be parsed again on every look-up).
pub(crate) const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("x-portcullis-signature");

/// The principal of a request signed with a service key, verified at the edge.
#[derive(Debug, Clone)]
pub(crate) struct Signed(pub(crate) Principal);

/// Marks an answer refusing script-like input (see `portcullis_core::text`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScriptInput;

/// The client's address as the edge resolved it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// What the edge learned of a limited request, for the extractors and the
/// answer's headers.
#[derive(Debug, Clone)]
pub(crate) struct EdgeInfo {
    group: Group,
    /// The tightest limiter passed so far (or the one that refused); none
    /// for a request without credentials, which meets no limiter after the edge.
    tightest: Option<Arc<Mutex<Option<Limited>>>>,
}

impl EdgeInfo {
    fn offer(&self, l: Limited) {
        let Some(tightest) = &self.tightest else {
            return;
        };
        let mut slot = tightest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none_or(|t| l.remaining <= t.remaining || !l.allowed()) {
            *slot = Some(l);
        }
    }

    fn current(&self) -> Option<Limited> {
        let tightest = self.tightest.as_ref()?;
        *tightest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Adds the edge to a service.
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    state: Arc<AppState>,
}

impl EdgeLayer {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state: Arc::new(state),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Clone)]
pub(crate) struct EdgeService<S> {
    inner: S,
    /// Behind one `Arc`: the router clones this service for every request.
    state: Arc<AppState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project_lite::pin_project! {
    /// The answer of [`EdgeService`]: the routed request's own future when
    /// the edge decided at once (the common case, no allocation), a boxed
    /// one when it had to wait (a cache to fill, a signature to verify, a
    /// strike to count), or an answer of its own.
    #[project = EdgeProj]
    pub(crate) enum EdgeFuture<F, E> {
        Direct {
            #[pin]
            fut: F,
            group: Group,
            known: Option<Limited>,
            slot: Option<Arc<Mutex<Option<Limited>>>>,
            strike: Option<(portcullis_core::Portcullis, Uuid, IpAddr)>,
        },
        Unlimited {
            #[pin]
            fut: F,
        },
        Boxed {
            fut: BoxFuture<Result<Response, E>>,
        },
        Ready {
            res: Option<Response>,
        },
    }
}

impl<F, E> Future for EdgeFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let next = match self.as_mut().project() {
            EdgeProj::Direct {
                fut,
                group,
                known,
                slot,
                strike,
            } => {
                let mut res = std::task::ready!(fut.poll(cx))?;
                let tightest = match slot {
                    Some(s) => *s.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
                    None => *known,
                };
                if let Some(l) = tightest.filter(|l| worth_reporting(*group, l)) {
                    rate_limit_headers(&mut res, *group, &l);
                }
                match strike.take() {
                    // Counted before the answer leaves, so the sender's next
                    // request already meets the block.
                    Some((core, realm_id, ip))
                        if res.extensions().get::<ScriptInput>().is_some() =>
                    {
                        EdgeFuture::Boxed {
                            fut: Box::pin(async move {
                                core.edge().strike_script_input(realm_id, ip).await;
                                Ok(res)
                            }),
                        }
                    }
                    _ => return Poll::Ready(Ok(res)),
                }
            }
            EdgeProj::Unlimited { fut } => return fut.poll(cx),
            EdgeProj::Boxed { fut } => return fut.as_mut().poll(cx),
            EdgeProj::Ready { res } => return Poll::Ready(Ok(res.take().unwrap_or_default())),
        };
        self.set(next);
        self.poll(cx)
    }
}

/// The credentials a request carries, as the edge sees them before routing.
struct Credentials<'b> {
    /// The client id of HTTP Basic client authentication.
    client_id: Option<Cow<'b, str>>,
    /// Whether it carries what an extractor later counts against an
    /// account's or key's limiter: a bearer token, a signature or the
    /// refresh cookie (a client's Basic credentials meet the client's
    /// limiter at the edge).
    principal: bool,
}

impl<'b> Credentials<'b> {
    /// A request's credentials, the Basic ones decoded into `buf`.
    fn of(headers: &axum::http::HeaderMap, buf: &'b mut [u8; MAX_BASIC / 4 * 3]) -> Self {
        let client_id = basic_client_id(headers, buf);
        let principal = crate::cookie_mode::has_refresh_cookie(headers)
            || (client_id.is_none()
                && (headers.contains_key(header::AUTHORIZATION)
                    || headers.contains_key(SIGNATURE_HEADER)));
        Self {
            client_id,
            principal,
        }
    }

    /// Whether the request carries no credentials of any kind.
    fn anonymous(&self) -> bool {
        self.client_id.is_none() && !self.principal
    }
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let core = &self.state.core;
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let ip = client_ip::resolve(peer, req.headers(), &core.settings().trusted_proxies);
        if ip != peer {
            // Otherwise the socket's address, which extractors read anyway.
            req.extensions_mut().insert(ClientAddr(ip));
        }
        // The fast path: a realm named plainly and cached, a policy cached,
        // the state in process, and no signature to verify.
        let (group, realm) = {
            let route = classify::classify(req.method(), req.uri().path());
            let realm = match route.realm {
                Some(name) if !name.contains('%') => core.realms().cached(name),
                Some(_) => None,
                None => core.realms().cached_default(),
            };
            (route.group, realm)
        };
        let Some(group) = group else {
            return EdgeFuture::Unlimited {
                fut: self.inner.call(req),
            };
        };
        if let Some(realm) = realm
            && !req.headers().contains_key(SIGNATURE_HEADER)
        {
            let mut basic = [0; MAX_BASIC / 4 * 3];
            let credentials = Credentials::of(req.headers(), &mut basic);
            let anonymous = credentials.anonymous();
            let admission = Admission {
                realm_id: realm.id,
                group,
                ip,
                anonymous,
                client_id: credentials.client_id.as_deref(),
            };
            match core.edge().try_admit_now(&admission) {
                Some(Ok(known)) => {
                    let realm_id = realm.id;
                    req.extensions_mut().insert(RealmCtx(realm));
                    // Only such a request meets the account's limiter, in its
                    // extractor, which reports here.
                    let slot = credentials.principal.then(|| Arc::new(Mutex::new(known)));
                    if credentials.principal {
                        req.extensions_mut().insert(EdgeInfo {
                            group,
                            tightest: slot.clone(),
                        });
                    }
                    // Text that can reach a page comes in bodies sent to
                    // these families only.
                    let with_text = !matches!(*req.method(), Method::GET | Method::HEAD)
                        && !matches!(group, Group::Token | Group::Service);
                    let strike = (anonymous && with_text).then(|| (core.clone(), realm_id, ip));
                    return EdgeFuture::Direct {
                        fut: self.inner.call(req),
                        group,
                        known,
                        slot,
                        strike,
                    };
                }
                Some(Err(refusal)) => {
                    return EdgeFuture::Ready {
                        res: Some(refused(&self.state, &refusal)),
                    };
                }
                None => {}
            }
        }
        // The clone takes the place of the service that was polled ready.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        EdgeFuture::Boxed {
            fut: Box::pin(admit_then_call(state, inner, req, group, ip)),
        }
    }
}

/// The edge's slow path: fills the caches it needs, verifies a signature,
/// counts strikes, then calls the router.
async fn admit_then_call<S>(
    state: Arc<AppState>,
    mut inner: S,
    mut req: Request,
    group: Group,
    ip: IpAddr,
) -> Result<Response, S::Error>
where
    S: Service<Request, Response = Response>,
{
    let realm_name = classify::classify(req.method(), req.uri().path())
        .realm
        .map(str::to_owned);
    // Named as the router will decode it, so that an encoded name counts
    // against the same limiters as the plain one.
    let realm = match realm_name.as_deref() {
        Some(name) => {
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            state.core.realms().by_name(&name).await.ok()
        }
        None => state.core.realms().default_realm().await.ok(),
    };
    // Requests to no realm share the server default's limiters.
    let realm_id = realm.as_ref().map_or(Uuid::nil(), |r| r.id);
    if let Some(r) = realm.clone() {
        req.extensions_mut().insert(RealmCtx(r));
    }
    let mut basic = [0; MAX_BASIC / 4 * 3];
    let credentials = Credentials::of(req.headers(), &mut basic);
    let anonymous = credentials.anonymous();
    let admission = Admission {
        realm_id,
        group,
        ip,
        anonymous,
        client_id: credentials.client_id.as_deref(),
    };
    let info = EdgeInfo {
        group,
        tightest: Some(Arc::default()),
    };
    match state.core.edge().admit(&admission).await {
        Ok(Some(l)) => info.offer(l),
        Ok(None) => {}
        Err(refusal) => return Ok(refused(&state, &refusal)),
    }
    req.extensions_mut().insert(info.clone());
    if req.headers().contains_key(SIGNATURE_HEADER) {
        req = match verify_signed(&state, realm, req).await {
            Ok(req) => req,
            Err(res) => {
                // A refusal by the key's limiter says which.
                let mut res = *res;
                if let Some(l) = info.current().filter(|l| !l.allowed()) {
                    rate_limit_headers(&mut res, group, &l);
                }
                return Ok(res);
            }
        };
    }
    let mut res = inner.call(req).await?;
    if anonymous && res.extensions().get::<ScriptInput>().is_some() {
        state.core.edge().strike_script_input(realm_id, ip).await;
    }
    if let Some(l) = info.current().filter(|l| worth_reporting(group, l)) {
        rate_limit_headers(&mut res, group, &l);
    }
    Ok(res)
}

/// Verifies a signed request (its body read whole, within the body limit)
/// and counts it against its key's limiter; the request comes back with
/// its [`Signed`] principal, or the answer to give instead.
async fn verify_signed(
    state: &AppState,
    realm: Option<Arc<portcullis_core::model::Realm>>,
    req: Request,
) -> Result<Request, Box<Response>> {
    let fail = |e: ApiError| Box::new(e.into_response());
    let Some(realm) = realm else {
        return Err(fail(ApiError::from(Error::NotAuthenticated(
            "invalid request signature",
        ))));
    };
    let (mut parts, body) = req.into_parts();
    let header = |name: &str| -> Result<String, Box<Response>> {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                fail(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    format!("a signed request needs the {name} header"),
                ))
            })
    };
    let key_id = header("x-portcullis-key")?;
    let timestamp = header("x-portcullis-timestamp")?;
    let nonce = header("x-portcullis-nonce")?;
    let content_sha256 = header("x-portcullis-content-sha256")?;
    let signature = header(SIGNATURE_HEADER.as_str())?;
    let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await else {
        return Err(fail(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body exceeds {} bytes", crate::MAX_BODY_BYTES),
        )));
    };
    let signed = portcullis_core::service_keys::SignedRequest {
        key_id: &key_id,
        timestamp: &timestamp,
        nonce: &nonce,
        content_sha256: &content_sha256,
        signature: &signature,
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        body: &bytes,
    };
    let who = state
        .core
        .service_keys()
        .authenticate(realm, &signed)
        .await
        .map_err(|e| fail(ApiError::from(e)))?;
    admit_principal(state, &parts.extensions, &who)
        .await
        .map_err(fail)?;
    parts.extensions.insert(Signed(who));
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// The longest Basic credentials read for the client limiter (base64).
const MAX_BASIC: usize = 1024;

/// The client id of `Authorization: Basic` (RFC 6749 §2.3.1: form-encoded
/// id and secret, base64ed), for the token endpoint's client limiter. The
/// credentials are decoded into `buf` (on the caller's stack); the id is
/// copied only when it is form-encoded.
fn basic_client_id<'b>(
    headers: &axum::http::HeaderMap,
    buf: &'b mut [u8; MAX_BASIC / 4 * 3],
) -> Option<Cow<'b, str>> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    let encoded = encoded.trim();
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > MAX_BASIC {
        return None;
    }
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(encoded, buf)
        .ok()?;
    let text = std::str::from_utf8(buf.get(..n)?).ok()?;
    let (id, _) = text.split_once(':')?;
    let id = if id.contains(['%', '+']) {
        let decoded = percent_encoding::percent_decode_str(id)
            .decode_utf8()
            .ok()?
            .replace('+', " ");
        Cow::Owned(decoded)
    } else {
        Cow::Borrowed(id)
    };
    (!id.is_empty() && id.len() <= 255).then_some(id)
}

/// Counts an authenticated request against its account's or client's
/// limiter, by tier. `Err` is the 429 to answer.
pub(crate) async fn admit_principal(
    state: &AppState,
    extensions: &axum::http::Extensions,
    who: &Principal,
) -> Result<(), ApiError> {
    let Some(info) = extensions.get::<EdgeInfo>() else {
        return Ok(());
    };
    match state.core.edge().admit_principal(info.group, who).await {
        Ok(Some(l)) => {
            info.offer(l);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(Refusal::Unavailable) => Err(ApiError::from(Error::Unavailable)),
        Err(refusal) => {
            if let Refusal::Limited { limited, .. } = &refusal {
                info.offer(*limited);
            }
            let now = state.core.clock().now();
            Err(ApiError::from(Error::RateLimited {
                retry_after: refusal.retry_after(now),
            }))
        }
    }
}

/// The answer to a request refused at the edge.
fn refused(state: &AppState, refusal: &Refusal) -> Response {
    let now = state.core.clock().now();
    let retry_after = refusal.retry_after(now);
    match refusal {
        Refusal::Limited { limited, group } => {
            let mut res = ApiError::from(Error::RateLimited { retry_after }).into_response();
            rate_limit_headers(&mut res, *group, limited);
            res
        }
        Refusal::Blocked(block) => {
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "blocked",
                format!(
                    "this client is blocked for repeated abuse; retry in {retry_after} seconds"
                ),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            tracing::debug!(block = %block.id, "request from a blocked client");
            res
        }
        Refusal::Unavailable => ApiError::from(Error::Unavailable).into_response(),
    }
}

/// Whether an allowed answer carries the `RateLimit` headers: always, but
/// on the machine-to-machine families (token, service), whose callers send
/// tens of thousands of requests far from their quotas, only once half of
/// the quota is used (the headers cost those answers about a tenth of their
/// throughput; docs/benchmarks.md). A refusal always carries them.
fn worth_reporting(group: Group, l: &Limited) -> bool {
    !matches!(group, Group::Token | Group::Service)
        || !l.allowed()
        || u64::from(l.remaining) * 2 <= u64::from(l.quota.limit)
}

/// `RateLimit-Policy: "login";q=30;w=900` and `RateLimit: "login";r=12;t=45`.
fn rate_limit_headers(res: &mut Response, group: Group, l: &Limited) {
    use std::fmt::Write as _;
    // A policy's header is the same for every answer under it: each thread
    // keeps the few it has written.
    thread_local! {
        static POLICIES: std::cell::RefCell<Vec<(Group, u32, u32, HeaderValue)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let (limit, window) = (l.quota.limit, l.quota.window_seconds);
    let policy = POLICIES.with_borrow_mut(|known| {
        if let Some((.., v)) = known
            .iter()
            .find(|(g, q, w, _)| *g == group && *q == limit && *w == window)
        {
            return Some(v.clone());
        }
        let v =
            HeaderValue::from_str(&format!("\"{}\";q={limit};w={window}", group.name())).ok()?;
        if known.len() >= 64 {
            known.clear();
        }
        known.push((group, limit, window, v.clone()));
        Some(v)
    });
    let mut current = String::with_capacity(40);
    let _ = write!(
        current,
        "\"{}\";r={};t={}",
        group.name(),
        l.remaining,
        l.reset
    );
    let h = res.headers_mut();
    if let Some(v) = policy {
        h.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(axum::body::Bytes::from(current)) {
        h.insert("ratelimit", v);
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    #[test]
    fn basic_client_ids() {
        let mut h = HeaderMap::new();
        // "my%20app:s3cret" -> "my app".
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic bXklMjBhcHA6czNjcmV0"),
        );
        let mut buf = [0; MAX_BASIC / 4 * 3];
        assert_eq!(basic_client_id(&h, &mut buf).as_deref(), Some("my app"));
        // "a:b": a plain id is borrowed from the buffer.
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YTpi"),
        );
        assert!(matches!(
            basic_client_id(&h, &mut buf),
            Some(Cow::Borrowed("a"))
        ));
        // "my+app:x": `+` is a space in form encoding.
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("basic bXkrYXBwOng="),
        );
        assert_eq!(basic_client_id(&h, &mut buf).as_deref(), Some("my app"));
        // The longest credentials read fill the buffer; longer ones are not read.
        let basic = |secret_len: usize| {
            use base64::Engine as _;
            let credentials = format!("a:{}", "x".repeat(secret_len));
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
        };
        h.insert(header::AUTHORIZATION, basic(MAX_BASIC / 4 * 3 - 2));
        assert_eq!(basic_client_id(&h, &mut buf).as_deref(), Some("a"));
        h.insert(header::AUTHORIZATION, basic(MAX_BASIC / 4 * 3 - 1));
        assert_eq!(basic_client_id(&h, &mut buf), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_client_id(&h, &mut buf), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_client_id(&h, &mut buf), None);
    }
}
