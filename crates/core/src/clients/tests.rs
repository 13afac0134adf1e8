use portcullis_crypto::SigningAlgorithm;
use serde_json::json;
use time::OffsetDateTime;

use super::*;

#[test]
fn redirect_uris() {
    for ok in [
        "https://app.example.com/callback",
        "https://app.example.com/cb?x=1",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "/relative",
        "app.example.com/cb",
        "https://app.example.com/cb#frag",
        "https://user:pw@app.example.com/cb",
        "http://app.example.com/cb",
        "http://127.0.0.1.evil.com/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "myapp:/cb",
        "https://app.example.com/c b",
    ] {
        assert!(check_redirect_uri(bad).is_err(), "{bad}");
    }
    assert!(check_redirect_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
}

#[test]
fn scope_tokens() {
    for ok in ["openid", "read:docs", "https://api.example.com/x", "a!#[]~"] {
        assert!(is_scope_token(ok), "{ok}");
    }
    for bad in ["", "two words", "quote\"", "back\\slash", "tab\t", "é"] {
        assert!(!is_scope_token(bad), "{bad}");
    }
    assert!(!is_scope_token(&"s".repeat(129)));
}

#[test]
fn jwks_shapes() {
    let rsa = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "1"});
    let ec = json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
    let okp = json!({"kty": "OKP", "crv": "Ed25519", "x": "a"});
    assert_eq!(check_jwks(&json!({"keys": [rsa, ec, okp]})), Ok(()));
    for bad in [
        json!([]),
        json!({"keys": []}),
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        json!({"keys": [{"kty": "RSA", "n": "x"}]}),
        json!({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "d": "private"}]}),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": ""}]}),
        json!({"keys": ["RSA"]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a"}], "extra": 1}),
        json!({"keys": vec![json!({"kty": "OKP", "crv": "Ed25519", "x": "a"}); 11]}),
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "a".repeat(17_000)}]}),
    ] {
        assert!(check_jwks(&bad).is_err(), "{bad}");
    }
}

#[test]
fn client_ids() {
    assert_eq!(check_client_id("web-app_1.prod"), Ok(()));
    for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
        assert!(check_client_id(bad).is_err(), "{bad}");
    }
}

fn client() -> OAuthClient {
    OAuthClient {
        id: new_id(),
        realm_id: new_id(),
        client_id: "c".to_owned(),
        name: "C".to_owned(),
        client_type: ClientType::Confidential,
        auth_method: AuthMethod::ClientSecretBasic,
        secret_hash: Some(portcullis_crypto::sha256(b"s3cret").to_vec()),
        redirect_uris: vec!["https://a.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".to_owned()],
        id_token_alg: SigningAlgorithm::RS256,
        jwks: None,
        access_token_ttl: None,
        refresh_token_ttl: None,
        require_consent: false,
        enabled: true,
        links: Default::default(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn fields(c: &OAuthClient) -> Vec<String> {
    c.check().into_iter().map(|e| e.field).collect()
}

#[test]
fn rules_between_fields() {
    assert!(fields(&client()).is_empty());
    let mut c = client();
    c.redirect_uris.clear();
    assert_eq!(fields(&c), ["redirect_uris"]);
    let mut c = client();
    c.grant_types = vec![GrantType::RefreshToken];
    assert_eq!(fields(&c), ["grant_types"]);
    let mut c = client();
    c.grant_types.clear();
    assert_eq!(fields(&c), ["grant_types"]);
    let mut c = client();
    c.client_type = ClientType::Public;
    c.grant_types.push(GrantType::ClientCredentials);
    assert_eq!(fields(&c), ["token_endpoint_auth_method", "grant_types"]);
    let mut c = client();
    c.auth_method = AuthMethod::None;
    assert_eq!(fields(&c), ["token_endpoint_auth_method"]);
    let mut c = client();
    c.auth_method = AuthMethod::PrivateKeyJwt;
    assert_eq!(fields(&c), ["jwks"]);
}

#[test]
fn secrets_compare_by_digest() {
    let c = client();
    assert!(c.secret_matches("s3cret"));
    assert!(!c.secret_matches("s3cret "));
    assert!(!c.secret_matches(""));
    let mut c = client();
    c.secret_hash = None;
    assert!(!c.secret_matches("s3cret"));
}

mod redirect_uri_properties {
    use proptest::prelude::*;

    use crate::clients::validate::check_redirect_uri;

    proptest! {
        /// Any text: an answer, never a panic; and what is accepted is an
        /// absolute URI without a fragment or user information, on an
        /// allowed scheme.
        #[test]
        fn any_text_gets_an_answer_and_only_safe_uris_pass(
            uri in "(https?://|[a-z]{1,8}(\\.[a-z]{1,8})?:/{0,2})?[ -~]{0,80}",
        ) {
            if check_redirect_uri(&uri).is_ok() {
                let parsed = url::Url::parse(&uri).unwrap();
                prop_assert!(parsed.fragment().is_none(), "{uri}");
                prop_assert!(parsed.username().is_empty() && parsed.password().is_none(), "{uri}");
                let scheme = parsed.scheme();
                prop_assert!(scheme == "https" || scheme == "http" || scheme.contains('.'), "{uri}");
                if scheme == "http" {
                    let host = parsed.host_str().unwrap_or_default();
                    prop_assert!(
                        host == "localhost" || host.starts_with("127.") || host == "[::1]",
                        "{uri}"
                    );
                }
            }
        }

        #[test]
        fn long_or_binary_input_is_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = check_redirect_uri(&text);
        }
    }
}
