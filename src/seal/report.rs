//! What a run changed, per operation: serializable for `--json`, and a human rendering.

use std::fmt;

use super::plan::{Action, PlannedAction};
use crate::fs::name::display;

/// What was done to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Removed,
    RemovedTree,
    Emptied,
    Truncated,
    Written,
    /// A new file or directory.
    Created,
    /// A new symlink (the note holds its target).
    Linked,
    /// Found and reported, not changed.
    Reported,
}

impl ChangeKind {
    pub fn for_action(a: &Action) -> ChangeKind {
        match a {
            Action::Remove { .. } => ChangeKind::Removed,
            Action::RemoveTree { .. } => ChangeKind::RemovedTree,
            Action::EmptyDir { .. } => ChangeKind::Emptied,
            Action::Truncate { .. } => ChangeKind::Truncated,
            Action::Write { .. } => ChangeKind::Written,
            Action::Create { .. } | Action::Mkdir { .. } => ChangeKind::Created,
            Action::Symlink { .. } => ChangeKind::Linked,
            Action::Report { .. } => ChangeKind::Reported,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            ChangeKind::Removed => "removed",
            ChangeKind::RemovedTree => "removed tree",
            ChangeKind::Emptied => "emptied",
            ChangeKind::Truncated => "truncated",
            ChangeKind::Written => "rewrote",
            ChangeKind::Created => "created",
            ChangeKind::Linked => "linked",
            ChangeKind::Reported => "found",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    #[serde(serialize_with = "crate::fs::name::serialize")]
    pub path: String,
    pub change: ChangeKind,
    /// Entries removed (a tree or a directory's content counts every entry; a file is 1).
    pub entries: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpReport {
    pub op: &'static str,
    pub changes: Vec<Change>,
}

/// Per operation, in the order they ran, the paths changed (and the findings reported).
/// Operations that changed nothing are not listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub ops: Vec<OpReport>,
}

impl Report {
    pub fn record(&mut self, op: &'static str, change: Change) {
        match self.ops.iter_mut().find(|o| o.op == op) {
            Some(o) => o.changes.push(change),
            None => self.ops.push(OpReport {
                op,
                changes: vec![change],
            }),
        }
    }

    /// Totals over all operations.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in self.ops.iter().flat_map(|o| o.changes.iter()) {
            match c.change {
                ChangeKind::Removed | ChangeKind::RemovedTree | ChangeKind::Emptied => {
                    t.removed += c.entries
                }
                ChangeKind::Truncated => t.truncated += 1,
                ChangeKind::Written => t.rewritten += 1,
                ChangeKind::Created | ChangeKind::Linked => t.created += 1,
                ChangeKind::Reported => t.reported += 1,
            }
        }
        t
    }

    /// Every path changed (not only reported), in run order.
    pub fn changed_paths(&self) -> Vec<&str> {
        self.ops
            .iter()
            .flat_map(|o| o.changes.iter())
            .filter(|c| c.change != ChangeKind::Reported)
            .map(|c| c.path.as_str())
            .collect()
    }
}

/// Counts for a one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Files, links and directories removed.
    pub removed: u64,
    pub truncated: u64,
    pub rewritten: u64,
    /// Files, directories and symlinks created.
    pub created: u64,
    pub reported: u64,
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} removed, {} truncated, {} rewritten, {} created, {} reported",
            self.removed, self.truncated, self.rewritten, self.created, self.reported
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ops.is_empty() {
            return writeln!(f, "nothing to do");
        }
        for o in &self.ops {
            for c in &o.changes {
                write!(f, "{}: {} {}", o.op, c.change.verb(), display(&c.path))?;
                if matches!(c.change, ChangeKind::RemovedTree | ChangeKind::Emptied) {
                    write!(f, " ({} entries)", c.entries)?;
                }
                match &c.note {
                    Some(t) if c.change == ChangeKind::Linked => write!(f, " -> {}", display(t))?,
                    Some(n) => write!(f, ": {n}")?,
                    None => {}
                }
                writeln!(f)?;
            }
        }
        writeln!(f, "total: {}", self.totals())
    }
}

impl fmt::Display for PlannedAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match &self.action {
            Action::Remove { .. } => "remove",
            Action::RemoveTree { .. } => "remove tree",
            Action::EmptyDir { .. } => "empty",
            Action::Truncate { .. } => "truncate",
            Action::Write { .. } => "rewrite",
            Action::Create { .. } => "create",
            Action::Mkdir { .. } => "mkdir",
            Action::Symlink { .. } => "symlink",
            Action::Report { .. } => "report",
        };
        write!(f, "{}: {verb} {}", self.op, display(self.action.path()))?;
        match &self.action {
            Action::Write { note, .. }
            | Action::Create { note, .. }
            | Action::Report { note, .. } => write!(f, ": {note}"),
            Action::Symlink { target, .. } => write!(f, " -> {}", display(target)),
            _ => Ok(()),
        }
    }
}
