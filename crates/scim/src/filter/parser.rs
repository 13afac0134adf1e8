//! The filter parser: scannerless recursive descent over the input's bytes,
//! with limits checked as it goes.

use super::{AttrPath, CompValue, CompareOp, Filter};
use crate::error::{ScimError, ScimType};

/// Bounds on what a filter may cost to parse and keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterLimits {
    /// Longest accepted input, in bytes (default 4,096).
    pub max_length: usize,
    /// Deepest nesting of `(`, `not (` and `[` (default 32).
    pub max_depth: usize,
    /// Most AST nodes: comparisons, presence tests, value paths, `not`,
    /// `and`, `or` (default 512).
    pub max_nodes: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        Self {
            max_length: 4096,
            max_depth: 32,
            max_nodes: 512,
        }
    }
}

/// A filter that could not be parsed: what was wrong and where.
///
/// Every parse failure is a SCIM `invalidFilter` (RFC 7644 §3.12); the
/// `Display` text names the problem and the character column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at character {column})")]
pub struct FilterError {
    /// What was wrong.
    pub kind: FilterErrorKind,
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// 1-based character column of that offset, for people.
    pub column: usize,
}

/// What was wrong with a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterErrorKind {
    /// Nothing but white space.
    #[error("the filter is empty")]
    Empty,
    /// The input is longer than [`FilterLimits::max_length`].
    #[error("the filter is {length} bytes long, more than the {max} allowed")]
    TooLong {
        /// The input's length in bytes.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than [`FilterLimits::max_depth`].
    #[error("the filter nests `(`, `not (` or `[` deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More nodes than [`FilterLimits::max_nodes`].
    #[error("the filter has more than {max} terms and operators")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// Something else was found where the grammar wanted `expected`.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar wanted there.
        expected: &'static str,
        /// What was there (quoted), or `the end of the filter`.
        found: String,
    },
    /// An attribute path that is not `[urn:]name[.sub]`.
    #[error("invalid attribute path `{path}`: {reason}")]
    InvalidAttrPath {
        /// The path as written.
        path: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A word in operator position that is no operator.
    #[error("unknown operator `{0}`: expected eq, ne, co, sw, ew, gt, ge, lt, le or pr")]
    UnknownOperator(String),
    /// A malformed string or number literal.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// `[` inside `[...]`.
    #[error("a value filter `[...]` cannot contain another one")]
    NestedValuePath,
}

impl FilterError {
    /// Always [`ScimType::InvalidFilter`].
    pub fn scim_type(&self) -> ScimType {
        ScimType::InvalidFilter
    }
}

impl From<FilterError> for ScimError {
    fn from(e: FilterError) -> Self {
        ScimError::invalid_filter(e.to_string())
    }
}

const EXPECTED_TERM: &str = "an attribute path, `not (` or `(`";
const EXPECTED_OP: &str = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after a space";
const EXPECTED_VALUE: &str = "a value (a JSON string, a number, true, false or null)";

pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    nodes: usize,
    limits: &'a FilterLimits,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'$'
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':' | b'.')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `ALPHA *(nameChar)`, where `$` is accepted too (for `$ref`).
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(is_word_start)
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'))
}

