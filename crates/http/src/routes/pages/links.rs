//! The pages behind the links Portcullis mails (e-mail verification,
//! password reset, e-mail change, magic links), and the login page's
//! "E-mail me a sign-in link".
//!
//! Opening a link (`GET`) spends nothing, because mail scanners and link
//! previews fetch links too: the page checks the link and shows a button
//! (or, for a reset, the new-password form) whose `POST`, with the
//! browser's CSRF token, does the work.
//!
//! A magic link asked for on the login page is bound to that browser: the
//! attempt's secret goes into the `portcullis_magic` cookie (`HttpOnly`,
//! as long as the link lives, path-scoped to the realm) and the
//! authorization request into `portcullis_magic_request`. The link, opened
//! in the same browser, signs in and goes on with that request; opened
//! anywhere else it does nothing.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use portcullis_core::Error;
use portcullis_core::accounts::BrowserLogin;
use portcullis_core::mail::EmailTokenPurpose;
use portcullis_core::model::User;
use portcullis_oidc::Form;
use portcullis_oidc::authorize::AuthRequest;
use secrecy::{ExposeSecret as _, SecretString};

use super::form::{PageForm, RequestForm};
use super::login::{login_error, signed_in, start_sso};
use super::render::{Ctx, Page, SSO_COOKIE, cookie};
use crate::extract::{ClientMeta, RealmCtx};
use crate::state::AppState;

/// The cookie holding the secret of this browser's magic-link attempt.
const MAGIC_COOKIE: &str = "portcullis_magic";
/// The cookie holding the authorization request a magic link goes on with.
const MAGIC_REQUEST_COOKIE: &str = "portcullis_magic_request";
/// Longest authorization request kept in a cookie (browsers keep about
/// 4 KiB per cookie); a longer one is not kept, and the link then signs in
/// without going back to the client.
const MAX_REQUEST_COOKIE: usize = 3072;

/// The routes of this module.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/realms/{realm}/verify-email",
            get(|s, r, h, u| opened(Mailed::VerifyEmail, s, r, h, u)).post(verify_email_post),
        )
        .route(
            "/realms/{realm}/reset-password",
            get(|s, r, h, u| opened(Mailed::ResetPassword, s, r, h, u)).post(reset_password_post),
        )
        .route(
            "/realms/{realm}/confirm-email-change",
            get(|s, r, h, u| opened(Mailed::EmailChange, s, r, h, u)).post(email_change_post),
        )
        .route(
            "/realms/{realm}/magic-link",
            get(|s, r, h, u| opened(Mailed::Magic, s, r, h, u)).post(magic_link_post),
        )
        .route("/realms/{realm}/login/magic-link", post(magic_link_request))
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    title: &'static str,
    message: &'static str,
    action: String,
    csrf_token: &'a str,
    token: &'a str,
    button: &'static str,
    /// Shows the new-password fields (a reset), with this minimum length.
    password_min_length: Option<u32>,
    error: Option<&'a str>,
}

/// A kind of mailed link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mailed {
    VerifyEmail,
    ResetPassword,
    EmailChange,
    Magic,
}

