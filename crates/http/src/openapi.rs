//! The OpenAPI 3.1 document, generated from the handlers' annotations, at
//! `/openapi.json`, and a browsable reference at `/docs` rendered on the
//! server (no JavaScript, no CDN: it works offline and under a strict CSP).

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::{Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    auth, authz, avatars, bff, clients, federation, links, mail, mfa, oauth, ops, org_extras, orgs,
    pages, profile, realms, risk, security, service_keys, user_pages, users, verification,
};
use crate::state::AppState;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // OAuth clients at the token, introspection and revocation endpoints.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Identity and access management server. Realm-scoped routes exist twice: \
            under `/api/v1/realms/{realm}/...` and, for the default realm, under `/api/v1/...`. \
            Errors are RFC 9457 `application/problem+json`.",
    ),
    paths(
        auth::register_post, auth::login_post, auth::refresh_post, auth::logout_post,
        auth::me_get, auth::change_password_post, auth::sessions_get, auth::session_delete,
        auth::consents_get, auth::consent_delete,
        auth::validate_post,
        users::users_list, users::user_post, users::user_get, users::user_put,
        users::user_delete, users::user_deactivate, users::user_reactivate,
        orgs::orgs_list, orgs::org_post, orgs::org_get, orgs::org_patch, orgs::org_delete,
        orgs::members_list, orgs::member_post, orgs::member_delete,
        org_extras::domains_list, org_extras::domain_post, org_extras::domain_patch,
        org_extras::domain_delete, org_extras::domain_verify_post,
        org_extras::invitations_list, org_extras::invitation_post,
        org_extras::invitation_delete, org_extras::invitation_accept_post,
        org_extras::me_organizations_get, org_extras::dashboard_get,
        profile::profile_schema_get, profile::profile_schema_put, profile::user_profile_get,
        profile::user_profile_put, profile::me_profile_get, profile::me_profile_patch,
        verification::me_phone_get, verification::me_phone_post, verification::me_phone_verify_post,
        verification::user_phone_verification_delete, verification::me_documents_post,
        verification::me_documents_get, verification::user_documents_get,
        verification::user_document_image_get, verification::user_document_decision_post,
        verification::verification_webhook_post, verification::verification_webhook_secret_post,
        avatars::user_avatar_post, avatars::user_avatar_delete, avatars::me_avatar_post,
        avatars::me_avatar_delete, avatars::avatar_get,
        user_pages::preferences_get, user_pages::preferences_patch, user_pages::dashboard_get,
        user_pages::activity_get,
        realms::realms_list, realms::realm_post, realms::realm_get, realms::realm_patch,
        realms::realm_delete, realms::jwks_get,
        ops::live_get, ops::ready_get, ops::health_get, ops::metrics_get,
        authz::roles_list, authz::role_post, authz::role_get, authz::role_patch, authz::role_delete,
        authz::role_permissions_post, authz::role_permissions_delete, authz::permissions_list,
        authz::permission_define_post, authz::permission_define_delete,
        authz::user_grants_get, authz::user_role_post, authz::user_role_delete,
        authz::user_permission_post, authz::user_permission_delete,
        authz::policies_list, authz::policy_post, authz::policy_get, authz::policy_patch,
        authz::policy_delete, authz::groups_list, authz::group_post, authz::group_get,
        authz::group_patch, authz::group_delete, authz::members_get, authz::member_post,
        authz::member_delete, authz::group_grants_get, authz::group_role_post,
        authz::group_role_delete, authz::group_permission_post, authz::group_permission_delete,
        authz::check_post, authz::check_batch_post, authz::effective_get, authz::authorize_post,
        bff::session_get, bff::refresh_post, bff::authorize_post,
        clients::clients_list, clients::client_post, clients::client_get, clients::client_patch,
        clients::client_delete, clients::client_secret_post,
        mfa::verify_post, mfa::totp_validate_post, mfa::methods_get, mfa::devices_get,
        mfa::method_delete, mfa::setup_post, mfa::totp_enable_post, mfa::totp_verify_post,
        mfa::totp_disable_post, mfa::backup_codes_post, mfa::challenge_post,
        mfa::webauthn_start_post, mfa::webauthn_finish_post, mfa::passkey_start_post,
        mfa::passkey_finish_post, mfa::email_verify_post, mfa::sms_verify_post,
        links::magic_link_post, links::magic_link_verify_post, links::change_email_post,
        links::confirm_email_change_post,
        risk::devices_get, risk::device_delete, risk::policy_get, risk::policy_put,
        mail::verify_email_post, mail::resend_verification_post, mail::forgot_password_post,
        mail::reset_password_post, mail::mail_template_get, mail::mail_template_put,
        mail::mail_template_delete,
        federation::providers_list, federation::provider_post, federation::provider_get,
        federation::provider_put, federation::provider_delete, federation::user_links_get,
        federation::user_link_delete, federation::my_links_get, federation::my_link_delete,
        federation::social_start, federation::social_exchange_post, federation::social_link_post,
        security::blocks_get, security::block_delete, security::rate_limits_get,
        security::rate_limits_put, security::rate_limits_delete,
        service_keys::keys_list, service_keys::key_post, service_keys::key_get,
        service_keys::key_rotate_post, service_keys::key_revoke_post, service_keys::key_delete,
        oauth::token_post, oauth::introspect_post, oauth::revoke_post, oauth::userinfo_endpoint,
        oauth::openid_configuration_get, oauth::metadata_get, oauth::metadata_well_known_first_get,
        pages::authorize::authorize_endpoint, pages::logout::logout_endpoint,
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Registration, login, tokens and sessions"),
        (name = "mfa", description = "Second factors and the second step of a login"),
        (name = "identity", description = "User administration"),
        (name = "organizations", description = "Organizations of a realm and their members"),
        (name = "profiles", description = "Declarative user profiles, avatars, preferences, dashboards and activity"),
        (name = "verification", description = "Phone verification by SMS code and identity documents, decided by administrators or an external verifier's signed webhook"),
        (name = "authorization", description = "Roles, groups, grants, policies and checks"),
        (name = "bff", description = "Backend-for-frontend: the session of a browser app's refresh cookie (cookie mode)"),
        (name = "clients", description = "OAuth 2.0 / OpenID Connect clients of a realm"),
        (name = "realms", description = "Realm administration and keys"),
        (name = "mail", description = "Mail templates of a realm"),
        (name = "federation", description = "Identity providers upstream, social sign-in and linked accounts"),
        (name = "security", description = "Rate limits, strikes and blocks; HMAC service keys"),
        (name = "operations", description = "Health and metrics"),
        (name = "oauth", description = "OAuth 2.0 and OpenID Connect: each realm is an issuer at `/realms/{realm}` (token, introspection, revocation, UserInfo, discovery, authorization and logout)"),
    )
)]
struct ApiDoc;