/// Splits `[urn:]name[.sub]`.
pub(crate) fn split_attr_path(word: &str) -> Result<AttrPath, &'static str> {
    let (urn, rest) = match word.rsplit_once(':') {
        Some((urn, rest)) => {
            if urn.is_empty() || !urn.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
                return Err("the schema URN must start with a letter");
            }
            (Some(urn.to_owned()), rest)
        }
        None => (None, word),
    };
    if rest.is_empty() {
        return Err("an attribute name must follow the schema URN");
    }
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !valid_name(name) {
        return Err("a name starts with a letter, then letters, digits, `_` or `-`");
    }
    if let Some(sub) = sub {
        if sub.contains('.') {
            return Err("a path has at most one sub-attribute");
        }
        if !valid_name(sub) {
            return Err(
                "a sub-attribute name starts with a letter, then letters, digits, `_` or `-`",
            );
        }
    }
    Ok(AttrPath {
        urn,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, limits: &'a FilterLimits) -> Result<Self, FilterError> {
        let parser = Self {
            src,
            pos: 0,
            depth: 0,
            nodes: 0,
            limits,
        };
        if src.len() > limits.max_length {
            return Err(parser.error(
                limits.max_length,
                FilterErrorKind::TooLong {
                    length: src.len(),
                    max: limits.max_length,
                },
            ));
        }
        Ok(parser)
    }

    fn error(&self, at: usize, kind: FilterErrorKind) -> FilterError {
        let at = at.min(self.src.len());
        // `at` is always a char boundary here (ASCII positions), but do not
        // rely on it for the column.
        let column = self
            .src
            .get(..at)
            .map_or(at, |s| s.chars().count())
            .saturating_add(1);
        FilterError {
            kind,
            offset: at,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn found(&self) -> String {
        match self.src.get(self.pos..) {
            None | Some("") => "the end of the filter".to_owned(),
            Some(rest) => {
                let snippet: String = rest.chars().take(16).collect();
                if snippet.len() < rest.len() {
                    format!("`{snippet}…`")
                } else {
                    format!("`{snippet}`")
                }
            }
        }
    }

    fn unexpected(&self, expected: &'static str) -> FilterError {
        self.error(
            self.pos,
            FilterErrorKind::Unexpected {
                expected,
                found: self.found(),
            },
        )
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn node(&mut self) -> Result<(), FilterError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                self.pos,
                FilterErrorKind::TooManyNodes {
                    max: self.limits.max_nodes,
                },
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.error(
                self.pos,
                FilterErrorKind::TooDeep {
                    max: self.limits.max_depth,
                },
            ));
        }
        Ok(())
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), FilterError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Consumes a run of word bytes (the caller checked the first).
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_word_byte) {
            self.pos += 1;
        }
        self.src.get(start..self.pos).unwrap_or_default()
    }

    /// Consumes `kw` (case-insensitive) if it is next and ends there.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        let matches = self
            .src
            .get(self.pos..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(kw))
            && !self
                .src
                .as_bytes()
                .get(end)
                .copied()
                .is_some_and(is_word_byte);
        if matches {
            self.pos = end;
        }
        matches
    }

    /// The whole input as one filter.
    pub(crate) fn filter(mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(self.pos, FilterErrorKind::Empty));
        }
        let f = self.or_expr(None)?;
        self.skip_ws();
        if self.peek().is_some() {
            let expected = if self.peek() == Some(b')') {
                "`and`, `or` or the end of the filter (this `)` closes nothing)"
            } else {
                "`and`, `or` or the end of the filter"
            };
            return Err(self.unexpected(expected));
        }
        Ok(f)
    }

    /// The whole input as one attribute path.
    pub(crate) fn attr_path_only(mut self) -> Result<AttrPath, FilterError> {
        self.skip_ws();
        let path = self.attr_path(None)?;
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.unexpected("the end of the attribute path"));
        }
        Ok(path)
    }

    /// The whole input as a PATCH path: `attrPath [ "[" valFilter "]" [ "." name ] ]`.
    pub(crate) fn patch_path(
        mut self,
    ) -> Result<(AttrPath, Option<Filter>, Option<String>), FilterError> {
        self.skip_ws();
        let path = self.attr_path(None)?;
        let mut filter = None;
        let mut sub = None;
        if self.peek() == Some(b'[') {
            if path.sub.is_some() {
                return Err(self.error(
                    self.pos,
                    FilterErrorKind::InvalidAttrPath {
                        path: path.to_string(),
                        reason: "a value filter `[...]` follows the attribute, not its sub-attribute",
                    },
                ));
            }
            filter = Some(self.bracket(&path)?);
            if self.peek() == Some(b'.') {
                self.pos += 1;
                let start = self.pos;
                let name = self.word();
                if !valid_name(name) {
                    return Err(self.error(
                        start,
                        FilterErrorKind::InvalidAttrPath {
                            path: name.to_owned(),
                            reason: "`].` must be followed by a sub-attribute name",
                        },
                    ));
                }
                sub = Some(name.to_owned());
            }
        }
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.unexpected("the end of the path"));
        }
        Ok((path, filter, sub))
    }

    fn attr_path(&mut self, parent: Option<&AttrPath>) -> Result<AttrPath, FilterError> {
        if !self.peek().is_some_and(is_word_start) {
            return Err(self.unexpected("an attribute path"));
        }
        let start = self.pos;
        let word = self.word();
        self.to_attr_path(start, word, parent)
    }

    fn to_attr_path(
        &self,
        start: usize,
        word: &str,
        parent: Option<&AttrPath>,
    ) -> Result<AttrPath, FilterError> {
        let invalid = |reason| {
            self.error(
                start,
                FilterErrorKind::InvalidAttrPath {
                    path: word.to_owned(),
                    reason,
                },
            )
        };
        let path = split_attr_path(word).map_err(invalid)?;
        if parent.is_some() && (path.urn.is_some() || path.sub.is_some()) {
            return Err(invalid(
                "inside `[...]` name a sub-attribute of the bracketed attribute, without `.` or a URN",
            ));
        }
        Ok(path)
    }

    /// `[` valFilter `]`, the caller having seen the `[`.
    fn bracket(&mut self, path: &AttrPath) -> Result<Filter, FilterError> {
        self.pos += 1;
        self.enter()?;
        let inner = self.or_expr(Some(path))?;
        self.skip_ws();
        self.expect(b']', "`and`, `or` or `]`")?;
        self.depth -= 1;
        Ok(inner)
    }

    /// `(` FILTER `)`, the caller having seen the `(`.
    fn group(&mut self, parent: Option<&AttrPath>) -> Result<Filter, FilterError> {
        self.pos += 1;
        self.enter()?;
        let inner = self.or_expr(parent)?;
        self.skip_ws();
        self.expect(b')', "`and`, `or` or `)`")?;
        self.depth -= 1;
        Ok(inner)
    }

    fn or_expr(&mut self, parent: Option<&AttrPath>) -> Result<Filter, FilterError> {
        let mut left = self.and_expr(parent)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("or") {
                self.node()?;
                let right = self.and_expr(parent)?;
                left = Filter::or(left, right);
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, parent: Option<&AttrPath>) -> Result<Filter, FilterError> {
        let mut left = self.term(parent)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("and") {
                self.node()?;
                let right = self.term(parent)?;
                left = Filter::and(left, right);
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn term(&mut self, parent: Option<&AttrPath>) -> Result<Filter, FilterError> {
        self.skip_ws();
        match self.peek() {
            Some(b'(') => self.group(parent),
            Some(b) if is_word_start(b) => {
                let start = self.pos;
                let word = self.word();
                if word.eq_ignore_ascii_case("not") {
                    let save = self.pos;
                    self.skip_ws();
                    if self.peek() == Some(b'(') {
                        self.node()?;
                        return Ok(Filter::not(self.group(parent)?));
                    }
                    // An attribute called `not`.
                    self.pos = save;
                }
                let path = self.to_attr_path(start, word, parent)?;
                if self.peek() == Some(b'[') {
                    if parent.is_some() {
                        return Err(self.error(self.pos, FilterErrorKind::NestedValuePath));
                    }
                    self.node()?;
                    let filter = self.bracket(&path)?;
                    return Ok(Filter::ValuePath {
                        path,
                        filter: Box::new(filter),
                    });
                }
                self.comparison(path)
            }
            _ => Err(self.unexpected(EXPECTED_TERM)),
        }
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        if !self.skip_ws() || !self.peek().is_some_and(is_word_start) {
            return Err(self.unexpected(EXPECTED_OP));
        }
        let start = self.pos;
        let word = self.word();
        self.node()?;
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::from_keyword(word)
            .ok_or_else(|| self.error(start, FilterErrorKind::UnknownOperator(word.to_owned())))?;
        self.skip_ws();
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn value(&mut self) -> Result<CompValue, FilterError> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(b) if b == b'-' || b.is_ascii_digit() => self.number(),
            Some(b) if is_word_start(b) => {
                let start = self.pos;
                let word = self.word();
                if word.eq_ignore_ascii_case("true") {
                    Ok(CompValue::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(CompValue::Bool(false))
                } else if word.eq_ignore_ascii_case("null") {
                    Ok(CompValue::Null)
                } else {
                    self.pos = start;
                    Err(self.unexpected(EXPECTED_VALUE))
                }
            }
            _ => Err(self.unexpected(EXPECTED_VALUE)),
        }
    }

    fn string(&mut self) -> Result<CompValue, FilterError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(
                        start,
                        FilterErrorKind::InvalidValue("a string is not closed by `\"`".to_owned()),
                    ));
                }
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let literal = self.src.get(start..self.pos).unwrap_or_default();
        serde_json::from_str::<String>(literal)
            .map(CompValue::String)
            .map_err(|e| self.error(start, FilterErrorKind::InvalidValue(json_reason(&e))))
    }

    fn number(&mut self) -> Result<CompValue, FilterError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.pos += 1;
        }
        let literal = self.src.get(start..self.pos).unwrap_or_default();
        let invalid = || {
            self.error(
                start,
                FilterErrorKind::InvalidValue(format!("`{literal}` is not a JSON number")),
            )
        };
        if self.peek().is_some_and(is_word_byte) {
            return Err(invalid());
        }
        serde_json::from_str::<serde_json::Number>(literal)
            .map(CompValue::Number)
            .map_err(|_| invalid())
    }
}

/// serde_json's message without its "at line 1 column N" (ours is better).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.split_once(" at line ") {
        Some((reason, _)) => reason.to_owned(),
        None => text,
    }
}
