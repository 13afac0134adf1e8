//! The browser side of the OpenID Provider: the authorization endpoint with
//! its login and consent pages, and RP-initiated logout. Server-rendered
//! HTML that works without JavaScript.
//!
//! - The single sign-on session is the `portcullis_sso` cookie (`HttpOnly`,
//!   `SameSite=Lax`, `Secure` when the public URL is https, path-scoped to
//!   the realm) holding a random secret whose digest is stored.
//! - Every form carries a CSRF token equal to the `portcullis_csrf` cookie
//!   (double submit, compared in constant time), and a POST whose `Origin`
//!   is another site is refused.
//! - Every page has its own Content Security Policy: nothing loads but its
//!   nonce'd inline style, forms go only to this server (and, after a form,
//!   the client's redirect URI), and no page may be framed.
//! - The authorization request travels through the login and consent forms
//!   as its form-encoded parameters and is checked again on every step.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use portcullis_core::Error;
use portcullis_core::accounts::BrowserLogin;
use portcullis_core::mfa::ChallengePurpose;
use portcullis_core::model::{Realm, Session};
use portcullis_crypto::{constant_time_eq, random_token};
use portcullis_oidc::Form;
use portcullis_oidc::authorize::{self, AuthRequest, AuthResponse, Next, Rejection, ResponseMode};
use portcullis_oidc::logout::{self, LogoutRequest};
use secrecy::{ExposeSecret as _, SecretString};

use crate::extract::{ClientMeta, RealmCtx};
use crate::state::AppState;

mod links;

const SSO_COOKIE: &str = "portcullis_sso";
const CSRF_COOKIE: &str = "portcullis_csrf";

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/realms/{realm}/oauth2/authorize",
            get(authorize_endpoint).post(authorize_endpoint),
        )
        .route("/realms/{realm}/login", post(login_post))
        .route("/realms/{realm}/login/mfa", post(login_mfa_post))
        .route("/realms/{realm}/login/passkey", post(login_passkey_post))
        .route("/realms/{realm}/consent", post(consent_post))
        .route(
            "/realms/{realm}/oauth2/logout",
            get(logout_endpoint).post(logout_endpoint),
        )
        .route("/realms/{realm}/logout", post(logout_confirm))
        .merge(links::router())
}

// ---- templates ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    action: String,
    csrf_token: &'a str,
    request: &'a str,
    client_name: Option<&'a str>,
    email: &'a str,
    error: Option<&'a str>,
    passkey_action: String,
    passkey_start: String,
    /// Where "E-mail me a sign-in link" posts, when mail can be sent.
    magic_link_action: Option<String>,
    script: &'static str,
}

/// The login pages' script: passkeys and security keys (WebAuthn).
const WEBAUTHN_JS: &str = include_str!("../../../templates/webauthn.js");

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    action: String,
    csrf_token: &'a str,
    request: &'a str,
    client_name: Option<&'a str>,
    mfa_token: &'a str,
    /// (method, label, checked): the methods with a typed code.
    methods: Vec<(&'a str, &'static str, bool)>,
    /// Options of a WebAuthn ceremony, when the user has a passkey or
    /// security key (JSON, `<` escaped).
    webauthn_options: Option<String>,
    /// (method, label) of the methods whose code the server sends.
    sendable: Vec<(&'a str, &'static str)>,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    script: &'static str,
}

/// How the second-step page names a method.
fn method_label(method: &str) -> &'static str {
    match method {
        "totp" => "Authenticator app",
        "backup_code" => "Backup code",
        "email" => "Code sent by e-mail",
        "sms" => "Code sent by SMS",
        _ => "Other",
    }
}

/// How the second-step page names the channel of a code it sends.
fn channel_label(method: &str) -> Option<&'static str> {
    match method {
        "email" => Some("e-mail"),
        "sms" => Some("SMS"),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    action: String,
    csrf_token: &'a str,
    request: &'a str,
    client_name: &'a str,
    user_email: &'a str,
    scopes: Vec<String>,
}

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

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    action: String,
    csrf_token: &'a str,
    request: &'a str,
    client_name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    nonce: &'a str,
    action: &'a str,
    params: &'a [(&'static str, String)],
}

