//! OAuth 2.0 Authorization Server Metadata (RFC 8414) and the OpenID
//! Provider configuration (OpenID Connect Discovery 1.0 §3) of a realm: only
//! what is built.

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
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": SCOPES,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": confidential,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
    })
}

/// The scopes every realm knows.
pub const SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
    "organization",
];

/// The OpenID Provider configuration: the authorization server metadata
/// plus the OpenID Connect fields.
pub fn openid_configuration(issuer: &str) -> Value {
    let mut doc = authorization_server(issuer);
    let mut claims = vec![
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "sid",
        "acr",
        "amr",
        "azp",
    ];
    for (_, names) in crate::id_token::SCOPE_CLAIMS {
        claims.extend_from_slice(names);
    }
    let extra = json!({
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "claims_supported": claims,
        "claims_parameter_supported": false,
        "acr_values_supported": ["1", "2"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    });
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
    doc
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
        assert_eq!(
            m["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        let o = openid_configuration("https://id.example.com/realms/main");
        assert_eq!(o["issuer"], m["issuer"]);
        assert_eq!(
            o["userinfo_endpoint"],
            "https://id.example.com/realms/main/oauth2/userinfo"
        );
        assert!(
            o["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("openid"))
        );
        assert!(
            !m["introspection_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("none"))
        );
    }
}
