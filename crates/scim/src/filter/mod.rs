//! Filters (RFC 7644 §3.4.2.2): the AST, its parser and printer, its
//! evaluation against a JSON resource, and its translation into a server's
//! own query language.
//!
//! ```
//! use portcullis_scim::filter::{Filter, CompareOp};
//!
//! let f = Filter::parse(r#"userName Eq "bjensen" and emails[type eq "work"]"#).unwrap();
//! assert_eq!(f.to_string(), r#"userName eq "bjensen" and emails[type eq "work"]"#);
//! ```
//!
//! # Grammar
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")" / "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"      ; valFilter: FILTER without valuePath
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! attrPath  = [URI ":"] ATTRNAME *1("." ATTRNAME)
//! ```
//! `and` binds tighter than `or`; both associate to the left. Operators,
//! `and`/`or`/`not` and `true`/`false`/`null` are case-insensitive. Inside
//! `[...]` attribute paths name sub-attributes of the bracketed attribute
//! (no URN, no `.`), and brackets do not nest. White space is any run of
//! spaces or tabs, and is not required where nothing is ambiguous
//! (`not(`, `eq"x"`).
//!
//! Parsing is bounded by [`FilterLimits`]: input length (4 KiB), nesting
//! depth of `(`, `not (` and `[` (32) and AST nodes (512); a filter over a
//! limit is refused before the rest of it is read.

pub(crate) mod eval;
pub(crate) mod parser;
mod visit;

use std::fmt;

use serde_json::Value;

pub use parser::{FilterError, FilterErrorKind, FilterLimits};
pub use visit::FilterTranslator;

/// A parsed SCIM filter.
///
/// `And`/`Or` are binary; `a or b or c` is `Or(Or(a, b), c)`. Printing
/// ([`fmt::Display`]) adds the parentheses the tree needs, so printing and
/// parsing back gives the same tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`: `userName eq "bjensen"`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The comparison operator.
        op: CompareOp,
        /// The literal it is compared with.
        value: CompValue,
    },
    /// `attrPath pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `attrPath[filter]`: some value of a multi-valued (or complex)
    /// attribute matches `filter`, whose paths name sub-attributes.
    ValuePath {
        /// The multi-valued attribute (`emails`, `members`).
        path: AttrPath,
        /// The condition on one of its values (`type eq "work"`).
        filter: Box<Filter>,
    },
    /// `not (filter)`.
    Not(Box<Filter>),
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
}

/// An attribute path: `[urn:]name[.sub]`.
///
/// Names keep the case they were written in; compare them with
/// [`AttrPath::eq_ignore_case`] or resolve them against a schema with
/// [`crate::schema::ResourceSchema::resolve`], which gives canonical names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing `:`
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`).
    pub urn: Option<String>,
    /// The attribute name (`name`, `emails`, `employeeNumber`).
    pub name: String,
    /// The sub-attribute name (`familyName` in `name.familyName`).
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains (strings).
    Co,
    /// `sw`: starts with (strings).
    Sw,
    /// `ew`: ends with (strings).
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

/// A comparison literal: a JSON string, number, boolean or `null`.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, escapes decoded.
    String(String),
    /// A JSON number.
    Number(serde_json::Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Filter {
    /// Parses a filter with the default [`FilterLimits`].
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        Self::parse_with_limits(input, &FilterLimits::default())
    }

    /// Parses a filter with the given limits.
    pub fn parse_with_limits(input: &str, limits: &FilterLimits) -> Result<Self, FilterError> {
        parser::Parser::new(input, limits)?.filter()
    }

    /// `left and right`, boxed.
    pub fn and(left: Filter, right: Filter) -> Self {
        Self::And(Box::new(left), Box::new(right))
    }

    /// `left or right`, boxed.
    pub fn or(left: Filter, right: Filter) -> Self {
        Self::Or(Box::new(left), Box::new(right))
    }

    /// `not (inner)`, boxed.
    #[allow(clippy::should_implement_trait)]
    pub fn not(inner: Filter) -> Self {
        Self::Not(Box::new(inner))
    }

    /// `path op value`.
    pub fn compare(path: AttrPath, op: CompareOp, value: impl Into<CompValue>) -> Self {
        Self::Compare {
            path,
            op,
            value: value.into(),
        }
    }

    /// The number of nodes of the tree.
    pub fn node_count(&self) -> usize {
        match self {
            Self::Compare { .. } | Self::Present(_) => 1,
            Self::ValuePath { filter, .. } | Self::Not(filter) => 1 + filter.node_count(),
            Self::And(l, r) | Self::Or(l, r) => 1 + l.node_count() + r.node_count(),
        }
    }
}

impl AttrPath {
    /// A plain attribute: `userName`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// An attribute and a sub-attribute: `name.familyName`.
    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: Some(sub.into()),
        }
    }

    /// A URN-qualified attribute:
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
    pub fn with_urn(urn: impl Into<String>, name: impl Into<String>, sub: Option<String>) -> Self {
        Self {
            urn: Some(urn.into()),
            name: name.into(),
            sub,
        }
    }

    /// Parses a standalone attribute path (as in `sortBy`, `attributes`):
    /// `[urn:]name[.sub]`, surrounding white space ignored.
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        parser::Parser::new(input, &FilterLimits::default())?.attr_path_only()
    }

    /// Whether both paths name the same attribute, ignoring case (names
    /// and URNs are case-insensitive in SCIM).
    pub fn eq_ignore_case(&self, other: &AttrPath) -> bool {
        fn same(a: Option<&str>, b: Option<&str>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
        }
        self.name.eq_ignore_ascii_case(&other.name)
            && same(self.urn.as_deref(), other.urn.as_deref())
            && same(self.sub.as_deref(), other.sub.as_deref())
    }

    /// `parent.self`: a value filter's path (`type`) as a full path
    /// (`emails.type`), keeping the parent's URN.
    pub fn under(&self, parent: &AttrPath) -> AttrPath {
        AttrPath {
            urn: parent.urn.clone(),
            name: parent.name.clone(),
            sub: Some(self.name.clone()),
        }
    }
}

impl CompareOp {
    /// Every operator, in RFC order.
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    /// The operator as written (`eq`, `ne`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The operator for a keyword, ignoring case; `None` for anything else
    /// (including `pr`, which takes no value).
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl CompValue {
    /// The literal as a JSON value.
    pub fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Number(n) => Value::Number(n.clone()),
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
        }
    }

    /// The string, if the literal is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for CompValue {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for CompValue {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for CompValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for CompValue {
    fn from(n: i64) -> Self {
        Self::Number(n.into())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut fmt::Formatter<'_>, x: &Filter, parens: bool) -> fmt::Result {
            if parens {
                write!(f, "({x})")
            } else {
                write!(f, "{x}")
            }
        }
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Self::Present(path) => write!(f, "{path} pr"),
            Self::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::And(l, r) => {
                operand(f, l, matches!(**l, Self::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, r, matches!(**r, Self::Or(..) | Self::And(..)))
            }
            Self::Or(l, r) => {
                operand(f, l, false)?;
                f.write_str(" or ")?;
                operand(f, r, matches!(**r, Self::Or(..)))
            }
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `Value`'s Display writes a JSON string with escapes.
            Self::String(s) => write!(f, "{}", Value::String(s.clone())),
            Self::Number(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
