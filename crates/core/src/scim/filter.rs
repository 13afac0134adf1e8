//! SCIM user filters translated into conditions the store runs as SQL: only
//! on attributes kept in columns, so that a filtered list of a million
//! accounts reads an index, never every row. A filter on anything else is
//! `invalidFilter`, naming the attribute.

use portcullis_scim::filter::{AttrPath, CompValue, CompareOp, Filter, FilterTranslator};
use portcullis_scim::schema::ResourceSchema;
use portcullis_scim::{ScimError, urn};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// An attribute of a SCIM user the store can query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    /// `id`.
    Id,
    /// `userName` (case-insensitive; the address when none was given).
    UserName,
    /// `emails.value` / `emails`: the account's address (case-insensitive).
    Email,
    /// `externalId` (case-exact).
    ExternalId,
    /// `displayName` (case-insensitive).
    DisplayName,
    /// `active`.
    Active,
    /// `meta.created`.
    Created,
    /// `meta.lastModified`.
    LastModified,
    /// Enterprise `employeeNumber` (case-exact).
    EmployeeNumber,
    /// Enterprise `department` (case-exact).
    Department,
    /// Enterprise `manager.value`.
    Manager,
}

impl UserField {
    /// The field a path names, if the store can query it.
    pub fn of(path: &AttrPath) -> Option<Self> {
        let canonical = ResourceSchema::user().canonical_path(path)?;
        let enterprise = |name: &str| format!("{}:{name}", urn::ENTERPRISE_USER);
        Some(match canonical.as_str() {
            "id" => Self::Id,
            "userName" => Self::UserName,
            "emails" | "emails.value" => Self::Email,
            "externalId" => Self::ExternalId,
            "displayName" => Self::DisplayName,
            "active" => Self::Active,
            "meta.created" => Self::Created,
            "meta.lastModified" => Self::LastModified,
            c if c == enterprise("employeeNumber") => Self::EmployeeNumber,
            c if c == enterprise("department") => Self::Department,
            c if c == enterprise("manager") || c == enterprise("manager.value") => Self::Manager,
            _ => return None,
        })
    }

    /// Whether values compare ignoring case (the store keeps them in lower
    /// case, and the translation lower-cases the literal).
    pub fn case_insensitive(self) -> bool {
        matches!(self, Self::UserName | Self::Email | Self::DisplayName)
    }

    /// The attributes a filter may name, for the error that lists them.
    const NAMES: &'static str = "id, userName, emails.value, externalId, displayName, active, \
        meta.created, meta.lastModified, and the Enterprise User's employeeNumber, department \
        and manager.value";
}

/// A literal, typed for its field.
#[derive(Debug, Clone, PartialEq)]
pub enum ScimValue {
    /// Text (lower case for case-insensitive fields).
    Text(String),
    /// `true` / `false`.
    Bool(bool),
    /// A time.
    Time(OffsetDateTime),
    /// An id.
    Id(Uuid),
}

/// A translated filter.
#[derive(Debug, Clone, PartialEq)]
pub enum ScimCond {
    /// `field op value`.
    Compare {
        /// The field.
        field: UserField,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: ScimValue,
    },
    /// `field pr`.
    Present(UserField),
    /// Both.
    And(Box<ScimCond>, Box<ScimCond>),
    /// Either.
    Or(Box<ScimCond>, Box<ScimCond>),
    /// Not.
    Not(Box<ScimCond>),
    /// Nothing matches (`id eq "not-a-uuid"`).
    Never,
}

/// Translates a filter of `/Users`.
pub fn translate(filter: &Filter) -> Result<ScimCond, ScimError> {
    filter.translate(&mut Translator)
}

struct Translator;

fn unsupported(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "cannot filter users on `{path}`: filters may name {}",
        UserField::NAMES
    ))
}

