//! Magic links (`/api/v1/auth/magic-link`, `/auth/magic-link/verify`) and
//! e-mail change (`/api/v1/auth/change-email`, `/auth/confirm-email-change`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use portcullis_core::accounts::LoginOutcome;
use portcullis_core::mfa::Reauthentication;
use portcullis_proto::{
    AcceptedResponse, ChangeEmailRequest, ConfirmEmailChangeRequest, LoginResponse,
    MagicLinkAccepted, MagicLinkRequest, MagicLinkVerifyRequest, Problem,
};
use secrecy::{ExposeSecret, SecretString};

use super::realm_route;
use super::respond::{mfa_required_response, token_response};
use crate::error::ApiError;
use crate::extract::{Authenticated, ClientMeta, Json, RealmCtx};
use crate::state::AppState;

/// The one answer to a magic-link request.
const LINK_ACCEPTED: &str =
    "If an account uses this address, a sign-in link has been sent to it. Open it in this browser.";

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/auth/magic-link", post(magic_link_post));
    r = realm_route(r, "/auth/magic-link/verify", post(magic_link_verify_post));
    r = realm_route(r, "/auth/change-email", post(change_email_post));
    r = realm_route(
        r,
        "/auth/confirm-email-change",
        post(confirm_email_change_post),
    );
    r
}

/// Ask for a sign-in link by e-mail. The answer is the same whether or not
/// the address has an account: keep its `attempt` in the browser that asked
/// and send it with the link's token to `POST /api/v1/auth/magic-link/verify`.
#[utoipa::path(post, path = "/api/v1/auth/magic-link", tag = "auth",
    request_body = MagicLinkRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = MagicLinkAccepted),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn magic_link_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<MagicLinkRequest>,
) -> Result<(StatusCode, axum::Json<MagicLinkAccepted>), ApiError> {
    let requested = state
        .core
        .links()
        .request_magic_link(&realm, &body.email, &meta)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MagicLinkAccepted {
            message: LINK_ACCEPTED.to_owned(),
            attempt: requested.attempt.expose_secret().to_owned(),
            expires_in: requested.expires_in,
        }),
    ))
}

/// Complete a magic-link login with the link's token and the attempt that
/// asked for it: tokens with `amr` `["otp"]`, or, for a user who must pass
/// a second factor, `{mfa_required: true, mfa_token, methods}` (e-mail
/// codes are not offered after a magic link). A link works once, for ten
/// minutes, and only with its attempt.
#[utoipa::path(post, path = "/api/v1/auth/magic-link/verify", tag = "auth",
    request_body = MagicLinkVerifyRequest,
    responses(
        (status = 200, description = "Logged in, or a second step to complete", body = LoginResponse),
        (status = 422, description = "Unknown, expired or already used link, or another attempt's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account deactivated, or it needs a second factor other than e-mail", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The account is locked after failed logins; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn magic_link_verify_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<MagicLinkVerifyRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let outcome = state
        .core
        .links()
        .magic_link_login(&realm, &body.token, &body.attempt, &meta)
        .await?;
    Ok(axum::Json(match outcome {
        LoginOutcome::Tokens(tokens) => LoginResponse::Tokens(Box::new(token_response(*tokens))),
        LoginOutcome::MfaRequired(required) => {
            LoginResponse::MfaRequired(mfa_required_response(required))
        }
    }))
}

/// Ask to change the caller's address: a confirmation link goes to the new
/// address and a notice to the current one; nothing changes until the link
/// is used. Within five minutes of a login the proof may be left out;
/// later it is the password or a current code.
#[utoipa::path(post, path = "/api/v1/auth/change-email", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "The confirmation link is on its way", body = AcceptedResponse),
        (status = 401, description = "Missing or invalid access token, or a wrong password or code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account uses the new address", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address, the current one, or a refused domain", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn change_email_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<ChangeEmailRequest>,
) -> Result<(StatusCode, axum::Json<AcceptedResponse>), ApiError> {
    let proof = Reauthentication {
        password: body.password.map(SecretString::from),
        code: body.code,
    };
    state
        .core
        .links()
        .change_email(&who, &body.new_email, proof)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedResponse {
            message: "A confirmation link has been sent to the new address; the account keeps its current address until it is opened.".to_owned(),
        }),
    ))
}

/// Switch the account to its new address with the token of the
/// confirmation link. The address counts as verified; sessions are kept.
#[utoipa::path(post, path = "/api/v1/auth/confirm-email-change", tag = "auth",
    request_body = ConfirmEmailChangeRequest,
    responses(
        (status = 204, description = "The account uses the new address"),
        (status = 422, description = "Unknown, expired or already used token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account took the address meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn confirm_email_change_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<ConfirmEmailChangeRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .links()
        .confirm_email_change(&realm, &body.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
