//! The report of an import: one [`LineReport`] per line, and the counts.

use serde::Serialize;
use uuid::Uuid;

use super::format::LineError;

/// What became of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Created (or, in a dry run, would be).
    Created,
    /// Updated (or, in a dry run, would be).
    Updated,
    /// Nothing to do (the header, a built-in role).
    Unchanged,
    /// Refused: see the field and reason.
    Refused,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Refused => "refused",
        }
    }
}

/// The report of one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineReport {
    /// 1-based line number.
    pub line: u64,
    /// What became of it.
    pub outcome: Outcome,
    /// The record's `type`, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The id written (users, roles, groups, organizations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl LineReport {
    pub(crate) fn ok(line: u64, kind: &'static str, outcome: Outcome, id: Option<Uuid>) -> Self {
        Self {
            line,
            outcome,
            kind: Some(kind),
            id,
            field: None,
            reason: None,
        }
    }

    /// A refused line.
    pub fn refused(line: u64, kind: Option<&'static str>, e: LineError) -> Self {
        Self {
            line,
            outcome: Outcome::Refused,
            kind,
            id: None,
            field: Some(e.field),
            reason: Some(e.reason),
        }
    }
}

/// Counts of an import by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Lines read.
    pub lines: u64,
    /// Created.
    pub created: u64,
    /// Updated.
    pub updated: u64,
    /// Unchanged.
    pub unchanged: u64,
    /// Refused.
    pub refused: u64,
    /// Users created or updated.
    pub users: u64,
    /// Whether nothing was written.
    pub dry_run: bool,
}
