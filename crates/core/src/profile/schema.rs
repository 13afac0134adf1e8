//! A realm's declarative user profile: which fields a profile holds, their
//! kinds and limits, who reads and who edits each, and which token claim
//! (under which scope) each one becomes.
//!
//! Three steps, each its own type:
//! - [`ProfileSchema`] is the declared form, as stored and as sent by an
//!   administrator (serde, versioned by [`ProfileSchema::version`]).
//! - [`ProfileSchema::compile`] checks it whole (every problem named, as
//!   [`Error::Validation`](crate::error::Error::Validation) with paths such as `fields[3].kind.pattern`) and
//!   compiles its patterns into a [`CompiledSchema`], which a service may
//!   cache per realm and schema version.
//! - [`CompiledSchema`] validates profile documents written by a user or an
//!   administrator ([`CompiledSchema::replace`], [`CompiledSchema::merge`]),
//!   gives the view of a reader ([`CompiledSchema::view`]) and the token
//!   claims of granted scopes ([`CompiledSchema::claims`]).
//!   [`ProfileSchema::migrate`] carries stored documents across a schema
//!   change without losing a value.
//!
//! # Profile documents
//! A profile is a JSON object: field name to value (an array of values for
//! a multivalued field). Absent means unset; a stored document never holds
//! `null`. The key [`ARCHIVE_KEY`] (`_archived`) holds the values that a
//! schema change could no longer keep (see [`ProfileSchema::migrate`]); it
//! is never a field (field names start with a letter), never shown by
//! [`CompiledSchema::view`] and never accepted from an editor.
//!
//! # Built-in fields
//! `given_name`, `family_name`, `locale`, `zoneinfo`, `picture`,
//! `phone_number` and `address` are the OpenID Connect standard claims
//! Portcullis has always released from a user's attributes. A schema may
//! leave any of them out, constrain them (a string's length or pattern),
//! restrict who reads or edits them, or drop their claim; it may not change
//! their kind, nor give them another claim name or scope.
//! [`ProfileSchema::default`] declares all of them, optional and editable by
//! the user and administrators: a realm that never set a schema keeps
//! behaving as before.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The key of a profile document under which values that a schema change
/// could not keep are archived, by the schema version they were stored
/// under: `{"_archived": {"3": {"nickname": "ada"}}}`.
pub const ARCHIVE_KEY: &str = "_archived";

/// At most this many fields in a schema.
pub const MAX_FIELDS: usize = 100;
/// Field names: 1 to this many characters.
pub const MAX_NAME_LEN: usize = 64;
/// Claim names: 1 to this many characters.
pub const MAX_CLAIM_LEN: usize = 128;
/// A string field's `max_length` may not exceed this (characters).
pub const MAX_STRING_LEN: u32 = 2048;
/// A string field without `max_length` holds at most this many characters.
pub const DEFAULT_STRING_LEN: u32 = 255;
/// A pattern is at most this many characters.
pub const MAX_PATTERN_LEN: usize = 512;
/// The compiled program of a pattern may take at most this many bytes
/// (`RegexBuilder::size_limit`); a pattern that would need more, such as
/// `(a{1000}){1000}`, is refused when the schema is checked.
pub const PATTERN_SIZE_LIMIT: usize = 256 * 1024;
/// The lazy DFA of a pattern may cache at most this many bytes at match time.
pub const PATTERN_DFA_LIMIT: usize = 1024 * 1024;
/// Patterns may nest groups and repetitions at most this deep.
pub const PATTERN_NEST_LIMIT: u32 = 32;
/// A `one_of` field offers at most this many options.
pub const MAX_OPTIONS: usize = 100;
/// Each option of a `one_of` field is at most this many characters.
pub const MAX_OPTION_LEN: usize = 128;
/// A multivalued field holds at most this many items (`max_items` may lower it).
pub const MAX_ITEMS: u32 = 100;
/// A multivalued field without `max_items` holds at most this many items.
pub const DEFAULT_MAX_ITEMS: u32 = 10;
/// A display name is at most this many characters.
pub const MAX_DISPLAY_NAME_LEN: usize = 100;
/// A help text is at most this many characters.
pub const MAX_HELP_LEN: usize = 500;
/// A custom scope name is at most this many characters.
pub const MAX_SCOPE_LEN: usize = 64;

pub use super::value::{
    ADDRESS_PARTS, MAX_ADDRESS_FORMATTED_LEN, MAX_ADDRESS_PART_LEN, MAX_PHONE_INPUT_LEN,
    MAX_URL_LEN,
};

/// Who reads or edits a field: the user whose profile it is, or an
/// administrator of the realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The user whose profile it is (the account console, self-service API).
    User,
    /// An administrator of the realm (the admin API).
    Admin,
}

impl Audience {
    /// Both audiences.
    pub fn both() -> BTreeSet<Audience> {
        BTreeSet::from([Audience::User, Audience::Admin])
    }

