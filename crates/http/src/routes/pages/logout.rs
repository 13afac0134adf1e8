//! RP-initiated logout: `{issuer}/oauth2/logout`, and its confirmation
//! form when the request does not prove which session it ends.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::model::{Realm, Session};
use portcullis_oidc::Form;
use portcullis_oidc::logout::{self, LogoutRequest};

use super::form::{PageForm, RequestParams};
use super::render::{Ctx, Page, SSO_COOKIE};
use crate::extract::RealmCtx;
use crate::state::AppState;

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
#[utoipa::path(method(get, post), path = "/realms/{realm}/oauth2/logout", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name"), crate::routes::oauth_doc::LogoutParams),
    responses(
        (status = 200, description = "The confirmation or the signed-out page", content_type = "text/html"),
        (status = 302, description = "To the client's post-logout redirect URI"),
        (status = 400, description = "A wrong request (page)", content_type = "text/html"),
    ))]
pub(crate) async fn logout_endpoint(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    RequestParams(form): RequestParams,
) -> Response {
    logout(&s, &realm, &headers, form).await
}

/// `POST /realms/{realm}/logout`: the logout confirmation form.
pub(super) async fn logout_confirm(form: PageForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let inner = Form::parse_urlencoded(form.get("request").unwrap_or("").as_bytes());
    let req = match inner {
        Ok(inner) => match logout::check(&s.core, realm, &inner).await {
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
