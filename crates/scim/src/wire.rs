//! Wire types of the discovery and list endpoints (RFC 7643 §3.1, §5, §6;
//! RFC 7644 §3.4.2): `meta`, `ListResponse`, `ServiceProviderConfig`,
//! `ResourceType`.
//!
//! None denies unknown fields: RFC 7643 §3 lets resources and messages carry
//! extension data, and providers add their own.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::urn;

/// A resource's `meta` (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User`, `Group`, `Schema`, `ResourceType`, `ServiceProviderConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// When the resource was created.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub created: Option<OffsetDateTime>,
    /// When the resource was last changed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_modified: Option<OffsetDateTime>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Its version, as an entity tag (`W/"3"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A page of query results (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T = serde_json::Value> {
    /// `["urn:ietf:params:scim:api:messages:2.0:ListResponse"]`.
    pub schemas: Vec<String>,
    /// Results matching the query, over all pages.
    pub total_results: u64,
    /// 1-based index of the first result of this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// Results on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    /// The results on this page.
    #[serde(rename = "Resources", default)]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    /// A page: `itemsPerPage` is the number of `resources`.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: vec![urn::LIST_RESPONSE.to_owned()],
            total_results,
            start_index: Some(start_index),
            items_per_page: Some(resources.len() as u64),
            resources,
        }
    }
}

/// `{"supported": bool}`, the shape of several service provider features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Supported {
    /// Whether the feature is supported.
    pub supported: bool,
}

/// The bulk feature and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkSupport {
    /// Whether `/Bulk` is served.
    pub supported: bool,
    /// Most operations in one request.
    pub max_operations: u64,
    /// Largest request body, in bytes.
    pub max_payload_size: u64,
}

/// The filter feature and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterSupport {
    /// Whether `filter` is supported.
    pub supported: bool,
    /// Most results one query returns.
    pub max_results: u64,
}

/// An authentication scheme the service provider accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationScheme {
    /// `oauthbearertoken`, `httpbasic`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The specification it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    /// Where it is documented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// Whether it is the preferred scheme.
    #[serde(default)]
    pub primary: bool,
}

impl AuthenticationScheme {
    /// OAuth 2.0 bearer tokens (RFC 6750).
    pub fn oauth_bearer_token() -> Self {
        Self {
            kind: "oauthbearertoken".to_owned(),
            name: "OAuth Bearer Token".to_owned(),
            description: "Authentication scheme using the OAuth Bearer Token Standard".to_owned(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".to_owned()),
            documentation_uri: None,
            primary: true,
        }
    }
}

/// `/ServiceProviderConfig` (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    /// `["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]`.
    pub schemas: Vec<String>,
    /// Where the service is documented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// PATCH support.
    pub patch: Supported,
    /// Bulk support and limits.
    pub bulk: BulkSupport,
    /// Filter support and limit.
    pub filter: FilterSupport,
    /// Password change support.
    pub change_password: Supported,
    /// Sorting support.
    pub sort: Supported,
    /// ETag support.
    pub etag: Supported,
    /// Accepted authentication schemes.
    pub authentication_schemes: Vec<AuthenticationScheme>,
    /// `resourceType: "ServiceProviderConfig"`, `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ServiceProviderConfig {
    /// What this crate implements: PATCH, filters up to `max_results`,
    /// sorting, ETags, bulk with the given limits (or not, if `bulk` is
    /// `None`), bearer tokens; no password change.
    pub fn new(max_results: u64, bulk: Option<crate::bulk::BulkLimits>) -> Self {
        Self {
            schemas: vec![urn::SERVICE_PROVIDER_CONFIG.to_owned()],
            documentation_uri: None,
            patch: Supported { supported: true },
            bulk: match bulk {
                Some(l) => BulkSupport {
                    supported: true,
                    max_operations: l.max_operations as u64,
                    max_payload_size: l.max_payload_size as u64,
                },
                None => BulkSupport {
                    supported: false,
                    max_operations: 0,
                    max_payload_size: 0,
                },
            },
            filter: FilterSupport {
                supported: true,
                max_results,
            },
            change_password: Supported { supported: false },
            sort: Supported { supported: true },
            etag: Supported { supported: true },
            authentication_schemes: vec![AuthenticationScheme::oauth_bearer_token()],
            meta: None,
        }
    }
}