/// Paths that are realm-scoped (mounted under both prefixes).
const REALM_SCOPED: &[&str] = &[
    "/api/v1/auth/",
    "/api/v1/identity/",
    "/api/v1/rbac/",
    "/api/v1/authz/",
    "/api/v1/bff/",
    "/api/v1/clients",
    "/api/v1/mfa/",
    "/api/v1/risk-policy",
    "/api/v1/mail-templates/",
    "/api/v1/identity-providers",
    "/api/v1/security/",
    "/api/v1/service-keys",
];

/// The complete OpenAPI document as JSON, with the realm-prefixed copy of
/// every realm-scoped path.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let mut extra = Map::new();
        for (path, item) in paths.iter() {
            if !REALM_SCOPED.iter().any(|p| path.starts_with(p)) {
                continue;
            }
            let suffix = path.trim_start_matches("/api/v1");
            let mut item = item.clone();
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut().filter_map(Value::as_object_mut) {
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        let id = format!("{id}_in_realm");
                        op.insert("operationId".into(), Value::String(id));
                    }
                    let params = op
                        .entry("parameters")
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Some(list) = params.as_array_mut() {
                        list.insert(
                            0,
                            serde_json::json!({
                                "name": "realm", "in": "path", "required": true,
                                "description": "Realm name", "schema": { "type": "string" }
                            }),
                        );
                    }
                }
            }
            extra.insert(format!("/api/v1/realms/{{realm}}{suffix}"), item);
        }
        paths.extend(extra);
        document_common_answers(paths);
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "info".into(),
            serde_json::json!({
                "title": "Portcullis",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "Identity and access management server. Realm-scoped routes exist twice: under `/api/v1/realms/{realm}/...` and, for the default realm, under `/api/v1/...`. Errors are RFC 9457 `application/problem+json`.",
                "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
            }),
        );
    }
    doc
}

/// A problem answer's object, for the answers every operation of a kind may
/// give.
fn problem(description: &str) -> Value {
    serde_json::json!({
        "description": description,
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/Problem" }
        } }
    })
}

/// The answers every operation of a kind may give, which the annotations
/// need not each list: those of a JSON body (crate::body: 400 malformed, 413
/// too large, 415 not JSON, 422 invalid fields), 401 of a bearer-secured
/// operation (no token, or one that is expired, revoked or whose session
/// ended), 404 of a realm-scoped one (no such realm), and 429 of every one
/// the edge may refuse (a rate limit of the realm's policy, a blocked
/// client).
fn document_common_answers(paths: &mut Map<String, Value>) {
    let ops = paths
        .iter_mut()
        .filter_map(|(path, item)| Some((path, item.as_object_mut()?)))
        .flat_map(|(path, item)| item.values_mut().map(move |op| (path, op)))
        .filter_map(|(path, op)| Some((path, op.as_object_mut()?)));
    for (path, op) in ops {
        let limited = !never_limited(path);
        let json_body = op
            .get("requestBody")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .is_some_and(|c| c.contains_key("application/json"));
        let bearer = op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let in_realm = op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| {
                ps.iter().any(|p| {
                    p.get("in").and_then(Value::as_str) == Some("path")
                        && p.get("name").and_then(Value::as_str) == Some("realm")
                })
            });
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status)
                .or_insert_with(|| problem(description));
        };
        if json_body {
            add("400", "The body is not well-formed JSON");
            add("413", "The body is over the size limit");
            add(
                "415",
                "The body is not JSON (Content-Type: application/json)",
            );
            add(
                "422",
                "Invalid fields: every missing, mistyped, unknown or invalid field, each named by its JSON path",
            );
        }
        if bearer {
            add(
                "401",
                "Missing, invalid, expired or revoked access token, or its session ended",
            );
        }
        if in_realm {
            add("404", "No such realm");
        }
        if limited {
            add(
                "429",
                "Over a rate limit of the realm's policy, or the client is blocked; see Retry-After",
            );
        }
    }
}

