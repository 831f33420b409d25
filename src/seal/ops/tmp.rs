//! tmp-files.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub static TMP_FILES: SealOp = SealOp {
    name: "tmp-files",
    summary: "Remove temporary files (all of /tmp and /var/tmp, hidden ones too)",
    default: true,
    plan: Some(plan_tmp_files),
    ..SealOp::NONE
};

fn plan_tmp_files(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    for dir in ["/tmp", "/var/tmp"] {
        // A symlinked /tmp points elsewhere: not ours to empty.
        if paths::kind(fs, dir)? == Some(FileKind::Dir) && !fs.read_dir(dir)?.is_empty() {
            v.push(Action::EmptyDir { path: dir.into() });
        }
    }
    Ok(v)
}
