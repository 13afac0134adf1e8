//! Cookie mode for browser apps: the refresh token lives in an HttpOnly
//! `__Host-` cookie instead of the app's JavaScript, and every
//! state-changing request the cookie authenticates must pass the CSRF
//! checks. Used by `/api/v1/auth/{login,refresh,logout}` and the
//! backend-for-frontend routes, `/api/v1/bff/*` (docs/browser-apps.md).
//!
//! Three cookies, all `__Host-` (so `Secure`, `Path=/`, no `Domain`: no
//! other host, not even a subdomain, can set or read them), all
//! `SameSite=Strict`:
//! - `__Host-portcullis_refresh`: the refresh token, `HttpOnly`.
//! - `__Host-portcullis_iat`: when it was issued (Unix seconds), readable by
//!   the app to schedule its next refresh.
//! - `__Host-portcullis_csrf`: the CSRF token, readable by the app, which
//!   echoes it in `X-CSRF-Token`.
//!
//! The CSRF token is the HMAC-SHA256 of a fixed label keyed by the refresh
//! token (a signed double submit bound to the session): the server checks
//! the header against the refresh cookie itself, so a cookie planted by an
//! attacker cannot match, and it changes with every rotation. Before that,
//! `Sec-Fetch-Site` must be `same-origin` or `none` and `Origin`, when
//! sent, must be the public URL's origin. A refusal is a 403 problem of type
//! `urn:portcullis:problem:csrf`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use portcullis_core::accounts::{IssuedTokens, RefreshHolder, RequestMeta};
use portcullis_core::model::Realm;
use portcullis_proto::CookieTokenResponse;
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;
use crate::extract::{ClientMeta, RealmCtx};
use crate::state::AppState;

/// The refresh token's cookie.
pub const REFRESH_COOKIE: &str = "__Host-portcullis_refresh";
/// The issued-at cookie (Unix seconds).
pub const IAT_COOKIE: &str = "__Host-portcullis_iat";
/// The CSRF token's cookie.
pub const CSRF_COOKIE: &str = "__Host-portcullis_csrf";
/// The header that must echo the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The problem type slug of a CSRF refusal.
const CSRF_PROBLEM: &str = "csrf";

/// The label the CSRF token is the HMAC of.
const CSRF_LABEL: &[u8] = b"portcullis csrf v1";

