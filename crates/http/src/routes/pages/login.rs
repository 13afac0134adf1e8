//! The login form: a password, or a passkey; and what follows a login
//! (the single sign-on cookie, then on with the authorization request).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::Error;
use portcullis_core::accounts::BrowserLogin;
use portcullis_core::model::Session;
use portcullis_oidc::authorize::AuthRequest;
use secrecy::{ExposeSecret as _, SecretString};

use super::form::RequestForm;
use super::render::{Ctx, Page, SSO_COOKIE, WEBAUTHN_JS};
use crate::extract::ClientMeta;

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
    /// A button per enabled identity provider.
    providers: Vec<ProviderButton>,
    script: &'static str,
}

/// A "Continue with ..." button.
struct ProviderButton {
    href: String,
    label: String,
}

impl Ctx<'_> {
    pub(super) async fn login_page(
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
            providers: self
                .state
                .core
                .federation()
                .enabled(self.realm.id)
                .await
                .unwrap_or_default()
                .iter()
                .map(|p| ProviderButton {
                    href: format!(
                        "{}?{}",
                        self.path(&format!("login/social/{}", p.alias)),
                        req.encoded
                    ),
                    label: p.label().to_owned(),
                })
                .collect(),
            script: WEBAUTHN_JS,
        }
        .render();
        page.finish(status, body, true)
    }
}

/// `POST /realms/{realm}/login`: the login form.
pub(super) async fn login_post(
    ClientMeta(meta): ClientMeta,
    RequestForm { form, req }: RequestForm,
) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let email = form.get("email").unwrap_or("").trim();
    let password = SecretString::from(form.get("password").unwrap_or("").to_owned());
    let accounts = s.core.accounts();
    match accounts.login_browser(realm, email, password, &meta).await {
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
                .await
        }
    }
}

/// What the login pages show for a failed step; `None` for a failure of
/// the server.
pub(super) fn login_error(e: &Error) -> Option<(StatusCode, String)> {
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
pub(super) async fn signed_in(
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
pub(super) async fn start_sso(
    ctx: &Ctx<'_>,
    page: &mut Page,
    session: &Session,
    secret: &SecretString,
) {
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
pub(super) async fn login_passkey_post(
    ClientMeta(meta): ClientMeta,
    RequestForm { form, req }: RequestForm,
) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let ceremony = form
        .get("ceremony_id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    let credential = form
        .get("credential")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
    let (Some(ceremony), Some(credential)) = (ceremony, credential) else {
        return ctx
            .login_page(
                Page::new(),
                &req,
                StatusCode::BAD_REQUEST,
                "",
                Some("The passkey sign-in could not be read; try again."),
            )
            .await;
    };
    let accounts = s.core.accounts();
    match accounts
        .browser_login_with_passkey(realm, ceremony, &credential, &meta)
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
                .await
        }
    }
}
