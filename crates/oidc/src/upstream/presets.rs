//! What each provider kind speaks, merged with a provider's settings: a
//! preset fills what the settings leave out, and set fields override it
//! (GitHub Enterprise, a sovereign Microsoft cloud, a local stand-in).

use portcullis_core::federation::{FieldMap, IdentityProvider, ProviderKind};

/// Google's issuer.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// Microsoft identity platform's authority host.
pub const MICROSOFT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The tenant of Microsoft's personal accounts (`consumers`).
pub const MICROSOFT_CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// Apple's issuer.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";
/// GitHub's URLs.
const GITHUB: [&str; 4] = [
    "https://github.com/login/oauth/authorize",
    "https://github.com/login/oauth/access_token",
    "https://api.github.com/user",
    "https://api.github.com/user/emails",
];
/// Facebook's URLs (Graph API v19).
const FACEBOOK: [&str; 3] = [
    "https://www.facebook.com/v19.0/dialog/oauth",
    "https://graph.facebook.com/v19.0/oauth/access_token",
    "https://graph.facebook.com/me?fields=id,name,email,picture",
];

/// ID-token algorithms accepted when a provider names none.
const DEFAULT_ALGS: &[&str] = &["RS256", "ES256", "PS256", "EdDSA"];

/// Which `iss` an ID token must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerCheck {
    /// Exactly this issuer.
    Exact(String),
    /// Microsoft's multi-tenant endpoints (`common`, `organizations`):
    /// `{authority}/{tid}/v2.0`, `tid` the token's tenant.
    MicrosoftTenant {
        /// The authority host.
        authority: String,
    },
    /// A Microsoft tenant named by a domain: the issuer its discovery
    /// document names (`{authority}/{tenant id}/v2.0`), exactly.
    MicrosoftDomain {
        /// The authority host.
        authority: String,
    },
    /// Not an OpenID Provider: no ID token.
    None,
}

/// A provider's effective endpoints and rules.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The kind.
    pub kind: ProviderKind,
    /// Where discovery starts (`{issuer}/.well-known/openid-configuration`),
    /// for OpenID Providers without explicit endpoints.
    pub discovery_issuer: Option<String>,
    /// The `iss` rule.
    pub issuer: IssuerCheck,
    /// Authorization endpoint, if known without discovery.
    pub authorization_endpoint: Option<String>,
    /// Token endpoint, if known without discovery.
    pub token_endpoint: Option<String>,
    /// UserInfo / profile endpoint.
    pub userinfo_endpoint: Option<String>,
    /// JWKS, if known without discovery.
    pub jwks_uri: Option<String>,
    /// GitHub-style address list.
    pub emails_endpoint: Option<String>,
    /// GitHub's organizations of the user, read when a mapper names the
    /// claim `orgs` (their logins).
    pub orgs_endpoint: Option<String>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Whether the callback comes as a cross-site `form_post`.
    pub form_post: bool,
    /// Where profile fields are read.
    pub field_map: FieldMap,
    /// Accepted ID-token algorithms.
    pub allowed_algs: Vec<String>,
}

/// Whether `s` is a GUID (8-4-4-4-12 hexadecimal digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn or(value: &Option<String>, default: &str) -> Option<String> {
    Some(value.clone().unwrap_or_else(|| default.to_owned()))
}

fn merge(set: &FieldMap, preset: FieldMap) -> FieldMap {
    FieldMap {
        subject: set.subject.clone().or(preset.subject),
        email: set.email.clone().or(preset.email),
        email_verified: set.email_verified.clone().or(preset.email_verified),
        name: set.name.clone().or(preset.name),
        picture: set.picture.clone().or(preset.picture),
        attributes: set.attributes.clone(),
    }
}

fn fields(
    subject: &str,
    email: &str,
    verified: Option<&str>,
    name: &str,
    picture: &str,
) -> FieldMap {
    FieldMap {
        subject: Some(subject.to_owned()),
        email: Some(email.to_owned()),
        email_verified: verified.map(str::to_owned),
        name: Some(name.to_owned()),
        picture: Some(picture.to_owned()),
        attributes: Default::default(),
    }
}

/// Whether a mapper reads GitHub's `orgs` claim.
fn names_orgs(m: &portcullis_core::federation::Mapper) -> bool {
    use portcullis_core::federation::Mapper;
    let claim = match m {
        Mapper::Attribute { claim, .. }
        | Mapper::Name { claim }
        | Mapper::Role { claim, .. }
        | Mapper::Group { claim, .. } => claim,
        Mapper::HardcodedRole { .. } => return false,
    };
    claim == "orgs" || claim.starts_with("orgs.") || claim.starts_with("/orgs")
}

