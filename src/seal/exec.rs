//! The executor: applies a plan to a `GuestFsMut`. Never follows a symlink: a symlink where a
//! directory was planned is removed as a link (RemoveTree) or left alone (EmptyDir).

use crate::fs::{DirEntry, FileKind, FsError, GuestFsMut, join};

use super::SealError;
use super::ops::paths::{MAX_DEPTH, MAX_ENTRIES};
use super::plan::{Action, PlannedAction};
use super::report::{Change, ChangeKind, Report};

/// Mode of a file that a `Write` or `Create` creates.
const NEW_FILE_MODE: u32 = 0o644;
const NEW_DIR_MODE: u32 = 0o755;

/// Apply `plan` in order, then flush. A path that is gone by the time its action runs is
/// skipped (not reported as changed).
pub fn apply(fs: &mut dyn GuestFsMut, plan: &[PlannedAction]) -> Result<Report, SealError> {
    let mut report = Report::default();
    for pa in plan {
        let wrap = |source| SealError::Op { op: pa.op, source };
        if let Some(entries) = apply_one(fs, &pa.action).map_err(wrap)? {
            let note = match &pa.action {
                Action::Write { note, .. }
                | Action::Create { note, .. }
                | Action::Report { note, .. } => Some(note.clone()),
                Action::Symlink { target, .. } => Some(target.clone()),
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
            // A Write may create its file; creations need nothing there; everything else
            // needs something there.
            Action::Write { content, .. } | Action::Create { content, .. } => {
                fs.write_file(path, content, NEW_FILE_MODE)?;
                Ok(Some(0))
            }
            Action::Mkdir { .. } => {
                fs.mkdir(path, NEW_DIR_MODE)?;
                Ok(Some(0))
            }
            Action::Symlink { target, .. } => {
                fs.symlink(path, target)?;
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
            empty_dir(fs, path, &mut count)?;
            fs.remove_dir(path)?;
            Ok(Some(count as u64 + 1))
        }
        Action::EmptyDir { .. } => {
            if kind != FileKind::Dir {
                return Ok(None);
            }
            let mut count = 0;
            empty_dir(fs, path, &mut count)?;
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
        // Never replace what is there: the plan saw nothing at these paths.
        Action::Create { .. } => Err(FsError::path(path, "exists, planned as a new file")),
        Action::Mkdir { .. } if kind == FileKind::Dir => Ok(None),
        Action::Mkdir { .. } => Err(FsError::path(path, "exists and is not a directory")),
        Action::Symlink { target, .. } => {
            if kind == FileKind::Symlink && fs.read_link(path)? == *target {
                Ok(None)
            } else {
                Err(FsError::path(path, "exists, planned as a new symlink"))
            }
        }
        Action::Report { .. } => Ok(Some(0)),
    }
}

/// Remove everything inside `dir`, depth first, symlinks as links. Iterative: a deep tree
/// cannot exhaust the stack.
fn empty_dir(fs: &mut dyn GuestFsMut, dir: &str, count: &mut usize) -> Result<(), FsError> {
    let mut stack: Vec<(String, Vec<DirEntry>)> = vec![(dir.to_string(), fs.read_dir(dir)?)];
    loop {
        let Some((d, entries)) = stack.last_mut() else {
            return Ok(());
        };
        let Some(e) = entries.pop() else {
            // Done with this directory: remove it, unless it is `dir` itself.
            let (d, _) = stack.pop().unwrap_or_default();
            if !stack.is_empty() {
                fs.remove_dir(&d)?;
            }
            continue;
        };
        *count += 1;
        if *count > MAX_ENTRIES {
            return Err(FsError::path(dir, "too many entries to remove"));
        }
        let p = join(d, &e.name);
        if e.kind == FileKind::Dir {
            if stack.len() >= MAX_DEPTH {
                return Err(FsError::path(&p, "directories nested too deep to remove"));
            }
            let sub = fs.read_dir(&p)?;
            stack.push((p, sub));
        } else {
            fs.remove_file(&p)?;
        }
    }
}
