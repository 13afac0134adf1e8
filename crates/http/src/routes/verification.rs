//! Verification: the caller's phone number (`/api/v1/auth/me/phone`), its
//! identity documents (`/api/v1/auth/me/documents`), administrators' view
//! and decisions (`/api/v1/identity/users/{id}/documents`, `.../phone-
//! verification`), and the external verifier's signed webhook
//! (`/api/v1/identity/verification/webhook`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use portcullis_core::service_keys::signature::{SignedRequest, hex};
use portcullis_core::verification::documents::{Decision, MAX_IMAGE_BYTES};
use portcullis_core::verification::webhook::{WEBHOOK_KEY_ID, WebhookDecision};
use portcullis_core::verification::{IdentityState, PhoneStatus};
use portcullis_proto::{
    DocumentDecision, DocumentList, DocumentSubmit, DocumentView, PhoneCode, PhoneStart,
    PhoneVerificationView, Problem, VerificationWebhook, WebhookSecret,
};

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Authenticated, Json, Params, RealmCtx};
use crate::state::AppState;

/// The body limit of a document upload: two images of
/// [`MAX_IMAGE_BYTES`] in base64, and the rest.
pub(crate) const DOCUMENT_BODY_LIMIT: usize = MAX_IMAGE_BYTES / 3 * 4 * 2 + 64 * 1024;

/// The webhook's signature headers.
const TIMESTAMP: &str = "x-verification-timestamp";
const NONCE: &str = "x-verification-nonce";
const SIGNATURE: &str = "x-verification-signature";

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/auth/me/phone", get(me_phone_get).post(me_phone_post));
    r = realm_route(r, "/auth/me/phone/verify", post(me_phone_verify_post));
    r = realm_route(
        r,
        "/auth/me/documents",
        get(me_documents_get)
            .post(me_documents_post)
            .layer(DefaultBodyLimit::max(DOCUMENT_BODY_LIMIT)),
    );
    r = realm_route(
        r,
        "/identity/users/{id}/phone-verification",
        delete(user_phone_verification_delete),
    );
    r = realm_route(r, "/identity/users/{id}/documents", get(user_documents_get));
    r = realm_route(
        r,
        "/identity/users/{id}/documents/{doc_id}/images/{n}",
        get(user_document_image_get),
    );
    r = realm_route(
        r,
        "/identity/users/{id}/documents/{doc_id}/decision",
        post(user_document_decision_post),
    );
    r = realm_route(
        r,
        "/identity/verification/webhook",
        post(verification_webhook_post),
    );
    r = realm_route(
        r,
        "/identity/verification/webhook-secret",
        post(verification_webhook_secret_post),
    );
    r
}

fn phone_view(s: PhoneStatus) -> PhoneVerificationView {
    PhoneVerificationView {
        phone_number: s.phone,
        phone_number_verified: s.verified,
        verified_at: s.verified_at,
        expires_in: s.expires_in,
    }
}

fn document_view(d: portcullis_core::verification::DocumentView) -> DocumentView {
    DocumentView {
        id: d.id,
        user_id: d.user_id,
        doc_type: d.doc_type.as_str().to_owned(),
        country: d.country,
        number: d.number,
        status: d.status.as_str().to_owned(),
        reason: d.reason,
        decided_by: d.decided_by,
        decided_at: d.decided_at,
        image_count: d.image_count,
        images_deleted_at: d.images_deleted_at,
        created_at: d.created_at,
    }
}

fn document_list(
    (state, docs): (
        IdentityState,
        Vec<portcullis_core::verification::DocumentView>,
    ),
) -> DocumentList {
    DocumentList {
        identity_verification: state.as_str().to_owned(),
        documents: docs.into_iter().map(document_view).collect(),
    }
}

/// The caller's phone verification.
#[utoipa::path(get, path = "/api/v1/auth/me/phone", tag = "verification",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verification (masked number)", body = PhoneVerificationView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_phone_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<PhoneVerificationView>, ApiError> {
    let s = state.core.verification().phone_status(&who).await?;
    Ok(axum::Json(phone_view(s)))
}

