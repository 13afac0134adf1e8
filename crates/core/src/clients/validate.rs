//! The rules a client's fields must follow: redirect URIs, scopes, JWKS and
//! client ids (public, for the OAuth endpoints too), and the parsers that
//! turn a request's fields into a client's, collecting field errors.

use portcullis_crypto::SigningAlgorithm;
use serde_json::Value;

use super::{MAX_JWKS_BYTES, MAX_JWKS_KEYS, MAX_SCOPES, MAX_URI_LEN, MAX_URIS};
use crate::error::{Error, FieldError, Result};
use crate::model::client::{AuthMethod, GrantType};

/// Validates a redirect URI (RFC 9700 §2.1, RFC 8252 §7): absolute, no
/// fragment, no user information; `https`, or `http` on a loopback host, or a
/// private-use scheme containing a dot (`com.example.app:/callback`).
pub fn check_redirect_uri(uri: &str) -> std::result::Result<(), &'static str> {
    if uri.is_empty() || uri.len() > MAX_URI_LEN {
        return Err("must be 1 to 2,000 characters");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "must be an absolute URI")?;
    if parsed.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user information");
    }
    match parsed.scheme() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("must name a host");
            }
        }
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if !loopback {
                return Err("http is allowed only on a loopback host; use https");
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            return Err("this scheme is not allowed");
        }
        other => {
            if !other.contains('.') {
                return Err("a private-use scheme must contain a dot (com.example.app)");
            }
        }
    }
    Ok(())
}

/// Whether `s` is a scope token (RFC 6749 §3.3), at most 128 characters.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Validates a client JWKS: `{"keys": [...]}`, 1 to 10 public keys of type
/// `RSA`, `EC` or `OKP`, none holding private material, 16 KiB at most.
pub fn check_jwks(jwks: &Value) -> std::result::Result<(), String> {
    if serde_json::to_vec(jwks).map_or(usize::MAX, |v| v.len()) > MAX_JWKS_BYTES {
        return Err(format!("must be at most {MAX_JWKS_BYTES} bytes"));
    }
    let Some(object) = jwks.as_object() else {
        return Err("must be an object with a keys array".to_owned());
    };
    if let Some(other) = object.keys().find(|k| *k != "keys") {
        return Err(format!("unknown member {other}"));
    }
    let Some(keys) = object.get("keys").and_then(Value::as_array) else {
        return Err("must have a keys array".to_owned());
    };
    if keys.is_empty() || keys.len() > MAX_JWKS_KEYS {
        return Err(format!("must hold 1 to {MAX_JWKS_KEYS} keys"));
    }
    for (n, key) in keys.iter().enumerate() {
        let Some(key) = key.as_object() else {
            return Err(format!("keys[{n}] must be an object"));
        };
        let kty = key.get("kty").and_then(Value::as_str);
        let needed: &[&str] = match kty {
            Some("RSA") => &["n", "e"],
            Some("EC") => &["crv", "x", "y"],
            Some("OKP") => &["crv", "x"],
            _ => return Err(format!("keys[{n}].kty must be RSA, EC or OKP")),
        };
        if let Some(missing) = needed.iter().find(|m| {
            key.get(**m)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        }) {
            return Err(format!("keys[{n}] lacks {missing}"));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|private| key.contains_key(*private))
        {
            return Err(format!("keys[{n}] holds private key material"));
        }
    }
    Ok(())
}

/// Validates a client id: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_client_id(id: &str) -> std::result::Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may hold only A-Z, a-z, 0-9, '.', '_' and '-'");
    }
    Ok(())
}

pub(super) fn uris(field: &str, input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    if input.len() > MAX_URIS {
        errors.push(FieldError::new(
            field,
            format!("must hold at most {MAX_URIS} URIs"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (n, uri) in input.into_iter().enumerate() {
        match check_redirect_uri(&uri) {
            Ok(()) if !out.contains(&uri) => out.push(uri),
            Ok(()) => {}
            Err(reason) => errors.push(FieldError::new(format!("{field}[{n}]"), reason)),
        }
    }
    out
}

pub(super) fn grants(input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<GrantType> {
    let mut out = Vec::new();
    for (n, g) in input.iter().enumerate() {
        match GrantType::parse(g) {
            Some(g) => out.push(g),
            None => errors.push(FieldError::new(
                format!("grant_types[{n}]"),
                "must be authorization_code, refresh_token or client_credentials",
            )),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub(super) fn scopes(input: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<String> {
    if input.len() > MAX_SCOPES {
        errors.push(FieldError::new(
            "scopes",
            format!("must hold at most {MAX_SCOPES} scopes"),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (n, s) in input.into_iter().enumerate() {
        if !is_scope_token(&s) {
            errors.push(FieldError::new(
                format!("scopes[{n}]"),
                "must be a scope token: printable ASCII without spaces, quotes or backslashes",
            ));
        } else if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A link shown to users (`logo_uri`, `policy_uri`, `tos_uri`): an https
/// URL with a host, without credentials, at most 2,000 characters. The
/// server stores it and never fetches it.
pub(super) fn link_uri(
    field: &str,
    input: Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let uri = input?.trim().to_owned();
    let ok = uri.len() <= 2_000
        && url::Url::parse(&uri).is_ok_and(|u| {
            u.scheme() == "https"
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        });
    if !ok {
        errors.push(FieldError::new(
            field,
            "must be an https URL with a host and no credentials, at most 2000 characters",
        ));
    }
    Some(uri)
}

pub(super) fn name(input: &str, errors: &mut Vec<FieldError>) -> String {
    let t = input.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 100 characters, no control characters",
        ));
    } else if let Err(e) = crate::text::plain("name", t) {
        errors.push(e);
    }
    t.to_owned()
}

pub(super) fn id_token_alg(input: &str, errors: &mut Vec<FieldError>) -> SigningAlgorithm {
    input.parse().unwrap_or_else(|_| {
        errors.push(FieldError::new(
            "id_token_signed_response_alg",
            "must be RS256, ES256 or EdDSA",
        ));
        SigningAlgorithm::RS256
    })
}

pub(super) fn auth_method(input: &str, errors: &mut Vec<FieldError>) -> Option<AuthMethod> {
    let parsed = AuthMethod::parse(input);
    if parsed.is_none() {
        errors.push(FieldError::new(
            "token_endpoint_auth_method",
            "must be client_secret_basic, client_secret_post, private_key_jwt or none",
        ));
    }
    parsed
}

pub(super) fn access_token_ttl(value: Option<u32>, errors: &mut Vec<FieldError>) {
    ttl("access_token_ttl", value, 60, 86_400, errors);
}

pub(super) fn refresh_token_ttl(value: Option<u32>, errors: &mut Vec<FieldError>) {
    ttl("refresh_token_ttl", value, 300, 31_536_000, errors);
}

pub(super) fn ttl(
    field: &str,
    value: Option<u32>,
    min: u32,
    max: u32,
    errors: &mut Vec<FieldError>,
) {
    if value.is_some_and(|v| !(min..=max).contains(&v)) {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {max} seconds"),
        ));
    }
}

pub(super) fn jwks(value: Option<Value>, errors: &mut Vec<FieldError>) -> Option<Value> {
    let value = value.filter(|v| !v.is_null())?;
    if let Err(reason) = check_jwks(&value) {
        errors.push(FieldError::new("jwks", reason));
    }
    Some(value)
}

pub(super) fn finish(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}
