//! How the pages read what a browser sends: an endpoint's parameters (the
//! query of a GET, the body of a POST), and a form posted from one of our
//! pages, checked (CSRF token, origin) together with the authorization
//! request it carries.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use portcullis_oidc::Form;
use portcullis_oidc::authorize::AuthRequest;

use super::render::Ctx;

/// An endpoint's parameters: the query of a GET, the form body of a POST.
pub(super) struct RequestParams(pub(super) Result<Form<'static>, portcullis_oidc::OAuthError>);

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

/// A login or consent form and the authorization request it carries,
/// checked again.
pub(super) async fn submitted_request<'b>(
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
pub(super) fn our_form<'b>(ctx: &Ctx<'_>, body: &'b Bytes) -> Result<Form<'b>, Response> {
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
