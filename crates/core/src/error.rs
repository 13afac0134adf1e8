//! The one domain error type. The HTTP crate maps it, once, to RFC 9457
//! problem+json; driver errors are logged where they are converted and
//! collapse into [`Error::Internal`].

use std::fmt;

/// A validation problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the client sent it (`email`, `password`).
    pub field: String,
    /// A short, human-readable reason.
    pub reason: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Errors of the domain services.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: the thing does not exist (or the caller may not know it does).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: conflicts with existing state (a duplicate email, a realm name in use).
    #[error("{0}")]
    Conflict(String),
    /// 422: the input is well-formed but invalid; one entry per field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 422, the same answer as [`Error::Validation`] on the REST API: values
    /// of named fields that name or do something that does not hold (an
    /// unknown role, a cycle, a spent link token, an MFA method the login
    /// does not offer, an unknown WebAuthn ceremony); one entry per field.
    /// Kept apart from `Validation` for the HTML pages, which answer a
    /// badly formed credential as bad credentials but these with their own
    /// messages (a link no longer valid, a method to choose).
    #[error("invalid input")]
    InvalidInput(Vec<FieldError>),
    /// 400: the request itself is malformed in a way not tied to one field.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials, or credentials that do not match.
    #[error("{0}")]
    NotAuthenticated(&'static str),
    /// 401: a sensitive operation whose caller authenticated too long ago,
    /// or whose session's risk is raised: authenticate again (a new login,
    /// or the step-up proof the operation accepts). RFC 9470's
    /// `insufficient_user_authentication`.
    #[error("{detail}")]
    ReauthenticationRequired {
        /// The seconds within which the authentication must have happened.
        max_age: u32,
        /// Why, and how to get a fresh authentication.
        detail: &'static str,
    },
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 429: too many attempts; retry after this many seconds.
    #[error("too many attempts")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after: u64,
    },
    /// 503: a dependency (the database) is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// 500: a bug or an unexpected failure; the code is safe to show, the cause is logged.
    #[error("internal error ({0})")]
    Internal(&'static str),
}

impl Error {
    /// The HTTP status the error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Validation(_) | Self::InvalidInput(_) => 422,
            Self::BadRequest(_) => 400,
            Self::NotAuthenticated(_) | Self::ReauthenticationRequired { .. } => 401,
            Self::Forbidden(_) => 403,
            Self::RateLimited { .. } => 429,
            Self::Unavailable => 503,
            Self::Internal(_) => 500,
        }
    }

    /// An [`Error::InvalidInput`] on one field.
    pub fn input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput(vec![FieldError::new(field, reason)])
    }

    /// A validation error on one field.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, reason)])
    }
}

/// Errors reported by storage implementations.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was violated; the string names what was duplicated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row that had to exist does not.
    #[error("not found")]
    NotFound,
    /// An optimistic-concurrency check failed: the data changed since it was
    /// read. The caller re-reads and retries.
    #[error("stale: the data changed since it was read")]
    Stale,
    /// The database could not be reached or answered with an error. The text is
    /// for the log only, never for a client.
    #[error("storage backend: {0}")]
    Backend(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::Conflict(what),
            StoreError::NotFound => Error::NotFound("resource"),
            StoreError::Stale => Error::Conflict("the data changed meanwhile; retry".to_owned()),
            StoreError::Backend(msg) => {
                tracing::error!(error = %msg, "storage error");
                Error::Unavailable
            }
        }
    }
}

impl From<portcullis_crypto::CryptoError> for Error {
    fn from(e: portcullis_crypto::CryptoError) -> Self {
        tracing::error!(error = %e, "crypto error");
        Error::Internal("crypto")
    }
}

/// Result of a domain service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}
