//! static-ip: static IPv4/IPv6 configuration is reported (a clone would take the same address);
//! with `static_ip_to_dhcp` it is switched to DHCP by [`netcfg`](crate::seal::netcfg)'s line
//! edits, keeping the rest of the file.

use crate::fs::{FsError, GuestFs, OsInfo};
use crate::seal::netcfg::{
    IFCFG_GLOBS, IFUPDOWN_GLOBS, NETPLAN_GLOBS, NETWORKD_NETWORK_GLOB, NM_GLOBS, StaticCheck,
    StaticConfig, ifcfg, ifupdown, keyfile, netplan, networkd,
};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths::{self, config_files};

/// Where each format lives and its finder, in the order the files are planned.
const FORMATS: &[(&[&str], StaticCheck)] = &[
    (IFCFG_GLOBS, ifcfg::static_ip),
    (NM_GLOBS, keyfile::static_ip),
    (&[NETWORKD_NETWORK_GLOB], networkd::static_ip),
    (IFUPDOWN_GLOBS, ifupdown::static_ip),
    (NETPLAN_GLOBS, netplan::static_ip),
];

pub static STATIC_IP: SealOp = SealOp {
    name: "static-ip",
    summary: "Report static IP configuration (switch it to DHCP with --static-ip-to-dhcp)",
    default: true,
    plan: Some(plan_static_ip),
    ..SealOp::NONE
};

fn plan_static_ip(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let to_dhcp = opts.static_ip_to_dhcp;
    let mut v = Vec::new();
    let mut files = Vec::new();
    for &(globs, check) in FORMATS {
        files.extend(config_files(fs, globs)?.into_iter().map(|p| (p, check)));
    }
    for (path, check) in files {
        let Some(text) = paths::read_text(fs, &path)? else {
            continue;
        };
        match check(&text, to_dhcp) {
            Ok(None) => {}
            Ok(Some(StaticConfig {
                what,
                dhcp: Some(new),
            })) => v.push(Action::Write {
                path,
                content: new.into_bytes(),
                note: format!("switched to DHCP: {what}"),
            }),
            Ok(Some(StaticConfig { what, dhcp: None })) => v.push(Action::Report {
                path,
                note: format!("static IP configuration: {what}"),
            }),
            Err(why) => v.push(Action::Report {
                path,
                note: format!("static IP configuration not switched: {why}"),
            }),
        }
    }
    Ok(paths::sorted(v))
}