impl Mailed {
    fn path(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::ResetPassword => "reset-password",
            Self::EmailChange => "confirm-email-change",
            Self::Magic => "magic-link",
        }
    }

    fn purpose(self) -> EmailTokenPurpose {
        match self {
            Self::VerifyEmail => EmailTokenPurpose::VerifyEmail,
            Self::ResetPassword => EmailTokenPurpose::PasswordReset,
            Self::EmailChange => EmailTokenPurpose::EmailChange,
            Self::Magic => EmailTokenPurpose::MagicLink,
        }
    }

    /// Title, explanation and button of the page that serves the link.
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::VerifyEmail => (
                "Verify your e-mail address",
                "Confirm that this address is yours.",
                "Verify my address",
            ),
            Self::ResetPassword => (
                "Choose a new password",
                "Your other sessions end when the password changes.",
                "Change the password",
            ),
            Self::EmailChange => (
                "Confirm your new address",
                "Your account will use this address from now on.",
                "Use this address",
            ),
            Self::Magic => (
                "Sign in",
                "Continue to sign in with the link from your e-mail.",
                "Sign in",
            ),
        }
    }

    /// The page for a link that cannot be used (unknown, expired, used).
    fn invalid(self, ctx: &Ctx<'_>) -> Response {
        let message = match self {
            Self::Magic => {
                "It has expired, was used already, or was asked for in another browser. Ask for a new one on the sign-in page."
            }
            _ => {
                "It has expired, was used already, or a newer link replaced it. Ask for a new one."
            }
        };
        ctx.error_page(StatusCode::BAD_REQUEST, "This link is not valid", message)
    }

    /// The page for a failed use of the link.
    fn failed(self, ctx: &Ctx<'_>, err: &Error) -> Response {
        match err {
            Error::InvalidInput(_) => self.invalid(ctx),
            Error::Conflict(_) => ctx.error_page(
                StatusCode::CONFLICT,
                "This address is taken",
                "Another account uses this address now.",
            ),
            other => match login_error(other) {
                Some((status, message)) => {
                    ctx.error_page(status, "This link cannot be used", &message)
                }
                None => ctx.unavailable(),
            },
        }
    }

    /// The page that serves the link: its button, or the reset form.
    fn form(
        self,
        ctx: &Ctx<'_>,
        mut page: Page,
        token: &str,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let csrf = ctx.csrf(&mut page);
        let (title, message, button) = self.words();
        let body = LinkPage {
            realm_name: &ctx.realm.display_name,
            nonce: &page.nonce,
            title,
            message,
            action: ctx.path(self.path()),
            csrf_token: &csrf,
            token,
            button,
            password_min_length: (self == Self::ResetPassword)
                .then_some(ctx.realm.password_min_length),
            error,
        }
        .render();
        page.html(status, body)
    }

    /// `GET` of a link: its page when the link can be used, spending
    /// nothing.
    async fn open(self, ctx: &Ctx<'_>, uri: &Uri) -> Response {
        let query = Form::parse_urlencoded(uri.query().unwrap_or("").as_bytes());
        let token = query
            .as_ref()
            .ok()
            .and_then(|q| q.get("token"))
            .unwrap_or("")
            .trim();
        let core = &ctx.state.core;
        let live = match self {
            Self::Magic => {
                let Some(attempt) = cookie(ctx.headers, MAGIC_COOKIE) else {
                    return ctx.error_page(
                        StatusCode::BAD_REQUEST,
                        "Open this link where you asked for it",
                        "A sign-in link works only in the browser where it was asked for. Open it there, or ask for a new one on the sign-in page.",
                    );
                };
                core.links()
                    .magic_link_is_live(ctx.realm, token, &attempt)
                    .await
            }
            other => {
                core.recovery()
                    .link_is_live(ctx.realm, other.purpose(), token)
                    .await
            }
        };
        match live {
            Ok(true) => {
                let mut page = Page::new();
                if self == Self::Magic
                    && let Some(req) = kept_request(ctx).await
                {
                    // The button's POST ends in a redirect to the client,
                    // which the page's `form-action` must allow (browsers
                    // apply it to a form's redirects too).
                    page.allow_form_target(&req.redirect_uri);
                }
                self.form(ctx, page, token, StatusCode::OK, None)
            }
            Ok(false) => self.invalid(ctx),
            Err(e) => self.failed(ctx, &e),
        }
    }
}

/// The authorization request this browser's magic link goes on with
/// (`portcullis_magic_request`), checked again as every step does: `None`
/// when there is none, or when it is no longer valid (a client removed
/// meanwhile).
async fn kept_request(ctx: &Ctx<'_>) -> Option<AuthRequest> {
    let kept = cookie(ctx.headers, MAGIC_REQUEST_COOKIE)?;
    let inner = Form::parse_urlencoded(kept.as_bytes()).ok()?;
    ctx.check(&inner).await.ok()
}