/// Send a code by SMS to a number to verify (the same number again:
/// a new code, at most five, 30 s apart; another number starts over and
/// ends the verification of the one before).
#[utoipa::path(post, path = "/api/v1/auth/me/phone", tag = "verification",
    security(("bearer" = [])), request_body = PhoneStart,
    responses(
        (status = 202, description = "A code is on its way", body = PhoneVerificationView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No SMS gateway is configured, the number is verified already, or no more codes can be sent", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an E.164 number", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too soon after the last code, or too many verifications started", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_phone_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<PhoneStart>,
) -> Result<(StatusCode, axum::Json<PhoneVerificationView>), ApiError> {
    let s = state
        .core
        .verification()
        .start_phone(&who, &body.phone_number)
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(phone_view(s))))
}

/// Prove the pending number with the code sent to it: the number becomes
/// the profile's verified `phone_number`.
#[utoipa::path(post, path = "/api/v1/auth/me/phone/verify", tag = "verification",
    security(("bearer" = [])), request_body = PhoneCode,
    responses(
        (status = 200, description = "Verified", body = PhoneVerificationView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No verification is pending (none started, spent, expired, or ended by five wrong codes)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the code that was sent", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_phone_verify_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<PhoneCode>,
) -> Result<axum::Json<PhoneVerificationView>, ApiError> {
    let s = state
        .core
        .verification()
        .verify_phone(&who, &body.code)
        .await?;
    Ok(axum::Json(phone_view(s)))
}

/// End a user's phone verification.
#[utoipa::path(delete, path = "/api/v1/identity/users/{id}/phone-verification", tag = "verification",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this realm, or no phone verification", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_phone_verification_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let id = params.id("id", "user")?;
    state.core.verification().reset_phone(&admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Submit an identity document (one waits for a decision at a time).
#[utoipa::path(post, path = "/api/v1/auth/me/documents", tag = "verification",
    security(("bearer" = [])), request_body = DocumentSubmit,
    responses(
        (status = 201, description = "Submitted, pending", body = DocumentView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A document is already waiting for a decision", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong field named (images[n]: not base64, not PNG or JPEG, over 4 MiB)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many submissions", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_documents_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<DocumentSubmit>,
) -> Result<(StatusCode, axum::Json<DocumentView>), ApiError> {
    let input = portcullis_core::verification::NewDocument {
        doc_type: body.doc_type,
        country: body.country,
        number: body.number,
        images: body.images,
    };
    let doc = state
        .core
        .verification()
        .submit_document(&who, input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(document_view(doc))))
}

/// The caller's documents (their state, never their images).
#[utoipa::path(get, path = "/api/v1/auth/me/documents", tag = "verification",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first", body = DocumentList),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_documents_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<DocumentList>, ApiError> {
    let list = state.core.verification().own_documents(&who).await?;
    Ok(axum::Json(document_list(list)))
}

/// A user's documents, for administrators.
#[utoipa::path(get, path = "/api/v1/identity/users/{id}/documents", tag = "verification",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Newest first", body = DocumentList),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this realm", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_documents_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<DocumentList>, ApiError> {
    let admin = state.core.users().require_admin(&who).await?;
    let id = params.id("id", "user")?;
    let list = state.core.verification().user_documents(&admin, id).await?;
    Ok(axum::Json(document_list(list)))
}

