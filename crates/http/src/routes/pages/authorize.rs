//! `{issuer}/oauth2/authorize`: checks an authorization request and takes
//! it to its next step (the login page, the consent page, or the answer to
//! the client), which every later step does again.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::model::{Realm, Session};
use portcullis_oidc::Form;
use portcullis_oidc::authorize::{self, AuthRequest, AuthResponse, Next, Rejection, ResponseMode};

use super::form::RequestParams;
use super::render::{Ctx, Page, csp_source};
use crate::extract::RealmCtx;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    nonce: &'a str,
    action: &'a str,
    params: &'a [(&'static str, String)],
}

impl Ctx<'_> {
    /// Delivers a code or an error to the client.
    pub(super) fn respond(&self, mut page: Page, res: &AuthResponse) -> Response {
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
    pub(super) async fn check(&self, form: &Form<'_>) -> Result<AuthRequest, Response> {
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

    pub(super) async fn next(
        &self,
        page: Page,
        req: &AuthRequest,
        session: Option<&Session>,
        fresh: bool,
    ) -> Response {
        let decided =
            authorize::decide(&self.state.core, self.realm, req, session, fresh, false).await;
        self.answer(page, req, session, decided).await
    }

    /// The page or redirect a decision on an authorization request leads
    /// to.
    async fn answer(
        &self,
        page: Page,
        req: &AuthRequest,
        session: Option<&Session>,
        decided: Result<Next, portcullis_oidc::OAuthError>,
    ) -> Response {
        match decided {
            Ok(Next::Login) => self.login_page(page, req, StatusCode::OK, "", None).await,
            Ok(Next::Consent) => match session {
                Some(s) => self.consent_page(page, req, s).await,
                None => self.unavailable(),
            },
            Ok(Next::Respond(res)) => self.respond(page, &res),
            Err(_) => self.unavailable(),
        }
    }
}

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
    let session = session.as_ref();
    let decided = authorize::decide(&s.core, realm, &req, session, false, false).await;
    // `idp_hint`: straight to that provider when the login page would show.
    if let (Ok(Next::Login), Some(hint)) = (&decided, &req.idp_hint)
        && let Ok(provider) = s.core.federation().for_sign_in(realm.id, hint).await
    {
        return ctx.go_upstream(Page::new(), &req, &provider).await;
    }
    ctx.answer(Page::new(), &req, session, decided).await
}

/// `GET` or `POST {issuer}/oauth2/authorize`.
#[utoipa::path(method(get, post), path = "/realms/{realm}/oauth2/authorize", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name"), crate::routes::oauth_doc::AuthorizeParams),
    responses(
        (status = 200, description = "The login or consent page", content_type = "text/html"),
        (status = 302, description = "Back to the client with a code or an error, or to an upstream provider"),
        (status = 400, description = "A request that cannot be sent back to the client (page)", content_type = "text/html"),
    ))]
pub(crate) async fn authorize_endpoint(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    RequestParams(form): RequestParams,
) -> Response {
    authorize(&s, &realm, &headers, form).await
}
