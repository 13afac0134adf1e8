//! Social sign-in in the browser: the login page's "Continue with ..."
//! buttons (and `idp_hint`), the callback every upstream sign-in comes
//! back to (`GET|POST /api/v1/auth/social/{alias}/callback`, also under
//! `/api/v1/realms/{realm}/`), and the page that confirms a link to an
//! existing account with its password.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use portcullis_core::accounts::BrowserLogin;
use portcullis_core::federation::{Continuation, IdentityProvider, LinkProof, Step};
use portcullis_oidc::Form;
use portcullis_oidc::authorize::AuthRequest;
use portcullis_oidc::upstream::flow::{self, BINDING_COOKIE, CallbackParams, Landing};
use secrecy::{ExposeSecret as _, SecretString};

use super::form::{PageForm, RequestParams};
use super::login::signed_in;
use super::render::{Ctx, Page, cookie};
use crate::extract::{ClientMeta, Params, RealmCtx};
use crate::routes::federation::{callback_of, go_upstream};
use crate::routes::realm_route;
use crate::state::AppState;

/// The routes of this module.
pub(super) fn router() -> Router<AppState> {
    let r = Router::new()
        .route("/realms/{realm}/login/social/confirm", post(confirm_post))
        .route(
            "/realms/{realm}/login/social/confirm-mail",
            post(confirm_mail_post),
        )
        .route(
            "/realms/{realm}/login/social/mailed",
            get(mailed_get).post(mailed_post),
        )
        .route("/realms/{realm}/login/social/{alias}", get(start_get));
    realm_route(
        r,
        "/auth/social/{alias}/callback",
        get(callback).post(callback),
    )
}

#[derive(Template)]
#[template(path = "social_confirm.html")]
struct ConfirmPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    label: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    has_password: bool,
    action: String,
    csrf_token: &'a str,
    alias: &'a str,
    handle: &'a str,
    passkey_start: String,
    mail_action: Option<String>,
    script: &'static str,
}

#[derive(Template)]
#[template(path = "social_mailed.html")]
struct MailedPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    label: &'a str,
    action: String,
    csrf_token: &'a str,
    alias: &'a str,
    token: &'a str,
}

impl Ctx<'_> {
    /// Starts an upstream sign-in for an authorization request: the
    /// browser goes to the provider with its binding cookie.
    pub(super) async fn go_upstream(
        &self,
        mut page: Page,
        req: &AuthRequest,
        provider: &IdentityProvider,
    ) -> Response {
        let next = Continuation::Authorize {
            request: req.encoded.clone(),
        };
        match go_upstream(self.state, self.realm, provider, next, self.headers).await {
            Ok((location, cookie)) => {
                page.cookies.push(cookie);
                page.allow_form_target(&location);
                page.redirect(&location)
            }
            Err(e) => {
                let message = flow::message(&e);
                self.login_page(page, req, StatusCode::BAD_GATEWAY, "", Some(&message))
                    .await
            }
        }
    }

    /// Shows where an upstream sign-in (or a confirmed link) lands.
    async fn land(&self, landing: Landing) -> Response {
        match landing {
            Landing::Authorize { request, outcome } => {
                let Ok(form) = Form::parse_urlencoded(request.as_bytes()) else {
                    return self.unavailable();
                };
                let req = match self.check(&form).await {
                    Ok(r) => r,
                    Err(res) => return res,
                };
                match outcome {
                    BrowserLogin::Session(session, secret) => {
                        signed_in(self, Page::new(), &req, *session, secret).await
                    }
                    BrowserLogin::MfaRequired(required) => {
                        self.mfa_page(
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
                }
            }
            Landing::AuthorizeFailed { request, message } => {
                let Ok(form) = Form::parse_urlencoded(request.as_bytes()) else {
                    return self.unavailable();
                };
                match self.check(&form).await {
                    Ok(req) => {
                        self.login_page(
                            Page::new(),
                            &req,
                            StatusCode::BAD_REQUEST,
                            "",
                            Some(&message),
                        )
                        .await
                    }
                    Err(res) => res,
                }
            }
            Landing::ConfirmLink {
                handle,
                alias,
                label,
                email,
                has_password,
                next,
            } => {
                let target = self.target_of(&next).await;
                self.confirm_page(&handle, &alias, &label, &email, has_password, target)
            }
            Landing::Redirect(location) => {
                let mut page = Page::new();
                page.allow_form_target(&location);
                page.redirect(&location)
            }
        }
    }

    /// Where a continuation ends at the client: the redirect URI its forms
    /// (and their redirects) must be allowed to reach.
    async fn target_of(&self, next: &Continuation) -> Option<String> {
        match next {
            Continuation::Authorize { request } => {
                let form = Form::parse_urlencoded(request.as_bytes()).ok()?;
                self.check(&form).await.ok().map(|req| req.redirect_uri)
            }
            Continuation::Client { redirect_uri, .. } | Continuation::Link { redirect_uri, .. } => {
                Some(redirect_uri.clone())
            }
        }
    }

    fn confirm_page(
        &self,
        handle: &SecretString,
        alias: &str,
        label: &str,
        email: &str,
        has_password: bool,
        target: Option<String>,
    ) -> Response {
        let error: Option<&str> = None;
        let mut page = Page::new();
        if let Some(t) = &target {
            page.allow_form_target(t);
        }
        let csrf = self.csrf(&mut page);
        let body = ConfirmPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            label,
            email,
            error,
            has_password,
            action: self.path("login/social/confirm"),
            csrf_token: &csrf,
            alias,
            handle: handle.expose_secret(),
            passkey_start: format!("/api/v1/realms/{}/auth/passkey/start", self.realm.name),
            mail_action: self
                .state
                .core
                .mail()
                .can_send()
                .then(|| self.path("login/social/confirm-mail")),
            script: super::render::WEBAUTHN_JS,
        }
        .render();
        page.finish(StatusCode::OK, body, true)
    }
}

