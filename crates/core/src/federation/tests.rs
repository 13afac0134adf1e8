use serde_json::json;

use super::sign_in::claim;
use super::{ProviderConfig, ProviderKind, attempts, validate};

#[test]
fn claims_are_read_by_pointer_or_dotted_path() {
    let v = json!({"picture": {"data": {"url": "u"}}, "orgs": ["a", "b"], "n": 3});
    assert_eq!(claim(&v, "picture.data.url"), Some(&json!("u")));
    assert_eq!(claim(&v, "/picture/data/url"), Some(&json!("u")));
    assert_eq!(claim(&v, "orgs.1"), Some(&json!("b")));
    assert_eq!(claim(&v, "missing.x"), None);
    assert_eq!(claim(&v, "n.x"), None);
}

#[test]
fn attempt_secrets_depend_on_binding_and_state() {
    use secrecy::ExposeSecret as _;
    let a = attempts::secrets("binding-one-binding-one-binding-one", "s1");
    let b = attempts::secrets("binding-one-binding-one-binding-one", "s2");
    let c = attempts::secrets("binding-two-binding-two-binding-two", "s1");
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.nonce, c.nonce);
    assert_ne!(a.nonce, a.pkce_verifier.expose_secret());
    // RFC 7636: 43 to 128 characters of the unreserved set.
    assert_eq!(a.pkce_verifier.expose_secret().len(), 43);
}

fn errors(kind: ProviderKind, c: &ProviderConfig, has_secret: bool) -> Vec<String> {
    let mut e = Vec::new();
    validate::config(&mut e, kind, c, has_secret);
    e.into_iter().map(|f| f.field).collect()
}

#[test]
fn each_kind_names_what_it_lacks() {
    let empty = ProviderConfig::default();
    let oidc = errors(ProviderKind::Oidc, &empty, false);
    assert!(oidc.contains(&"issuer".to_owned()), "{oidc:?}");
    assert!(oidc.contains(&"client_id".to_owned()));
    assert!(oidc.contains(&"client_secret".to_owned()));
    let oauth2 = errors(ProviderKind::Oauth2, &empty, true);
    for f in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "field_map.subject",
    ] {
        assert!(oauth2.contains(&f.to_owned()), "{f}: {oauth2:?}");
    }
    let apple = errors(ProviderKind::Apple, &empty, true);
    for f in ["team_id", "key_id", "client_auth"] {
        assert!(apple.contains(&f.to_owned()), "{f}: {apple:?}");
    }
    let github = ProviderConfig {
        client_id: "abc".into(),
        ..ProviderConfig::default()
    };
    assert!(errors(ProviderKind::Github, &github, true).is_empty());
}

#[test]
fn urls_must_be_https_or_loopback_and_algorithms_asymmetric() {
    let c = ProviderConfig {
        client_id: "abc".into(),
        issuer: Some("http://idp.example.com".into()),
        token_endpoint: Some("https://user:pw@idp.example.com/t".into()),
        allowed_algs: vec!["none".into()],
        prompt: Some("bogus".into()),
        ..ProviderConfig::default()
    };
    let e = errors(ProviderKind::Oidc, &c, true);
    for f in ["issuer", "token_endpoint", "allowed_algs", "prompt"] {
        assert!(e.contains(&f.to_owned()), "{f}: {e:?}");
    }
    let c = ProviderConfig {
        client_id: "abc".into(),
        issuer: Some("http://127.0.0.1:9000/realms/x".into()),
        allowed_algs: vec!["HS256".into()],
        ..ProviderConfig::default()
    };
    assert_eq!(errors(ProviderKind::Oidc, &c, true), vec!["allowed_algs"]);
}

#[test]
fn aliases() {
    for ok in ["google", "corp-sso", "a", "x_1"] {
        let mut e = Vec::new();
        validate::alias(&mut e, ok);
        assert!(e.is_empty(), "{ok}");
    }
    for bad in ["", "-x", "Upper", "a b", &"a".repeat(65), "é"] {
        let mut e = Vec::new();
        validate::alias(&mut e, bad);
        assert_eq!(e.len(), 1, "{bad}");
    }
}

#[test]
fn only_p256_pem_keys_are_signed_secrets() {
    assert!(validate::pem_p256("not a key").is_none());
    let key = portcullis_crypto::generate_signing_key(portcullis_crypto::SigningAlgorithm::ES256)
        .expect("key");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.private_pkcs8_der.as_slice());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    assert!(validate::pem_p256(&pem).is_some());
}
