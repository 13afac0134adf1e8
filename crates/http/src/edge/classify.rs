//! Which limiter group a request belongs to, and which realm it addresses,
//! from its method and path alone (the edge runs before routing).

use axum::http::Method;
use portcullis_core::edge::Group;

/// What the path tells the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    /// The group, or `None` for the never-limited routes (discovery, JWKS,
    /// health, metrics, the API's description).
    pub(crate) group: Option<Group>,
    /// The realm named in the path; `None`: the default realm.
    pub(crate) realm: Option<&'a str>,
}

/// Classifies a request.
pub(crate) fn classify<'a>(method: &Method, path: &'a str) -> Route<'a> {
    let default = |group| Route {
        group: Some(group),
        realm: None,
    };
    if path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path == "/health"
        || path.starts_with("/health/")
    {
        return Route {
            group: None,
            realm: None,
        };
    }
    // RFC 8414 §3.1: the metadata of the issuer `/realms/{realm}` with the
    // well-known segment before the issuer's path. A discovery document of
    // that realm, like the one below it.
    if let Some(after) = path.strip_prefix("/.well-known/oauth-authorization-server/realms/") {
        return Route {
            group: None,
            realm: Some(after.split_once('/').map_or(after, |(r, _)| r)),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/v1") {
        if rest.is_empty() || rest == "/" {
            return default(Group::General);
        }
        if rest == "/realms" || rest == "/realms/" {
            return default(Group::Admin);
        }
        if let Some(after) = rest.strip_prefix("/realms/") {
            let (realm, sub) = after.split_once('/').map_or((after, ""), |(r, s)| (r, s));
            let group = if sub.is_empty() {
                // The realm itself: its administration.
                Group::Admin
            } else {
                api_group(sub)
            };
            return Route {
                group: Some(group),
                realm: Some(realm),
            };
        }
        return default(api_group(rest.trim_start_matches('/')));
    }
    // SCIM provisioning is administration of the realm it names.
    if let Some(after) = path.strip_prefix("/scim/v2/realms/") {
        return Route {
            group: Some(Group::Admin),
            realm: Some(after.split_once('/').map_or(after, |(r, _)| r)),
        };
    }
    if let Some(after) = path.strip_prefix("/realms/") {
        let (realm, sub) = after.split_once('/').map_or((after, ""), |(r, s)| (r, s));
        return Route {
            group: realm_group(method, sub),
            realm: Some(realm),
        };
    }
    default(Group::General)
}

/// The group of a REST path below `/api/v1` (and below a realm's prefix),
/// without its leading slash.
fn api_group(sub: &str) -> Group {
    let (head, tail) = sub.split_once('/').unwrap_or((sub, ""));
    match head {
        "auth" => match tail {
            "login"
            | "passkey/start"
            | "passkey/finish"
            | "magic-link/verify"
            | "social/exchange"
            | "verify-email"
            | "confirm-email-change" => Group::Login,
            "register" => Group::Registration,
            "forgot-password"
            | "reset-password"
            | "resend-verification"
            | "magic-link"
            | "change-email" => Group::Mail,
            "refresh" => Group::Token,
            "validate" => Group::Service,
            _ => Group::General,
        },
        "mfa" => match tail {
            "verify" | "totp/validate" => Group::Login,
            "challenge" => Group::Mail,
            _ => Group::General,
        },
        "bff" => match tail {
            "refresh" => Group::Token,
            "authorize" => Group::Service,
            _ => Group::General,
        },
        "authz" => match tail {
            "check" | "check-batch" => Group::Service,
            _ => Group::Admin,
        },
        "identity" | "rbac" | "clients" | "identity-providers" | "risk-policy"
        | "mail-templates" | "security" | "service-keys" => Group::Admin,
        _ => Group::General,
    }
}