/// `GET /realms/{realm}/login/social/{alias}?{request}`: a "Continue with
/// ..." link of the login page, carrying the authorization request. A
/// link, not a form: the page's `form-action` could not name every
/// provider's origin, and starting a sign-in changes nothing here.
async fn start_get(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    p: Params,
    RequestParams(form): RequestParams,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
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
    let alias = p.text("alias").unwrap_or("");
    match s.core.federation().for_sign_in(realm.id, alias).await {
        Ok(provider) => ctx.go_upstream(Page::new(), &req, &provider).await,
        Err(_) => {
            ctx.login_page(
                Page::new(),
                &req,
                StatusCode::NOT_FOUND,
                "",
                Some("This way of signing in is not available."),
            )
            .await
        }
    }
}

/// `GET|POST .../auth/social/{alias}/callback`: where every upstream
/// sign-in comes back (`form_post` providers POST).
async fn callback(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    p: Params,
    RequestParams(params): RequestParams,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let title = "The sign-in could not be completed";
    let Ok(params) = params else {
        return ctx.error_page(
            StatusCode::BAD_REQUEST,
            title,
            "The provider's answer could not be read.",
        );
    };
    let alias = p.text("alias").unwrap_or("");
    let provider = match s.core.federation().for_sign_in(realm.id, alias).await {
        Ok(p) => p,
        Err(_) => {
            return ctx.error_page(
                StatusCode::NOT_FOUND,
                title,
                "This way of signing in is not available.",
            );
        }
    };
    let got = CallbackParams {
        code: params.get("code"),
        state: params.get("state"),
        error: params.get("error"),
        error_description: params.get("error_description"),
        user: params.get("user"),
    };
    let binding = cookie(&headers, BINDING_COOKIE);
    let callback = callback_of(&s, &realm, alias);
    match flow::callback(
        &s.core,
        &s.upstream,
        &realm,
        &provider,
        &got,
        binding.as_deref(),
        &callback,
        &meta,
    )
    .await
    {
        Ok(landing) => ctx.land(landing).await,
        Err(e) => {
            if let flow::Failure::Core(portcullis_core::Error::BadRequest(_)) = &e {
                return ctx.error_page(StatusCode::BAD_REQUEST, title, &flow::message(&e));
            }
            match &e {
                flow::Failure::Core(err) => {
                    tracing::warn!(error = %err, "a social callback failed")
                }
                flow::Failure::Upstream(err) => {
                    tracing::warn!(error = %err, "a social callback failed")
                }
            }
            ctx.error_page(StatusCode::BAD_GATEWAY, title, &flow::message(&e))
        }
    }
}

