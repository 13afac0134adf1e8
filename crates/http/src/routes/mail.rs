//! E-mail verification, password reset (`/api/v1/auth/...`) and the
//! realm's mail templates (`/api/v1/mail-templates/{kind}`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use portcullis_core::Error;
use portcullis_core::mail::{EffectiveTemplate, MailKind, TemplateSource};
use portcullis_proto::{
    AcceptedResponse, ForgotPasswordRequest, MailTemplateView, Problem, PutMailTemplateRequest,
    ResetPasswordRequest, VerifyEmailRequest,
};
use secrecy::SecretString;

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Authenticated, ClientMeta, Json, Params, RealmCtx};
use crate::state::AppState;

/// The one answer to a reset request.
const RESET_ACCEPTED: &str =
    "If an account uses this address, a password-reset link has been sent to it.";

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/auth/verify-email", post(verify_email_post));
    r = realm_route(
        r,
        "/auth/resend-verification",
        post(resend_verification_post),
    );
    r = realm_route(r, "/auth/forgot-password", post(forgot_password_post));
    r = realm_route(r, "/auth/reset-password", post(reset_password_post));
    r = realm_route(
        r,
        "/mail-templates/{kind}",
        get(mail_template_get)
            .put(mail_template_put)
            .delete(mail_template_delete),
    );
    r
}

fn template_view(t: EffectiveTemplate) -> MailTemplateView {
    MailTemplateView {
        kind: t.kind.as_str().to_owned(),
        subject: t.source.subject,
        text: t.source.text,
        html: t.source.html,
        custom: t.custom,
        updated_at: t.updated_at,
    }
}

fn kind(params: &Params) -> Result<MailKind, ApiError> {
    MailKind::parse(params.text("kind")?).ok_or_else(|| Error::NotFound("mail kind").into())
}

/// Verify an email address with the token of a verification link.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 422, description = "Unknown, expired or already used token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn verify_email_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .recovery()
        .verify_email(&realm, &body.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the caller a new verification link (older links stop working).
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = AcceptedResponse),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is already verified", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn resend_verification_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<(StatusCode, axum::Json<AcceptedResponse>), ApiError> {
    state.core.recovery().resend_verification(&who).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedResponse {
            message: "A new verification link has been sent.".to_owned(),
        }),
    ))
}

/// Ask for a password-reset link. The answer is the same whether or not
/// the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address has an account)", body = AcceptedResponse),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn forgot_password_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<ForgotPasswordRequest>,
) -> Result<(StatusCode, axum::Json<AcceptedResponse>), ApiError> {
    state
        .core
        .recovery()
        .forgot_password(&realm, &body.email, &meta)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AcceptedResponse {
            message: RESET_ACCEPTED.to_owned(),
        }),
    ))
}

/// Set a new password with the token of a reset link. Every session of the
/// account ends, other reset links stop working, and the address counts as
/// verified.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 422, description = "Unknown, expired or already used token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the realm's policy (the token stays usable)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn reset_password_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .recovery()
        .reset_password(&realm, &body.token, SecretString::from(body.new_password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A kind's mail template in force in the realm (its override, else the default).
#[utoipa::path(get, path = "/api/v1/mail-templates/{kind}", tag = "mail",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "verify_email, password_reset, magic_link, email_otp, email_change or new_device")),
    responses(
        (status = 200, description = "The template", body = MailTemplateView),
        (status = 403, description = "Not an administrator of the realm", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn mail_template_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<MailTemplateView>, ApiError> {
    let mail = state.core.mail();
    let admin = mail.require_admin(&who).await?;
    let t = mail.template(&admin, kind(&params)?).await?;
    Ok(axum::Json(template_view(t)))
}

/// Override a kind's mail template for the realm. The template must compile
/// and render with sample values.
#[utoipa::path(put, path = "/api/v1/mail-templates/{kind}", tag = "mail",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "verify_email, password_reset, magic_link, email_otp, email_change or new_device")),
    request_body = PutMailTemplateRequest,
    responses(
        (status = 200, description = "The override in force", body = MailTemplateView),
        (status = 403, description = "Not an administrator of the realm", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A part does not compile or render, or is too long", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn mail_template_put(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<PutMailTemplateRequest>,
) -> Result<axum::Json<MailTemplateView>, ApiError> {
    let mail = state.core.mail();
    let admin = mail.require_fresh_admin(&who).await?;
    let source = TemplateSource {
        subject: body.subject,
        text: body.text,
        html: body.html,
    };
    let t = mail.put_template(&admin, kind(&params)?, source).await?;
    Ok(axum::Json(template_view(t)))
}

/// Remove the realm's override of a kind: the default applies again.
#[utoipa::path(delete, path = "/api/v1/mail-templates/{kind}", tag = "mail",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "verify_email, password_reset, magic_link, email_otp, email_change or new_device")),
    responses(
        (status = 204, description = "Override removed"),
        (status = 403, description = "Not an administrator of the realm", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such kind, or no override", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn mail_template_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let mail = state.core.mail();
    let admin = mail.require_fresh_admin(&who).await?;
    mail.delete_template(&admin, kind(&params)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