/// Whether browsers keep `Secure` cookies set by `public_url`: an https
/// URL, or plain http on a loopback host (browsers treat
/// `http://localhost` and `http://127.0.0.1` as secure contexts).
pub(crate) fn available(public_url: &str) -> bool {
    let Ok(url) = url::Url::parse(public_url) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Refuses cookie delivery (422 on `refresh_token_delivery`) where
/// browsers would drop the cookies.
pub(crate) fn ensure_available(state: &AppState) -> Result<(), ApiError> {
    if available(&state.core.settings().public_url) {
        return Ok(());
    }
    Err(portcullis_core::Error::input(
        "refresh_token_delivery",
        "cookie delivery needs the server's public URL to be https (or http on a loopback host): browsers drop Secure cookies otherwise",
    )
    .into())
}

/// The CSRF token of a refresh token.
pub(crate) fn csrf_token(refresh: &str) -> String {
    let mac = portcullis_crypto::hmac_sha256(refresh.as_bytes(), CSRF_LABEL);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

/// Whether a request carries the refresh cookie (the edge counts such a
/// request as not anonymous).
pub(crate) fn has_refresh_cookie(headers: &HeaderMap) -> bool {
    refresh_cookie(headers).is_some()
}

fn refresh_cookie(headers: &HeaderMap) -> Option<SecretString> {
    // Most requests carry no cookie at all: no jar to build for them.
    if !headers.contains_key(axum::http::header::COOKIE) {
        return None;
    }
    CookieJar::from_headers(headers)
        .get(REFRESH_COOKIE)
        .map(|c| c.value())
        .filter(|v| !v.is_empty())
        .map(|v| SecretString::from(v.to_owned()))
}

fn csrf_refused(detail: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, CSRF_PROBLEM, detail)
}

/// The origin of `public_url` as browsers send it in `Origin`.
fn public_origin(public_url: &str) -> Option<String> {
    let origin = url::Url::parse(public_url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The CSRF checks of a state-changing request authenticated by the
/// refresh cookie holding `refresh`.
pub(crate) fn check_csrf(
    headers: &HeaderMap,
    public_url: &str,
    refresh: &SecretString,
) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(csrf_refused(
            "a request from another site cannot use the session cookie",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ours = public_origin(public_url);
        let same = origin
            .to_str()
            .ok()
            .zip(ours.as_deref())
            .is_some_and(|(o, ours)| o.eq_ignore_ascii_case(ours));
        if !same {
            return Err(csrf_refused(
                "the request's Origin is not this server's: the session cookie cannot be used",
            ));
        }
    }
    let sent = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if sent.is_empty() {
        return Err(csrf_refused(
            "a request authenticated by the session cookie needs the X-CSRF-Token header",
        ));
    }
    let expected = csrf_token(refresh.expose_secret());
    if !portcullis_crypto::constant_time_eq(sent, expected.as_bytes()) {
        return Err(csrf_refused(
            "the X-CSRF-Token header does not match the session cookie",
        ));
    }
    Ok(())
}

fn cookie(
    name: &'static str,
    value: String,
    max_age: time::Duration,
    http_only: bool,
) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    // `__Host-`: Secure, Path=/ and no Domain, or browsers refuse it.
    c.set_path("/");
    c.set_secure(true);
    c.set_http_only(http_only);
    c.set_same_site(SameSite::Strict);
    c.set_max_age(max_age);
    c
}

fn append(headers: &mut HeaderMap, c: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// The `Set-Cookie`s of a new refresh token issued at `issued_at` (Unix
/// seconds), living `max_age`.
pub(crate) fn set_cookies(
    headers: &mut HeaderMap,
    refresh: &SecretString,
    issued_at: i64,
    max_age: time::Duration,
) {
    let refresh_value = refresh.expose_secret();
    append(
        headers,
        &cookie(REFRESH_COOKIE, refresh_value.to_owned(), max_age, true),
    );
    append(
        headers,
        &cookie(IAT_COOKIE, issued_at.to_string(), max_age, false),
    );
    append(
        headers,
        &cookie(CSRF_COOKIE, csrf_token(refresh_value), max_age, false),
    );
}

/// The `Set-Cookie`s that remove the three cookies.
pub(crate) fn clear_cookies(headers: &mut HeaderMap) {
    for (name, http_only) in [
        (REFRESH_COOKIE, true),
        (IAT_COOKIE, false),
        (CSRF_COOKIE, false),
    ] {
        append(
            headers,
            &cookie(name, String::new(), time::Duration::ZERO, http_only),
        );
    }
}

/// The answer of a login or refresh in cookie mode: the cookies (added to
/// `headers`, which may already hold the canary's) and the body without the
/// refresh token.
pub(crate) fn cookie_tokens(
    state: &AppState,
    mut headers: HeaderMap,
    t: IssuedTokens,
    user: Option<portcullis_proto::UserView>,
) -> (HeaderMap, CookieTokenResponse) {
    let core = &state.core;
    let settings = core.settings();
    let now = core.clock().now();
    let ttl = settings.access_token_ttl;
    set_cookies(
        &mut headers,
        &t.refresh_token,
        now.unix_timestamp(),
        settings.refresh_token_ttl.min(settings.session_ttl),
    );
    let body = CookieTokenResponse {
        access_token: t.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: t.expires_in,
        rotate_in: portcullis_core::accounts::rotate_in(now, ttl, now),
        csrf_token: csrf_token(t.refresh_token.expose_secret()),
        user,
        amr: t.amr,
    };
    (headers, body)
}

/// What a request brings for cookie mode: its realm, its refresh cookie,
/// and its head (for the CSRF checks and the account's limiter). Never
/// rejects but for an unknown realm; handlers decide whether the cookie
/// is what authenticates the request.
#[derive(Debug)]
pub(crate) struct CookieCtx {
    /// The realm addressed.
    pub(crate) realm: Arc<Realm>,
    /// The refresh cookie, if sent.
    pub(crate) token: Option<SecretString>,
    parts: Parts,
}

impl FromRequestParts<AppState> for CookieCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let RealmCtx(realm) = RealmCtx::from_request_parts(parts, state).await?;
        Ok(CookieCtx {
            realm,
            token: refresh_cookie(&parts.headers),
            parts: parts.clone(),
        })
    }
}

impl CookieCtx {
    /// The request's head.
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The device headers the zero-trust check compares with the session's.
    pub(crate) fn device(&self) -> RequestMeta {
        ClientMeta::device_of(&self.parts)
    }

    /// Where the request came from.
    pub(crate) fn meta(&self) -> RequestMeta {
        ClientMeta::of(&self.parts)
    }

    /// The refresh cookie, or a 401.
    pub(crate) fn token(&self) -> Result<&SecretString, ApiError> {
        self.token.as_ref().ok_or_else(|| {
            ApiError::from(portcullis_core::Error::NotAuthenticated(
                "the __Host-portcullis_refresh cookie is required",
            ))
        })
    }

    /// The CSRF checks, for a state-changing request the cookie
    /// authenticates.
    pub(crate) fn check_csrf(&self, state: &AppState) -> Result<(), ApiError> {
        check_csrf(
            &self.parts.headers,
            &state.core.settings().public_url,
            self.token()?,
        )
    }

    /// The holder of the cookie's live refresh token, counted against its
    /// account's limiter; 401 when the cookie is missing or not live.
    pub(crate) async fn holder(&self, state: &AppState) -> Result<RefreshHolder, ApiError> {
        let holder = state
            .core
            .accounts()
            .refresh_holder(self.realm.clone(), self.token()?)
            .await?;
        crate::edge::admit_principal(state, &self.parts.extensions, &holder.principal).await?;
        Ok(holder)
    }

    /// Counts an authenticated request against its account's limiter.
    pub(crate) async fn admit(
        &self,
        state: &AppState,
        who: &portcullis_core::Principal,
    ) -> Result<(), ApiError> {
        crate::edge::admit_principal(state, &self.parts.extensions, who).await
    }

    /// Before a rotation: counts the request against the account's limiter
    /// when the cookie is live. A spent or unknown one goes on to the
    /// rotation, whose reuse detection answers it.
    pub(crate) async fn admit_if_live(&self, state: &AppState) -> Result<(), ApiError> {
        match self.holder(state).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Rotates the cookie's refresh token (after the CSRF checks): the new
    /// cookies and the answer without the refresh token.
    pub(crate) async fn rotate(
        &self,
        state: &AppState,
    ) -> Result<(HeaderMap, CookieTokenResponse), ApiError> {
        let token = self.token()?;
        self.check_csrf(state)?;
        self.admit_if_live(state).await?;
        let tokens = state
            .core
            .accounts()
            .refresh(&self.realm, token.clone(), &self.meta())
            .await?;
        Ok(cookie_tokens(state, HeaderMap::new(), tokens, None))
    }
}

/// The holder of a live refresh cookie, for the BFF routes: the CSRF checks
/// pass first on any method but `GET` and `HEAD`, and the account's limiter
/// applies.
#[derive(Debug)]
pub(crate) struct CookieSession {
    /// The holder.
    pub(crate) holder: RefreshHolder,
    /// The request's id.
    pub(crate) request_id: Option<String>,
    /// The client's address.
    pub(crate) ip: Option<String>,
}

impl FromRequestParts<AppState> for CookieSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = CookieCtx::from_request_parts(parts, state).await?;
        ctx.token()?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            ctx.check_csrf(state)?;
        }
        let holder = ctx.holder(state).await?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(CookieSession {
            holder,
            request_id,
            ip: ctx.meta().ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const URL: &str = "https://id.example.com";

    #[test]
    fn cookie_mode_needs_https_or_loopback() {
        assert!(available("https://id.example.com"));
        assert!(available("http://localhost:8080"));
        assert!(available("http://app.localhost"));
        assert!(available("http://127.0.0.1:3000"));
        assert!(available("http://[::1]:3000"));
        assert!(!available("http://id.example.com"));
        assert!(!available("http://10.0.0.1"));
        assert!(!available("not a url"));
    }

    #[test]
    fn the_csrf_token_is_bound_to_the_refresh_token() {
        let a = csrf_token("refresh-a");
        assert_eq!(a, csrf_token("refresh-a"));
        assert_ne!(a, csrf_token("refresh-b"));
        assert_eq!(a.len(), 43);
        assert!(!a.contains("refresh"));
    }

    #[test]
    fn csrf_checks() {
        let t = secret("the refresh token");
        let good = csrf_token("the refresh token");
        let status = |h: HeaderMap| check_csrf(&h, URL, &t).map_err(|e| e.status());
        assert_eq!(status(headers(&[("x-csrf-token", &good)])), Ok(()));
        assert_eq!(
            status(headers(&[
                ("x-csrf-token", &good),
                ("origin", "https://id.example.com"),
                ("sec-fetch-site", "same-origin"),
            ])),
            Ok(())
        );
        let forbidden = Err(StatusCode::FORBIDDEN);
        assert_eq!(status(HeaderMap::new()), forbidden);
        assert_eq!(status(headers(&[("x-csrf-token", "")])), forbidden);
        assert_eq!(status(headers(&[("x-csrf-token", "wrong")])), forbidden);
        assert_eq!(
            status(headers(&[("x-csrf-token", &csrf_token("another"))])),
            forbidden
        );
        for (name, value) in [
            ("origin", "https://evil.example.com"),
            ("origin", "https://id.example.com:8443"),
            ("origin", "http://id.example.com"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            assert_eq!(
                status(headers(&[("x-csrf-token", &good), (name, value)])),
                forbidden,
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn cookies_are_host_prefixed_strict_and_secure() {
        let mut h = HeaderMap::new();
        set_cookies(&mut h, &secret("r"), 1_700_000_000, time::Duration::days(7));
        let set: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(set.len(), 3);
        for c in &set {
            assert!(c.starts_with("__Host-portcullis_"), "{c}");
            for attr in ["Secure", "Path=/", "SameSite=Strict", "Max-Age=604800"] {
                assert!(c.contains(attr), "{c}");
            }
            assert!(!c.contains("Domain"), "{c}");
        }
        assert!(set[0].starts_with("__Host-portcullis_refresh=r;") && set[0].contains("HttpOnly"));
        assert!(
            set[1].starts_with("__Host-portcullis_iat=1700000000;") && !set[1].contains("HttpOnly")
        );
        assert!(set[2].starts_with("__Host-portcullis_csrf=") && !set[2].contains("HttpOnly"));
        let mut cleared = HeaderMap::new();
        clear_cookies(&mut cleared);
        assert_eq!(cleared.get_all(header::SET_COOKIE).iter().count(), 3);
        for c in cleared.get_all(header::SET_COOKIE) {
            assert!(c.to_str().unwrap().contains("Max-Age=0"));
        }
    }

    #[test]
    fn the_refresh_cookie_is_found_among_others() {
        let h = headers(&[(
            "cookie",
            "portcullis_canary=x; __Host-portcullis_refresh=abc; __Host-portcullis_csrf=y",
        )]);
        assert!(has_refresh_cookie(&h));
        assert_eq!(refresh_cookie(&h).unwrap().expose_secret(), "abc");
        assert!(!has_refresh_cookie(&headers(&[(
            "cookie",
            "__Host-portcullis_refresh="
        )])));
        assert!(!has_refresh_cookie(&HeaderMap::new()));
    }
}
