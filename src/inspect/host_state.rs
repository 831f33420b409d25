//! Host state is not a list of paths of its own: it is the seal plan of the reported
//! operations on the read-only filesystem, grouped by operation, with the directories the plan
//! removes or empties listed file by file.

use std::sync::Arc;

use crate::disk::{BlockDev, DiskError, Slice};
use crate::fs::detect::FsKind;
use crate::fs::ext4::read::Ext4ReadFs;
use crate::fs::prefix::PrefixFs;
use crate::fs::vfat::{ReadOnly, VfatFs};
use crate::fs::{FileKind, FsError, GuestFs, OsInfo, fstab, join};
use crate::seal::{self, Action, SealError, SealOptions, Selection, plan_all};

use super::report::{OpState, PartReport};

/// The defaults, and these whether or not they are: they are what cloud images keep.
const REPORTED_OPS: &str = "defaults,cloud-init-state,net-hwaddr";
/// Paths listed per operation; the rest are counted.
const MAX_LISTED: usize = 1000;
/// Entries visited per operation when listing a directory tree (a corrupt tree can be huge).
const MAX_VISITED: usize = 100_000;
/// Directory depth followed when listing a tree.
const MAX_DEPTH: usize = 64;

/// Why the host state of a filesystem could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Guest(#[from] FsError),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A filesystem the root mounts, named with where ("partition 2 (vfat) at /boot/efi").
    #[error("{what}")]
    Within {
        what: String,
        #[source]
        source: Box<StateError>,
    },
    #[error("{what}")]
    Disk {
        what: String,
        #[source]
        source: DiskError,
    },
}

impl StateError {
    fn within(what: &str) -> impl FnOnce(StateError) -> StateError + '_ {
        move |e| StateError::Within {
            what: what.to_string(),
            source: Box::new(e),
        }
    }
}

/// Host state on the other ext2/3/4 and vfat filesystems, where the root's fstab mounts them
/// (the EFI partition at /boot/efi, a separate /var): what `seal` removes there too.
pub(super) fn mounted(
    dev: &Arc<dyn BlockDev>,
    parts: &[PartReport],
    root: usize,
    root_fs: &dyn GuestFs,
    os: &OsInfo,
) -> Result<Vec<OpState>, StateError> {
    let tab = fstab::read(root_fs)?;
    let mut out = Vec::new();
    for (i, pr) in parts.iter().enumerate() {
        let (p, info) = (&pr.partition, &pr.filesystem);
        let Some(at) = fstab::mount_point(&tab, p, info).filter(|_| i != root) else {
            continue;
        };
        let what = format!("partition {} ({}) at {at}", p.number, info.kind);
        let ctx = StateError::within(&what);
        let state = if info.kind.is_ext() {
            let mut fs =
                Ext4ReadFs::open(Arc::clone(dev), p.start, p.size).map_err(|e| ctx(e.into()))?;
            PrefixFs::new(&mut fs, at).map(|v| of(&v, os))
        } else if info.kind == FsKind::Vfat {
            let slice = Slice::new(&**dev, p.start, p.size).map_err(|source| StateError::Disk {
                what: what.clone(),
                source,
            })?;
            // vfat's own errors name the filesystem.
            let mut fs = VfatFs::open(ReadOnly(slice), p.size, &what)?;
            PrefixFs::new(&mut fs, at).map(|v| of(&v, os))
        } else {
            None
        };
        if let Some(s) = state {
            merge(&mut out, s.map_err(StateError::within(&what))?);
        }
    }
    Ok(out)
}

/// Add `more` to `into`, operation by operation.
pub(super) fn merge(into: &mut Vec<OpState>, more: Vec<OpState>) {
    for m in more {
        match into.iter_mut().find(|o| o.op == m.op) {
            Some(o) => {
                o.paths.extend(m.paths);
                o.paths.sort();
                o.paths.dedup();
                o.more += m.more;
            }
            None => into.push(m),
        }
    }
}

/// Plan the reported operations on `fs`; group what they would touch by operation.
pub(super) fn of(fs: &dyn GuestFs, os: &OsInfo) -> Result<Vec<OpState>, StateError> {
    let sel = Selection::defaults().operations(REPORTED_OPS);
    let plan = plan_all(fs, os, &sel, &SealOptions::default())?;
    let mut out: Vec<OpState> = Vec::new();
    for pa in &plan {
        // What sealing would add (the ssh-hostkeys guard) is not state found in the image.
        if matches!(
            pa.action,
            Action::Create { .. } | Action::Mkdir { .. } | Action::Symlink { .. }
        ) {
            continue;
        }
        let idx = match out.iter().position(|o| o.op == pa.op) {
            Some(i) => i,
            None => {
                let summary = seal::ops::find(pa.op).map(|o| o.summary()).unwrap_or("");
                out.push(OpState {
                    op: pa.op.to_string(),
                    summary: summary.to_string(),
                    paths: Vec::new(),
                    more: 0,
                });
                out.len() - 1
            }
        };
        let mut found = Vec::new();
        match &pa.action {
            Action::RemoveTree { path } => walk(fs, path, true, &mut found)?,
            Action::EmptyDir { path } => walk(fs, path, false, &mut found)?,
            a => found.push(a.path().to_string()),
        }
        let o = &mut out[idx];
        for p in found {
            if o.paths.len() < MAX_LISTED {
                o.paths.push(p);
            } else {
                o.more += 1;
            }
        }
    }
    for o in &mut out {
        o.paths.sort();
        o.paths.dedup();
    }
    Ok(out)
}

/// The files under `path` (and `path` itself if `include_self` and it is not a directory, or
/// an empty directory that would go). Kinds come from the directory entries: one lookup of a
/// path in a big directory costs a scan, so only the top is looked up.
fn walk(
    fs: &dyn GuestFs,
    path: &str,
    include_self: bool,
    found: &mut Vec<String>,
) -> Result<(), FsError> {
    let Some(top) = fs.metadata(path)? else {
        return Ok(());
    };
    let mut stack = vec![(path.to_string(), top.kind, 0usize)];
    let mut visited = 0usize;
    while let Some((p, kind, depth)) = stack.pop() {
        visited += 1;
        let listed = depth > 0 || include_self;
        if kind != FileKind::Dir {
            if listed {
                found.push(p);
            }
            continue;
        }
        let entries = fs.read_dir(&p)?;
        if entries.is_empty() && listed {
            found.push(format!("{p}/"));
        }
        if depth >= MAX_DEPTH || visited + stack.len() >= MAX_VISITED {
            log::warn!("{p}: not listing everything below (too deep or too many entries)");
            continue;
        }
        for e in entries.iter().rev() {
            stack.push((join(&p, &e.name), e.kind, depth + 1));
        }
    }
    Ok(())
}