/// The provider's effective endpoints and rules.
pub fn resolve(p: &IdentityProvider) -> Resolved {
    let c = &p.config;
    let oidc_fields = fields("sub", "email", Some("email_verified"), "name", "picture");
    let mut r = Resolved {
        kind: p.kind,
        discovery_issuer: None,
        issuer: IssuerCheck::None,
        authorization_endpoint: c.authorization_endpoint.clone(),
        token_endpoint: c.token_endpoint.clone(),
        userinfo_endpoint: c.userinfo_endpoint.clone(),
        jwks_uri: c.jwks_uri.clone(),
        emails_endpoint: c.emails_endpoint.clone(),
        orgs_endpoint: None,
        scopes: c.scopes.clone(),
        form_post: false,
        field_map: c.field_map.clone(),
        allowed_algs: if c.allowed_algs.is_empty() {
            owned(DEFAULT_ALGS)
        } else {
            c.allowed_algs.clone()
        },
    };
    let default_scopes = |r: &mut Resolved, scopes: &[&str]| {
        if r.scopes.is_empty() {
            r.scopes = owned(scopes);
        }
    };
    match p.kind {
        ProviderKind::Oidc => {
            r.issuer = IssuerCheck::Exact(c.issuer.clone().unwrap_or_default());
            if c.jwks_uri.is_none() {
                r.discovery_issuer = c.issuer.clone();
            }
            r.field_map = merge(&c.field_map, oidc_fields);
            default_scopes(&mut r, &["openid", "email", "profile"]);
        }
        ProviderKind::Google => {
            let issuer = c.issuer.clone().unwrap_or_else(|| GOOGLE_ISSUER.to_owned());
            r.discovery_issuer = Some(issuer.clone());
            r.issuer = IssuerCheck::Exact(issuer);
            r.field_map = merge(&c.field_map, oidc_fields);
            default_scopes(&mut r, &["openid", "email", "profile"]);
        }
        ProviderKind::Microsoft => {
            let authority = c
                .issuer
                .clone()
                .unwrap_or_else(|| MICROSOFT_AUTHORITY.to_owned());
            let authority = authority.trim_end_matches('/').to_owned();
            let tenant = c.tenant.clone().unwrap_or_else(|| "common".to_owned());
            r.discovery_issuer = Some(format!("{authority}/{tenant}/v2.0"));
            r.issuer = match tenant.as_str() {
                "common" | "organizations" => IssuerCheck::MicrosoftTenant { authority },
                // Personal accounts live in one tenant of their own.
                "consumers" => {
                    IssuerCheck::Exact(format!("{authority}/{MICROSOFT_CONSUMERS_TENANT}/v2.0"))
                }
                t if is_guid(t) => IssuerCheck::Exact(format!("{authority}/{t}/v2.0")),
                _ => IssuerCheck::MicrosoftDomain { authority },
            };
            // Microsoft's `email` is not verified; `preferred_username` is
            // the sign-in name.
            r.field_map = merge(
                &c.field_map,
                fields("sub", "email", None, "name", "picture"),
            );
            default_scopes(&mut r, &["openid", "email", "profile"]);
        }
        ProviderKind::Apple => {
            let issuer = c.issuer.clone().unwrap_or_else(|| APPLE_ISSUER.to_owned());
            r.discovery_issuer = Some(issuer.clone());
            r.issuer = IssuerCheck::Exact(issuer);
            r.form_post = true;
            r.field_map = merge(&c.field_map, oidc_fields);
            default_scopes(&mut r, &["openid", "email", "name"]);
        }
        ProviderKind::Github => {
            r.authorization_endpoint = or(&c.authorization_endpoint, GITHUB[0]);
            r.token_endpoint = or(&c.token_endpoint, GITHUB[1]);
            r.userinfo_endpoint = or(&c.userinfo_endpoint, GITHUB[2]);
            r.emails_endpoint = or(&c.emails_endpoint, GITHUB[3]);
            r.field_map = merge(
                &c.field_map,
                fields("id", "email", None, "name", "avatar_url"),
            );
            // Organizations only when a mapper asks (they need `read:org`).
            if c.mappers.iter().any(names_orgs) {
                r.orgs_endpoint = r
                    .userinfo_endpoint
                    .as_ref()
                    .map(|u| format!("{}/orgs", u.trim_end_matches('/')));
                default_scopes(&mut r, &["read:user", "user:email", "read:org"]);
            } else {
                default_scopes(&mut r, &["read:user", "user:email"]);
            }
        }
        ProviderKind::Facebook => {
            r.authorization_endpoint = or(&c.authorization_endpoint, FACEBOOK[0]);
            r.token_endpoint = or(&c.token_endpoint, FACEBOOK[1]);
            r.userinfo_endpoint = or(&c.userinfo_endpoint, FACEBOOK[2]);
            r.field_map = merge(
                &c.field_map,
                fields("id", "email", None, "name", "picture.data.url"),
            );
            default_scopes(&mut r, &["email", "public_profile"]);
        }
        ProviderKind::Oauth2 => {}
    }
    r
}