/// `POST /realms/{realm}/login/social/confirm`: the password, or a
/// passkey, of the account a pending link goes to.
async fn confirm_post(ClientMeta(meta): ClientMeta, form: PageForm) -> Response {
    let proof = match (form.get("ceremony_id"), form.get("credential")) {
        (Some(c), Some(cred)) if !c.is_empty() => {
            let ceremony = uuid::Uuid::parse_str(c).ok();
            let credential = serde_json::from_str::<serde_json::Value>(cred).ok();
            match (ceremony, credential) {
                (Some(ceremony_id), Some(credential)) => LinkProof::Passkey {
                    ceremony_id,
                    credential,
                },
                _ => {
                    return form.ctx().error_page(
                        StatusCode::BAD_REQUEST,
                        "The account could not be linked",
                        "The passkey's answer could not be read; start again.",
                    );
                }
            }
        }
        _ => LinkProof::Password(SecretString::from(
            form.get("password").unwrap_or("").to_owned(),
        )),
    };
    let handle = form.get("handle").unwrap_or("").to_owned();
    confirm(&form, &meta, &handle, proof).await
}

async fn confirm(
    form: &PageForm,
    meta: &portcullis_core::accounts::RequestMeta,
    handle: &str,
    proof: LinkProof,
) -> Response {
    let ctx = form.ctx();
    let s = ctx.state;
    let title = "The account could not be linked";
    let alias = form.get("provider").unwrap_or("");
    let Ok(provider) = s.core.federation().for_sign_in(ctx.realm.id, alias).await else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            title,
            "This way of signing in is not available.",
        );
    };
    let binding = cookie(ctx.headers, BINDING_COOKIE);
    match flow::confirm(
        &s.core,
        ctx.realm,
        &provider,
        handle,
        binding.as_deref(),
        proof,
        meta,
    )
    .await
    {
        Ok(landing) => ctx.land(landing).await,
        Err(e) => ctx.error_page(StatusCode::BAD_REQUEST, title, &flow::message(&e)),
    }
}

/// `POST /realms/{realm}/login/social/confirm-mail`: mails the proof of a
/// pending link to the account's address.
async fn confirm_mail_post(form: PageForm) -> Response {
    let ctx = form.ctx();
    let s = ctx.state;
    let title = "The account could not be linked";
    let alias = form.get("provider").unwrap_or("");
    let handle = form.get("handle").unwrap_or("");
    let Ok(provider) = s.core.federation().for_sign_in(ctx.realm.id, alias).await else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            title,
            "This way of signing in is not available.",
        );
    };
    let binding = cookie(ctx.headers, BINDING_COOKIE);
    match s
        .core
        .federation()
        .mail_link_proof(ctx.realm, &provider, handle, binding.as_deref())
        .await
    {
        Ok(email) => ctx.message_page(
            Page::new(),
            "Check your mailbox",
            &format!(
                "We sent a link to {email}. Open it in this browser within 10 minutes to link {} and sign in.",
                provider.label()
            ),
        ),
        Err(e) => ctx.error_page(
            StatusCode::BAD_REQUEST,
            title,
            &flow::message(&flow::Failure::Core(e)),
        ),
    }
}

/// `GET /realms/{realm}/login/social/mailed?provider=...&token=...`: the
/// mailed link. Opening it spends nothing; its button does the work.
async fn mailed_get(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    RequestParams(params): RequestParams,
) -> Response {
    let ctx = Ctx::new(&s, &realm, &headers);
    let (alias, token) = match &params {
        Ok(p) => (
            p.get("provider").unwrap_or(""),
            p.get("token").unwrap_or(""),
        ),
        Err(_) => ("", ""),
    };
    let Ok(provider) = s.core.federation().for_sign_in(realm.id, alias).await else {
        return ctx.error_page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "This way of signing in is not available.",
        );
    };
    let mut page = Page::new();
    let binding = cookie(&headers, BINDING_COOKIE);
    if let Ok(Some(Step::MailedLink { next, .. })) = s
        .core
        .federation()
        .peek(&provider, token, binding.as_deref())
        .await
        && let Some(target) = ctx.target_of(&next).await
    {
        page.allow_form_target(&target);
    }
    let csrf = ctx.csrf(&mut page);
    let body = MailedPage {
        realm_name: &realm.display_name,
        nonce: &page.nonce,
        label: provider.label(),
        action: ctx.path("login/social/mailed"),
        csrf_token: &csrf,
        alias: &provider.alias,
        token,
    }
    .render();
    page.html(StatusCode::OK, body)
}

/// `POST /realms/{realm}/login/social/mailed`: the mailed link's button.
async fn mailed_post(ClientMeta(meta): ClientMeta, form: PageForm) -> Response {
    let token = form.get("token").unwrap_or("").to_owned();
    confirm(&form, &meta, &token, LinkProof::Mailbox).await
}
