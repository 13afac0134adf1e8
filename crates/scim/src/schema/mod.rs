//! Schemas (RFC 7643 §2, §7): attribute characteristics as data, the
//! `/Schemas` documents for User, Group and the Enterprise User extension,
//! and [`ResourceSchema`], which resolves attribute paths to their
//! definitions for evaluation, PATCH and projection.

mod builtin;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::filter::AttrPath;
use crate::urn;
use crate::wire::Meta;

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    /// A Unicode string.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 date and time.
    DateTime,
    /// A URI to a resource.
    Reference,
    /// An object of sub-attributes.
    Complex,
    /// Base64-encoded bytes.
    Binary,
}

/// Whether and when an attribute may be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the server only (`id`, `meta`, a user's `groups`).
    ReadOnly,
    /// Written freely.
    ReadWrite,
    /// Written once: set when it had no value, never changed after.
    Immutable,
    /// Written but never returned (`password`).
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always, even when excluded.
    Always,
    /// Never (`password`).
    Never,
    /// Unless excluded, or other attributes were asked for.
    Default,
    /// Only when asked for in `attributes`.
    Request,
}

/// How unique an attribute's value is (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No constraint.
    None,
    /// Unique within the service provider (a realm, for Portcullis).
    Server,
    /// Globally unique.
    Global,
}

/// An attribute definition with its characteristics, as `/Schemas`
/// publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    /// The attribute's name, in canonical case.
    pub name: String,
    /// Its data type.
    #[serde(rename = "type")]
    pub kind: AttributeType,
    /// Whether it holds a list of values.
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// Whether a resource must have it.
    pub required: bool,
    /// Suggested values (`work`, `home`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparisons respect case.
    pub case_exact: bool,
    /// Whether and when it may be written.
    pub mutability: Mutability,
    /// When it is returned.
    pub returned: Returned,
    /// How unique its value is.
    pub uniqueness: Uniqueness,
    /// For references: the resource types referred to (`User`, `Group`,
    /// `external`, `uri`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For complex attributes: their sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, case-insensitive, read-write attribute
    /// returned by default, with no uniqueness: the RFC's defaults.
    pub fn new(name: &str, kind: AttributeType) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Makes it multi-valued.
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// Makes it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Makes string comparisons case-exact.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    /// Sets the mutability.
    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    /// Sets when it is returned.
    pub fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    /// Sets the uniqueness.
    pub fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    /// Sets the canonical values.
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// Sets the reference types.
    pub fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// Sets the sub-attributes.
    pub fn subs(mut self, subs: Vec<AttributeDef>) -> Self {
        self.sub_attributes = subs;
        self
    }

    /// The sub-attribute called `name`, ignoring case.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema document (RFC 7643 §7), as served at `/Schemas/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// `["urn:ietf:params:scim:schemas:core:2.0:Schema"]`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The schema URN.
    pub id: String,
    /// Its name (`User`, `Group`, `EnterpriseUser`).
    #[serde(default)]
    pub name: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The attributes it defines.
    pub attributes: Vec<AttributeDef>,
    /// Set by the server (`resourceType: "Schema"`, `location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl Schema {
    /// The attribute called `name`, ignoring case.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A resource type's schemas: its core schema, its extensions, and the
/// common attributes (`id`, `externalId`, `meta`, RFC 7643 §3.1) every
/// resource has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSchema {
    /// The core schema (User, Group).
    pub core: Schema,
    /// Schema extensions; a resource holds their attributes in an object
    /// under the extension's URN.
    pub extensions: Vec<Schema>,
    /// `id`, `externalId`, `meta`.
    pub common: Vec<AttributeDef>,
}

/// Where an attribute path leads in a [`ResourceSchema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'s> {
    /// The extension that defines the attribute; `None` for the core
    /// schema and the common attributes.
    pub extension: Option<&'s Schema>,
    /// The attribute.
    pub attribute: &'s AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub_attribute: Option<&'s AttributeDef>,
}

impl Resolved<'_> {
    /// The definition the path ends at (the sub-attribute if any).
    pub fn leaf(&self) -> &AttributeDef {
        self.sub_attribute.unwrap_or(self.attribute)
    }

    /// The canonical spelling of the path: `userName`, `name.familyName`,
    /// `emails.value`, `meta.lastModified`, or, for extensions,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some(ext) = self.extension {
            out.push_str(&ext.id);
            out.push(':');
        }
        out.push_str(&self.attribute.name);
        if let Some(sub) = self.sub_attribute {
            out.push('.');
            out.push_str(&sub.name);
        }
        out
    }
}

