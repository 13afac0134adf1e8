//! The one mapping from domain errors to RFC 9457 problem+json responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::Error;
use portcullis_proto::{FieldProblem, PROBLEM_JSON, Problem};

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: Option<String>,
    errors: Vec<FieldProblem>,
    retry_after: Option<u64>,
    /// A `WWW-Authenticate` challenge other than the plain `Bearer`.
    challenge: Option<String>,
}

impl ApiError {
    /// A problem with a status, a type slug and a detail.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: Some(detail.into()),
            errors: Vec::new(),
            retry_after: None,
            challenge: None,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            // 404
            Error::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            // 409
            Error::Conflict(msg) => Self::new(StatusCode::CONFLICT, "conflict", msg),
            // 422
            Error::Validation(fields) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "validation-error",
                detail: Some("the request has invalid fields".into()),
                errors: fields
                    .into_iter()
                    .map(|f| FieldProblem {
                        field: f.field,
                        reason: f.reason,
                    })
                    .collect(),
                retry_after: None,
                challenge: None,
            },
            // 400
            Error::InvalidInput(fields) => Self {
                status: StatusCode::BAD_REQUEST,
                kind: "invalid-input",
                detail: Some(
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                errors: fields
                    .into_iter()
                    .map(|f| FieldProblem {
                        field: f.field,
                        reason: f.reason,
                    })
                    .collect(),
                retry_after: None,
                challenge: None,
            },
            Error::BadRequest(msg) => Self::new(StatusCode::BAD_REQUEST, "bad-request", msg),
            // 401
            Error::NotAuthenticated(msg) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", msg)
            }
            Error::ReauthenticationRequired { max_age, detail } => Self {
                challenge: Some(format!(
                    "Bearer error=\"insufficient_user_authentication\", error_description=\"{detail}\", max_age={max_age}"
                )),
                ..Self::new(
                    StatusCode::UNAUTHORIZED,
                    "reauthentication-required",
                    detail,
                )
            },
            // 403
            Error::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            // 429
            Error::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-attempts",
                    format!("too many attempts; retry in {retry_after} seconds"),
                )
            },
            // 503
            Error::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency is unavailable; retry later",
            ),
            // 500
            Error::Internal(code) => {
                tracing::error!(code, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("internal error ({code})"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(
                status = self.status.as_u16(),
                kind = self.kind,
                "request failed"
            );
        } else {
            tracing::debug!(
                status = self.status.as_u16(),
                kind = self.kind,
                "request refused"
            );
        }
        let body = Problem {
            kind: format!("urn:portcullis:problem:{}", self.kind),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
        };
        let mut res = (self.status, Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = self
                .challenge
                .and_then(|c| HeaderValue::from_str(&c).ok())
                .unwrap_or(HeaderValue::from_static("Bearer"));
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

/// Fallback for unknown routes.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

/// Fallback for a known route with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this route does not accept that method",
    )
}

/// A panic in a handler becomes a 500 problem, never a dropped connection.
pub(crate) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (panic)",
    )
    .into_response()
}