    /// The audience as written in a schema (`user`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::User => "user",
            Audience::Admin => "admin",
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OAuth scope whose grant releases a field's claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ClaimScope {
    /// `profile` (OpenID Connect Core 5.4).
    Profile,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// `address`.
    Address,
    /// A scope of the realm's own: 1 to [`MAX_SCOPE_LEN`] of `A-Z a-z 0-9 _ - . :`,
    /// starting with a letter, not `openid` nor `offline_access` (checked
    /// by [`ProfileSchema::compile`]).
    Custom(String),
}

impl ClaimScope {
    /// The scope's name.
    pub fn as_str(&self) -> &str {
        match self {
            ClaimScope::Profile => "profile",
            ClaimScope::Email => "email",
            ClaimScope::Phone => "phone",
            ClaimScope::Address => "address",
            ClaimScope::Custom(s) => s,
        }
    }
}

impl From<String> for ClaimScope {
    fn from(s: String) -> Self {
        match s.as_str() {
            "profile" => ClaimScope::Profile,
            "email" => ClaimScope::Email,
            "phone" => ClaimScope::Phone,
            "address" => ClaimScope::Address,
            _ => ClaimScope::Custom(s),
        }
    }
}

impl From<ClaimScope> for String {
    fn from(s: ClaimScope) -> Self {
        match s {
            ClaimScope::Custom(s) => s,
            other => other.as_str().to_owned(),
        }
    }
}

/// The kind of a field's values, with the limits of each kind. Serialised
/// with a `type` tag: `{"type": "string", "max_length": 40}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FieldKind {
    /// Text: trimmed, without control characters, at most `max_length`
    /// characters ([`DEFAULT_STRING_LEN`] when unset).
    String {
        /// At least this many characters (Unicode scalar values).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_length: Option<u32>,
        /// At most this many characters; at most [`MAX_STRING_LEN`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_length: Option<u32>,
        /// A regular expression (the `regex` crate's syntax) the whole
        /// value must match: it is anchored at both ends.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
    },
    /// A JSON number, within the bounds.
    Number {
        /// The least value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// The greatest value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// A JSON integer (64-bit), within the bounds.
    Integer {
        /// The least value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        /// The greatest value allowed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// `true` or `false`.
    Boolean,
    /// One of the listed strings, exactly.
    OneOf {
        /// The options: 1 to [`MAX_OPTIONS`], distinct.
        options: Vec<String>,
    },
    /// An absolute `http` or `https` URL with a host and no credentials.
    Url,
    /// A phone number in E.164: `+` then 8 to 15 digits, the first not 0.
    /// Spaces, dots, dashes and parentheses are accepted and removed.
    Phone,
    /// An email address (as accounts' addresses are checked).
    Email,
    /// A postal address (OpenID Connect Core 5.1.1): an object of optional
    /// strings `formatted`, `street_address`, `locality`, `region`,
    /// `postal_code`, `country`; the first two may span lines.
    Address,
}

impl FieldKind {
    /// The kind's `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::String { .. } => "string",
            FieldKind::Number { .. } => "number",
            FieldKind::Integer { .. } => "integer",
            FieldKind::Date => "date",
            FieldKind::Boolean => "boolean",
            FieldKind::OneOf { .. } => "one_of",
            FieldKind::Url => "url",
            FieldKind::Phone => "phone",
            FieldKind::Email => "email",
            FieldKind::Address => "address",
        }
    }

    /// A string kind without limits.
    pub fn string() -> Self {
        FieldKind::String {
            min_length: None,
            max_length: None,
            pattern: None,
        }
    }
}

/// One field of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileField {
    /// The field's key in profile documents: a built-in name, or 1 to
    /// [`MAX_NAME_LEN`] of `a-z 0-9 _` starting with a letter, neither a
    /// built-in nor a reserved claim name.
    pub name: String,
    /// What its values are.
    pub kind: FieldKind,
    /// Whether a profile must hold it (see [`CompiledSchema::replace`]).
    #[serde(default)]
    pub required: bool,
    /// Whether it holds a list of values (a JSON array).
    #[serde(default)]
    pub multivalued: bool,
    /// At most this many values when multivalued ([`DEFAULT_MAX_ITEMS`]
    /// when unset, at most [`MAX_ITEMS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
    /// Who sees it. Defaults to both.
    #[serde(default = "Audience::both")]
    pub readable_by: BTreeSet<Audience>,
    /// Who changes it; each must also read it. Defaults to both.
    #[serde(default = "Audience::both")]
    pub editable_by: BTreeSet<Audience>,
    /// The token claim it becomes, if any; the user must be able to read
    /// the field (whoever holds a token can read its claims).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The scope that releases the claim; required with a claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_scope: Option<ClaimScope>,
    /// A label for forms (plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A hint for forms (plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_text: Option<String>,
}

impl ProfileField {
    /// An optional field of `kind` that both audiences read and edit, with
    /// no claim.
    pub fn new(name: impl Into<String>, kind: FieldKind) -> Self {
        Self {
            name: name.into(),
            kind,
            required: false,
            multivalued: false,
            max_items: None,
            readable_by: Audience::both(),
            editable_by: Audience::both(),
            claim: None,
            claim_scope: None,
            display_name: None,
            help_text: None,
        }
    }

