//! OAuth 2.0 Authorization Server Metadata (RFC 8414) of a realm: only what
//! is built. The OpenID Provider configuration joins it with the
//! authorization endpoint.

use serde_json::{Value, json};

/// Client authentication methods of the token, introspection and
/// revocation endpoints.
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// Algorithms accepted for `private_key_jwt` assertions.
pub const ASSERTION_ALGS: [&str; 3] = ["EdDSA", "ES256", "RS256"];

/// The metadata document of the realm whose issuer is `issuer`.
pub fn authorization_server(issuer: &str) -> Value {
    let confidential: Vec<&str> = AUTH_METHODS
        .iter()
        .copied()
        .filter(|m| *m != "none")
        .collect();
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": confidential,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let m = authorization_server("https://id.example.com/realms/main");
        assert_eq!(m["issuer"], "https://id.example.com/realms/main");
        assert_eq!(
            m["token_endpoint"],
            "https://id.example.com/realms/main/oauth2/token"
        );
        assert_eq!(m["grant_types_supported"], json!(["client_credentials"]));
        assert!(
            !m["introspection_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("none"))
        );
    }
}