/// What a scope lets a client do, in words.
fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account identifier)".to_owned(),
        "profile" => "See your name and basic profile".to_owned(),
        "email" => "See your email address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "address" => "See your postal address".to_owned(),
        "offline_access" => "Keep access while you are not using it".to_owned(),
        other => format!("Use the permission \u{201c}{other}\u{201d}"),
    }
}

// ---- responses ----

/// A page's own headers: its CSP with a fresh nonce and the extra
/// `form-action` sources its forms (or their redirects) need.
struct Page {
    nonce: String,
    form_action: Vec<String>,
    cookies: Vec<String>,
}

impl Page {
    fn new() -> Self {
        Self {
            nonce: random_token(),
            form_action: vec!["'self'".to_owned()],
            cookies: Vec::new(),
        }
    }

    /// Allows forms to reach (or, after a POST, be redirected to) `uri`'s
    /// origin.
    fn allow_form_target(&mut self, uri: &str) {
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

    fn html(self, status: StatusCode, body: Result<String, askama::Error>) -> Response {
        self.finish(status, body, false)
    }

    fn finish(
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

    fn redirect(self, location: &str) -> Response {
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
fn csp_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
}

/// Per-request context of a page handler.
struct Ctx<'a> {
    state: &'a AppState,
    realm: &'a Realm,
    headers: &'a HeaderMap,
}

impl<'a> Ctx<'a> {
    fn new(state: &'a AppState, realm: &'a Realm, headers: &'a HeaderMap) -> Self {
        Self {
            state,
            realm,
            headers,
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/realms/{}/{rest}", self.realm.name.as_str())
    }

    fn secure(&self) -> bool {
        self.state
            .core
            .settings()
            .public_url
            .starts_with("https://")
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
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
    fn csrf(&self, page: &mut Page) -> String {
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
    fn form_is_ours(&self, form: &Form<'_>) -> bool {
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

    async fn session(&self) -> Result<Option<Session>, Error> {
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

    fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
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

    fn unavailable(&self) -> Response {
        self.error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again later",
            "The server cannot complete this request right now.",
        )
    }

    fn message_page(&self, mut page: Page, title: &str, message: &str) -> Response {
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

    fn login_page(
        &self,
        mut page: Page,
        req: &AuthRequest,
        status: StatusCode,
        email: &str,
        error: Option<&str>,
    ) -> Response {
        let csrf = self.csrf(&mut page);
        page.allow_form_target(&req.redirect_uri);
        let email = match email {
            "" => req.login_hint.as_deref().unwrap_or(""),
            e => e,
        };
        let body = LoginPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            action: self.path("login"),
            csrf_token: &csrf,
            request: &req.encoded,
            client_name: Some(&req.client.name),
            email,
            error,
            passkey_action: self.path("login/passkey"),
            passkey_start: format!("/api/v1/realms/{}/auth/passkey/start", self.realm.name),
            magic_link_action: self
                .state
                .core
                .mail()
                .can_send()
                .then(|| self.path("login/magic-link")),
            script: WEBAUTHN_JS,
        }
        .render();
        page.finish(status, body, true)
    }

    /// The second step of a login. For a user with a passkey or security
    /// key it starts a WebAuthn ceremony, whose options the page's script
    /// hands to the browser.
    #[allow(clippy::too_many_arguments)]
    async fn mfa_page(
        &self,
        mut page: Page,
        req: &AuthRequest,
        status: StatusCode,
        mfa_token: &str,
        methods: &[String],
        chosen: Option<&str>,
        error: Option<&str>,
        notice: Option<&str>,
    ) -> Response {
        let csrf = self.csrf(&mut page);
        page.allow_form_target(&req.redirect_uri);
        let webauthn_options = match methods.iter().any(|m| m == "webauthn") {
            true => match self
                .state
                .core
                .mfa()
                .webauthn_login_options(self.realm, mfa_token, ChallengePurpose::Browser)
                .await
            {
                Ok(options) => Some(options.to_string().replace('<', "\\u003c")),
                Err(_) => None,
            },
            false => None,
        };
        let coded: Vec<&String> = methods.iter().filter(|m| *m != "webauthn").collect();
        let chosen = chosen
            .filter(|c| coded.iter().any(|m| m == c))
            .or(coded.first().map(|m| m.as_str()));
        let body = MfaPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            action: self.path("login/mfa"),
            csrf_token: &csrf,
            request: &req.encoded,
            client_name: Some(&req.client.name),
            mfa_token,
            methods: coded
                .iter()
                .map(|m| (m.as_str(), method_label(m), Some(m.as_str()) == chosen))
                .collect(),
            webauthn_options,
            sendable: methods
                .iter()
                .filter_map(|m| channel_label(m).map(|l| (m.as_str(), l)))
                .collect(),
            error,
            notice,
            script: WEBAUTHN_JS,
        }
        .render();
        page.finish(status, body, true)
    }

    async fn consent_page(&self, mut page: Page, req: &AuthRequest, session: &Session) -> Response {
        let user = match self
            .state
            .core
            .store()
            .get_user(self.realm.id, session.user_id)
            .await
        {
            Ok(Some(u)) => u,
            _ => return self.unavailable(),
        };
        let csrf = self.csrf(&mut page);
        page.allow_form_target(&req.redirect_uri);
        let body = ConsentPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            action: self.path("consent"),
            csrf_token: &csrf,
            request: &req.encoded,
            client_name: &req.client.name,
            user_email: user.email.as_str(),
            scopes: req.scopes.iter().map(|s| describe_scope(s)).collect(),
        }
        .render();
        page.html(StatusCode::OK, body)
    }

    /// Delivers a code or an error to the client.
    fn respond(&self, mut page: Page, res: &AuthResponse) -> Response {
        match res.mode {
            ResponseMode::Query => {
                page.allow_form_target(&res.redirect_uri);
                page.redirect(&res.location())
            }
            ResponseMode::FormPost => {
                page.form_action = vec![csp_source(&res.redirect_uri).unwrap_or_default()];
                let body = FormPostPage {
                    nonce: &page.nonce,
                    action: &res.redirect_uri,
                    params: &res.params,
                }
                .render();
                page.finish(StatusCode::OK, body, true)
            }
        }
    }

    /// Checks an authorization request; an error becomes its response.
    async fn check(&self, form: &Form<'_>) -> Result<AuthRequest, Response> {
        match authorize::check(&self.state.core, self.realm, form).await {
            Ok(req) => Ok(req),
            Err(Rejection::Page { message }) => Err(self.error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &message,
            )),
            Err(Rejection::Redirect(res)) => Err(self.respond(Page::new(), &res)),
        }
    }

    async fn next(
        &self,
        page: Page,
        req: &AuthRequest,
        session: Option<&Session>,
        fresh: bool,
    ) -> Response {
        match authorize::decide(&self.state.core, self.realm, req, session, fresh, false).await {
            Ok(Next::Login) => self.login_page(page, req, StatusCode::OK, "", None),
            Ok(Next::Consent) => match session {
                Some(s) => self.consent_page(page, req, s).await,
                None => self.unavailable(),
            },
            Ok(Next::Respond(res)) => self.respond(page, &res),
            Err(_) => self.unavailable(),
        }
    }
}

/// An endpoint's parameters: the query of a GET, the form body of a POST.
struct RequestParams(Result<Form<'static>, portcullis_oidc::OAuthError>);

impl<S: Send + Sync> FromRequest<S> for RequestParams {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET {
            let query = req.uri().query().unwrap_or("");
            return Ok(Self(
                Form::parse_urlencoded(query.as_bytes()).map(Form::into_owned),
            ));
        }
        let headers = req.headers().clone();
        Ok(Self(match Bytes::from_request(req, state).await {
            Ok(body) => form_of(&headers, &body).map(Form::into_owned),
            Err(_) => Err(portcullis_oidc::OAuthError::invalid_request(
                "the body could not be read",
            )),
        }))
    }
}

fn form_of<'b>(
    headers: &HeaderMap,
    body: &'b Bytes,
) -> Result<Form<'b>, portcullis_oidc::OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Form::parse(content_type, body)
}

// ---- handlers ----

async fn authorize(
    s: &AppState,
    realm: &Realm,
    headers: &HeaderMap,
    form: Result<Form<'_>, portcullis_oidc::OAuthError>,
) -> Response {
    let ctx = Ctx::new(s, realm, headers);
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return ctx.error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &e.error_description,
            );
        }
    };
    let req = match ctx.check(&form).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let session = match ctx.session().await {
        Ok(s) => s,
        Err(_) => return ctx.unavailable(),
    };
    ctx.next(Page::new(), &req, session.as_ref(), false).await
}

