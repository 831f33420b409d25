//! net-hwaddr: hard-coded MAC addresses in the five network configuration syntaxes. The edits
//! are [`netcfg`](crate::seal::netcfg)'s: line by line, everything else kept byte-identical, each file left valid
//! (a match on the MAC alone becomes a match on an ethernet name pattern).

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::netcfg::{
    Edit, EditError, IFCFG_GLOBS, IFUPDOWN_GLOBS, NETPLAN_GLOBS, NETWORKD_GLOBS, NM_GLOBS, ifcfg,
    ifupdown, keyfile, netplan, networkd,
};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths::{self, config_texts};

/// One format's MAC edit of a file (its path, its text): the new text and a note.
type DropMac = fn(&str, &str) -> Result<Option<Edit>, EditError>;

/// Where each format lives and its edit, in the order the files are planned.
const FORMATS: &[(&[&str], DropMac)] = &[
    (IFCFG_GLOBS, |_, text| Ok(ifcfg::drop_hwaddr(text))),
    (NM_GLOBS, |_, text| Ok(keyfile::drop_mac_address(text))),
    (NETWORKD_GLOBS, |path, text| {
        Ok(networkd::drop_mac(text, networkd::name_key(path)))
    }),
    (IFUPDOWN_GLOBS, |_, text| Ok(ifupdown::drop_hwaddress(text))),
    (NETPLAN_GLOBS, |_, text| netplan::drop_macaddress(text)),
];

pub static NET_HWADDR: SealOp = SealOp {
    name: "net-hwaddr",
    summary: "Remove HWADDR (hard-coded MAC address) configuration",
    default: true,
    plan: Some(plan_net_hwaddr),
    ..SealOp::NONE
};

fn plan_net_hwaddr(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let mut v = Vec::new();
    for &(globs, drop_mac) in FORMATS {
        for (p, text) in config_texts(fs, globs)? {
            match drop_mac(&p, &text) {
                Ok(Some((new, note))) => v.push(Action::Write {
                    path: p,
                    content: new.into_bytes(),
                    note,
                }),
                Ok(None) => {}
                // Only netplan refuses an edit; the others always can make theirs.
                Err(why) => v.push(Action::Report {
                    path: p,
                    note: format!("holds a MAC address but was not edited: {why}"),
                }),
            }
        }
    }
    Ok(paths::sorted(v))
}
