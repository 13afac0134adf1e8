//! The rules of an identity provider's settings. Every wrong field is
//! named in one answer.

use url::Url;

use super::{FieldMap, Mapper, ProviderConfig, ProviderKind, UpstreamAuth};
use crate::FieldError;

/// Longest alias.
pub(crate) const MAX_ALIAS: usize = 64;
/// Most scopes, mappers, roles.
const MAX_ITEMS: usize = 50;
/// Longest claim path, scope, name.
const MAX_TEXT: usize = 255;
/// Longest secret (a PEM private key fits).
const MAX_SECRET: usize = 8192;

/// ID-token signature algorithms a provider may allow: asymmetric ones
/// only (never `none`, never HMAC, whose key would be the client secret).
pub const SUPPORTED_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

/// `prompt` values that may be sent upstream.
const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];

/// Checks an alias: 1 to 64 of `a-z`, `0-9`, `-`, `_`, starting with a
/// letter or digit.
pub(crate) fn alias(errors: &mut Vec<FieldError>, alias: &str) {
    let ok = !alias.is_empty()
        && alias.len() <= MAX_ALIAS
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && alias
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        // `exchange` is a route of its own under `/auth/social/`.
        && alias != "exchange";
    if !ok {
        errors.push(FieldError::new(
            "alias",
            "use 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit (not `exchange`)",
        ));
    }
}

/// An upstream URL: https, or http on a loopback host (for development and
/// tests). No credentials, no fragment.
pub(crate) fn upstream_url(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    let reason = match Url::parse(value) {
        Err(_) => Some("must be an absolute URL"),
        Ok(u) if value.len() > 2048 => {
            let _ = u;
            Some("must be at most 2048 characters")
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("must not hold credentials")
        }
        Ok(u) if u.fragment().is_some() => Some("must not have a fragment"),
        Ok(u) if u.scheme() == "https" => None,
        Ok(u) if u.scheme() == "http" && is_loopback(&u) => None,
        Ok(_) => Some("must use https (http only on a loopback address)"),
    };
    if let Some(r) = reason {
        errors.push(FieldError::new(field, r));
    }
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    if value.trim().is_empty() || value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must be 1 to 255 characters without control characters",
        ));
    }
}

fn path(errors: &mut Vec<FieldError>, field: &str, value: &str) {
    text(errors, field, value);
}

