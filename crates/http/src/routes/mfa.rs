//! `/api/v1/mfa/*`: the caller's second factors, and the second step of a
//! login.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use portcullis_core::mfa::{
    ChallengePurpose, CodeSent, FactorKind, METHOD_EMAIL, METHOD_SMS, MfaFactor, MfaStatus,
    PasskeyOptions, Reauthentication, TotpEnrolment,
};
use portcullis_proto::{
    BackupCodesResponse, CodeEnrolmentResponse, CodeVerifyRequest, CodeVerifyResponse,
    MfaChallengeRequest, MfaChallengeResponse, MfaMethodView, MfaMethodsResponse, MfaSetupRequest,
    MfaSetupResponse, MfaVerifyRequest, PasskeyLoginRequest, PasskeyOptionsResponse, Problem,
    ReauthRequest, TokenDelivery, TokenResponse, TotpEnrolmentResponse, TotpValidateRequest,
    TotpVerifyRequest, TotpVerifyResponse, WebauthnRegisterRequest, WebauthnRegisterResponse,
};
use secrecy::{ExposeSecret, SecretString};

use super::realm_route;
use super::respond::{canary_headers, cookie_login_response, token_response};
use crate::error::ApiError;
use crate::extract::{Authenticated, ClientMeta, Json, OptionalJson, Params, RealmCtx};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/mfa/verify", post(verify_post));
    r = realm_route(r, "/mfa/totp/validate", post(totp_validate_post));
    r = realm_route(r, "/mfa/methods", get(methods_get));
    r = realm_route(r, "/mfa/devices", get(devices_get));
    r = realm_route(r, "/mfa/methods/{id}", delete(method_delete));
    r = realm_route(r, "/mfa/setup", post(setup_post));
    r = realm_route(r, "/mfa/totp/enable", post(totp_enable_post));
    r = realm_route(r, "/mfa/totp/verify", post(totp_verify_post));
    r = realm_route(r, "/mfa/totp/disable", post(totp_disable_post));
    r = realm_route(r, "/mfa/email/verify", post(email_verify_post));
    r = realm_route(r, "/mfa/sms/verify", post(sms_verify_post));
    r = realm_route(r, "/mfa/backup-codes/regenerate", post(backup_codes_post));
    r = realm_route(r, "/mfa/challenge", post(challenge_post));
    r = realm_route(r, "/mfa/webauthn/register/start", post(webauthn_start_post));
    r = realm_route(
        r,
        "/mfa/webauthn/register/finish",
        post(webauthn_finish_post),
    );
    r = realm_route(r, "/auth/passkey/start", post(passkey_start_post));
    r = realm_route(r, "/auth/passkey/finish", post(passkey_finish_post));
    r
}

fn reauth(password: Option<String>, code: Option<String>) -> Reauthentication {
    Reauthentication {
        password: password.map(SecretString::from),
        code,
    }
}

fn enrolment_response(e: TotpEnrolment) -> TotpEnrolmentResponse {
    TotpEnrolmentResponse {
        id: e.factor_id,
        method: "totp".to_owned(),
        secret: e.secret.expose_secret().to_owned(),
        otpauth_uri: e.otpauth_uri.expose_secret().to_owned(),
        qr_code: e.qr_code.expose_secret().to_owned(),
    }
}

fn method_view(f: MfaFactor, target: Option<String>) -> MfaMethodView {
    MfaMethodView {
        id: f.id,
        method: f.kind.as_str().to_owned(),
        name: f.name,
        target,
        confirmed: f.confirmed_at.is_some(),
        created_at: f.created_at,
        last_used_at: f.last_used_at,
    }
}

fn methods_response(status: MfaStatus) -> MfaMethodsResponse {
    let targets = status.targets;
    let target_of = |id| {
        targets
            .iter()
            .find(|(f, _)| *f == id)
            .map(|(_, t)| t.clone())
    };
    MfaMethodsResponse {
        mfa_enabled: status.factors.iter().any(|f| f.confirmed_at.is_some()),
        mfa_required: status.required_by_role,
        methods: status
            .factors
            .into_iter()
            .map(|f| {
                let target = target_of(f.id);
                method_view(f, target)
            })
            .collect(),
        backup_codes_remaining: status.backup_codes_remaining,
    }
}