/// The routes the edge never limits (crate::edge::classify): health,
/// metrics, this document, and each realm's discovery documents and keys.
fn never_limited(path: &str) -> bool {
    path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path == "/health"
        || path.starts_with("/health/")
        || path.starts_with("/realms/{realm}/.well-known/")
        || path.starts_with("/.well-known/")
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_get))
        .route("/docs", get(docs_get))
}

async fn openapi_get() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        axum::Json(document()),
    )
}

/// The reference page: inline styles only, no scripts, no forms.
async fn docs_get() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        )],
        Html(render(&document())),
    )
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn schema_text(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_text(items));
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let parts: Vec<String> = variants.iter().map(schema_text).collect();
        return parts.join(" | ");
    }
    match schema.get("type") {
        Some(Value::String(t)) => esc(t),
        Some(Value::Array(ts)) => esc(&ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | ")),
        _ => "any".into(),
    }
}

fn render(doc: &Value) -> String {
    let mut h = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Portcullis API reference</title><style>\
         body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}\
         code,pre{font-family:ui-monospace,monospace}.op{border:1px solid #d0d7de;border-radius:6px;margin:.75rem 0;padding:.5rem 1rem}\
         .m{display:inline-block;min-width:4.5rem;font-weight:bold}.get{color:#1a7f37}.post{color:#0969da}.put,.patch{color:#9a6700}.delete{color:#cf222e}\
         table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left;vertical-align:top}\
         </style></head><body><h1>Portcullis API reference</h1>",
    );
    if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
        h.push_str(&format!("<p>{}</p>", esc(d)));
    }
    h.push_str("<p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p><h2>Endpoints</h2>");
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                h.push_str(&format!(
                    "<div class=\"op\"><p><span class=\"m {m}\">{M}</span> <code>{p}</code> — {s}</p>",
                    m = esc(method),
                    M = esc(&method.to_uppercase()),
                    p = esc(path),
                    s = esc(op.get("summary").or(op.get("description")).and_then(Value::as_str).unwrap_or("")),
                ));
                if op.get("security").is_some() {
                    h.push_str("<p>Requires a bearer access token.</p>");
                }
                if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                    h.push_str("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>");
                    for p in params {
                        let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
                        h.push_str(&format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(field("name")),
                            esc(field("in")),
                            p.get("schema").map(schema_text).unwrap_or_default(),
                            esc(field("description")),
                        ));
                    }
                    h.push_str("</table>");
                }
                if let Some(body) = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                {
                    for (ct, c) in body {
                        h.push_str(&format!(
                            "<p>Body ({}): {}</p>",
                            esc(ct),
                            c.get("schema").map(schema_text).unwrap_or_default()
                        ));
                    }
                }
                if let Some(resps) = op.get("responses").and_then(Value::as_object) {
                    h.push_str("<table><tr><th>status</th><th>description</th><th>body</th></tr>");
                    for (status, r) in resps {
                        let body = r
                            .get("content")
                            .and_then(Value::as_object)
                            .map(|c| {
                                c.iter()
                                    .map(|(ct, v)| {
                                        format!(
                                            "{} ({})",
                                            v.get("schema").map(schema_text).unwrap_or_default(),
                                            esc(ct)
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join("<br>")
                            })
                            .unwrap_or_default();
                        h.push_str(&format!(
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(status),
                            esc(r.get("description").and_then(Value::as_str).unwrap_or("")),
                            body
                        ));
                    }
                    h.push_str("</table>");
                }
                h.push_str("</div>");
            }
        }
    }
    h.push_str("<h2>Schemas</h2>");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, s) in schemas {
            h.push_str(&format!("<h3 id=\"schema-{0}\">{0}</h3>", esc(name)));
            if let Some(d) = s.get("description").and_then(Value::as_str) {
                h.push_str(&format!("<p>{}</p>", esc(d)));
            }
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                h.push_str("<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>");
                for (field, p) in props {
                    h.push_str(&format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        schema_text(p),
                        if required.contains(&field.as_str()) {
                            "yes"
                        } else {
                            ""
                        },
                        esc(p.get("description").and_then(Value::as_str).unwrap_or("")),
                    ));
                }
                h.push_str("</table>");
            }
        }
    }
    h.push_str("</body></html>");
    h
}
