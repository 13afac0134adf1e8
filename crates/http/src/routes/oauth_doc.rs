//! The shapes of the OAuth 2.0 and OpenID Connect endpoints' forms and
//! answers, for the OpenAPI document only: the endpoints themselves parse
//! their forms by hand (`portcullis_oidc`), as their RFCs define them.

// The fields are read by the OpenAPI derive, never by code.
#![allow(dead_code)]

use utoipa::{IntoParams, ToSchema};

/// The token endpoint's form (RFC 6749 §4.1.3, §4.4.2 and §6, RFC 7636 §4.5,
/// RFC 7523 §2.2). Which fields a grant needs depends on `grant_type`.
#[derive(ToSchema)]
pub(crate) struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    /// The authorization code (`authorization_code`).
    code: Option<String>,
    /// The redirect URI of the authorization request (`authorization_code`).
    redirect_uri: Option<String>,
    /// The PKCE verifier (`authorization_code`).
    code_verifier: Option<String>,
    /// The refresh token (`refresh_token`).
    refresh_token: Option<String>,
    /// Space-separated scopes asked for.
    scope: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic.
    client_id: Option<String>,
    /// The client's secret (`client_secret_post`).
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: Option<String>,
    /// A signed JWT authenticating the client (`private_key_jwt`).
    client_assertion: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(ToSchema)]
pub(crate) struct TokenAnswer {
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds the access token lives.
    expires_in: u64,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
}

/// A token to introspect or revoke (RFC 7662 §2.1, RFC 7009 §2.1), with the
/// client's credentials when it does not use HTTP Basic.
#[derive(ToSchema)]
pub(crate) struct TokenRefForm {
    token: String,
    /// `access_token` or `refresh_token`.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2).
#[derive(ToSchema)]
pub(crate) struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`...
    error: String,
    error_description: Option<String>,
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636
/// §4.3, OpenID Connect Core §3.1.2.1), as a query or a form.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuthorizeParams {
    /// `code`.
    response_type: String,
    client_id: String,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    /// The PKCE challenge.
    code_challenge: Option<String>,
    /// `S256`.
    code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`.
    prompt: Option<String>,
    max_age: Option<u64>,
    /// `query` or `form_post`.
    response_mode: Option<String>,
    /// An upstream provider to sign in with at once.
    idp_hint: Option<String>,
    login_hint: Option<String>,
}

/// The parameters of an RP-initiated logout (OpenID Connect RP-Initiated
/// Logout 1.0 §2), as a query or a form.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}
