//! List queries (RFC 7644 §3.4.2, §3.4.3, §3.9): the query parameters of
//! `GET /Users`, the `SearchRequest` body of `POST /.search`, attribute
//! projection, and an in-memory evaluation of a whole query for small sets
//! and tests.
//!
//! ```
//! use portcullis_scim::{ListQuery, QueryLimits};
//!
//! let q = ListQuery::from_pairs(
//!     [("filter", r#"userName eq "bjensen""#), ("startIndex", "0"), ("count", "100000"),
//!      ("excludedAttributes", "groups")],
//!     &QueryLimits::default(),
//! ).unwrap();
//! assert_eq!((q.start_index, q.count, q.offset()), (1, 200, 0));
//! ```

mod projection;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ScimError;
use crate::filter::{AttrPath, Filter, FilterLimits};
use crate::schema::ResourceSchema;
use crate::wire::ListResponse;

pub use projection::project;

/// Bounds on list queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLimits {
    /// Most results on one page; a larger `count` is lowered to it
    /// (default 200, published as `filter.maxResults`).
    pub max_results: usize,
    /// Page size when the client gives no `count` (default 100).
    pub default_count: usize,
    /// Limits on `filter`.
    pub filter: FilterLimits,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_results: 200,
            default_count: 100,
            filter: FilterLimits::default(),
        }
    }
}