/// `GET /realms/{realm}/{link}?token=...` of a mailed link: its page,
/// spending nothing.
async fn opened(
    link: Mailed,
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    link.open(&Ctx::new(&s, &realm, &headers), &uri).await
}

/// The POST of a link whose page is a button: `spend` uses the token, and
/// the answer is the page `title` with `message` of the account's address,
/// or the link's failure page.
async fn confirm(
    link: Mailed,
    form: &PageForm,
    spend: impl AsyncFnOnce(&str) -> Result<User, Error>,
    (title, message): (&str, fn(&str) -> String),
) -> Response {
    let ctx = form.ctx();
    match spend(form.get("token").unwrap_or("")).await {
        Ok(user) => ctx.message_page(Page::new(), title, &message(user.email.as_str())),
        Err(e) => link.failed(&ctx, &e),
    }
}

/// `POST /realms/{realm}/verify-email`: marks the address verified.
async fn verify_email_post(form: PageForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let spend = async |token: &str| s.core.recovery().verify_email(realm, token).await;
    let words: (&str, fn(&str) -> String) = ("Address verified", |email| {
        format!("{email} is verified. You can close this window.")
    });
    confirm(Mailed::VerifyEmail, &form, spend, words).await
}

/// `POST /realms/{realm}/reset-password`: sets the new password; every
/// session of the account ends, this browser's too.
async fn reset_password_post(form: PageForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let token = form.get("token").unwrap_or("");
    let password = form.get("new_password").unwrap_or("");
    if password != form.get("confirm_password").unwrap_or("") {
        return Mailed::ResetPassword.form(
            &ctx,
            Page::new(),
            token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("The two passwords differ; type the same password twice."),
        );
    }
    let password = SecretString::from(password.to_owned());
    match s
        .core
        .recovery()
        .reset_password(realm, token, password)
        .await
    {
        Ok(()) => {
            let mut page = Page::new();
            page.cookies.push(ctx.set_cookie(SSO_COOKIE, "", Some(0)));
            ctx.message_page(
                page,
                "Password changed",
                "Your password is changed, and every session of your account has ended. Sign in with the new password.",
            )
        }
        // The password policy: the link stays usable, so the form again.
        Err(Error::Validation(errors)) => {
            let reason = errors
                .first()
                .map(|e| format!("Choose another password: {}.", e.reason))
                .unwrap_or_else(|| "Choose another password.".to_owned());
            Mailed::ResetPassword.form(
                &ctx,
                Page::new(),
                token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&reason),
            )
        }
        Err(e) => Mailed::ResetPassword.failed(&ctx, &e),
    }
}

/// `POST /realms/{realm}/confirm-email-change`: switches the account to
/// the new address.
async fn email_change_post(form: PageForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let spend = async |token: &str| s.core.links().confirm_email_change(realm, token).await;
    let words: (&str, fn(&str) -> String) = ("Address changed", |email| {
        format!("Your account now uses {email}. You can close this window.")
    });
    confirm(Mailed::EmailChange, &form, spend, words).await
}

