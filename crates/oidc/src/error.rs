//! RFC 6749 §5.2 errors.

use serde::Serialize;

/// An OAuth error answer: `{error, error_description}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    /// The RFC 6749 (or extension) error code.
    pub error: &'static str,
    /// What is wrong, for the developer.
    pub error_description: String,
    /// HTTP status: 400, or 401 for `invalid_client`.
    #[serde(skip)]
    pub status: u16,
    /// Whether to answer with `WWW-Authenticate: Basic` (a 401 to a client
    /// that authenticated, or tried to, with HTTP Basic).
    #[serde(skip)]
    pub basic_challenge: bool,
}

impl OAuthError {
    /// An error with any code, status 400.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
            status: 400,
            basic_challenge: false,
        }
    }

    /// `invalid_request`: a parameter missing, repeated or malformed.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    /// `invalid_client`: client authentication failed (401).
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            status: 401,
            basic_challenge: basic,
            ..Self::new("invalid_client", description)
        }
    }

    /// `unauthorized_client`: the client may not use this grant.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", description)
    }

    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", description)
    }

    /// `invalid_grant`: a code or refresh token that is invalid, expired,
    /// spent, or issued to another client or redirect URI.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new("invalid_scope", description)
    }

    /// `invalid_target` (RFC 8707): an unacceptable `resource`.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new("invalid_target", description)
    }

    /// `server_error` (500): never the client's fault; details go to the log.
    pub fn server_error() -> Self {
        Self {
            status: 500,
            ..Self::new("server_error", "the server could not complete the request")
        }
    }

    /// `temporarily_unavailable` (503).
    pub fn unavailable() -> Self {
        Self {
            status: 503,
            ..Self::new(
                "temporarily_unavailable",
                "the server cannot answer now; retry later",
            )
        }
    }
}

impl From<portcullis_core::Error> for OAuthError {
    fn from(e: portcullis_core::Error) -> Self {
        match e {
            portcullis_core::Error::Unavailable => Self::unavailable(),
            _ => Self::server_error(),
        }
    }
}
