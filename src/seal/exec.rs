//! The executor: applies a plan to a `GuestFsMut`. Never follows a symlink: a symlink where a
//! directory was planned is removed as a link (RemoveTree) or left alone (EmptyDir).

use crate::fs::{FileKind, FsError, GuestFsMut, join};

use super::SealError;
use super::ops::paths::{MAX_DEPTH, MAX_ENTRIES};
use super::plan::{Action, PlannedAction};
use super::report::{Change, ChangeKind, Report};

/// Mode of a file that a `Write` creates.
const NEW_FILE_MODE: u32 = 0o644;

/// Apply `plan` in order, then flush. A path that is gone by the time its action runs is
/// skipped (not reported as changed).
pub fn apply(fs: &mut dyn GuestFsMut, plan: &[PlannedAction]) -> Result<Report, SealError> {
    let mut report = Report::default();
    for pa in plan {
        let wrap = |source| SealError::Op { op: pa.op, source };
        if let Some(entries) = apply_one(fs, &pa.action).map_err(wrap)? {
            let note = match &pa.action {
                Action::Write { note, .. } | Action::Report { note, .. } => Some(note.clone()),
                _ => None,
            };
            report.record(
                pa.op,
                Change {
                    path: pa.action.path().to_string(),
                    change: ChangeKind::for_action(&pa.action),
                    entries,
                    note,
                },
            );
        }
    }
    fs.flush()?;
    Ok(report)
}

/// Apply one action; `None` when there was nothing to do, else the entries removed.
fn apply_one(fs: &mut dyn GuestFsMut, action: &Action) -> Result<Option<u64>, FsError> {
    let path = action.path();
    let Some(meta) = fs.metadata(path)? else {
        return match action {
            // A Write may create its file; everything else needs something there.
            Action::Write { content, .. } => {
                fs.write_file(path, content, NEW_FILE_MODE)?;
                Ok(Some(0))
            }
            _ => Ok(None),
        };
    };
    let kind = meta.kind;
    match action {
        Action::Remove { .. } => {
            if kind == FileKind::Dir {
                return Err(FsError::path(path, "is a directory, planned as a file"));
            }
            fs.remove_file(path)?;
            Ok(Some(1))
        }
        Action::RemoveTree { .. } => {
            if kind != FileKind::Dir {
                fs.remove_file(path)?;
                return Ok(Some(1));
            }
            let mut count = 0;
            empty_dir(fs, path, 0, &mut count)?;
            fs.remove_dir(path)?;
            Ok(Some(count as u64 + 1))
        }
        Action::EmptyDir { .. } => {
            if kind != FileKind::Dir {
                return Ok(None);
            }
            let mut count = 0;
            empty_dir(fs, path, 0, &mut count)?;
            Ok(Some(count as u64))
        }
        Action::Truncate { .. } => {
            if kind != FileKind::File {
                return Err(FsError::path(path, "not a regular file, cannot truncate"));
            }
            fs.truncate(path)?;
            Ok(Some(0))
        }
        Action::Write { content, .. } => {
            if kind != FileKind::File {
                return Err(FsError::path(path, "not a regular file, cannot rewrite"));
            }
            fs.write_file(path, content, NEW_FILE_MODE)?;
            Ok(Some(0))
        }
        Action::Report { .. } => Ok(Some(0)),
    }
}

/// Remove everything inside `dir`, depth first, symlinks as links.
fn empty_dir(
    fs: &mut dyn GuestFsMut,
    dir: &str,
    depth: usize,
    count: &mut usize,
) -> Result<(), FsError> {
    if depth >= MAX_DEPTH {
        return Err(FsError::path(dir, "directories nested too deep to remove"));
    }
    for e in fs.read_dir(dir)? {
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(FsError::path(dir, "too many entries to remove"));
        }
        let p = join(dir, &e.name);
        if e.kind == FileKind::Dir {
            empty_dir(fs, &p, depth + 1, count)?;
            fs.remove_dir(&p)?;
        } else {
            fs.remove_file(&p)?;
        }
    }
    Ok(())
}