/// `POST /realms/{realm}/login/magic-link`: "E-mail me a sign-in link" on
/// the login form.
async fn magic_link_request(
    ClientMeta(meta): ClientMeta,
    RequestForm { form, req }: RequestForm,
) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, form.realm());
    let email = form.get("email").unwrap_or("").trim();
    if !s.core.mail().can_send() {
        return ctx
            .login_page(
                Page::new(),
                &req,
                StatusCode::BAD_REQUEST,
                email,
                Some("Sign-in links are not available here; sign in with your password."),
            )
            .await;
    }
    match s.core.links().request_magic_link(realm, email, &meta).await {
        Ok(requested) => {
            let mut page = Page::new();
            let ttl = i64::try_from(requested.expires_in).unwrap_or(600);
            page.cookies.push(ctx.set_cookie(
                MAGIC_COOKIE,
                requested.attempt.expose_secret(),
                Some(ttl),
            ));
            let kept = (req.encoded.len() <= MAX_REQUEST_COOKIE).then_some(req.encoded.as_str());
            page.cookies.push(match kept {
                Some(request) => ctx.set_cookie(MAGIC_REQUEST_COOKIE, request, Some(ttl)),
                None => ctx.set_cookie(MAGIC_REQUEST_COOKIE, "", Some(0)),
            });
            ctx.message_page(
                page,
                "Check your e-mail",
                &format!(
                    "If an account uses {email}, a sign-in link is on its way to it. Open the link in this browser within {} minutes.",
                    ttl / 60
                ),
            )
        }
        Err(Error::Validation(_) | Error::InvalidInput(_)) => {
            ctx.login_page(
                Page::new(),
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                Some("Enter your e-mail address to get a sign-in link."),
            )
            .await
        }
        Err(e) => match login_error(&e) {
            Some((status, message)) => {
                ctx.login_page(Page::new(), &req, status, email, Some(&message))
                    .await
            }
            None => ctx.unavailable(),
        },
    }
}

/// `POST /realms/{realm}/magic-link`: signs in with the link and this
/// browser's attempt, then goes on with the authorization request that
/// asked for the link (or to the second step of the login).
async fn magic_link_post(ClientMeta(meta): ClientMeta, form: PageForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let token = form.get("token").unwrap_or("");
    let attempt = cookie(ctx.headers, MAGIC_COOKIE).unwrap_or_default();
    let request = kept_request(&ctx).await;
    let login = s
        .core
        .links()
        .browser_magic_link_login(realm, token, &attempt, &meta)
        .await;
    let mut page = Page::new();
    if login.is_ok() {
        // The attempt is over; its cookies go.
        page.cookies.push(ctx.set_cookie(MAGIC_COOKIE, "", Some(0)));
        page.cookies
            .push(ctx.set_cookie(MAGIC_REQUEST_COOKIE, "", Some(0)));
    }
    match (login, request) {
        (Ok(BrowserLogin::Session(session, secret)), Some(req)) => {
            signed_in(&ctx, page, &req, *session, secret).await
        }
        (Ok(BrowserLogin::Session(session, secret)), None) => {
            // No client to go back to: this browser is signed in.
            start_sso(&ctx, &mut page, &session, &secret).await;
            ctx.message_page(
                page,
                "Signed in",
                "You are signed in. Go back to the application.",
            )
        }
        (Ok(BrowserLogin::MfaRequired(required)), Some(req)) => {
            ctx.mfa_page(
                page,
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
        (Ok(BrowserLogin::MfaRequired(_)), None) => ctx.error_page(
            StatusCode::BAD_REQUEST,
            "Sign in from the application",
            "This account needs a second step, which this link cannot start on its own. Go back to the application and sign in there.",
        ),
        (Err(e), _) => Mailed::Magic.failed(&ctx, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_has_its_page() {
        for link in [
            Mailed::VerifyEmail,
            Mailed::ResetPassword,
            Mailed::EmailChange,
            Mailed::Magic,
        ] {
            let body = LinkPage {
                realm_name: "Main",
                nonce: "n",
                title: link.words().0,
                message: link.words().1,
                action: format!("/realms/main/{}", link.path()),
                csrf_token: "c",
                token: "\"><script>",
                button: link.words().2,
                password_min_length: (link == Mailed::ResetPassword).then_some(12),
                error: None,
            }
            .render()
            .unwrap();
            assert!(body.contains(&format!("action=\"/realms/main/{}\"", link.path())));
            assert!(!body.contains("\"><script>"), "the token is escaped");
            assert_eq!(
                body.contains("autocomplete=\"new-password\""),
                link == Mailed::ResetPassword
            );
        }
    }
}
