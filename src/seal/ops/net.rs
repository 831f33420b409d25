//! udev-persistent-net, net-nmconn, net-hostname.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::netcfg::{Edit, IFCFG_GLOBS, NM_GLOBS, ifcfg, keyfile};
use crate::seal::{Action, SealOp, SealOptions};

use super::is_redhat_family;
use super::paths::{self, config_texts};

pub static UDEV_PERSISTENT_NET: SealOp = SealOp {
    name: "udev-persistent-net",
    summary: "Remove udev persistent net rules",
    default: true,
    trees: &[],
    files: &["/etc/udev/rules.d/70-persistent-net.rules"],
    ..SealOp::NONE
};

/// net-nmconn: as in virt-sysprep, only on Red Hat-family guests (elsewhere the keyfiles are
/// usually deliberate configuration; net-hwaddr still strips their MACs).
pub static NET_NMCONN: SealOp = SealOp {
    name: "net-nmconn",
    summary: "Remove system-local NetworkManager connection profiles (keyfiles)",
    default: true,
    plan: Some(plan_net_nmconn),
    ..SealOp::NONE
};

fn plan_net_nmconn(
    fs: &dyn GuestFs,
    os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    if !is_redhat_family(os) {
        return Ok(Vec::new());
    }
    paths::remove_file_globs(
        fs,
        &["/etc/NetworkManager/system-connections/*.nmconnection"],
    )
}

/// net-hostname: HOSTNAME and DHCP_HOSTNAME in ifcfg files (virt-sysprep), and the
/// `dhcp-hostname` a NetworkManager keyfile sends, on every distribution.
type DropHostname = fn(&str) -> Option<Edit>;

/// The formats that name the host, and their edit.
const HOSTNAME_FORMATS: &[(&[&str], DropHostname)] = &[
    (IFCFG_GLOBS, ifcfg::drop_hostname),
    (NM_GLOBS, keyfile::drop_hostname),
];

pub static NET_HOSTNAME: SealOp = SealOp {
    name: "net-hostname",
    summary: "Remove HOSTNAME and DHCP_HOSTNAME in network interface configuration",
    default: true,
    plan: Some(plan_net_hostname),
    ..SealOp::NONE
};

fn plan_net_hostname(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    for &(globs, drop_hostname) in HOSTNAME_FORMATS {
        for (p, text) in config_texts(fs, globs)? {
            if let Some((new, note)) = drop_hostname(&text) {
                v.push(Action::Write {
                    path: p,
                    content: new.into_bytes(),
                    note,
                });
            }
        }
    }
    Ok(paths::sorted(v))
}