/// Checks a provider's settings for its kind; `has_secret` says whether a
/// secret is given now or stored already.
pub(crate) fn config(
    errors: &mut Vec<FieldError>,
    kind: ProviderKind,
    c: &ProviderConfig,
    has_secret: bool,
) {
    text(errors, "client_id", &c.client_id);
    let urls = [
        ("issuer", &c.issuer),
        ("authorization_endpoint", &c.authorization_endpoint),
        ("token_endpoint", &c.token_endpoint),
        ("userinfo_endpoint", &c.userinfo_endpoint),
        ("jwks_uri", &c.jwks_uri),
        ("emails_endpoint", &c.emails_endpoint),
    ];
    for (field, value) in urls {
        if let Some(v) = value {
            upstream_url(errors, field, v);
        }
    }
    let missing = |errors: &mut Vec<FieldError>, field: &str, why: &str| {
        errors.push(FieldError::new(field, why));
    };
    match kind {
        ProviderKind::Oidc => {
            if c.issuer.is_none() {
                missing(
                    errors,
                    "issuer",
                    "required: the issuer every ID token must name (and where discovery starts)",
                );
            }
            if c.authorization_endpoint.is_some() != c.token_endpoint.is_some()
                || c.authorization_endpoint.is_some() != c.jwks_uri.is_some()
            {
                missing(
                    errors,
                    "authorization_endpoint",
                    "give authorization_endpoint, token_endpoint and jwks_uri together, or none of them (discovery)",
                );
            }
        }
        ProviderKind::Oauth2 => {
            for (field, value) in [
                ("authorization_endpoint", &c.authorization_endpoint),
                ("token_endpoint", &c.token_endpoint),
                ("userinfo_endpoint", &c.userinfo_endpoint),
            ] {
                if value.is_none() {
                    missing(errors, field, "required for an oauth2 provider");
                }
            }
            if c.field_map.subject.is_none() {
                missing(
                    errors,
                    "field_map.subject",
                    "required for an oauth2 provider: where the profile holds the user's id",
                );
            }
        }
        ProviderKind::Microsoft => {
            if let Some(t) = &c.tenant
                && (t.is_empty()
                    || t.len() > 64
                    || !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
            {
                missing(
                    errors,
                    "tenant",
                    "common, organizations, consumers, a tenant id or a domain",
                );
            }
        }
        ProviderKind::Apple => {
            for (field, value) in [("team_id", &c.team_id), ("key_id", &c.key_id)] {
                match value {
                    Some(v)
                        if !v.is_empty()
                            && v.len() <= 32
                            && v.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
                    _ => missing(
                        errors,
                        field,
                        "required for Apple: 10 letters and digits from the developer account",
                    ),
                }
            }
            if c.client_auth != UpstreamAuth::SignedSecret {
                missing(
                    errors,
                    "client_auth",
                    "Apple needs signed_secret: the client secret is a JWT signed with the uploaded key",
                );
            }
        }
        ProviderKind::Google | ProviderKind::Github | ProviderKind::Facebook => {}
    }
    if !kind.is_oidc() && c.client_auth == UpstreamAuth::PrivateKeyJwt {
        missing(
            errors,
            "client_auth",
            "private_key_jwt is for OpenID Providers",
        );
    }
    if c.client_auth.needs_secret() && !has_secret {
        let what = if c.client_auth == UpstreamAuth::SignedSecret {
            "required: the PEM private key that signs the client secret"
        } else {
            "required: the client secret registered at the provider"
        };
        missing(errors, "client_secret", what);
    }
    if c.scopes.len() > MAX_ITEMS {
        missing(errors, "scopes", "at most 50 scopes");
    }
    for s in &c.scopes {
        if s.is_empty()
            || s.len() > 128
            || !s
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            missing(
                errors,
                "scopes",
                "each scope is 1 to 128 printable characters without spaces",
            );
            break;
        }
    }
    if let Some(p) = &c.prompt
        && (p.is_empty() || !p.split(' ').all(|v| PROMPTS.contains(&v)))
    {
        missing(
            errors,
            "prompt",
            "none, login, consent or select_account (space-separated)",
        );
    }
    for alg in &c.allowed_algs {
        if !SUPPORTED_ALGS.contains(&alg.as_str()) {
            missing(
                errors,
                "allowed_algs",
                "only asymmetric algorithms: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
            );
            break;
        }
    }
    field_map(errors, &c.field_map);
    if c.mappers.len() > MAX_ITEMS {
        missing(errors, "mappers", "at most 50 mappers");
    }
    for (n, m) in c.mappers.iter().enumerate() {
        let f = |name: &str| format!("mappers[{n}].{name}");
        match m {
            Mapper::Attribute { claim, attribute } => {
                path(errors, &f("claim"), claim);
                attribute_name(errors, &f("attribute"), attribute);
            }
            Mapper::Name { claim } => path(errors, &f("claim"), claim),
            Mapper::Role { claim, value, role } => {
                path(errors, &f("claim"), claim);
                text(errors, &f("value"), value);
                text(errors, &f("role"), role);
            }
            Mapper::Group {
                claim,
                value,
                group,
            } => {
                path(errors, &f("claim"), claim);
                text(errors, &f("value"), value);
                text(errors, &f("group"), group);
            }
            Mapper::HardcodedRole { role } => text(errors, &f("role"), role),
        }
    }
    if c.default_roles.len() > MAX_ITEMS {
        missing(errors, "default_roles", "at most 50 roles");
    }
    for r in &c.default_roles {
        text(errors, "default_roles", r);
    }
}

fn attribute_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !ok {
        errors.push(FieldError::new(
            field,
            "1 to 64 of letters, digits, '_', '-' and '.'",
        ));
    }
}

fn field_map(errors: &mut Vec<FieldError>, m: &FieldMap) {
    for (field, value) in [
        ("field_map.subject", &m.subject),
        ("field_map.email", &m.email),
        ("field_map.email_verified", &m.email_verified),
        ("field_map.name", &m.name),
        ("field_map.picture", &m.picture),
    ] {
        if let Some(v) = value {
            path(errors, field, v);
        }
    }
    if m.attributes.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            "field_map.attributes",
            "at most 50 attributes",
        ));
    }
    for (name, p) in &m.attributes {
        attribute_name(errors, "field_map.attributes", name);
        path(errors, "field_map.attributes", p);
    }
}

/// Checks a secret's size, and for a signed secret that it is a PEM P-256
/// private key.
pub(crate) fn secret(errors: &mut Vec<FieldError>, auth: UpstreamAuth, secret: &str) {
    if secret.is_empty() || secret.len() > MAX_SECRET {
        errors.push(FieldError::new(
            "client_secret",
            "must be 1 to 8192 characters",
        ));
        return;
    }
    if auth == UpstreamAuth::SignedSecret && pem_p256(secret).is_none() {
        errors.push(FieldError::new(
            "client_secret",
            "must be a PEM PKCS#8 P-256 private key (Apple's .p8 file)",
        ));
    }
}

/// The DER of a PEM PKCS#8 P-256 private key, if `pem` is one.
pub fn pem_p256(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PRIVATE KEY-----")
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .ok()?;
    portcullis_crypto::SigningKey::from_pkcs8(portcullis_crypto::SigningAlgorithm::ES256, &der)
        .ok()
        .map(|_| der)
}

/// A display name: 1 to 100 characters.
pub(crate) fn display_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "display_name",
            "must be 1 to 100 characters without control characters",
        ));
    } else if let Err(e) = crate::text::plain("display_name", name) {
        errors.push(e);
    }
}
