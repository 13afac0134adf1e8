//! The second step of a login: a code (authenticator app, backup code, or
//! one sent by e-mail or SMS), or a passkey or security key.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::Error;
use portcullis_core::mfa::ChallengePurpose;
use portcullis_oidc::authorize::AuthRequest;

use super::form::RequestForm;
use super::login::{login_error, signed_in};
use super::render::{Ctx, Page, WEBAUTHN_JS};
use crate::extract::ClientMeta;

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

impl Ctx<'_> {
    /// The second step of a login. For a user with a passkey or security
    /// key it starts a WebAuthn ceremony, whose options the page's script
    /// hands to the browser.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn mfa_page(
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
}

/// `POST /realms/{realm}/login/mfa`: the second step of the login form.
pub(super) async fn login_mfa_post(
    ClientMeta(meta): ClientMeta,
    RequestForm { form, req }: RequestForm,
) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
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
        let sent = mfa.send_code(realm, mfa_token, channel).await;
        if let Ok(sent) = &sent {
            let notice = format!("A code was sent to {}.", sent.sent_to);
            if let Ok(methods) = mfa
                .challenge_methods(realm, mfa_token, ChallengePurpose::Browser)
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
        .complete_browser_login(realm, mfa_token, method, code, &meta)
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
        ).await,
        Err(_) => ctx.unavailable(),
    }
}
