//! SCIM errors (RFC 7644 §3.12): the `scimType` codes, the wire `Error`
//! response, and [`ScimError`], the one error value every fallible function
//! of this crate converts into.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::urn;

/// The `scimType` detail codes of RFC 7644 §3.12 (Table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    /// The filter syntax is invalid, or names an attribute or operator the
    /// server does not support (400).
    InvalidFilter,
    /// The filter yields more results than the server will return (400).
    TooMany,
    /// One or more attribute values are already in use or reserved (409).
    Uniqueness,
    /// The change is incompatible with an attribute's mutability, e.g. a
    /// write to a `readOnly` attribute (400).
    Mutability,
    /// The request body structure was invalid (400).
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed (400).
    InvalidPath,
    /// The path did not yield an attribute that could be operated on (400).
    NoTarget,
    /// A required value was missing, or a value is not compatible with the
    /// attribute's type or schema (400).
    InvalidValue,
    /// The SCIM protocol version is not supported (400).
    InvalidVers,
    /// The request cannot complete because of sensitive data in the URI (403).
    Sensitive,
}

impl ScimType {
    /// The code as written on the wire (`invalidFilter`, `noTarget`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
        }
    }

    /// The HTTP status RFC 7644 §3.12 pairs with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::Uniqueness => 409,
            Self::Sensitive => 403,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the SCIM protocol layer: an HTTP status, an optional
/// `scimType` and a human-readable detail meant for the client (it never
/// holds internal state, only what the client sent and what was wrong).
///
/// The HTTP layer turns it into an [`ErrorResponse`] with
/// [`ScimError::to_response`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{detail}", scim_type.map(|t| format!("{t}: ")).unwrap_or_default())]
pub struct ScimError {
    /// HTTP status code (400, 403, 404, 409, 413, ...).
    pub status: u16,
    /// The `scimType` code, when RFC 7644 defines one for the failure.
    pub scim_type: Option<ScimType>,
    /// What was wrong, for the client.
    pub detail: String,
}

impl ScimError {
    /// An error with a `scimType`; the status is the one the RFC pairs
    /// with it.
    pub fn new(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self {
            status: scim_type.status(),
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// An error with a status and no `scimType` (404, 412, 413, 500, ...).
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// `invalidFilter`: what a server answers for a filter attribute or
    /// operator it cannot translate.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidFilter, detail)
    }

    /// `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidValue, detail)
    }

    /// `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidSyntax, detail)
    }

    /// `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ScimType::InvalidPath, detail)
    }

    /// `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ScimType::NoTarget, detail)
    }

    /// `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ScimType::Mutability, detail)
    }

    /// `tooMany`.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(ScimType::TooMany, detail)
    }

    /// The wire form of this error.
    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            schemas: vec![urn::ERROR.to_owned()],
            status: self.status,
            scim_type: self.scim_type,
            detail: Some(self.detail.clone()),
        }
    }
}

/// The SCIM error response body (RFC 7644 §3.12):
/// `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidFilter","detail":"..."}`.
///
/// `status` is written as a string, as the RFC requires, and read from a
/// string or a number (some providers send a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Always `["urn:ietf:params:scim:api:messages:2.0:Error"]` when written.
    pub schemas: Vec<String>,
    /// The HTTP status code.
    #[serde(serialize_with = "status_ser", deserialize_with = "status_de")]
    pub status: u16,
    /// The `scimType` code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<ScimType>,
    /// A human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub(crate) fn status_ser<S: Serializer>(status: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&status.to_string())
}

pub(crate) fn status_de<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Status {
        Number(u16),
        Text(String),
    }
    match Status::deserialize(d)? {
        Status::Number(n) => Ok(n),
        Status::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("status `{t}` is not an HTTP status"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn error_response_writes_status_as_a_string() {
        let e = ScimError::invalid_filter("expected an operator");
        let v = serde_json::to_value(e.to_response()).unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "expected an operator"
            })
        );
    }

    #[test]
    fn error_response_reads_status_as_string_or_number() {
        let a: ErrorResponse = serde_json::from_value(
            json!({"schemas": [], "status": "409", "scimType": "uniqueness"}),
        )
        .unwrap();
        let b: ErrorResponse =
            serde_json::from_value(json!({"schemas": [], "status": 404})).unwrap();
        assert_eq!((a.status, a.scim_type), (409, Some(ScimType::Uniqueness)));
        assert_eq!((b.status, b.scim_type), (404, None));
        assert!(
            serde_json::from_value::<ErrorResponse>(json!({"schemas": [], "status": "x"})).is_err()
        );
    }

    #[test]
    fn statuses_follow_the_rfc() {
        assert_eq!(ScimError::new(ScimType::Uniqueness, "").status, 409);
        assert_eq!(ScimError::new(ScimType::Sensitive, "").status, 403);
        assert_eq!(ScimError::mutability("").status, 400);
        assert_eq!(ScimError::status(413, "too big").scim_type, None);
        assert_eq!(ScimError::no_target("x").to_string(), "noTarget: x");
    }
}