/// `GET` or `POST {issuer}/oauth2/authorize`.
async fn authorize_endpoint(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    RequestParams(form): RequestParams,
) -> Response {
    authorize(&s, &realm, &headers, form).await
}

/// A login or consent form and the authorization request it carries,
/// checked again.
async fn submitted_request<'b>(
    ctx: &Ctx<'_>,
    body: &'b Bytes,
) -> Result<(Form<'b>, AuthRequest), Response> {
    let form = our_form(ctx, body)?;
    let inner =
        Form::parse_urlencoded(form.get("request").unwrap_or("").as_bytes()).map_err(|e| {
            ctx.error_page(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                &e.error_description,
            )
        })?;
    let req = ctx.check(&inner).await?;
    Ok((form, req))
}

/// A form posted from one of our pages: readable, with the browser's CSRF
/// token, from our origin. (The error is a page, answered at once.)
#[allow(clippy::result_large_err)]
fn our_form<'b>(ctx: &Ctx<'_>, body: &'b Bytes) -> Result<Form<'b>, Response> {
    let form = form_of(ctx.headers, body).map_err(|_| {
        ctx.error_page(
            StatusCode::BAD_REQUEST,
            "This form is not valid",
            "The form could not be read.",
        )
    })?;
    if !ctx.form_is_ours(&form) {
        return Err(ctx.error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back to the application and sign in again (the form's security token did not match).",
        ));
    }
    Ok(form)
}

