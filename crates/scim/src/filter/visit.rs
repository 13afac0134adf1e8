//! Turning a filter into a server's own query.
//!
//! Two tools:
//! - [`Filter::attribute_paths`] lists every attribute a filter reads, as
//!   full paths (`emails[type eq "work"]` reads `emails.type`), so a server
//!   can refuse a filter naming an attribute it cannot query before doing
//!   anything else.
//! - [`FilterTranslator`] folds a filter bottom-up into the server's query
//!   type (SQL conditions, a query builder's expression, ...).
//!
//! ```
//! use portcullis_scim::filter::{AttrPath, CompValue, CompareOp, Filter, FilterTranslator};
//! use portcullis_scim::schema::ResourceSchema;
//! use portcullis_scim::ScimError;
//!
//! /// Renders SQL text with `?` placeholders; refuses unsupported attributes.
//! struct Sql(Vec<String>);
//!
//! impl FilterTranslator for Sql {
//!     type Output = String;
//!     type Error = ScimError;
//!
//!     fn compare(&mut self, path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<String, ScimError> {
//!         let column = match ResourceSchema::user().canonical_path(path).as_deref() {
//!             Some("userName") => "lower(user_name)",
//!             Some("emails.value") => "lower(email)",
//!             _ => return Err(ScimError::invalid_filter(format!("cannot filter on `{path}`"))),
//!         };
//!         let (Some(text), CompareOp::Eq) = (value.as_str(), op) else {
//!             return Err(ScimError::invalid_filter(format!("`{path}` supports eq with a string")));
//!         };
//!         self.0.push(text.to_lowercase());
//!         Ok(format!("{column} = ?"))
//!     }
//!     fn present(&mut self, path: &AttrPath) -> Result<String, ScimError> {
//!         Err(ScimError::invalid_filter(format!("cannot test `{path}` for presence")))
//!     }
//!     fn and(&mut self, l: String, r: String) -> Result<String, ScimError> { Ok(format!("({l} AND {r})")) }
//!     fn or(&mut self, l: String, r: String) -> Result<String, ScimError> { Ok(format!("({l} OR {r})")) }
//!     fn not(&mut self, inner: String) -> Result<String, ScimError> { Ok(format!("NOT ({inner})")) }
//! }
//!
//! let filter = Filter::parse(r#"USERNAME eq "BJensen" or emails[value eq "b@example.com"]"#).unwrap();
//! let mut sql = Sql(Vec::new());
//! assert_eq!(filter.translate(&mut sql).unwrap(), "(lower(user_name) = ? OR lower(email) = ?)");
//! assert_eq!(sql.0, ["bjensen", "b@example.com"]);
//! assert!(Filter::parse("title pr").unwrap().translate(&mut sql).is_err());
//! ```

use super::{AttrPath, CompValue, CompareOp, Filter};

/// Folds a [`Filter`] into a server's query type, bottom-up.
///
/// Implement the leaves ([`compare`](Self::compare), [`present`](Self::present))
/// and the connectives; return an error (typically
/// [`crate::ScimError::invalid_filter`]) for any attribute or operator the
/// server cannot translate. Use
/// [`ResourceSchema::canonical_path`](crate::schema::ResourceSchema::canonical_path)
/// to match paths whatever their case or URN prefix.
pub trait FilterTranslator {
    /// The translated condition.
    type Output;
    /// Why a filter cannot be translated.
    type Error;

    /// `path op value`.
    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<Self::Output, Self::Error>;

    /// `path pr`.
    fn present(&mut self, path: &AttrPath) -> Result<Self::Output, Self::Error>;

    /// `left and right`.
    fn and(&mut self, left: Self::Output, right: Self::Output)
    -> Result<Self::Output, Self::Error>;

    /// `left or right`.
    fn or(&mut self, left: Self::Output, right: Self::Output) -> Result<Self::Output, Self::Error>;

    /// `not (inner)`.
    fn not(&mut self, inner: Self::Output) -> Result<Self::Output, Self::Error>;

    /// `path[filter]`. The default translates the inner filter with its
    /// paths made full (`emails[type eq "work" and value co "x"]` becomes
    /// `emails.type eq "work" and emails.value co "x"`), which is exact
    /// when the attribute holds one value per resource (as a single email
    /// column does). Override it to require both conditions of the same
    /// value (an `EXISTS` on a table of values).
    fn value_path(
        &mut self,
        path: &AttrPath,
        filter: &Filter,
    ) -> Result<Self::Output, Self::Error> {
        filter.qualified(path).translate(self)
    }
}

impl Filter {
    /// Folds the filter with `translator`; see [`FilterTranslator`].
    pub fn translate<T: FilterTranslator + ?Sized>(
        &self,
        translator: &mut T,
    ) -> Result<T::Output, T::Error> {
        match self {
            Self::Compare { path, op, value } => translator.compare(path, *op, value),
            Self::Present(path) => translator.present(path),
            Self::ValuePath { path, filter } => translator.value_path(path, filter),
            Self::Not(inner) => {
                let inner = inner.translate(translator)?;
                translator.not(inner)
            }
            Self::And(l, r) => {
                let l = l.translate(translator)?;
                let r = r.translate(translator)?;
                translator.and(l, r)
            }
            Self::Or(l, r) => {
                let l = l.translate(translator)?;
                let r = r.translate(translator)?;
                translator.or(l, r)
            }
        }
    }

    /// Calls `visit` on every attribute path the filter reads, as full
    /// paths (a value filter's `type` under `emails` is `emails.type`), in
    /// order of appearance.
    pub fn visit_paths(&self, visit: &mut dyn FnMut(&AttrPath)) {
        match self {
            Self::Compare { path, .. } | Self::Present(path) => visit(path),
            Self::ValuePath { path, filter } => {
                filter.visit_paths(&mut |inner: &AttrPath| visit(&inner.under(path)));
            }
            Self::Not(inner) => inner.visit_paths(visit),
            Self::And(l, r) | Self::Or(l, r) => {
                l.visit_paths(visit);
                r.visit_paths(visit);
            }
        }
    }

    /// Every attribute path the filter reads, as full paths, without
    /// duplicates (compared ignoring case), in order of appearance.
    pub fn attribute_paths(&self) -> Vec<AttrPath> {
        let mut out: Vec<AttrPath> = Vec::new();
        self.visit_paths(&mut |p| {
            if !out.iter().any(|q| q.eq_ignore_case(p)) {
                out.push(p.clone());
            }
        });
        out
    }

    /// The filter of a value path with its paths made full: `type eq
    /// "work"` under `emails` becomes `emails.type eq "work"`.
    pub fn qualified(&self, parent: &AttrPath) -> Filter {
        match self {
            Self::Compare { path, op, value } => Self::Compare {
                path: path.under(parent),
                op: *op,
                value: value.clone(),
            },
            Self::Present(path) => Self::Present(path.under(parent)),
            // The parser refuses nested value paths; keep one as it is.
            Self::ValuePath { .. } => self.clone(),
            Self::Not(inner) => Self::not(inner.qualified(parent)),
            Self::And(l, r) => Self::and(l.qualified(parent), r.qualified(parent)),
            Self::Or(l, r) => Self::or(l.qualified(parent), r.qualified(parent)),
        }
    }
}
