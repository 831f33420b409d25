//! tmp-files.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub struct TmpFiles;

impl SealOp for TmpFiles {
    fn name(&self) -> &'static str {
        "tmp-files"
    }
    fn summary(&self) -> &'static str {
        "Remove temporary files (all of /tmp and /var/tmp, hidden ones too)"
    }
    fn default_enabled(&self) -> bool {
        true
    }
    fn plan(
        &self,
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
}