/// Image `n` (1 or 2) of a user's document, decrypted; reading it is
/// audited.
#[utoipa::path(get, path = "/api/v1/identity/users/{id}/documents/{doc_id}/images/{n}", tag = "verification",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "User id"),
        ("doc_id" = uuid::Uuid, Path, description = "Document id"),
        ("n" = u32, Path, description = "Image number, from 1"),
    ),
    responses(
        (status = 200, description = "The image (no-store)", content_type = "image/png"),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, document or image (deleted after the retention period)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_document_image_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<Response, ApiError> {
    let admin = state.core.users().require_admin(&who).await?;
    let id = params.id("id", "user")?;
    let doc_id = params.id("doc_id", "document")?;
    let n: usize = params
        .text("n")?
        .parse()
        .map_err(|_| ApiError::from(portcullis_core::Error::NotFound("document image")))?;
    let image = state
        .core
        .verification()
        .document_image(&admin, id, doc_id, n)
        .await?;
    let content_type = match image.content_type.as_str() {
        "image/png" => HeaderValue::from_static("image/png"),
        _ => HeaderValue::from_static("image/jpeg"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        image.bytes.to_vec(),
    )
        .into_response())
}

/// Decide a user's pending document.
#[utoipa::path(post, path = "/api/v1/identity/users/{id}/documents/{doc_id}/decision", tag = "verification",
    security(("bearer" = [])), request_body = DocumentDecision,
    params(
        ("id" = uuid::Uuid, Path, description = "User id"),
        ("doc_id" = uuid::Uuid, Path, description = "Document id"),
    ),
    responses(
        (status = 200, description = "Decided", body = DocumentView),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user or document in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A status other than verified or rejected, a rejection without a reason", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_document_decision_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<DocumentDecision>,
) -> Result<axum::Json<DocumentView>, ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let id = params.id("id", "user")?;
    let doc_id = params.id("doc_id", "document")?;
    let decision = Decision {
        status: body.status,
        reason: body.reason,
    };
    let doc = state
        .core
        .verification()
        .decide_as_admin(&admin, id, doc_id, &decision)
        .await?;
    Ok(axum::Json(document_view(doc)))
}

/// The external verifier's decision on a document, signed with the
/// realm's webhook secret: `X-Verification-Timestamp` (Unix seconds,
/// within 300 s), `X-Verification-Nonce` (16 to 128 of `A-Z a-z 0-9 - _`,
/// once) and `X-Verification-Signature`, the hex HMAC-SHA256 under the
/// secret's text of the service keys' canonical string with key id
/// `verification-webhook` and the body's SHA-256.
#[utoipa::path(post, path = "/api/v1/identity/verification/webhook", tag = "verification",
    request_body = VerificationWebhook,
    responses(
        (status = 200, description = "Decided", body = DocumentView),
        (status = 401, description = "Missing, wrong, stale or replayed signature", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong field named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn verification_webhook_post(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<DocumentView>, ApiError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::from(portcullis_core::Error::NotAuthenticated(
                    "a webhook request needs the X-Verification-Timestamp, X-Verification-Nonce and X-Verification-Signature headers",
                ))
            })
    };
    let digest = hex(&portcullis_crypto::sha256(&body));
    let signed = SignedRequest {
        key_id: WEBHOOK_KEY_ID,
        timestamp: header(TIMESTAMP)?,
        nonce: header(NONCE)?,
        content_sha256: &digest,
        signature: header(SIGNATURE)?,
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        body: &body,
    };
    let verification = state.core.verification();
    let proof = verification.check_webhook(&realm, &signed).await?;
    let input: VerificationWebhook = crate::body::parse(&body)?;
    let doc = verification
        .decide_by_webhook(
            proof,
            WebhookDecision {
                document_id: input.document_id,
                decision: Decision {
                    status: input.status,
                    reason: input.reason,
                },
            },
        )
        .await?;
    Ok(axum::Json(document_view(doc)))
}

/// Set a new webhook secret for the realm, shown once (the one before
/// stops working).
#[utoipa::path(post, path = "/api/v1/identity/verification/webhook-secret", tag = "verification",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new secret", body = WebhookSecret),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn verification_webhook_secret_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, HeaderValue); 1],
        axum::Json<WebhookSecret>,
    ),
    ApiError,
> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let secret = state
        .core
        .verification()
        .rotate_webhook_secret(&admin)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(WebhookSecret {
            key_id: WEBHOOK_KEY_ID.to_owned(),
            secret,
        }),
    ))
}
