//! How the pages read what a browser sends: an endpoint's parameters (the
//! query of a GET, the body of a POST), and a form posted from one of our
//! pages, checked (CSRF token, origin) together with the authorization
//! request it carries.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts as _, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::model::Realm;
use portcullis_oidc::Form;
use portcullis_oidc::authorize::AuthRequest;

use super::render::Ctx;
use crate::extract::RealmCtx;
use crate::state::AppState;

/// An endpoint's parameters: the query of a GET, the form body of a POST.
pub(crate) struct RequestParams(pub(super) Result<Form<'static>, portcullis_oidc::OAuthError>);

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

/// A form posted from one of our pages, checked: readable, with the
/// browser's CSRF token, from our origin; with what its handler needs (the
/// realm and the request's headers). A form that fails the checks is
/// answered at once with an error page.
pub(super) struct PageForm {
    state: AppState,
    realm: Arc<Realm>,
    headers: HeaderMap,
    form: Form<'static>,
}

impl PageForm {
    /// The context of the form's handler.
    pub(super) fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.state, &self.realm, &self.headers)
    }

    /// The realm the form was posted to.
    pub(super) fn realm(&self) -> &Arc<Realm> {
        &self.realm
    }

    /// A field of the form.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }
}

impl FromRequest<AppState> for PageForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let RealmCtx(realm) = RealmCtx::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = our_form(&Ctx::new(state, &realm, &headers), &body)?.into_owned();
        Ok(Self {
            state: state.clone(),
            realm,
            headers,
            form,
        })
    }
}

/// A login or consent form and the authorization request it carries,
/// checked again.
pub(super) struct RequestForm {
    pub(super) form: PageForm,
    pub(super) req: AuthRequest,
}

impl FromRequest<AppState> for RequestForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let form = PageForm::from_request(req, state).await?;
        let req = submitted_request(&form.ctx(), &form.form).await?;
        Ok(Self { form, req })
    }
}

/// The authorization request a form carries, checked again.
async fn submitted_request(ctx: &Ctx<'_>, form: &Form<'_>) -> Result<AuthRequest, Response> {
    let inner =
        Form::parse_urlencoded(form.get("request").unwrap_or("").as_bytes()).map_err(|e| {
            ctx.error_page(
                StatusCode::BAD_REQUEST,
                "This form is not valid",
                &e.error_description,
            )
        })?;
    ctx.check(&inner).await
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
