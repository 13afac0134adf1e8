//! Portcullis's OAuth 2.0 / OpenID Connect protocol logic, one module per
//! endpoint, over the domain in `portcullis-core`. No HTTP types: the `http`
//! crate hands each endpoint the request's headers and body and turns the
//! answer, or the RFC 6749 error, into a response.
//!
//! Endpoints: authorization (code flow with PKCE), token
//! (`authorization_code`, `refresh_token`, `client_credentials`, with
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none`
//! client authentication), UserInfo, introspection (RFC 7662), revocation
//! (RFC 7009), RP-initiated logout, and the discovery documents that list
//! them. The HTML pages around the authorization endpoint are the `http`
//! crate's.

pub mod authorize;
mod client_auth;
mod error;
mod form;
pub mod id_token;
pub mod introspect;
pub mod logout;
pub mod metadata;
pub mod revoke;
pub mod token;
pub mod upstream;
pub mod userinfo;

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