    /// The most items this (multivalued) field holds.
    pub fn item_limit(&self) -> u32 {
        self.max_items.unwrap_or(DEFAULT_MAX_ITEMS)
    }
}

/// A realm's profile schema, as declared and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSchema {
    /// The schema's revision: each change stores a greater one. Version 0
    /// is [`ProfileSchema::default`], the schema of a realm that never set
    /// one. Archived values are keyed by it (see [`ProfileSchema::migrate`]).
    pub version: u32,
    /// The fields, in the order forms show them.
    pub fields: Vec<ProfileField>,
}

/// A built-in field: its fixed kind, claim and scope.
pub(super) struct BuiltIn {
    pub(super) name: &'static str,
    pub(super) kind: &'static str,
    pub(super) scope: ClaimScope,
    pub(super) display_name: &'static str,
}

pub(super) fn built_ins() -> [BuiltIn; 7] {
    let b = |name, kind, scope, display_name| BuiltIn {
        name,
        kind,
        scope,
        display_name,
    };
    [
        b("given_name", "string", ClaimScope::Profile, "Given name"),
        b("family_name", "string", ClaimScope::Profile, "Family name"),
        b("locale", "string", ClaimScope::Profile, "Language"),
        b("zoneinfo", "string", ClaimScope::Profile, "Time zone"),
        b("picture", "url", ClaimScope::Profile, "Picture"),
        b("phone_number", "phone", ClaimScope::Phone, "Phone number"),
        b("address", "address", ClaimScope::Address, "Address"),
    ]
}

/// Whether `name` is a built-in field.
pub fn is_built_in(name: &str) -> bool {
    built_ins().iter().any(|b| b.name == name)
}

/// Claim names that Portcullis itself sets in tokens or UserInfo answers,
/// or that JWTs reserve: no field may take them as its name or its claim.
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "idp",
    "typ",
    "cnf",
    "act",
    "may_act",
    "scope",
    "scp",
    "client_id",
    "realm",
    "roles",
    "groups",
    "permissions",
    "entitlements",
    "email",
    "email_verified",
    "phone_number_verified",
    "name",
    "preferred_username",
    "username",
    "updated_at",
    "events",
    "txn",
];

/// Whether `name` is reserved (case-insensitively).
pub fn is_reserved(name: &str) -> bool {
    RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// The default pattern of `locale`: a BCP 47 language tag (`en`,
/// `pt-BR`, `zh-Hant-TW`), `_` tolerated as separator.
pub const LOCALE_PATTERN: &str = "[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*";
/// The default pattern of `zoneinfo`: an IANA time zone name
/// (`Europe/Paris`, `America/Argentina/Buenos_Aires`, `UTC`).
pub const ZONEINFO_PATTERN: &str = "[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}";

impl Default for ProfileSchema {
    /// Version 0: the built-in fields, optional, read and edited by the
    /// user and administrators, each released as its standard claim.
    fn default() -> Self {
        let fields = built_ins()
            .into_iter()
            .map(|b| {
                let kind = match b.name {
                    "locale" => FieldKind::String {
                        min_length: None,
                        max_length: Some(35),
                        pattern: Some(LOCALE_PATTERN.to_owned()),
                    },
                    "zoneinfo" => FieldKind::String {
                        min_length: None,
                        max_length: Some(64),
                        pattern: Some(ZONEINFO_PATTERN.to_owned()),
                    },
                    _ => match b.kind {
                        "url" => FieldKind::Url,
                        "phone" => FieldKind::Phone,
                        "address" => FieldKind::Address,
                        _ => FieldKind::string(),
                    },
                };
                ProfileField {
                    claim: Some(b.name.to_owned()),
                    claim_scope: Some(b.scope),
                    display_name: Some(b.display_name.to_owned()),
                    ..ProfileField::new(b.name, kind)
                }
            })
            .collect();
        Self { version: 0, fields }
    }
}

/// A field with its pattern compiled.
#[derive(Debug, Clone)]
pub(super) struct CompiledField {
    pub(super) field: ProfileField,
    pub(super) pattern: Option<Regex>,
    /// The scope that releases its claim (a built-in's standard one when
    /// the schema leaves it unset).
    pub(super) scope: Option<ClaimScope>,
}

/// A checked schema with its patterns compiled: the form that validates and
/// reads profile documents. Made by [`ProfileSchema::compile`].
#[derive(Debug, Clone)]
pub struct CompiledSchema {
    pub(super) schema: ProfileSchema,
    pub(super) fields: BTreeMap<String, CompiledField>,
}

impl CompiledSchema {
    /// The declared schema.
    pub fn schema(&self) -> &ProfileSchema {
        &self.schema
    }

    /// The schema's version.
    pub fn version(&self) -> u32 {
        self.schema.version
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&ProfileField> {
        self.fields.get(name).map(|f| &f.field)
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
