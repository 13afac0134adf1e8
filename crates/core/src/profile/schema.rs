//! A realm's declarative user profile: which fields a profile holds, their
//! kinds and limits, who reads and who edits each, and which token claim
//! (under which scope) each one becomes.
//!
//! Three steps, each its own type:
//! - [`ProfileSchema`] is the declared form, as stored and as sent by an
//!   administrator (serde, versioned by [`ProfileSchema::version`]).
//! - [`ProfileSchema::compile`] checks it whole (every problem named, as
//!   [`Error::Validation`] with paths such as `fields[3].kind.pattern`) and
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

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError};

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
struct BuiltIn {
    name: &'static str,
    kind: &'static str,
    scope: ClaimScope,
    display_name: &'static str,
}

fn built_ins() -> [BuiltIn; 7] {
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

/// Compiles `pattern`, anchored, within the size limits.
pub(super) fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    if pattern.chars().count() > MAX_PATTERN_LEN {
        return Err(format!("must be at most {MAX_PATTERN_LEN} characters"));
    }
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_DFA_LIMIT)
        .nest_limit(PATTERN_NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => {
                "is too complex (its compiled form exceeds the size limit)".to_owned()
            }
            // The syntax error's text names the problem and where; the
            // pattern is the administrator's own.
            regex::Error::Syntax(s) => format!("is not a valid regular expression: {s}"),
            _ => "is not a valid regular expression".to_owned(),
        })
}

/// Whether `c` is refused in text: control characters, bidirectional
/// overrides and isolates (text spoofing), line and paragraph separators.
pub(super) fn is_forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err("must be 1 to 64 characters");
    }
    if !starts_with_letter
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err("must start with a-z and hold only a-z, 0-9 and '_'");
    }
    Ok(())
}

fn check_claim_name(claim: &str) -> Result<(), &'static str> {
    if claim.is_empty() || claim.len() > MAX_CLAIM_LEN {
        return Err("must be 1 to 128 characters");
    }
    let starts_with_letter = claim
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter
        || !claim
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
    {
        return Err(
            "must start with a letter and hold only A-Z, a-z, 0-9, '_', '-', '.', ':' and '/'",
        );
    }
    if is_reserved(claim) {
        return Err("is a claim Portcullis sets itself");
    }
    Ok(())
}

fn check_scope(scope: &ClaimScope) -> Result<(), &'static str> {
    let ClaimScope::Custom(s) = scope else {
        return Ok(());
    };
    let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if s.is_empty() || s.len() > MAX_SCOPE_LEN || !starts_with_letter {
        return Err("must be 1 to 64 characters, starting with a letter");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err("may hold only A-Z, a-z, 0-9, '_', '-', '.' and ':'");
    }
    if matches!(s.as_str(), "openid" | "offline_access") {
        return Err("is a protocol scope that releases no profile claim");
    }
    Ok(())
}

fn check_label(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(is_forbidden_char) {
        return Err("must not contain control characters".to_owned());
    }
    crate::text::plain("", value).map_err(|e| e.reason)
}