fn code_enrolment_response(sent: CodeSent) -> CodeEnrolmentResponse {
    CodeEnrolmentResponse {
        id: sent.factor_id.unwrap_or_default(),
        method: sent.method.to_owned(),
        sent_to: sent.sent_to,
        expires_in: sent.expires_in,
    }
}

fn options_response(o: PasskeyOptions) -> PasskeyOptionsResponse {
    PasskeyOptionsResponse {
        ceremony_id: o.ceremony_id,
        options: o.options,
    }
}

/// Complete a login's second step: the tokens. For `email` and `sms` the
/// code is the one last sent by `POST /api/v1/mfa/challenge` (single use;
/// five wrong codes end the login). With `refresh_token_delivery: "cookie"`
/// the refresh token goes to the cookies of cookie mode, as on
/// `POST /api/v1/auth/login`.
#[utoipa::path(post, path = "/api/v1/mfa/verify", tag = "mfa",
    request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Logged in; `amr` names both steps (in cookie mode a `CookieTokenResponse` and the cookies)", body = TokenResponse),
        (status = 422, description = "A method the login does not offer, or cookie delivery on a plain-http public URL", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong code, or an invalid, spent or expired mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn verify_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<MfaVerifyRequest>,
) -> Result<Response, ApiError> {
    let cookie = body.refresh_token_delivery == TokenDelivery::Cookie;
    if cookie {
        crate::cookie_mode::ensure_available(&state)?;
    }
    // A WebAuthn answer travels as JSON; the domain reads it as the code.
    let code = match (&body.credential, body.method.as_str()) {
        (Some(credential), "webauthn") => credential.to_string(),
        _ => body.code,
    };
    let tokens = state
        .core
        .accounts()
        .complete_login(&realm, &body.mfa_token, &body.method, &code, &meta)
        .await?;
    if cookie {
        let (headers, body) = cookie_login_response(&state, tokens);
        return Ok((headers, axum::Json(body)).into_response());
    }
    Ok((
        canary_headers(&state, &tokens),
        axum::Json(token_response(tokens)),
    )
        .into_response())
}

/// Complete a login's second step with a TOTP code.
#[utoipa::path(post, path = "/api/v1/mfa/totp/validate", tag = "mfa",
    request_body = TotpValidateRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong code, or an invalid, spent or expired mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn totp_validate_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<TotpValidateRequest>,
) -> Result<(HeaderMap, axum::Json<TokenResponse>), ApiError> {
    let tokens = state
        .core
        .accounts()
        .complete_login(&realm, &body.mfa_token, "totp", &body.code, &meta)
        .await?;
    Ok((
        canary_headers(&state, &tokens),
        axum::Json(token_response(tokens)),
    ))
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/mfa/methods", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The factors", body = MfaMethodsResponse),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn methods_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<MfaMethodsResponse>, ApiError> {
    let status = state.core.mfa().status(&who.realm, who.user_id).await?;
    Ok(axum::Json(methods_response(status)))
}

/// The caller's second factors (the same as `GET /api/v1/mfa/methods`).
#[utoipa::path(get, path = "/api/v1/mfa/devices", tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The factors", body = MfaMethodsResponse),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn devices_get(
    state: State<AppState>,
    who: Authenticated,
) -> Result<axum::Json<MfaMethodsResponse>, ApiError> {
    methods_get(state, who).await
}