/// `POST /realms/{realm}/login`: the login form.
async fn login_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let (form, req) = match submitted_request(&ctx, &body).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let email = form.get("email").unwrap_or("").trim();
    let password = SecretString::from(form.get("password").unwrap_or("").to_owned());
    let accounts = s.core.accounts();
    match accounts.login_browser(&realm, email, password, &meta).await {
        Ok(BrowserLogin::Session(session, secret)) => {
            signed_in(&ctx, Page::new(), &req, *session, secret).await
        }
        Ok(BrowserLogin::MfaRequired(required)) => {
            ctx.mfa_page(
                Page::new(),
                &req,
                StatusCode::OK,
                required.mfa_token.expose_secret(),
                &required.methods,
                None,
                None,
                None,
            )
            .await
        }
        Err(e) => {
            let (status, message) = match login_error(&e) {
                Some(shown) => shown,
                None => return ctx.unavailable(),
            };
            ctx.login_page(Page::new(), &req, status, email, Some(&message))
        }
    }
}

/// What the login pages show for a failed step; `None` for a failure of
/// the server.
fn login_error(e: &Error) -> Option<(StatusCode, String)> {
    Some(match e {
        Error::NotAuthenticated(m) => (StatusCode::UNAUTHORIZED, (*m).to_owned()),
        // A right password, but the account may not sign in (deactivated,
        // or its address is not verified yet).
        Error::Forbidden(m) => (StatusCode::FORBIDDEN, (*m).to_owned()),
        Error::Validation(_) => (
            StatusCode::UNAUTHORIZED,
            portcullis_core::accounts::INVALID_CREDENTIALS.to_owned(),
        ),
        Error::InvalidInput(_) => (
            StatusCode::BAD_REQUEST,
            "Choose one of the offered ways to verify.".to_owned(),
        ),
        Error::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        Error::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts; wait a while and try again.".to_owned(),
        ),
        _ => return None,
    })
}

/// A browser that just signed in: its session cookie, then on with the
/// authorization request.
async fn signed_in(
    ctx: &Ctx<'_>,
    mut page: Page,
    req: &AuthRequest,
    session: Session,
    secret: SecretString,
) -> Response {
    start_sso(ctx, &mut page, &session, &secret).await;
    ctx.next(page, req, Some(&session), true).await
}

/// Makes `session` this browser's single sign-on session: it replaces the
/// browser's previous one, and `page` sets its cookie.
async fn start_sso(ctx: &Ctx<'_>, page: &mut Page, session: &Session, secret: &SecretString) {
    if let Ok(Some(old)) = ctx.session().await
        && old.id != session.id
    {
        let _ = ctx
            .state
            .core
            .accounts()
            .end_session(ctx.realm.id, old.id)
            .await;
    }
    let max_age = ctx.state.core.settings().session_ttl.whole_seconds();
    page.cookies
        .push(ctx.set_cookie(SSO_COOKIE, secret.expose_secret(), Some(max_age)));
}

