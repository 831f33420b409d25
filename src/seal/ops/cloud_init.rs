//! cloud-init-state: what `cloud-init clean --logs --seed` removes, so the image's first boot
//! is a new instance to cloud-init (new SSH host keys, user data applied again).

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub static CLOUD_INIT_STATE: SealOp = SealOp {
    name: "cloud-init-state",
    summary: "Remove cloud-init instance state, seed and logs (cloud-init clean --logs --seed)",
    default: true,
    plan: Some(plan_cloud_init_state),
    ..SealOp::NONE
};

fn plan_cloud_init_state(
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
