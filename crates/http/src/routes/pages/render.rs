//! What every page shares: its headers (a Content Security Policy with a
//! fresh nonce, its cookies), the per-request context of a page handler
//! (the realm, the browser's CSRF token and single sign-on session), and
//! the error and message pages.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use portcullis_core::Error;
use portcullis_core::model::{Realm, Session};
use portcullis_crypto::{constant_time_eq, random_token};
use portcullis_oidc::Form;

use crate::state::AppState;

/// The cookie of the browser's single sign-on session.
pub(super) const SSO_COOKIE: &str = "portcullis_sso";
/// The cookie of the browser's CSRF token (double submit).
const CSRF_COOKIE: &str = "portcullis_csrf";

/// The login pages' script: passkeys and security keys (WebAuthn).
pub(super) const WEBAUTHN_JS: &str = include_str!("../../../templates/webauthn.js");

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    title: &'a str,
    message: &'a str,
}

/// A page's own headers: its CSP with a fresh nonce and the extra
/// `form-action` sources its forms (or their redirects) need.
pub(super) struct Page {
    pub(super) nonce: String,
    pub(super) form_action: Vec<String>,
    pub(super) cookies: Vec<String>,
}

impl Page {
    pub(super) fn new() -> Self {
        Self {
            nonce: random_token(),
            form_action: vec!["'self'".to_owned()],
            cookies: Vec::new(),
        }
    }

    /// Allows forms to reach (or, after a POST, be redirected to) `uri`'s
    /// origin.
    pub(super) fn allow_form_target(&mut self, uri: &str) {
        if let Some(source) = csp_source(uri) {
            self.form_action.push(source);
        }
    }

    /// The page's Content Security Policy; a page with a script may also
    /// call this server (the login page starts a passkey ceremony).
    fn csp(&self, script: bool) -> String {
        let script = match script {
            true => format!("script-src 'nonce-{}'; connect-src 'self'; ", self.nonce),
            false => String::new(),
        };
        format!(
            "default-src 'none'; style-src 'nonce-{n}'; {script}form-action {fa}; frame-ancestors 'none'; base-uri 'none'",
            n = self.nonce,
            fa = self.form_action.join(" ")
        )
    }

    pub(super) fn html(self, status: StatusCode, body: Result<String, askama::Error>) -> Response {
        self.finish(status, body, false)
    }

    pub(super) fn finish(
        self,
        status: StatusCode,
        body: Result<String, askama::Error>,
        script: bool,
    ) -> Response {
        let Ok(body) = body else {
            tracing::error!("a page template failed to render");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let mut res = (status, axum::response::Html(body)).into_response();
        let csp = self.csp(script);
        self.decorate(&mut res, &csp);
        res
    }

    pub(super) fn redirect(self, location: &str) -> Response {
        let mut res = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(location) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        let csp = self.csp(false);
        self.decorate(&mut res, &csp);
        res
    }

    fn decorate(self, res: &mut Response, csp: &str) {
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
    }
}

/// The CSP source of a URI: its origin, or its scheme for a private-use one.
pub(super) fn csp_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
}

/// Per-request context of a page handler.
pub(super) struct Ctx<'a> {
    pub(super) state: &'a AppState,
    pub(super) realm: &'a Realm,
    pub(super) headers: &'a HeaderMap,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(state: &'a AppState, realm: &'a Realm, headers: &'a HeaderMap) -> Self {
        Self {
            state,
            realm,
            headers,
        }
    }

    pub(super) fn path(&self, rest: &str) -> String {
        format!("/realms/{}/{rest}", self.realm.name.as_str())
    }

    fn secure(&self) -> bool {
        self.state
            .core
            .settings()
            .public_url
            .starts_with("https://")
    }

    pub(super) fn set_cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = Cookie::build((name.to_owned(), value.to_owned()))
            .path(format!("/realms/{}/", self.realm.name.as_str()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure());
        if let Some(age) = max_age {
            c = c.max_age(time::Duration::seconds(age));
        }
        // Percent-encoded, as `CookieJar` decodes what it reads.
        c.build().encoded().to_string()
    }

    /// The CSRF token of this browser, set as a cookie when new.
    pub(super) fn csrf(&self, page: &mut Page) -> String {
        match cookie(self.headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
            Some(token) => token,
            None => {
                let token = random_token();
                page.cookies
                    .push(self.set_cookie(CSRF_COOKIE, &token, None));
                token
            }
        }
    }

    /// Whether a submitted form is this site's: the CSRF token matches the
    /// cookie, and the `Origin`, when sent, is the public URL's.
    pub(super) fn form_is_ours(&self, form: &Form<'_>) -> bool {
        let text = |name: &str| self.headers.get(name).and_then(|v| v.to_str().ok());
        match text("origin") {
            // Our pages send no referrer, so browsers send `Origin: null`
            // even for our own forms; the fetch metadata still tells.
            Some("null") if text("sec-fetch-site").is_some_and(|site| site != "same-origin") => {
                return false;
            }
            Some("null") => {}
            Some(origin) => {
                let ours = csp_source(&self.state.core.settings().public_url);
                if ours.as_deref() != Some(origin) {
                    return false;
                }
            }
            None => {}
        }
        match (cookie(self.headers, CSRF_COOKIE), form.get("csrf_token")) {
            (Some(c), Some(f)) => c.len() == 43 && constant_time_eq(c.as_bytes(), f.as_bytes()),
            _ => false,
        }
    }

    pub(super) async fn session(&self) -> Result<Option<Session>, Error> {
        match cookie(self.headers, SSO_COOKIE) {
            Some(secret) => {
                self.state
                    .core
                    .accounts()
                    .browser_session(self.realm, &secret)
                    .await
            }
            None => Ok(None),
        }
    }

    pub(super) fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let page = Page::new();
        let body = ErrorPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            title,
            message,
        }
        .render();
        page.html(status, body)
    }

    pub(super) fn unavailable(&self) -> Response {
        self.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again later",
            "The server cannot complete this request right now.",
        )
    }

    pub(super) fn message_page(&self, mut page: Page, title: &str, message: &str) -> Response {
        let body = MessagePage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            title,
            message,
        }
        .render();
        page.form_action.clear();
        page.form_action.push("'none'".to_owned());
        page.html(StatusCode::OK, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://app.example.com:8443/cb?x=1").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(
            csp_source("http://127.0.0.1:5000/cb").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; portcullis_sso_x=2; portcullis_sso=3"),
        );
        assert_eq!(cookie(&h, SSO_COOKIE).as_deref(), Some("3"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn pages_escape_values() {
        let body = ErrorPage {
            realm_name: "<Main>",
            nonce: "n",
            title: "t",
            message: "<script>alert(1)</script>\"",
        }
        .render()
        .unwrap();
        assert!(!body.contains("<script>alert"));
        assert!(!body.contains("<Main>"));
        assert!(body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"));
    }
}
