//! machine-id, random-seed, systemd-credential-secret.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

/// machine-id: by default leave /etc/machine-id empty, as Debian and Ubuntu cloud images ship
/// it (systemd makes a new id at boot; machine-id(5): not a first boot). With
/// `machine_id_uninitialized`, write `uninitialized` (the next boot is a first boot). The dbus
/// copy is removed, or systemd would fall back to it. Never a new fixed id.
const ETC_MACHINE_ID: &str = "/etc/machine-id";
const DBUS_MACHINE_ID: &str = "/var/lib/dbus/machine-id";
const UNINITIALIZED: &[u8] = b"uninitialized\n";

pub static MACHINE_ID: SealOp = SealOp {
    name: "machine-id",
    summary: "Empty /etc/machine-id (or write `uninitialized`) and remove the dbus copy",
    default: true,
    plan: Some(plan_machine_id),
    ..SealOp::NONE
};

fn plan_machine_id(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    // Missing already means a first boot; a symlinked one is not ours to change.
    let meta = fs.metadata(ETC_MACHINE_ID)?;
    if let Some(meta) = meta.filter(|m| m.kind == FileKind::File) {
        if opts.machine_id_uninitialized {
            if fs.read_file(ETC_MACHINE_ID, 4096)? != UNINITIALIZED {
                v.push(Action::Write {
                    path: ETC_MACHINE_ID.into(),
                    content: UNINITIALIZED.to_vec(),
                    note: "set to `uninitialized`: the next boot is a first boot".into(),
                });
            }
        } else if meta.size > 0 {
            v.push(Action::Truncate {
                path: ETC_MACHINE_ID.into(),
            });
        }
    }
    // Debian's dbus links its copy to /etc/machine-id: such a link holds no id of its own
    // and stays. A file, or a link anywhere else, may hold the old id: removed.
    match paths::kind(fs, DBUS_MACHINE_ID)? {
        Some(FileKind::File) => v.push(Action::Remove {
            path: DBUS_MACHINE_ID.into(),
        }),
        Some(FileKind::Symlink) => {
            let target = fs.read_link(DBUS_MACHINE_ID)?;
            let to_etc = target == ETC_MACHINE_ID
                || target.trim_start_matches("../").trim_start_matches("./") == "etc/machine-id";
            if !to_etc {
                v.push(Action::Remove {
                    path: DBUS_MACHINE_ID.into(),
                });
            }
        }
        _ => {}
    }
    Ok(v)
}

pub static RANDOM_SEED: SealOp = SealOp {
    name: "random-seed",
    summary: "Remove the saved random seeds, so clones do not share one",
    default: true,
    trees: &[],
    files: &[
        "/var/lib/systemd/random-seed",
        "/var/lib/urandom/random-seed",
        "/var/lib/random-seed",
        "/boot/efi/loader/random-seed",
        "/efi/loader/random-seed",
        "/boot/loader/random-seed",
    ],
    ..SealOp::NONE
};

pub static CREDENTIAL_SECRET: SealOp = SealOp {
    name: "systemd-credential-secret",
    summary: "Remove the host key systemd-creds encrypts credentials with",
    default: true,
    trees: &[],
    files: &["/var/lib/systemd/credential.secret"],
    ..SealOp::NONE
};