/// The group of a path below `/realms/{realm}/` (the realm as an issuer).
fn realm_group(method: &Method, sub: &str) -> Option<Group> {
    if sub.starts_with(".well-known/") {
        return None;
    }
    let post = method == Method::POST;
    Some(match sub {
        "oauth2/token" | "oauth2/revoke" => Group::Token,
        "oauth2/introspect" => Group::Service,
        "login" | "login/mfa" | "login/passkey" | "login/social/confirm" if post => Group::Login,
        "login/magic-link" | "reset-password" | "login/social/confirm-mail" if post => Group::Mail,
        "verify-email" | "magic-link" | "confirm-email-change" | "login/social/mailed" => {
            Group::Login
        }
        _ if sub.starts_with("login/social/") && sub.ends_with("/callback") => Group::Login,
        _ => Group::General,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(method: Method, path: &str) -> (Option<Group>, Option<&str>) {
        let r = classify(&method, path);
        (r.group, r.realm)
    }

    #[test]
    fn families() {
        use Group::*;
        let g = Method::GET;
        let p = Method::POST;
        for (m, path, want, realm) in [
            (p.clone(), "/api/v1/auth/login", Some(Login), None),
            (
                p.clone(),
                "/api/v1/realms/acme/auth/login",
                Some(Login),
                Some("acme"),
            ),
            (p.clone(), "/api/v1/mfa/verify", Some(Login), None),
            (p.clone(), "/api/v1/auth/passkey/finish", Some(Login), None),
            (p.clone(), "/api/v1/auth/register", Some(Registration), None),
            (p.clone(), "/api/v1/auth/forgot-password", Some(Mail), None),
            (p.clone(), "/api/v1/auth/magic-link", Some(Mail), None),
            (p.clone(), "/api/v1/mfa/challenge", Some(Mail), None),
            (
                p.clone(),
                "/realms/acme/oauth2/token",
                Some(Token),
                Some("acme"),
            ),
            (p.clone(), "/api/v1/auth/refresh", Some(Token), None),
            (p.clone(), "/api/v1/auth/validate", Some(Service), None),
            (p.clone(), "/api/v1/authz/check", Some(Service), None),
            (p.clone(), "/api/v1/bff/refresh", Some(Token), None),
            (
                p.clone(),
                "/api/v1/realms/acme/bff/refresh",
                Some(Token),
                Some("acme"),
            ),
            (p.clone(), "/api/v1/bff/authorize", Some(Service), None),
            (g.clone(), "/api/v1/bff/session", Some(General), None),
            (
                p.clone(),
                "/realms/main/oauth2/introspect",
                Some(Service),
                Some("main"),
            ),
            (g.clone(), "/api/v1/identity/users", Some(Admin), None),
            (p.clone(), "/api/v1/realms", Some(Admin), None),
            (g.clone(), "/api/v1/realms/acme", Some(Admin), Some("acme")),
            (
                g.clone(),
                "/api/v1/realms/acme/rbac/roles",
                Some(Admin),
                Some("acme"),
            ),
            (g.clone(), "/api/v1/security/blocks", Some(Admin), None),
            (
                g.clone(),
                "/scim/v2/realms/acme/Users",
                Some(Admin),
                Some("acme"),
            ),
            (g.clone(), "/api/v1/auth/me", Some(General), None),
            (g.clone(), "/realms/acme/login", Some(General), Some("acme")),
            (p.clone(), "/realms/acme/login", Some(Login), Some("acme")),
            (
                g.clone(),
                "/realms/acme/login/social/google/callback",
                Some(Login),
                Some("acme"),
            ),
            (
                g.clone(),
                "/realms/acme/oauth2/authorize",
                Some(General),
                Some("acme"),
            ),
            (g.clone(), "/nowhere", Some(General), None),
            (
                g.clone(),
                "/realms/acme/.well-known/openid-configuration",
                None,
                Some("acme"),
            ),
            (
                g.clone(),
                "/realms/acme/.well-known/jwks.json",
                None,
                Some("acme"),
            ),
            (
                g.clone(),
                "/.well-known/oauth-authorization-server/realms/acme",
                None,
                Some("acme"),
            ),
            (g.clone(), "/health/ready", None, None),
            (g.clone(), "/metrics", None, None),
        ] {
            assert_eq!(group(m, path), (want, realm), "{path}");
        }
    }
}
