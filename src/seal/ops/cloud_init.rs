//! cloud-init-state: what `cloud-init clean --logs --seed` removes, so the image's first boot
//! is a new instance to cloud-init (new SSH host keys, user data applied again).

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub struct CloudInitState;

impl SealOp for CloudInitState {
    fn name(&self) -> &'static str {
        "cloud-init-state"
    }
    fn summary(&self) -> &'static str {
        "Remove cloud-init instance state, seed and logs (cloud-init clean --logs --seed)"
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
        // `clean` removes /var/lib/cloud/* (seed included with --seed; glob: not dotfiles)
        // and the two log files with their rotations.
        paths::remove_globs(
            fs,
            &[
                "/var/lib/cloud/*",
                "/var/log/cloud-init.log*",
                "/var/log/cloud-init-output.log*",
            ],
        )
    }
}
