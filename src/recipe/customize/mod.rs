//! Customize steps applied to a guest filesystem (`GuestFsMut`: Ext4Fs or a mounted DirFs).
//! Every change is recorded, step by step, for the report and the build manifest.

mod firstboot;
mod steps;
pub mod users;

use serde::Serialize;

use super::schema::{Located, Step};
use crate::fs::{FsError, GuestFsMut};
use crate::seal::ops::paths::selinux_enabled;

/// Largest host file a step copies into the guest.
pub const MAX_HOST_FILE: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CustomizeError {
    #[error("customize step {step} ({op}, line {line})")]
    Step {
        step: usize,
        op: &'static str,
        line: usize,
        #[source]
        source: FsError,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// What a step did to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Created,
    Written,
    Appended,
    Removed,
    Mkdir,
    Symlink,
    Chmod,
    Chown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Shown as `fs::name::display` (a byte of a name that is not UTF-8 as `\xNN`).
    #[serde(serialize_with = "crate::fs::name::serialize")]
    pub path: String,
    pub change: ChangeKind,
}

/// The changes of one step, in the order made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// 1-based position in the recipe.
    pub step: usize,
    pub op: &'static str,
    pub line: usize,
    pub changes: Vec<Change>,
}

/// Apply every step in order, then flush. SELinux guests get /.autorelabel when a step
/// created anything (new files have no label).
pub fn apply(
    fs: &mut dyn GuestFsMut,
    steps: &[Located<Step>],
) -> Result<Vec<StepReport>, CustomizeError> {
    let mut out = Vec::new();
    let mut created = false;
    for (i, s) in steps.iter().enumerate() {
        let mut changes = Vec::new();
        steps::apply_step(fs, &s.item, &mut changes).map_err(|source| CustomizeError::Step {
            step: i + 1,
            op: s.item.name(),
            line: s.line,
            source,
        })?;
        created |= changes.iter().any(|c| {
            matches!(
                c.change,
                ChangeKind::Created | ChangeKind::Mkdir | ChangeKind::Symlink
            )
        });
        out.push(StepReport {
            step: i + 1,
            op: s.item.name(),
            line: s.line,
            changes,
        });
    }
    if created && selinux_enabled(fs)? && fs.metadata("/.autorelabel")?.is_none() {
        fs.write_file("/.autorelabel", b"", 0o644)?;
        out.push(StepReport {
            step: steps.len() + 1,
            op: "selinux-relabel",
            line: 0,
            changes: vec![Change {
                path: "/.autorelabel".into(),
                change: ChangeKind::Created,
            }],
        });
    }
    fs.flush()?;
    Ok(out)
}