/// `POST /realms/{realm}/login/passkey`: a passwordless login with a
/// passkey, posted by the login page's script.
async fn login_passkey_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let (form, req) = match submitted_request(&ctx, &body).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let ceremony = form
        .get("ceremony_id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    let credential = form
        .get("credential")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
    let (Some(ceremony), Some(credential)) = (ceremony, credential) else {
        return ctx.login_page(
            Page::new(),
            &req,
            StatusCode::BAD_REQUEST,
            "",
            Some("The passkey sign-in could not be read; try again."),
        );
    };
    let accounts = s.core.accounts();
    match accounts
        .browser_login_with_passkey(&realm, ceremony, &credential, &meta)
        .await
    {
        Ok((session, secret)) => signed_in(&ctx, Page::new(), &req, session, secret).await,
        Err(e) => {
            let (status, message) = match e {
                Error::InvalidInput(_) => (
                    StatusCode::BAD_REQUEST,
                    "The passkey sign-in took too long or was already used; try again.".to_owned(),
                ),
                other => match login_error(&other) {
                    Some(shown) => shown,
                    None => return ctx.unavailable(),
                },
            };
            ctx.login_page(Page::new(), &req, status, "", Some(&message))
        }
    }
}

/// `POST /realms/{realm}/login/mfa`: the second step of the login form.
async fn login_mfa_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let (form, req) = match submitted_request(&ctx, &body).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let mfa_token = form.get("mfa_token").unwrap_or("");
    // The script posts a WebAuthn answer in `credential`.
    let (method, code) = match form.get("webauthn") {
        Some("1") => ("webauthn", form.get("credential").unwrap_or("")),
        _ => (
            form.get("method").unwrap_or(""),
            form.get("code").unwrap_or(""),
        ),
    };
    // "Send a code by e-mail/SMS": the same step again, with the code sent.
    if let Some(channel) = form.get("send") {
        let mfa = s.core.mfa();
        let sent = mfa.send_code(&realm, mfa_token, channel).await;
        if let Ok(sent) = &sent {
            let notice = format!("A code was sent to {}.", sent.sent_to);
            if let Ok(methods) = mfa
                .challenge_methods(&realm, mfa_token, ChallengePurpose::Browser)
                .await
            {
                return ctx
                    .mfa_page(
                        Page::new(),
                        &req,
                        StatusCode::OK,
                        mfa_token,
                        &methods,
                        Some(channel),
                        None,
                        Some(&notice),
                    )
                    .await;
            }
        }
        if let Err(e) = sent {
            return mfa_step_failed(&ctx, &req, mfa_token, channel, &e).await;
        }
    }
    let accounts = s.core.accounts();
    let err = match accounts
        .complete_browser_login(&realm, mfa_token, method, code, &meta)
        .await
    {
        Ok((session, secret)) => return signed_in(&ctx, Page::new(), &req, session, secret).await,
        Err(e) => e,
    };
    mfa_step_failed(&ctx, &req, mfa_token, method, &err).await
}

/// A second step that failed: the step again while its login is open,
/// else the login form.
async fn mfa_step_failed(
    ctx: &Ctx<'_>,
    req: &AuthRequest,
    mfa_token: &str,
    method: &str,
    err: &Error,
) -> Response {
    let (s, realm) = (ctx.state, ctx.realm);
    let Some((status, message)) = login_error(err) else {
        return ctx.unavailable();
    };
    // While the challenge is open the user may try again; once it has
    // ended (expired, or too many wrong codes), they start over.
    match s
        .core
        .mfa()
        .challenge_methods(realm, mfa_token, ChallengePurpose::Browser)
        .await
    {
        Ok(methods) => {
            ctx.mfa_page(
                Page::new(),
                req,
                status,
                mfa_token,
                &methods,
                Some(method),
                Some(&message),
                None,
            )
            .await
        }
        Err(Error::NotAuthenticated(_)) => ctx.login_page(
            Page::new(),
            req,
            StatusCode::UNAUTHORIZED,
            "",
            Some(
                "The sign-in was not completed in time or had too many wrong codes; sign in again.",
            ),
        ),
        Err(_) => ctx.unavailable(),
    }
}