impl ProfileSchema {
    /// Checks the schema whole and compiles its patterns. Every problem is
    /// named, in one [`Error::Validation`], with paths such as
    /// `fields[2].name` or `fields[4].kind.pattern`.
    pub fn compile(&self) -> Result<CompiledSchema, Error> {
        let mut errors = Vec::new();
        if self.fields.len() > MAX_FIELDS {
            errors.push(FieldError::new(
                "fields",
                format!("must hold at most {MAX_FIELDS} fields"),
            ));
        }
        let mut fields: BTreeMap<String, CompiledField> = BTreeMap::new();
        let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
        for (n, field) in self.fields.iter().enumerate().take(MAX_FIELDS) {
            let at = |attr: &str| format!("fields[{n}].{attr}");
            let err = |errors: &mut Vec<FieldError>, attr: &str, reason: String| {
                errors.push(FieldError::new(at(attr), reason));
            };
            let built_in = built_ins().into_iter().find(|b| b.name == field.name);
            if let Err(reason) = check_name(&field.name) {
                err(&mut errors, "name", reason.to_owned());
            } else if built_in.is_none() && is_reserved(&field.name) {
                err(&mut errors, "name", "is a reserved claim name".to_owned());
            } else if fields.contains_key(&field.name) {
                err(&mut errors, "name", "is declared twice".to_owned());
            }
            let pattern = kind_errors(&field.kind, &at("kind"), &mut errors);
            if let Some(b) = &built_in {
                if field.kind.type_name() != b.kind {
                    err(
                        &mut errors,
                        "kind.type",
                        format!("must be {} for the built-in field {}", b.kind, b.name),
                    );
                }
                if field.claim.as_deref().is_some_and(|c| c != b.name) {
                    err(
                        &mut errors,
                        "claim",
                        format!("must be {} (or unset) for a built-in field", b.name),
                    );
                }
                if field.claim_scope.as_ref().is_some_and(|s| *s != b.scope) {
                    err(
                        &mut errors,
                        "claim_scope",
                        format!(
                            "must be {} for the built-in field {}",
                            b.scope.as_str(),
                            b.name
                        ),
                    );
                }
            } else if let Some(claim) = &field.claim {
                if let Err(reason) = check_claim_name(claim) {
                    err(&mut errors, "claim", reason.to_owned());
                } else if is_built_in(claim) {
                    err(
                        &mut errors,
                        "claim",
                        "is the claim of a built-in field".to_owned(),
                    );
                }
            }
            match (&field.claim, &field.claim_scope) {
                (Some(claim), scope) => {
                    if let Some(first) = claims.insert(claim, n) {
                        err(
                            &mut errors,
                            "claim",
                            format!("is already the claim of fields[{first}]"),
                        );
                    }
                    match scope {
                        None if built_in.is_none() => {
                            err(
                                &mut errors,
                                "claim_scope",
                                "is required with a claim".to_owned(),
                            );
                        }
                        Some(scope) => {
                            if let Err(reason) = check_scope(scope) {
                                err(&mut errors, "claim_scope", reason.to_owned());
                            }
                        }
                        None => {}
                    }
                    if !field.readable_by.contains(&Audience::User) {
                        err(
                            &mut errors,
                            "claim",
                            "needs a field the user can read: tokens show their claims to their holder"
                                .to_owned(),
                        );
                    }
                }
                (None, Some(_)) => {
                    err(
                        &mut errors,
                        "claim_scope",
                        "is set without a claim".to_owned(),
                    );
                }
                (None, None) => {}
            }
            if !field.editable_by.is_subset(&field.readable_by) {
                err(
                    &mut errors,
                    "editable_by",
                    "may name only audiences in readable_by".to_owned(),
                );
            }
            if field.required && field.editable_by.is_empty() {
                err(
                    &mut errors,
                    "required",
                    "a required field must be editable by someone".to_owned(),
                );
            }
            if field.multivalued {
                match field.max_items {
                    Some(0) => err(&mut errors, "max_items", "must be at least 1".to_owned()),
                    Some(m) if m > MAX_ITEMS => err(
                        &mut errors,
                        "max_items",
                        format!("must be at most {MAX_ITEMS}"),
                    ),
                    _ => {}
                }
                if matches!(field.kind, FieldKind::Boolean) {
                    err(
                        &mut errors,
                        "multivalued",
                        "a boolean cannot be multivalued".to_owned(),
                    );
                }
                if built_in.is_some() {
                    err(
                        &mut errors,
                        "multivalued",
                        "a built-in field holds one value".to_owned(),
                    );
                }
            } else if field.max_items.is_some() {
                err(
                    &mut errors,
                    "max_items",
                    "applies only to multivalued fields".to_owned(),
                );
            }
            if let Some(label) = &field.display_name
                && let Err(reason) = check_label(label, MAX_DISPLAY_NAME_LEN)
            {
                err(&mut errors, "display_name", reason);
            }
            if let Some(help) = &field.help_text
                && let Err(reason) = check_label(help, MAX_HELP_LEN)
            {
                err(&mut errors, "help_text", reason);
            }
            let scope = field.claim.as_ref().and_then(|_| {
                field
                    .claim_scope
                    .clone()
                    .or_else(|| built_in.as_ref().map(|b| b.scope.clone()))
            });
            fields.entry(field.name.clone()).or_insert(CompiledField {
                field: field.clone(),
                pattern,
                scope,
            });
        }
        if errors.is_empty() {
            Ok(CompiledSchema {
                schema: self.clone(),
                fields,
            })
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// Checks a kind's limits; returns its compiled pattern.
fn kind_errors(kind: &FieldKind, at: &str, errors: &mut Vec<FieldError>) -> Option<Regex> {
    let mut err = |attr: &str, reason: String| {
        errors.push(FieldError::new(format!("{at}.{attr}"), reason));
    };
    match kind {
        FieldKind::String {
            min_length,
            max_length,
            pattern,
        } => {
            let max = max_length.unwrap_or(DEFAULT_STRING_LEN);
            if *max_length == Some(0) || max > MAX_STRING_LEN {
                err("max_length", format!("must be 1 to {MAX_STRING_LEN}"));
            }
            if min_length.is_some_and(|min| min > max) {
                err("min_length", "must not exceed max_length".to_owned());
            }
            match pattern.as_deref().map(compile_pattern) {
                Some(Ok(re)) => return Some(re),
                Some(Err(reason)) => err("pattern", reason),
                None => {}
            }
        }
        FieldKind::Number { min, max } => {
            if min.is_some_and(|v| !v.is_finite()) {
                err("min", "must be a finite number".to_owned());
            }
            if max.is_some_and(|v| !v.is_finite()) {
                err("max", "must be a finite number".to_owned());
            }
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                err("min", "must not exceed max".to_owned());
            }
        }
        FieldKind::Integer { min, max } => {
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                err("min", "must not exceed max".to_owned());
            }
        }
        FieldKind::OneOf { options } => {
            if options.is_empty() || options.len() > MAX_OPTIONS {
                err("options", format!("must hold 1 to {MAX_OPTIONS} options"));
            }
            let mut seen = BTreeSet::new();
            for (i, option) in options.iter().enumerate().take(MAX_OPTIONS) {
                let reason = if option.is_empty() || option.chars().count() > MAX_OPTION_LEN {
                    Some(format!("must be 1 to {MAX_OPTION_LEN} characters"))
                } else if option.trim() != option {
                    Some("must not start or end with white space".to_owned())
                } else if option.chars().any(is_forbidden_char) {
                    Some("must not contain control characters".to_owned())
                } else if !seen.insert(option) {
                    Some("is listed twice".to_owned())
                } else {
                    None
                };
                if let Some(reason) = reason {
                    err(&format!("options[{i}]"), reason);
                }
            }
        }
        FieldKind::Date
        | FieldKind::Boolean
        | FieldKind::Url
        | FieldKind::Phone
        | FieldKind::Email
        | FieldKind::Address => {}
    }
    None
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
