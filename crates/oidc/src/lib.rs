//! Portcullis's OAuth 2.0 / OpenID Connect protocol logic, one module per
//! endpoint, over the domain in `portcullis-core`. No HTTP types: the `http`
//! crate hands each endpoint the request's headers and body and turns the
//! answer, or the RFC 6749 error, into a response.
//!
//! Built so far: client authentication (`client_secret_basic`,
//! `client_secret_post`, `private_key_jwt`, `none`), the token endpoint's `client_credentials`
//! grant with RFC 9068 access tokens, introspection (RFC 7662) and
//! revocation (RFC 7009) of access tokens, and the authorization server
//! metadata (RFC 8414) that lists them.

mod client_auth;
mod error;
mod form;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;

pub use error::OAuthError;
pub use form::Form;

/// What an endpoint needs of an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `Authorization` header, if any (and valid UTF-8).
    pub authorization: Option<&'a str>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}
