//! ssh-hostkeys, ssh-userdir.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::GlobOp;
use super::paths;

/// ssh-hostkeys: the keys, plus a note when nothing in the guest will make new ones.
pub struct SshHostkeys;

pub static SSH_HOSTKEYS: SshHostkeys = SshHostkeys;

/// Units or tools that create missing host keys at boot.
const KEYGEN_UNITS: &[&str] = &[
    "/usr/lib/systemd/system/sshd-keygen@.service",
    "/usr/lib/systemd/system/sshd-keygen.service",
    "/lib/systemd/system/sshd-keygen@.service",
    "/lib/systemd/system/sshd-keygen.service",
];
const CLOUD_INIT: &[&str] = &["/usr/bin/cloud-init", "/etc/cloud/cloud.cfg"];

impl SealOp for SshHostkeys {
    fn name(&self) -> &'static str {
        "ssh-hostkeys"
    }
    fn summary(&self) -> &'static str {
        "Remove the SSH host keys in the guest"
    }
    fn default_enabled(&self) -> bool {
        true
    }
    fn plan(
        &self,
        fs: &dyn GuestFs,
        _os: &OsInfo,
        opts: &SealOptions,
    ) -> Result<Vec<Action>, FsError> {
        let mut v = paths::remove_file_globs(fs, &["/etc/ssh/*_host_*"])?;
        if v.is_empty() {
            return Ok(v);
        }
        let mut regen = false;
        for p in CLOUD_INIT {
            regen |= paths::kind(fs, p)?.is_some();
        }
        for unit in KEYGEN_UNITS {
            let Some(text) = paths::read_text(fs, unit)? else {
                continue;
            };
            // Debian 13's sshd-keygen.service runs only on a first boot, which an empty
            // machine-id is not.
            if text.contains("ConditionFirstBoot=yes") && !opts.machine_id_uninitialized {
                v.push(Action::Report {
                    path: unit.to_string(),
                    note: "runs only on a first boot: seal with the machine-id set to \
                           `uninitialized` or the host keys are not recreated"
                        .into(),
                });
            }
            regen = true;
        }
        if !regen {
            v.push(Action::Report {
                path: "/etc/ssh".into(),
                note: "neither cloud-init nor an sshd-keygen unit is installed: nothing \
                       recreates the host keys at boot and sshd will not start"
                    .into(),
            });
        }
        Ok(v)
    }
}

pub static SSH_USERDIR: GlobOp = GlobOp {
    name: "ssh-userdir",
    summary: "Remove \".ssh\" directories in the guest",
    default: true,
    trees: &["~/.ssh"],
    files: &[],
};