/// `sortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SortOrder {
    /// `ascending` (the default).
    #[default]
    Ascending,
    /// `descending`.
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending`, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("ascending") {
            Some(Self::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Some(Self::Descending)
        } else {
            None
        }
    }
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AttributeSelection {
    /// Neither: attributes returned `always` and by `default`.
    #[default]
    Default,
    /// `attributes`: these and those returned `always`.
    Include(Vec<AttrPath>),
    /// `excludedAttributes`: the default set without these (never those
    /// returned `always`).
    Exclude(Vec<AttrPath>),
}

fn parse_list(s: &str, param: &str) -> Result<Vec<AttrPath>, ScimError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            AttrPath::parse(p).map_err(|e| ScimError::invalid_value(format!("{param}: `{p}`: {e}")))
        })
        .collect()
}

impl AttributeSelection {
    /// From the comma-separated `attributes` and `excludedAttributes`
    /// parameters (absent or empty: not given). Both at once:
    /// `invalidValue`, since they exclude each other.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let include = attributes
            .map(|a| parse_list(a, "attributes"))
            .transpose()?;
        let exclude = excluded
            .map(|e| parse_list(e, "excludedAttributes"))
            .transpose()?;
        Self::from_lists(include.unwrap_or_default(), exclude.unwrap_or_default())
    }

    fn from_lists(include: Vec<AttrPath>, exclude: Vec<AttrPath>) -> Result<Self, ScimError> {
        match (include.is_empty(), exclude.is_empty()) {
            (true, true) => Ok(Self::Default),
            (false, true) => Ok(Self::Include(include)),
            (true, false) => Ok(Self::Exclude(exclude)),
            (false, false) => Err(ScimError::invalid_value(
                "attributes and excludedAttributes cannot be given together",
            )),
        }
    }
}

/// A parsed list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<Filter>,
    /// `sortBy`.
    pub sort_by: Option<AttrPath>,
    /// `sortOrder` (ascending by default).
    pub sort_order: SortOrder,
    /// `startIndex`, 1-based; values below 1 count as 1.
    pub start_index: usize,
    /// `count`: the page size, between 0 and [`QueryLimits::max_results`].
    pub count: usize,
    /// `attributes` / `excludedAttributes`.
    pub attributes: AttributeSelection,
}

/// An integer parameter; out-of-range values saturate.
fn integer(name: &str, s: &str) -> Result<i64, ScimError> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(if s.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
    }
    Err(ScimError::invalid_value(format!(
        "{name} `{s}` is not an integer"
    )))
}

fn start_index(n: i64) -> usize {
    usize::try_from(n.max(1)).unwrap_or(usize::MAX)
}

fn count(n: Option<i64>, limits: &QueryLimits) -> usize {
    match n {
        None => limits.default_count.min(limits.max_results),
        Some(n) => usize::try_from(n.max(0))
            .unwrap_or(usize::MAX)
            .min(limits.max_results),
    }
}

impl ListQuery {
    /// From decoded query parameters (`?filter=...&startIndex=...`).
    /// Parameter names are matched ignoring case; unknown ones are ignored.
    /// A malformed `filter` is `invalidFilter`; a malformed `sortBy`,
    /// `sortOrder`, `startIndex`, `count`, `attributes` or
    /// `excludedAttributes` is `invalidValue`.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        limits: &QueryLimits,
    ) -> Result<Self, ScimError> {
        let mut filter = None;
        let mut sort_by = None;
        let mut sort_order = SortOrder::Ascending;
        let mut start = 1;
        let mut n = None;
        let mut attributes = None;
        let mut excluded = None;
        for (k, v) in pairs {
            let k = k.to_ascii_lowercase();
            match k.as_str() {
                "filter" if !v.trim().is_empty() => {
                    filter = Some(Filter::parse_with_limits(v, &limits.filter)?);
                }
                "sortby" if !v.trim().is_empty() => {
                    sort_by = Some(
                        AttrPath::parse(v)
                            .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?,
                    );
                }
                "sortorder" if !v.trim().is_empty() => {
                    sort_order = SortOrder::parse(v.trim()).ok_or_else(|| {
                        ScimError::invalid_value(format!(
                            "sortOrder `{v}` is not ascending or descending"
                        ))
                    })?;
                }
                "startindex" => start = start_index(integer("startIndex", v)?),
                "count" => n = Some(integer("count", v)?),
                "attributes" => attributes = Some(v),
                "excludedattributes" => excluded = Some(v),
                _ => {}
            }
        }
        Ok(Self {
            filter,
            sort_by,
            sort_order,
            start_index: start,
            count: count(n, limits),
            attributes: AttributeSelection::parse(attributes, excluded)?,
        })
    }

    /// The number of results to skip (`startIndex - 1`).
    pub fn offset(&self) -> usize {
        self.start_index.saturating_sub(1)
    }

    /// A page of results as a `ListResponse`.
    pub fn response<T>(&self, total_results: u64, page: Vec<T>) -> ListResponse<T> {
        ListResponse::new(page, total_results, self.start_index as u64)
    }

    /// Runs the whole query over resources in memory: filter, sort, page,
    /// project. For small sets, fallbacks and tests; a server queries its
    /// store instead.
    pub fn run(&self, resources: Vec<Value>, schema: &ResourceSchema) -> ListResponse<Value> {
        let mut hits: Vec<Value> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r, schema)))
            .collect();
        if let Some(by) = &self.sort_by {
            let keys: Vec<Option<SortKey>> = hits.iter().map(|r| sort_key(r, by, schema)).collect();
            let mut indexed: Vec<(Option<SortKey>, Value)> = keys.into_iter().zip(hits).collect();
            indexed.sort_by(|(a, _), (b, _)| {
                let ord = match (a, b) {
                    (Some(a), Some(b)) => a.cmp(b),
                    // Missing values sort last ascending, first descending.
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                match self.sort_order {
                    SortOrder::Ascending => ord,
                    SortOrder::Descending => ord.reverse(),
                }
            });
            hits = indexed.into_iter().map(|(_, v)| v).collect();
        }
        let total = hits.len() as u64;
        let page = hits
            .into_iter()
            .skip(self.offset())
            .take(self.count)
            .map(|r| project(&r, schema, &self.attributes))
            .collect();
        self.response(total, page)
    }
}

/// What a resource sorts by: a string (folded unless caseExact), a
/// number, or a boolean; mixed kinds sort booleans, numbers, strings.
#[derive(Debug, Clone, PartialEq)]
enum SortKey {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl Eq for SortKey {}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Number(a), Self::Number(b)) => a.total_cmp(b),
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            Self::Bool(_) => 0,
            Self::Number(_) => 1,
            Self::Text(_) => 2,
        }
    }
}

/// The value to sort by: for a multi-valued attribute the primary value,
/// else the first (RFC 7644 §3.4.2.3).
fn sort_key(resource: &Value, by: &AttrPath, schema: &ResourceSchema) -> Option<SortKey> {
    let resolved = schema.resolve(by);
    let case_exact = resolved.is_some_and(|r| r.leaf().case_exact);
    let container = match resolved.and_then(|r| r.extension) {
        Some(ext) => resource
            .as_object()
            .and_then(|o| crate::filter::eval::get_ci(o, &ext.id)),
        None => Some(resource),
    }?;
    let mut v = crate::filter::eval::get_ci(container.as_object()?, &by.name)?;
    if let Value::Array(items) = v {
        v = items
            .iter()
            .find(|i| {
                i.as_object()
                    .and_then(|o| crate::filter::eval::get_ci(o, "primary"))
                    .is_some_and(|p| p == &Value::Bool(true))
            })
            .or_else(|| items.first())?;
    }
    let leaf = match &by.sub {
        Some(sub) => crate::filter::eval::get_ci(v.as_object()?, sub)?,
        None if v.is_object() => crate::filter::eval::get_ci(v.as_object()?, "value")?,
        None => v,
    };
    match leaf {
        Value::String(s) if case_exact => Some(SortKey::Text(s.clone())),
        Value::String(s) => Some(SortKey::Text(s.to_lowercase())),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        _ => None,
    }
}

/// The body of `POST /.search` (RFC 7644 §3.4.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// `["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Attribute paths to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// Attribute paths not to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_attributes: Vec<String>,
    /// The filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The attribute to sort by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `ascending` or `descending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    /// 1-based index of the first result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

impl SearchRequest {
    /// The query it asks for, with the same rules as the query parameters.
    pub fn to_query(&self, limits: &QueryLimits) -> Result<ListQuery, ScimError> {
        if !self.schemas.is_empty()
            && !self
                .schemas
                .iter()
                .any(|s| s.eq_ignore_ascii_case(crate::urn::SEARCH_REQUEST))
        {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{}\"]",
                crate::urn::SEARCH_REQUEST
            )));
        }
        let attributes = self.attributes.join(",");
        let excluded = self.excluded_attributes.join(",");
        let mut pairs: Vec<(&str, &str)> = vec![
            ("attributes", &attributes),
            ("excludedAttributes", &excluded),
        ];
        if let Some(f) = &self.filter {
            pairs.push(("filter", f));
        }
        if let Some(s) = &self.sort_by {
            pairs.push(("sortBy", s));
        }
        if let Some(s) = &self.sort_order {
            pairs.push(("sortOrder", s));
        }
        let mut query = ListQuery::from_pairs(pairs, limits)?;
        query.start_index = start_index(self.start_index.unwrap_or(1));
        query.count = count(self.count, limits);
        Ok(query)
    }
}

#[cfg(test)]
mod tests;