static USER: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    core: builtin::user(),
    extensions: vec![builtin::enterprise_user()],
    common: builtin::common(),
});

static GROUP: LazyLock<ResourceSchema> = LazyLock::new(|| ResourceSchema {
    core: builtin::group(),
    extensions: Vec::new(),
    common: builtin::common(),
});

impl ResourceSchema {
    /// User (`urn:ietf:params:scim:schemas:core:2.0:User`) with the
    /// Enterprise User extension.
    pub fn user() -> &'static ResourceSchema {
        &USER
    }

    /// Group (`urn:ietf:params:scim:schemas:core:2.0:Group`).
    pub fn group() -> &'static ResourceSchema {
        &GROUP
    }

    /// The `/Schemas` documents of every built-in schema: User, Group,
    /// Enterprise User.
    pub fn documents() -> Vec<Schema> {
        let mut out = vec![USER.core.clone(), GROUP.core.clone()];
        out.extend(USER.extensions.iter().cloned());
        out
    }

    /// The extension whose URN is `id`, ignoring case.
    pub fn extension(&self, id: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .find(|e| e.id.eq_ignore_ascii_case(id))
    }

    /// The extension a path names as a whole (`urn:...:enterprise:2.0:User`
    /// parses as URN `urn:...:enterprise:2.0` and name `User`).
    pub fn extension_named_by(&self, path: &AttrPath) -> Option<&Schema> {
        let urn = path.urn.as_deref()?;
        if path.sub.is_some() {
            return None;
        }
        self.extensions.iter().find(|e| {
            e.id.len() == urn.len() + 1 + path.name.len()
                && e.id
                    .get(..urn.len())
                    .is_some_and(|u| u.eq_ignore_ascii_case(urn))
                && e.id
                    .get(urn.len() + 1..)
                    .is_some_and(|n| n.eq_ignore_ascii_case(&path.name))
        })
    }

    /// The definition of a top-level attribute: common, core or (with its
    /// URN, or without it when no core attribute has the name) extension.
    pub fn resolve_attribute(
        &self,
        urn: Option<&str>,
        name: &str,
    ) -> Option<(Option<&Schema>, &AttributeDef)> {
        match urn {
            Some(u) if u.eq_ignore_ascii_case(&self.core.id) => self
                .core
                .attribute(name)
                .or_else(|| {
                    self.common
                        .iter()
                        .find(|a| a.name.eq_ignore_ascii_case(name))
                })
                .map(|a| (None, a)),
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attribute(name).map(|a| (Some(ext), a))
            }
            None => self
                .common
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .or_else(|| self.core.attribute(name))
                .map(|a| (None, a))
                .or_else(|| {
                    self.extensions
                        .iter()
                        .find_map(|e| e.attribute(name).map(|a| (Some(e), a)))
                }),
        }
    }

    /// Resolves a path to its definitions; `None` when the schema does not
    /// define it.
    pub fn resolve(&self, path: &AttrPath) -> Option<Resolved<'_>> {
        let (extension, attribute) = self.resolve_attribute(path.urn.as_deref(), &path.name)?;
        let sub_attribute = match &path.sub {
            Some(sub) => Some(attribute.sub_attribute(sub)?),
            None => None,
        };
        Some(Resolved {
            extension,
            attribute,
            sub_attribute,
        })
    }

    /// The canonical spelling of a path (see [`Resolved::canonical`]), the
    /// key a server matches on to translate it; `None` when the schema does
    /// not define it.
    pub fn canonical_path(&self, path: &AttrPath) -> Option<String> {
        self.resolve(path).map(|r| r.canonical())
    }

    /// The `schemas` value of a resource with the given extensions present.
    pub fn schema_urns(&self, with_extensions: bool) -> Vec<String> {
        let mut out = vec![self.core.id.clone()];
        if with_extensions {
            out.extend(self.extensions.iter().map(|e| e.id.clone()));
        }
        out
    }
}

/// The URN of a schema document.
pub(crate) fn schema_document_urn() -> String {
    urn::SCHEMA.to_owned()
}

#[cfg(test)]
mod tests;