/// Remove one of the caller's factors. Within five minutes of a login the
/// body may be empty; later it carries the password or a current code.
#[utoipa::path(delete, path = "/api/v1/mfa/methods/{id}", tag = "mfa",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Factor id")),
    request_body(content = ReauthRequest, description = "Optional proof of a recent authentication"),
    responses(
        (status = 204, description = "Removed; with no factor left, the backup codes go too"),
        (status = 401, description = "Missing or invalid access token, or a wrong password or code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such factor of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn method_delete(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    params: Params,
    OptionalJson(body): OptionalJson<ReauthRequest>,
) -> Result<StatusCode, ApiError> {
    let id = params.id("id", "MFA method")?;
    state
        .core
        .mfa()
        .delete_factor(&who, id, reauth(body.password, body.code))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set up a second factor. `{method: "totp"}` starts a TOTP enrolment
/// (the secret, shown once; confirm with `POST /api/v1/mfa/totp/verify`).
/// `{method: "email"}` sends a code to the account's address and
/// `{method: "sms", phone}` one to the phone number (E.164); confirm with
/// `POST /api/v1/mfa/email/verify` or `/api/v1/mfa/sms/verify`. Needs a
/// recent authentication.
#[utoipa::path(post, path = "/api/v1/mfa/setup", tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaSetupRequest,
    responses(
        (status = 201, description = "Enrolment started; confirm it with a first code", body = MfaSetupResponse),
        (status = 400, description = "SMS not offered (no SMS gateway configured)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown method or a phone number not in E.164 form", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already enrolled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many enrolments started; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn setup_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<MfaSetupRequest>,
) -> Result<(StatusCode, axum::Json<MfaSetupResponse>), ApiError> {
    let mfa = state.core.mfa();
    let proof = reauth(body.password, body.code);
    let answer = match body.method.as_str() {
        "totp" => MfaSetupResponse::Totp(enrolment_response(mfa.enable_totp(&who, proof).await?)),
        METHOD_EMAIL => {
            MfaSetupResponse::Code(code_enrolment_response(mfa.setup_email(&who, proof).await?))
        }
        METHOD_SMS => MfaSetupResponse::Code(code_enrolment_response(
            mfa.setup_sms(&who, proof, body.phone.as_deref()).await?,
        )),
        _ => {
            return Err(portcullis_core::Error::input(
                "method",
                "must be one of: totp, email, sms",
            )
            .into());
        }
    };
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// Confirm the e-mail enrolment with the code sent to the account's
/// address (which then counts as verified). Five wrong codes end the
/// enrolment. The first factor also brings ten backup codes, shown once.
#[utoipa::path(post, path = "/api/v1/mfa/email/verify", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeVerifyRequest,
    responses(
        (status = 200, description = "Enabled", body = CodeVerifyResponse),
        (status = 409, description = "No enrolment pending (or it ended after five wrong codes or ten minutes)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the code that was sent", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn email_verify_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<CodeVerifyRequest>,
) -> Result<axum::Json<CodeVerifyResponse>, ApiError> {
    confirm_code_factor(&state, &who, FactorKind::Email, &body.code).await
}

/// Confirms a pending e-mail or SMS factor with the code sent to it.
async fn confirm_code_factor(
    state: &AppState,
    who: &portcullis_core::Principal,
    kind: FactorKind,
    code: &str,
) -> Result<axum::Json<CodeVerifyResponse>, ApiError> {
    let backup_codes = state
        .core
        .mfa()
        .confirm_code_factor(who, kind, code)
        .await?;
    Ok(axum::Json(CodeVerifyResponse {
        enabled: true,
        backup_codes,
    }))
}

/// Confirm the SMS enrolment with the code sent to the phone. Five wrong
/// codes end the enrolment. The first factor also brings ten backup
/// codes, shown once.
#[utoipa::path(post, path = "/api/v1/mfa/sms/verify", tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeVerifyRequest,
    responses(
        (status = 200, description = "Enabled", body = CodeVerifyResponse),
        (status = 409, description = "No enrolment pending (or it ended after five wrong codes or ten minutes)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the code that was sent", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn sms_verify_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<CodeVerifyRequest>,
) -> Result<axum::Json<CodeVerifyResponse>, ApiError> {
    confirm_code_factor(&state, &who, FactorKind::Sms, &body.code).await
}

/// Start a TOTP enrolment: the secret, its `otpauth://` URI and a QR code,
/// shown once. Confirm with `POST /api/v1/mfa/totp/verify`.
#[utoipa::path(post, path = "/api/v1/mfa/totp/enable", tag = "mfa",
    security(("bearer" = [])),
    request_body(content = ReauthRequest, description = "Optional proof of a recent authentication"),
    responses(
        (status = 201, description = "Enrolment started", body = TotpEnrolmentResponse),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An authenticator app is already enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn totp_enable_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    OptionalJson(body): OptionalJson<ReauthRequest>,
) -> Result<(StatusCode, axum::Json<TotpEnrolmentResponse>), ApiError> {
    let enrolment = state
        .core
        .mfa()
        .enable_totp(&who, reauth(body.password, body.code))
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(enrolment_response(enrolment)),
    ))
}

/// Confirm the TOTP enrolment with a first code. The first factor also
/// brings ten backup codes, shown once.
#[utoipa::path(post, path = "/api/v1/mfa/totp/verify", tag = "mfa",
    security(("bearer" = [])),
    request_body = TotpVerifyRequest,
    responses(
        (status = 200, description = "Enabled", body = TotpVerifyResponse),
        (status = 409, description = "No enrolment pending", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the current code", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn totp_verify_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<TotpVerifyRequest>,
) -> Result<axum::Json<TotpVerifyResponse>, ApiError> {
    let backup_codes = state.core.mfa().confirm_totp(&who, &body.code).await?;
    Ok(axum::Json(TotpVerifyResponse {
        enabled: true,
        backup_codes,
    }))
}

/// Disable TOTP. Within five minutes of a login the body may be empty;
/// later it carries the password or a current code.
#[utoipa::path(post, path = "/api/v1/mfa/totp/disable", tag = "mfa",
    security(("bearer" = [])),
    request_body(content = ReauthRequest, description = "Optional proof of a recent authentication"),
    responses(
        (status = 204, description = "Disabled"),
        (status = 401, description = "A wrong password or code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No authenticator app enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn totp_disable_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    OptionalJson(body): OptionalJson<ReauthRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .mfa()
        .disable_totp(&who, reauth(body.password, body.code))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace every backup code with ten new ones, shown once.
#[utoipa::path(post, path = "/api/v1/mfa/backup-codes/regenerate", tag = "mfa",
    security(("bearer" = [])),
    request_body(content = ReauthRequest, description = "Optional proof of a recent authentication"),
    responses(
        (status = 200, description = "The new codes", body = BackupCodesResponse),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No second factor enrolled", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn backup_codes_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    OptionalJson(body): OptionalJson<ReauthRequest>,
) -> Result<axum::Json<BackupCodesResponse>, ApiError> {
    let backup_codes = state
        .core
        .mfa()
        .regenerate_backup_codes(&who, reauth(body.password, body.code))
        .await?;
    Ok(axum::Json(BackupCodesResponse { backup_codes }))
}

/// Prepare a login's second step with a method that needs it: for
/// `webauthn`, the options for `navigator.credentials.get()`; for `email`
/// and `sms`, a six-digit code is sent (living ten minutes; asking again
/// after 30 seconds sends a new one that replaces it, five at most). A TOTP
/// or backup code needs nothing sent. The login page's `mfa_token` works
/// here too for `email` and `sms`.
#[utoipa::path(post, path = "/api/v1/mfa/challenge", tag = "mfa",
    request_body = MfaChallengeRequest,
    responses(
        (status = 200, description = "What the browser needs, or where the code went", body = MfaChallengeResponse),
        (status = 400, description = "SMS without a configured gateway", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A method the login does not offer, or one that needs no challenge", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "An invalid, spent or expired mfa_token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No more codes can be sent for this login", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "A code was sent less than 30 seconds ago; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn challenge_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    Json(body): Json<MfaChallengeRequest>,
) -> Result<axum::Json<MfaChallengeResponse>, ApiError> {
    let mfa = state.core.mfa();
    if matches!(body.method.as_str(), METHOD_EMAIL | METHOD_SMS) {
        let sent = mfa.send_code(&realm, &body.mfa_token, &body.method).await?;
        return Ok(axum::Json(MfaChallengeResponse {
            method: body.method,
            options: None,
            sent_to: Some(sent.sent_to),
            expires_in: Some(sent.expires_in),
        }));
    }
    let methods = mfa
        .challenge_methods(&realm, &body.mfa_token, ChallengePurpose::Api)
        .await?;
    if !methods.contains(&body.method) {
        return Err(portcullis_core::Error::input(
            "method",
            format!("must be one of: {}", methods.join(", ")),
        )
        .into());
    }
    match body.method.as_str() {
        "webauthn" => {
            let options = mfa
                .webauthn_login_options(&realm, &body.mfa_token, ChallengePurpose::Api)
                .await?;
            Ok(axum::Json(MfaChallengeResponse {
                method: body.method,
                options: Some(options),
                sent_to: None,
                expires_in: None,
            }))
        }
        other => Err(portcullis_core::Error::input(
            "method",
            format!("{other} needs no challenge: send its code to POST /api/v1/mfa/verify"),
        )
        .into()),
    }
}

/// Start registering a passkey or security key: options for
/// `navigator.credentials.create()`. Needs a recent authentication.
#[utoipa::path(post, path = "/api/v1/mfa/webauthn/register/start", tag = "mfa",
    security(("bearer" = [])),
    request_body(content = ReauthRequest, description = "Optional proof of a recent authentication"),
    responses(
        (status = 200, description = "The ceremony", body = PasskeyOptionsResponse),
        (status = 400, description = "The server's public URL cannot name a WebAuthn relying party (an IP address)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The login is older than five minutes and no proof was sent", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn webauthn_start_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    OptionalJson(body): OptionalJson<ReauthRequest>,
) -> Result<axum::Json<PasskeyOptionsResponse>, ApiError> {
    let options = state
        .core
        .mfa()
        .start_webauthn_registration(&who, reauth(body.password, body.code))
        .await?;
    Ok(axum::Json(options_response(options)))
}

/// Finish registering a passkey or security key with the browser's answer.
/// The first factor also brings ten backup codes, shown once.
#[utoipa::path(post, path = "/api/v1/mfa/webauthn/register/finish", tag = "mfa",
    security(("bearer" = [])),
    request_body = WebauthnRegisterRequest,
    responses(
        (status = 201, description = "Registered", body = WebauthnRegisterResponse),
        (status = 422, description = "An unknown or expired ceremony, or an answer the WebAuthn checks refuse", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The credential is registered already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid name", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn webauthn_finish_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<WebauthnRegisterRequest>,
) -> Result<(StatusCode, axum::Json<WebauthnRegisterResponse>), ApiError> {
    let (factor, backup_codes) = state
        .core
        .mfa()
        .finish_webauthn_registration(
            &who,
            body.ceremony_id,
            body.name.as_deref(),
            &body.credential,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebauthnRegisterResponse {
            method: method_view(factor, None),
            backup_codes,
        }),
    ))
}

/// Start a passwordless login with a passkey: options for
/// `navigator.credentials.get()` that let the authenticator choose the
/// account.
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "auth",
    responses(
        (status = 200, description = "The ceremony", body = PasskeyOptionsResponse),
        (status = 400, description = "The server's public URL cannot name a WebAuthn relying party (an IP address)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn passkey_start_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
) -> Result<axum::Json<PasskeyOptionsResponse>, ApiError> {
    let options = state.core.mfa().start_passkey_login(&realm).await?;
    Ok(axum::Json(options_response(options)))
}

/// Finish a passwordless login with the browser's answer: tokens with `amr`
/// `["hwk", "mfa"]` (the passkey verified its user).
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "auth",
    request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 422, description = "An unknown or expired ceremony, or not a WebAuthn answer", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The passkey was not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account deactivated", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn passkey_finish_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<PasskeyLoginRequest>,
) -> Result<(HeaderMap, axum::Json<TokenResponse>), ApiError> {
    let tokens = state
        .core
        .accounts()
        .login_with_passkey(&realm, body.ceremony_id, &body.credential, &meta)
        .await?;
    Ok((
        canary_headers(&state, &tokens),
        axum::Json(token_response(tokens)),
    ))
}
