//! bash-history, user-app-state, backup-files: what users leave in their homes and editors
//! leave next to files.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub static BASH_HISTORY: SealOp = SealOp {
    name: "bash-history",
    summary: "Remove the bash history in the guest",
    default: true,
    trees: &[],
    files: &["~/.bash_history"],
    ..SealOp::NONE
};

pub static USER_APP_STATE: SealOp = SealOp {
    name: "user-app-state",
    summary: "Remove other histories and editor state in homes (.lesshst, .viminfo, ...)",
    default: true,
    trees: &[],
    files: &[
        "~/.lesshst",
        "~/.viminfo",
        "~/.viminfo.tmp",
        "~/.zsh_history",
        "~/.history",
        "~/.sh_history",
        "~/.ash_history",
        "~/.local/share/fish/fish_history",
        "~/.python_history",
        "~/.mysql_history",
        "~/.psql_history",
        "~/.sqlite_history",
        "~/.rediscli_history",
        "~/.node_repl_history",
        "~/.wget-hsts",
        "~/.xsession-errors",
        "~/.local/share/recently-used.xbel",
        "~/.sudo_as_admin_successful",
    ],
    ..SealOp::NONE
};

/// Where backup-files looks (virt-sysprep's list for Linux).
const BACKUP_DIRS: &[&str] = &["/etc", "/root", "/srv", "/tmp", "/var"];
const BACKUP_GLOBS: &[&str] = &["*.bak", "*~"];

pub static BACKUP_FILES: SealOp = SealOp {
    name: "backup-files",
    summary: "Remove editor backup files from the guest",
    default: true,
    plan: Some(plan_backup_files),
    ..SealOp::NONE
};

fn plan_backup_files(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    let globs = paths::NameGlobs::new(BACKUP_GLOBS);
    for dir in BACKUP_DIRS {
        paths::walk(fs, dir, &mut |p, k| {
            let name = p.rsplit('/').next().unwrap_or(p);
            if k == FileKind::File && globs.any(name) {
                v.push(Action::Remove {
                    path: p.to_string(),
                });
            }
            Ok(())
        })?;
    }
    Ok(paths::sorted(v))
}
