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
    /// The `WWW-Authenticate` challenge of a 401 (plain `Bearer` if unset).
    challenge: Option<String>,
}

impl ApiError {
    /// The detail, when the problem has one.
    pub(crate) fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

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

    /// A 401's `Bearer` challenge for `realm` (RFC 6750 section 3): with
    /// `error="invalid_token"` and the detail as its description when a
    /// token was presented, without an error code when none was. Other
    /// statuses are left as they are.
    pub(crate) fn bearer_challenge(mut self, realm: &str, token_presented: bool) -> Self {
        // A challenge of its own (reauthentication) is kept.
        if self.status != StatusCode::UNAUTHORIZED || self.challenge.is_some() {
            return self;
        }
        let mut challenge = format!("Bearer realm=\"{}\"", quotable(realm));
        if token_presented {
            challenge.push_str(", error=\"invalid_token\"");
            if let Some(detail) = &self.detail {
                challenge.push_str(&format!(", error_description=\"{}\"", quotable(detail)));
            }
        }
        self.challenge = Some(challenge);
        self
    }

    /// A 422 naming each wrong field.
    fn validation(fields: Vec<portcullis_core::FieldError>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "validation-error",
            detail: Some(summary(&fields)),
            errors: fields
                .into_iter()
                .map(|f| FieldProblem {
                    field: f.field,
                    reason: f.reason,
                })
                .collect(),
            retry_after: None,
            challenge: None,
        }
    }
}

/// The detail of a validation problem: how many fields, and the first few.
fn summary(fields: &[portcullis_core::FieldError]) -> String {
    const SHOWN: usize = 3;
    let mut named: Vec<String> = fields
        .iter()
        .take(SHOWN)
        .map(|f| {
            if f.field.is_empty() {
                format!("(body): {}", f.reason)
            } else {
                format!("{}: {}", f.field, f.reason)
            }
        })
        .collect();
    if fields.len() > SHOWN {
        named.push(format!("and {} more", fields.len() - SHOWN));
    }
    match fields.len() {
        0 => "the request is invalid".to_owned(),
        1 => format!("1 field is invalid: {}", named.join("; ")),
        n => format!("{n} fields are invalid: {}", named.join("; ")),
    }
}

/// `s` as the content of an RFC 9110 quoted-string without escapes: visible
/// ASCII and spaces, no `"` or `\`.
fn quotable(s: &str) -> String {
    s.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
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
            // 422, both: a field's value breaks a rule of its form, or names
            // something that does not hold (core tells them apart for pages).
            Error::Validation(fields) | Error::InvalidInput(fields) => Self::validation(fields),
            // 400
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
        let script_input = self
            .errors
            .iter()
            .any(|e| e.reason == portcullis_core::text::MARKUP_REASON);
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
        if script_input {
            // The edge counts it as a strike when the sender is anonymous.
            res.extensions_mut().insert(crate::edge::ScriptInput);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(e: ApiError) -> Option<String> {
        e.into_response()
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_401_challenges_as_rfc_6750_says() {
        let no_token = ApiError::from(Error::NotAuthenticated("a bearer access token is required"))
            .bearer_challenge("acme", false);
        assert_eq!(
            challenge(no_token).as_deref(),
            Some("Bearer realm=\"acme\"")
        );
        let bad = ApiError::from(Error::NotAuthenticated("the token \"expired\"\n"))
            .bearer_challenge("acme", true);
        assert_eq!(
            challenge(bad).as_deref(),
            Some(
                "Bearer realm=\"acme\", error=\"invalid_token\", error_description=\"the token expired\""
            )
        );
        // Any other 401 still names the scheme; other statuses carry no challenge.
        assert_eq!(
            challenge(Error::NotAuthenticated("invalid credentials").into()).as_deref(),
            Some("Bearer")
        );
        let forbidden = ApiError::from(Error::Forbidden("no")).bearer_challenge("acme", true);
        assert_eq!(challenge(forbidden), None);
    }

    #[test]
    fn invalid_input_and_validation_are_one_shape() {
        use portcullis_core::FieldError;
        for e in [
            Error::Validation(vec![FieldError::new("a", "is required")]),
            Error::InvalidInput(vec![FieldError::new("a", "is required")]),
        ] {
            let e = ApiError::from(e);
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(e.kind, "validation-error");
            assert_eq!(e.errors.len(), 1);
            assert_eq!(
                e.detail.as_deref(),
                Some("1 field is invalid: a: is required")
            );
        }
        let many: Vec<_> = (0..5)
            .map(|i| FieldError::new(format!("f{i}"), "is required"))
            .collect();
        assert_eq!(
            summary(&many),
            "5 fields are invalid: f0: is required; f1: is required; f2: is required; and 2 more"
        );
    }
}