impl FilterTranslator for Translator {
    type Output = ScimCond;
    type Error = ScimError;

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<ScimCond, ScimError> {
        let field = UserField::of(path).ok_or_else(|| unsupported(path))?;
        let wrong = |what: &str| {
            ScimError::invalid_filter(format!("`{path} {}` needs {what}", op.as_str()))
        };
        let ordering = matches!(
            op,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        );
        let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
        let value = match field {
            UserField::Active => match (value, op) {
                (CompValue::Bool(b), CompareOp::Eq | CompareOp::Ne) => ScimValue::Bool(*b),
                _ => return Err(wrong("eq or ne with true or false")),
            },
            UserField::Created | UserField::LastModified => {
                let (CompValue::String(s), false) = (value, substring) else {
                    return Err(wrong("a comparison with an RFC 3339 date-time string"));
                };
                let t = OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| wrong("an RFC 3339 date-time string"))?;
                ScimValue::Time(t)
            }
            UserField::Id | UserField::Manager => {
                let (CompValue::String(s), CompareOp::Eq | CompareOp::Ne) = (value, op) else {
                    return Err(wrong("eq or ne with an id"));
                };
                match Uuid::parse_str(s.trim()) {
                    Ok(id) => ScimValue::Id(id),
                    // An id the server never issued matches nothing.
                    Err(_) if op == CompareOp::Eq => return Ok(ScimCond::Never),
                    Err(_) => return Ok(ScimCond::Not(Box::new(ScimCond::Never))),
                }
            }
            _ => {
                let CompValue::String(s) = value else {
                    return Err(wrong("a string"));
                };
                if ordering && !matches!(field, UserField::UserName | UserField::DisplayName) {
                    return Err(wrong("eq, ne, co, sw or ew"));
                }
                if s.len() > 1_024 {
                    return Err(wrong("a string of at most 1024 bytes"));
                }
                ScimValue::Text(if field.case_insensitive() {
                    s.to_lowercase()
                } else {
                    s.clone()
                })
            }
        };
        Ok(ScimCond::Compare { field, op, value })
    }

    fn present(&mut self, path: &AttrPath) -> Result<ScimCond, ScimError> {
        let field = UserField::of(path).ok_or_else(|| unsupported(path))?;
        Ok(ScimCond::Present(field))
    }

    fn and(&mut self, l: ScimCond, r: ScimCond) -> Result<ScimCond, ScimError> {
        Ok(ScimCond::And(Box::new(l), Box::new(r)))
    }

    fn or(&mut self, l: ScimCond, r: ScimCond) -> Result<ScimCond, ScimError> {
        Ok(ScimCond::Or(Box::new(l), Box::new(r)))
    }

    fn not(&mut self, inner: ScimCond) -> Result<ScimCond, ScimError> {
        Ok(ScimCond::Not(Box::new(inner)))
    }

    fn value_path(&mut self, path: &AttrPath, filter: &Filter) -> Result<ScimCond, ScimError> {
        // `emails[value eq "x"]`: one address per account, so the value's
        // other sub-attributes (`type`, `primary`) cannot be queried.
        filter.qualified(path).translate(self)
    }
}

/// The sort field of `sortBy`; `invalidValue` for one the store cannot sort.
pub fn sort_field(path: &AttrPath) -> Result<UserField, ScimError> {
    match UserField::of(path) {
        Some(UserField::Manager | UserField::Active) | None => {
            Err(ScimError::invalid_value(format!(
                "cannot sort users by `{path}`: sortBy may name id, userName, emails.value, \
                 externalId, displayName, meta.created, meta.lastModified, employeeNumber or \
                 department"
            )))
        }
        Some(f) => Ok(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Result<ScimCond, ScimError> {
        translate(&Filter::parse(s).unwrap())
    }

    #[test]
    fn common_provisioning_filters_translate() {
        assert_eq!(
            t(r#"userName eq "BJensen@Example.com""#).unwrap(),
            ScimCond::Compare {
                field: UserField::UserName,
                op: CompareOp::Eq,
                value: ScimValue::Text("bjensen@example.com".into())
            }
        );
        assert!(matches!(
            t(r#"externalId eq "00u1" and active eq true"#).unwrap(),
            ScimCond::And(..)
        ));
        assert!(t(r#"emails[type eq "work" and value co "@x"]"#).is_err());
        assert!(t(r#"emails[value co "@x"]"#).is_ok());
        assert!(
            t(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "0190e7a4-4c5b-7000-8000-000000000001""#)
                .is_ok()
        );
        assert!(t(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#).is_ok());
    }

    #[test]
    fn unsupported_attributes_and_operators_are_invalid_filters() {
        let e = t(r#"title eq "boss""#).unwrap_err();
        assert!(e.detail.contains("title"), "{}", e.detail);
        assert!(t("active gt true").is_err());
        assert!(t(r#"meta.created co "2026""#).is_err());
        assert!(t(r#"meta.created gt "yesterday""#).is_err());
        assert!(t(r#"externalId gt "a""#).is_err());
        assert_eq!(t(r#"id eq "nope""#).unwrap(), ScimCond::Never);
    }

    #[test]
    fn sorting_is_limited_to_columns() {
        assert_eq!(
            sort_field(&AttrPath::parse("meta.created").unwrap()).unwrap(),
            UserField::Created
        );
        assert!(sort_field(&AttrPath::parse("title").unwrap()).is_err());
    }
}