/// `POST /realms/{realm}/consent`: the consent form.
async fn consent_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let (form, req) = match submitted_request(&ctx, &body).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let session = match ctx.session().await {
        Ok(Some(s)) => s,
        Ok(None) => return ctx.login_page(Page::new(), &req, StatusCode::OK, "", None),
        Err(_) => return ctx.unavailable(),
    };
    let allow = form.get("decision") == Some("allow");
    let core = &s.core;
    let res = match authorize::record_consent(core, &realm, &req, &session, allow).await {
        Ok(Some(denied)) => denied,
        Ok(None) => match authorize::issue_code(core, &realm, &req, &session).await {
            Ok(res) => res,
            Err(_) => return ctx.unavailable(),
        },
        Err(_) => return ctx.unavailable(),
    };
    ctx.respond(Page::new(), &res)
}

async fn logout(
    s: &AppState,
    realm: &Realm,
    headers: &HeaderMap,
    form: Result<Form<'_>, portcullis_oidc::OAuthError>,
) -> Response {
    let ctx = Ctx::new(s, realm, headers);
    let Ok(form) = form else {
        return ctx.error_page(
            StatusCode::BAD_REQUEST,
            "This sign-out link is not valid",
            "The request could not be read.",
        );
    };
    let req = match logout::check(&s.core, realm, &form).await {
        Ok(r) => r,
        Err(message) => {
            return ctx.error_page(
                StatusCode::BAD_REQUEST,
                "This sign-out link is not valid",
                &message,
            );
        }
    };
    let session = match ctx.session().await {
        Ok(s) => s,
        Err(_) => return ctx.unavailable(),
    };
    match session {
        // Nothing to end; a redirect needs a valid hint or the user's click.
        None if req.hint.is_some() || req.redirect_uri.is_none() => {
            finish_logout(&ctx, Page::new(), &req)
        }
        Some(session) if req.proves_session(&session.id.to_string()) => {
            end_browser_session(&ctx, &session, &req).await
        }
        _ => {
            let mut page = Page::new();
            let csrf = ctx.csrf(&mut page);
            if let Some(uri) = &req.redirect_uri {
                page.allow_form_target(uri);
            }
            let body = LogoutPage {
                realm_name: &realm.display_name,
                nonce: &page.nonce,
                action: ctx.path("logout"),
                csrf_token: &csrf,
                request: &form.encode(),
                client_name: req.client.as_ref().map(|c| c.name.as_str()),
            }
            .render();
            page.html(StatusCode::OK, body)
        }
    }
}

async fn end_browser_session(ctx: &Ctx<'_>, session: &Session, req: &LogoutRequest) -> Response {
    if ctx
        .state
        .core
        .accounts()
        .end_session(ctx.realm.id, session.id)
        .await
        .is_err()
    {
        return ctx.unavailable();
    }
    let mut page = Page::new();
    page.cookies.push(ctx.set_cookie(SSO_COOKIE, "", Some(0)));
    finish_logout(ctx, page, req)
}

fn finish_logout(ctx: &Ctx<'_>, mut page: Page, req: &LogoutRequest) -> Response {
    match req.location() {
        Some(location) => {
            if let Some(uri) = &req.redirect_uri {
                page.allow_form_target(uri);
            }
            page.redirect(&location)
        }
        None => ctx.message_page(
            page,
            "Signed out",
            "You are signed out. You can close this window.",
        ),
    }
}

/// `GET` or `POST {issuer}/oauth2/logout`.
async fn logout_endpoint(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    RequestParams(form): RequestParams,
) -> Response {
    logout(&s, &realm, &headers, form).await
}

/// `POST /realms/{realm}/logout`: the logout confirmation form.
async fn logout_confirm(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let form = match our_form(&ctx, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    let inner = Form::parse_urlencoded(form.get("request").unwrap_or("").as_bytes());
    let req = match inner {
        Ok(inner) => match logout::check(&s.core, &realm, &inner).await {
            Ok(r) => r,
            Err(message) => {
                return ctx.error_page(
                    StatusCode::BAD_REQUEST,
                    "This sign-out link is not valid",
                    &message,
                );
            }
        },
        Err(_) => {
            return ctx.error_page(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                "The form could not be read.",
            );
        }
    };
    match ctx.session().await {
        Ok(Some(session)) => end_browser_session(&ctx, &session, &req).await,
        Ok(None) => finish_logout(&ctx, Page::new(), &req),
        Err(_) => ctx.unavailable(),
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
