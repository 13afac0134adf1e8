//! The SCIM 2.0 protocol (RFC 7643 core schema, RFC 7644 protocol): its
//! wire format and grammar, for Portcullis to serve at
//! `/scim/v2/realms/{realm}`.
//!
//! This crate owns the SCIM side only. It is pure: it must not depend on
//! HTTP types, storage, the clock or any other Portcullis crate. The HTTP
//! layer hands it query strings and JSON bodies; the core maps what it
//! parses onto users and groups.
//!
//! - [`filter`]: the filter grammar (RFC 7644 §3.4.2.2) parsed into an AST
//!   with limits; its printer; its evaluation against a JSON resource
//!   ([`Filter::matches`]); and [`FilterTranslator`] /
//!   [`Filter::attribute_paths`] to turn a filter into the server's own
//!   query and refuse what it cannot query with `invalidFilter`.
//! - [`patch`]: `PatchOp` requests (RFC 7644 §3.5.2), parsed
//!   ([`PatchRequest::parse`]) and applied to a JSON resource
//!   ([`PatchRequest::apply`]), including the shapes Microsoft Entra ID
//!   and Okta send; [`patch::MembersDelta`] reads a Group PATCH as member
//!   additions and removals.
//! - [`query`]: list query parameters (`filter`, `sortBy`, `sortOrder`,
//!   `startIndex`, `count`, `attributes`, `excludedAttributes`) and
//!   `SearchRequest` bodies; [`query::project`] applies `attributes` /
//!   `excludedAttributes` to a resource.
//! - [`schema`]: attribute characteristics as data, the `/Schemas`
//!   documents of User, Group and Enterprise User, and path resolution.
//! - [`wire`]: `ListResponse`, `ServiceProviderConfig`, `ResourceType`,
//!   `meta`; [`bulk`]: `BulkRequest`/`BulkResponse`; [`error`]: the
//!   `Error` response and [`ScimError`].
//!
//! # Why a parser of our own
//! The crates on crates.io were weighed first (in this order of fit):
//! - `scim_v2` 1.0 (MIT) has a careful LALRPOP grammar with depth and term
//!   limits, but its tokens carry their white space, so it refuses
//!   `not(title pr)`, the form RFC 7644's own ABNF writes
//!   (`*1"not" "(" FILTER ")"`); its errors are generic parser-generator
//!   token lists; it brings `lalrpop-util` with a regex lexer (a ~400 KiB
//!   regex set compiled at first use) and `fluent-uri`; its `PatchOp` model
//!   accepts three spellings of `op` and does not apply operations. We
//!   would have used its AST and written everything else anyway.
//! - `scim-filter` 0.2 (MIT, nom 7) reads string literals without escapes
//!   (`"a\"b"` fails) and recurses without a depth limit, so a deeply
//!   nested filter overflows the stack.
//! - `scim_proto` (Kanidm) is MPL-2.0 and shaped around Kanidm's entries;
//!   `scim-server` is a whole server framework with its own storage and
//!   providers, the opposite of a pure protocol crate.
//!
//! The grammar is small: a hand-written recursive-descent parser
//! (`filter/parser.rs`, about 600 lines) gives errors that say what was
//! expected and at which character, limits checked while parsing, and an
//! AST shaped for translation into SQL. Property tests check that printing
//! and parsing back gives the same AST and that no input panics.

#![deny(missing_docs)]

pub mod bulk;
pub mod error;
pub mod filter;
pub mod patch;
pub mod query;
pub mod schema;
pub mod wire;

pub use error::{ErrorResponse, ScimError, ScimType};
pub use filter::{
    AttrPath, CompValue, CompareOp, Filter, FilterError, FilterLimits, FilterTranslator,
};
pub use patch::{PatchLimits, PatchOpKind, PatchOperation, PatchPath, PatchRequest};
pub use query::{AttributeSelection, ListQuery, QueryLimits, SortOrder};
pub use schema::ResourceSchema;

/// The URNs of RFC 7643/7644: schemas and message types.
pub mod urn {
    /// The core User schema.
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    /// The core Group schema.
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    /// The Enterprise User extension.
    pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    /// A schema document.
    pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
    /// A resource type document.
    pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    /// The service provider configuration.
    pub const SERVICE_PROVIDER_CONFIG: &str =
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
    /// A PATCH request.
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    /// A page of query results.
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    /// A query sent with POST `/.search`.
    pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    /// A bulk request.
    pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    /// A bulk response.
    pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
    /// An error response.
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
}