/// A schema extension of a resource type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaExtension {
    /// The extension's URN.
    pub schema: String,
    /// Whether every resource must carry it.
    pub required: bool,
}

/// `/ResourceTypes/{id}` (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceType {
    /// `["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]`.
    pub schemas: Vec<String>,
    /// `User`, `Group`.
    pub id: String,
    /// `User`, `Group`.
    pub name: String,
    /// The endpoint, relative to the base URL: `/Users`, `/Groups`.
    pub endpoint: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The core schema URN.
    pub schema: String,
    /// The extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_extensions: Vec<SchemaExtension>,
    /// `resourceType: "ResourceType"`, `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ResourceType {
    /// `User` at `/Users`, with the optional Enterprise User extension.
    pub fn user() -> Self {
        Self {
            schemas: vec![urn::RESOURCE_TYPE.to_owned()],
            id: "User".to_owned(),
            name: "User".to_owned(),
            endpoint: "/Users".to_owned(),
            description: Some("User Account".to_owned()),
            schema: urn::USER.to_owned(),
            schema_extensions: vec![SchemaExtension {
                schema: urn::ENTERPRISE_USER.to_owned(),
                required: false,
            }],
            meta: None,
        }
    }

    /// `Group` at `/Groups`.
    pub fn group() -> Self {
        Self {
            schemas: vec![urn::RESOURCE_TYPE.to_owned()],
            id: "Group".to_owned(),
            name: "Group".to_owned(),
            endpoint: "/Groups".to_owned(),
            description: Some("Group".to_owned()),
            schema: urn::GROUP.to_owned(),
            schema_extensions: Vec::new(),
            meta: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn list_response_shape() {
        let page = ListResponse::new(vec![json!({"id": "1"})], 7, 3);
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 7, "startIndex": 3, "itemsPerPage": 1,
                "Resources": [{"id": "1"}]
            })
        );
        let back: ListResponse = serde_json::from_value(json!({
            "schemas": [urn::LIST_RESPONSE], "totalResults": 0, "extra": true
        }))
        .unwrap();
        assert!(back.resources.is_empty());
    }

    #[test]
    fn meta_times_are_rfc3339() {
        let meta: Meta = serde_json::from_value(json!({
            "resourceType": "User", "created": "2011-08-01T18:29:49.793Z",
            "lastModified": "2011-08-01T18:29:49Z", "version": "W/\"1\""
        }))
        .unwrap();
        let v = serde_json::to_value(&meta).unwrap();
        assert_eq!(v["created"], "2011-08-01T18:29:49.793Z");
        assert_eq!(v["lastModified"], "2011-08-01T18:29:49Z");
        assert!(serde_json::from_value::<Meta>(json!({"created": "yesterday"})).is_err());
    }

    #[test]
    fn service_provider_config_shape() {
        let limits = crate::bulk::BulkLimits::default();
        let v = serde_json::to_value(ServiceProviderConfig::new(200, Some(limits))).unwrap();
        assert_eq!(v["schemas"][0], urn::SERVICE_PROVIDER_CONFIG);
        assert_eq!(v["patch"]["supported"], true);
        assert_eq!(v["filter"]["maxResults"], 200);
        assert_eq!(v["bulk"]["maxOperations"], limits.max_operations as u64);
        assert_eq!(v["changePassword"]["supported"], false);
        assert_eq!(v["authenticationSchemes"][0]["type"], "oauthbearertoken");
        let none = serde_json::to_value(ServiceProviderConfig::new(50, None)).unwrap();
        assert_eq!(none["bulk"]["supported"], false);
    }

    #[test]
    fn resource_types() {
        let v = serde_json::to_value(ResourceType::user()).unwrap();
        assert_eq!(v["endpoint"], "/Users");
        assert_eq!(v["schemaExtensions"][0]["schema"], urn::ENTERPRISE_USER);
        assert_eq!(v["schemaExtensions"][0]["required"], false);
        let g = serde_json::to_value(ResourceType::group()).unwrap();
        assert!(g.get("schemaExtensions").is_none());
        assert_eq!(g["schema"], urn::GROUP);
    }
}
